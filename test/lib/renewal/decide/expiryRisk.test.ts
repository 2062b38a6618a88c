import { describe, expect, it } from 'vitest';
import { expiryRisk } from '../../../../src/lib/renewal/decide/expiryRisk.js';

const NOW = new Date('2026-12-03T12:00:00Z');
const inDays = (days: number) => new Date(NOW.getTime() + days * 24 * 3600_000);

describe('expiryRisk', () => {
  it.each<[string, Parameters<typeof expiryRisk>[0], ReturnType<typeof expiryRisk>]>([
    ['more than half the window left', { enabled: true, notAfter: inDays(16), renewBeforeDays: 30, now: NOW }, undefined],
    ['exactly half the window left', { enabled: true, notAfter: inDays(15), renewBeforeDays: 30, now: NOW }, undefined],
    [
      'less than half the window left',
      { enabled: true, notAfter: inDays(14.96), renewBeforeDays: 30, now: NOW },
      { daysLeft: 15, renewBeforeDays: 30 },
    ],
    ['already expired', { enabled: true, notAfter: inDays(-2.26), renewBeforeDays: 30, now: NOW }, { daysLeft: -2.3, renewBeforeDays: 30 }],
    ['a short window', { enabled: true, notAfter: inDays(0.4), renewBeforeDays: 1, now: NOW }, { daysLeft: 0.4, renewBeforeDays: 1 }],
    ['a disabled app', { enabled: false, notAfter: inDays(1), renewBeforeDays: 30, now: NOW }, undefined],
    ['no certificate yet', { enabled: true, renewBeforeDays: 30, now: NOW }, undefined],
  ])('%s', (_name, input, expected) => {
    expect(expiryRisk(input)).toEqual(expected);
  });
});
