import { AccessDeniedError, LeaseHeldError, PreconditionError, RetriableError, ThrottledError, ValidationError } from '../../errors.js';
import type { RenewalMessage } from '../../domain/ports.js';
import { MAX_DEQUEUE_COUNT, MAX_THROTTLED_COUNT, QUEUE_VISIBILITY_TIMEOUT_SECONDS } from '../../domain/renewalMessage.js';
import { spreadFraction } from './spread.js';

/** The longest Retry-After honoured by deferring a message (Storage queues allow up to 7 days). */
export const MAX_DEFER_SECONDS = 3600;
/** A throttled renewal without a Retry-After waits this long, doubling each time it was throttled before. */
export const THROTTLED_WAIT_SECONDS = 30;
/** Renewals throttled together come back spread over up to this much beyond their wait (at most the wait again). */
export const THROTTLED_SPREAD_SECONDS = 60;
/** How long a message that found the app's lease taken waits: a stage takes seconds; the lease's length is the worst case. */
export const DEFAULT_POSTPONE_SECONDS = 30;

export type FailedDeliveryAction =
  /** Put back as a fresh message after the delay: the wait does not use up delivery attempts. */
  | { readonly action: 'postpone'; readonly delaySeconds: number }
  /** The service asked for a longer wait than the queue's own retry: put back with that delay. */
  | { readonly action: 'defer'; readonly delaySeconds: number }
  /** Throttled (a 429, or the rotator's own Graph pacing): put back after the wait, however often. */
  | { readonly action: 'throttled'; readonly delaySeconds: number }
  /** Fail the delivery (the queue retries it); record the failure first when no retry can follow. */
  | { readonly action: 'fail'; readonly recordFailure: boolean; readonly restoreKeyVault: boolean };

/**
 * How long a throttled renewal waits before its next delivery: the Retry-After it was given (Graph:
 * "continue to use the recommended Retry-After delay and retry the request until it succeeds"), or
 * without one THROTTLED_WAIT_SECONDS doubling per earlier throttle, plus a part of it fixed by the
 * renewal, so that renewals throttled by one burst do not all return in the same second.
 */
export function throttledDelaySeconds(retryAfterSeconds: number | undefined, message: RenewalMessage): number {
  const before = message.throttled ?? 0;
  const wait = retryAfterSeconds ?? THROTTLED_WAIT_SECONDS * 2 ** Math.min(before, 7);
  const spread = Math.min(wait, THROTTLED_SPREAD_SECONDS) * spreadFraction(`throttled/${message.renewalId}/${before}`);
  return Math.min(MAX_DEFER_SECONDS, Math.ceil(wait + spread));
}

/** The message put back after a throttle: counted apart from deliveries, and the count stops growing at its cap. */
export function throttledAgain(message: RenewalMessage): RenewalMessage {
  return { ...message, throttled: Math.min((message.throttled ?? 0) + 1, MAX_THROTTLED_COUNT) };
}

/**
 * What a failed delivery of a renewal message leads to. Only a held lease is waited out; any other
 * conflict (a service's 409) is a failure like the rest, so it ends in the poison queue instead of
 * being put back forever. Another transient failure's Retry-After longer than the queue's visibility
 * timeout (a 503's) is honoured at most MAX_DEQUEUE_COUNT times, so it can neither use up the
 * deliveries in minutes nor postpone a renewal forever. Throttling is different (issue 19): it is the
 * service pacing the fleet, not a failure, so a throttled delivery is always put back (a new message,
 * whose delivery count starts again) and never reaches the poison queue or a failure record; while it
 * lasts, the scheduler's expiry-at-risk alert is what tells an admin.
 */
export function failedDeliveryAction(
  error: unknown,
  delivery: { readonly message: RenewalMessage; readonly dequeueCount: number; readonly postponeDelaySeconds?: number },
): FailedDeliveryAction {
  const { message } = delivery;
  if (error instanceof LeaseHeldError) {
    const cap = delivery.postponeDelaySeconds ?? DEFAULT_POSTPONE_SECONDS;
    return { action: 'postpone', delaySeconds: Math.min(error.retryAfterSeconds ?? DEFAULT_POSTPONE_SECONDS, cap) };
  }
  if (error instanceof ThrottledError)
    return { action: 'throttled', delaySeconds: throttledDelaySeconds(error.retryAfterSeconds, message) };
  const wait = error instanceof RetriableError ? error.retryAfterSeconds : undefined;
  const deferrals = message.deferrals ?? 0;
  if (wait !== undefined && wait > QUEUE_VISIBILITY_TIMEOUT_SECONDS && deferrals < MAX_DEQUEUE_COUNT) {
    return { action: 'defer', delaySeconds: Math.min(wait, MAX_DEFER_SECONDS) };
  }
  // Only what no later delivery can change ends the renewal at once; a refused identity may be a
  // role assignment still applying, so it gets every delivery first.
  const final = (error instanceof PreconditionError && !(error instanceof AccessDeniedError)) || error instanceof ValidationError;
  const last = delivery.dequeueCount >= MAX_DEQUEUE_COUNT || deferrals >= MAX_DEQUEUE_COUNT;
  // Key Vault is restored once no attempt of this renewal can succeed (a later success would make the
  // imported version current after all): on the last delivery, or at once for a failure no retry
  // changes, which is recorded now and must not leave Key Vault naming a certificate Entra refused.
  return { action: 'fail', recordFailure: final || last, restoreKeyVault: (final || last) && message.stage === 'deploy' };
}
