import { AccessDeniedError, LeaseHeldError, PreconditionError, RetriableError, ValidationError } from '../../errors.js';
import type { RenewalMessage } from '../../domain/ports.js';
import { MAX_DEQUEUE_COUNT, QUEUE_VISIBILITY_TIMEOUT_SECONDS } from '../../domain/renewalMessage.js';

/** The longest Retry-After honoured by deferring a message (Storage queues allow up to 7 days). */
export const MAX_DEFER_SECONDS = 3600;
/** How long a message that found the app's lease taken waits: a stage takes seconds; the lease's length is the worst case. */
export const DEFAULT_POSTPONE_SECONDS = 30;

export type FailedDeliveryAction =
  /** Put back as a fresh message after the delay: the wait does not use up delivery attempts. */
  | { readonly action: 'postpone'; readonly delaySeconds: number }
  /** The service asked for a longer wait than the queue's own retry: put back with that delay. */
  | { readonly action: 'defer'; readonly delaySeconds: number }
  /** Fail the delivery (the queue retries it); record the failure first when no retry can follow. */
  | { readonly action: 'fail'; readonly recordFailure: boolean; readonly restoreKeyVault: boolean };

/**
 * What a failed delivery of a renewal message leads to. Only a held lease is waited out; any other
 * conflict (a service's 409) is a failure like the rest, so it ends in the poison queue instead of
 * being put back forever. A Retry-After longer than the queue's visibility timeout is honoured at
 * most MAX_DEQUEUE_COUNT times, so throttling can neither use up the deliveries in minutes nor
 * postpone a renewal forever.
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
  const wait = error instanceof RetriableError ? error.retryAfterSeconds : undefined;
  const deferrals = message.deferrals ?? 0;
  if (wait !== undefined && wait > QUEUE_VISIBILITY_TIMEOUT_SECONDS && deferrals < MAX_DEQUEUE_COUNT) {
    return { action: 'defer', delaySeconds: Math.min(wait, MAX_DEFER_SECONDS) };
  }
  // Only what no later delivery can change ends the renewal at once; a refused identity may be a
  // role assignment still applying, so it gets every delivery first.
  const final = (error instanceof PreconditionError && !(error instanceof AccessDeniedError)) || error instanceof ValidationError;
  const last = delivery.dequeueCount >= MAX_DEQUEUE_COUNT || deferrals >= MAX_DEQUEUE_COUNT;
  // Key Vault is restored only once no attempt of this renewal can follow: a later success would
  // make the imported version current after all.
  return { action: 'fail', recordFailure: final || last, restoreKeyVault: last && message.stage === 'deploy' };
}
