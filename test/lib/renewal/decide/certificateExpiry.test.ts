import { describe, expect, it } from 'vitest';
import { certificateExpiry } from '../../../../src/lib/renewal/decide/certificateExpiry.js';

const NOW = new Date('2026-12-03T12:00:00Z');
const inDays = (days: number) => new Date(NOW.getTime() + days * 24 * 3600_000);

describe('certificateExpiry', () => {
  it.each<[string, Parameters<typeof certificateExpiry>[0], ReturnType<typeof certificateExpiry>]>([
    [
      'outside the renewal window',
      { enabled: true, notAfter: inDays(45), renewBeforeDays: 30, now: NOW },
      { daysLeft: 45, renewBeforeDays: 30, windowRemainingFraction: 1.5, outcome: 'ok' },
    ],
    [
      'more than half the window left',
      { enabled: true, notAfter: inDays(16), renewBeforeDays: 30, now: NOW },
      { daysLeft: 16, renewBeforeDays: 30, windowRemainingFraction: 0.533, outcome: 'ok' },
    ],
    [
      'exactly half the window left',
      { enabled: true, notAfter: inDays(15), renewBeforeDays: 30, now: NOW },
      { daysLeft: 15, renewBeforeDays: 30, windowRemainingFraction: 0.5, outcome: 'ok' },
    ],
    [
      // daysLeft rounds up to 15, the fraction floors below 0.5: the alert's `< 0.5` agrees with the outcome.
      'a hair under half the window left',
      { enabled: true, notAfter: inDays(14.996), renewBeforeDays: 30, now: NOW },
      { daysLeft: 15, renewBeforeDays: 30, windowRemainingFraction: 0.499, outcome: 'at-risk' },
    ],
    [
      'already expired',
      { enabled: true, notAfter: inDays(-2.26), renewBeforeDays: 30, now: NOW },
      { daysLeft: -2.3, renewBeforeDays: 30, windowRemainingFraction: -0.076, outcome: 'at-risk' },
    ],
    [
      'a short window',
      { enabled: true, notAfter: inDays(0.4), renewBeforeDays: 1, now: NOW },
      { daysLeft: 0.4, renewBeforeDays: 1, windowRemainingFraction: 0.4, outcome: 'at-risk' },
    ],
    [
      'a disabled app, however close',
      { enabled: false, notAfter: inDays(1), renewBeforeDays: 30, now: NOW },
      { daysLeft: 1, renewBeforeDays: 30, windowRemainingFraction: 0.033, outcome: 'disabled' },
    ],
    ['no certificate yet', { enabled: true, renewBeforeDays: 30, now: NOW }, undefined],
  ])('%s', (_name, input, expected) => {
    expect(certificateExpiry(input)).toEqual(expected);
  });
});
