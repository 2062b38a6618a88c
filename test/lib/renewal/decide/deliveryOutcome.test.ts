import { describe, expect, it } from 'vitest';
import type { RenewalMessage } from '../../../../src/lib/domain/ports.js';
import { MAX_DEQUEUE_COUNT, MAX_THROTTLED_COUNT, renewalMessageSchema } from '../../../../src/lib/domain/renewalMessage.js';
import {
  AccessDeniedError,
  ConflictError,
  LeaseHeldError,
  PreconditionError,
  RetriableError,
  ThrottledError,
  ValidationError,
} from '../../../../src/lib/errors.js';
import {
  DEFAULT_POSTPONE_SECONDS,
  failedDeliveryAction,
  MAX_DEFER_SECONDS,
  throttledAgain,
  throttledDelaySeconds,
  type FailedDeliveryAction,
} from '../../../../src/lib/renewal/decide/deliveryOutcome.js';
import { FIXTURE_APP_ID } from '../../../support/storedAppFixture.js';

const deploy: RenewalMessage = { appId: FIXTURE_APP_ID, renewalId: 'r1', stage: 'deploy', trigger: 'scheduled' };
const confirm: RenewalMessage = { ...deploy, stage: 'confirm' };
const LAST = MAX_DEQUEUE_COUNT;

describe('failedDeliveryAction', () => {
  it.each<[string, unknown, { message?: RenewalMessage; dequeueCount?: number; postponeDelaySeconds?: number }, FailedDeliveryAction]>([
    [
      'a held lease is waited out, not counted',
      new LeaseHeldError('held', { retryAfterSeconds: 5 }),
      {},
      { action: 'postpone', delaySeconds: 5 },
    ],
    [
      'a held lease without a hint waits the default',
      new LeaseHeldError('held'),
      {},
      { action: 'postpone', delaySeconds: DEFAULT_POSTPONE_SECONDS },
    ],
    [
      'a held lease waits at most the configured postpone',
      new LeaseHeldError('held', { retryAfterSeconds: 600 }),
      { postponeDelaySeconds: 10 },
      { action: 'postpone', delaySeconds: 10 },
    ],
    [
      'any other conflict fails like the rest',
      new ConflictError('409 from a service'),
      {},
      { action: 'fail', recordFailure: false, restoreKeyVault: false },
    ],
    [
      'a long Retry-After is honoured by deferring',
      new RetriableError('throttled', { retryAfterSeconds: 120 }),
      {},
      { action: 'defer', delaySeconds: 120 },
    ],
    [
      'a deferral is capped at an hour',
      new RetriableError('throttled', { retryAfterSeconds: 86_400 }),
      {},
      { action: 'defer', delaySeconds: MAX_DEFER_SECONDS },
    ],
    [
      "a short Retry-After is the queue's own retry",
      new RetriableError('throttled', { retryAfterSeconds: 10 }),
      {},
      { action: 'fail', recordFailure: false, restoreKeyVault: false },
    ],
    [
      'deferred as often as allowed: fails for good, Key Vault restored',
      new RetriableError('throttled', { retryAfterSeconds: 120 }),
      { message: { ...deploy, deferrals: LAST } },
      { action: 'fail', recordFailure: true, restoreKeyVault: true },
    ],
    [
      'a throttle is put back after its Retry-After, not counted as a delivery',
      new ThrottledError('429', { retryAfterSeconds: 10 }),
      {},
      { action: 'throttled', delaySeconds: throttledDelaySeconds(10, deploy) },
    ],
    [
      'a throttle on the last delivery is still put back: never the poison queue',
      new ThrottledError('429', { retryAfterSeconds: 10 }),
      { dequeueCount: LAST },
      { action: 'throttled', delaySeconds: throttledDelaySeconds(10, deploy) },
    ],
    [
      'a throttle after every long-Retry-After deferral and hundreds of throttles: put back again',
      new ThrottledError('429', { retryAfterSeconds: 120 }),
      { message: { ...deploy, deferrals: LAST, throttled: 500 } },
      { action: 'throttled', delaySeconds: throttledDelaySeconds(120, { ...deploy, throttled: 500 }) },
    ],
    [
      'a throttled confirm stage the same',
      new ThrottledError('pacing', { retryAfterSeconds: 3 }),
      { message: confirm, dequeueCount: LAST },
      { action: 'throttled', delaySeconds: throttledDelaySeconds(3, confirm) },
    ],
    [
      'a transient failure before the last delivery: the queue retries',
      new RetriableError('503'),
      { dequeueCount: LAST - 1 },
      { action: 'fail', recordFailure: false, restoreKeyVault: false },
    ],
    [
      'the last delivery of a deploy: recorded, Key Vault restored',
      new RetriableError('503'),
      { dequeueCount: LAST },
      { action: 'fail', recordFailure: true, restoreKeyVault: true },
    ],
    [
      'the last delivery of a confirm: recorded, Key Vault left',
      new RetriableError('503'),
      { message: confirm, dequeueCount: LAST },
      { action: 'fail', recordFailure: true, restoreKeyVault: false },
    ],
    [
      'a precondition no retry can change: recorded and Key Vault restored at once',
      new PreconditionError('no owner'),
      {},
      { action: 'fail', recordFailure: true, restoreKeyVault: true },
    ],
    [
      'a precondition no retry can change in a confirm: recorded at once, Key Vault left',
      new PreconditionError('sign-in refused'),
      { message: confirm },
      { action: 'fail', recordFailure: true, restoreKeyVault: false },
    ],
    [
      'bad input: recorded and Key Vault restored at once',
      ValidationError.forField('appId', 'bad'),
      {},
      { action: 'fail', recordFailure: true, restoreKeyVault: true },
    ],
    [
      'a refused identity gets every delivery first',
      new AccessDeniedError('403'),
      { dequeueCount: 2 },
      { action: 'fail', recordFailure: false, restoreKeyVault: false },
    ],
    [
      'a refused identity on the last delivery: recorded',
      new AccessDeniedError('403'),
      { dequeueCount: LAST },
      { action: 'fail', recordFailure: true, restoreKeyVault: true },
    ],
  ])('%s', (_name, error, delivery, action) => {
    expect(failedDeliveryAction(error, { message: deploy, dequeueCount: 1, ...delivery })).toEqual(action);
  });
});

