import { describe, expect, it } from 'vitest';
import type { RenewalMessage } from '../../../../src/lib/domain/ports.js';
import { MAX_DEQUEUE_COUNT } from '../../../../src/lib/domain/renewalMessage.js';
import {
  AccessDeniedError,
  ConflictError,
  LeaseHeldError,
  PreconditionError,
  RetriableError,
  ValidationError,
} from '../../../../src/lib/errors.js';
import {
  DEFAULT_POSTPONE_SECONDS,
  failedDeliveryAction,
  MAX_DEFER_SECONDS,
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
      'a precondition no retry can change: recorded at once',
      new PreconditionError('no owner'),
      {},
      { action: 'fail', recordFailure: true, restoreKeyVault: false },
    ],
    [
      'bad input: recorded at once',
      ValidationError.forField('appId', 'bad'),
      {},
      { action: 'fail', recordFailure: true, restoreKeyVault: false },
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
