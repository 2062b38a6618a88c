import { describe, expect, it } from 'vitest';
import { nearExpiryKey, nearExpiryWarningIsDue } from '../../../../src/lib/renewal/decide/nearExpiry.js';

const DAY = 24 * 60 * 60 * 1000;
const NOW = new Date('2026-11-22T12:00:00Z');
const daysFromNow = (days: number) => new Date(NOW.getTime() + days * DAY);

describe('nearExpiryWarningIsDue', () => {
  const base = {
    thresholdDays: 14,
    notificationsEnabled: true,
    current: { thumbprint: 'AA', notAfter: daysFromNow(10) },
    newerCertificateExists: false,
    warned: new Set<string>(),
    now: NOW,
  };
  it.each([
    ['inside the threshold, not warned yet', {}, true],
    ['outside the threshold', { current: { thumbprint: 'AA', notAfter: daysFromNow(15) } }, false],
    ['exactly at the threshold', { current: { thumbprint: 'AA', notAfter: daysFromNow(14) } }, true],
    ['already warned for this certificate and threshold', { warned: new Set([nearExpiryKey('AA', 14)]) }, false],
    ['warned for another threshold only', { warned: new Set([nearExpiryKey('AA', 30)]) }, true],
    ['a newer certificate exists', { newerCertificateExists: true }, false],
    ['notifications off', { notificationsEnabled: false }, false],
    ['no current certificate', { current: undefined }, false],
  ])('%s', (_name, overrides, due) => {
    expect(nearExpiryWarningIsDue({ ...base, ...overrides })).toBe(due);
  });
});