describe('throttledDelaySeconds', () => {
  const ids = Array.from({ length: 200 }, (_, i) => `renewal-${i}`);
  const delays = (retryAfter: number | undefined, throttled?: number) =>
    ids.map((renewalId) => throttledDelaySeconds(retryAfter, { ...deploy, renewalId, throttled }));

  it.each<[string, number | undefined, number | undefined, number, number]>([
    ['Retry-After 0: at once', 0, undefined, 0, 0],
    ['Retry-After 2: 2 s and up to 2 s more', 2, undefined, 2, 4],
    ['Retry-After 120: 120 s and up to a minute more', 120, undefined, 120, 180],
    ['Retry-After 120 after many throttles: the same', 120, 50, 120, 180],
    ['no Retry-After: 30 s and up to 30 s more', undefined, undefined, 30, 60],
    ['no Retry-After, throttled once before: 60 s and up to a minute more', undefined, 1, 60, 120],
    ['no Retry-After, throttled 5 times before: 960 s and up to a minute more', undefined, 5, 960, 1020],
    ['no Retry-After, throttled often: the hour cap', undefined, 40, MAX_DEFER_SECONDS, MAX_DEFER_SECONDS],
    ['a Retry-After of a day: the hour cap', 86_400, undefined, MAX_DEFER_SECONDS, MAX_DEFER_SECONDS],
  ])('%s', (_name, retryAfter, throttled, min, max) => {
    const all = delays(retryAfter, throttled);
    expect(Math.min(...all)).toBeGreaterThanOrEqual(min);
    expect(Math.max(...all)).toBeLessThanOrEqual(max);
  });

  it('spreads renewals throttled together, the same renewal always alike', () => {
    const all = delays(120);
    expect(new Set(all).size).toBeGreaterThan(30);
    expect(delays(120)).toEqual(all);
  });
});

describe('throttledAgain', () => {
  it('counts the throttle apart from deliveries and deferrals, and stops at its cap', () => {
    expect(throttledAgain(deploy)).toEqual({ ...deploy, throttled: 1 });
    expect(throttledAgain({ ...deploy, deferrals: 2, throttled: 7 })).toEqual({ ...deploy, deferrals: 2, throttled: 8 });
    const capped = throttledAgain({ ...deploy, throttled: MAX_THROTTLED_COUNT });
    expect(capped.throttled).toBe(MAX_THROTTLED_COUNT);
    expect(renewalMessageSchema.parse(capped)).toEqual(capped);
  });
});
