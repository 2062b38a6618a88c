import { describe, expect, it } from 'vitest';
import { verificationRetryDelayMs, verificationStopsAt } from '../../../../src/lib/renewal/decide/verificationWindow.js';

const T0 = Date.parse('2026-11-22T12:00:00Z');
const MINUTE = 60_000;

describe('verificationStopsAt', () => {
  const base = {
    deployedAt: new Date(T0),
    verifyWindowMinutes: 30,
    leaseUntil: undefined as Date | undefined,
    leaseSeconds: 600,
    startedAt: new Date(T0),
    functionTimeoutSeconds: 3600,
  };
  it.each<[string, Partial<typeof base>, number]>([
    ['the window ends first', {}, T0 + 30 * MINUTE],
    ['the lease ends first, with a tenth of it to spare', { leaseUntil: new Date(T0 + 10 * MINUTE) }, T0 + 10 * MINUTE - 60_000],
    ['the invocation ends first, with a minute to spare', { functionTimeoutSeconds: 600 }, T0 + 9 * MINUTE],
    ['a later delivery keeps the window of the deployment', { startedAt: new Date(T0 + 25 * MINUTE) }, T0 + 30 * MINUTE],
  ])('%s', (_name, overrides, stopAt) => {
    const result = verificationStopsAt({ ...base, ...overrides });
    expect(result).toEqual({ deadline: T0 + 30 * MINUTE, stopAt });
  });
});

describe('verificationRetryDelayMs', () => {
  it.each([
    ['doubles from a second', 0, 60_000, 10_000, 1000],
    ['third attempt: eight seconds', 3, 60_000, 10_000, 8000],
    ['capped by the maximum', 6, 60_000, 10_000, 10_000],
    ['never past the stop', 3, 500, 10_000, 500],
  ])('%s', (_name, attempt, remainingMs, maxDelayMs, delay) => {
    expect(verificationRetryDelayMs(attempt, remainingMs, maxDelayMs)).toBe(delay);
  });
});
