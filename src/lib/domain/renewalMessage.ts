import { z } from 'zod';
import { RENEWAL_TRIGGERS } from './appConfig.js';
import { isGuid } from './identifiers.js';

/** Where a renewal's throttle count stops growing (its wait without a Retry-After stops doubling long before). */
export const MAX_THROTTLED_COUNT = 1000;

/**
 * What a renewal request carries: ids and the reason, never certificate or key material (docs/renewal.md).
 * Parsed strictly on the way in, so a malformed message fails loudly (and ends in the poison queue)
 * rather than renewing the wrong thing.
 */
export const renewalMessageSchema = z
  .object({
    appId: z.string().refine(isGuid, 'must be a GUID'),
    renewalId: z.string().min(1).max(100),
    stage: z.enum(['deploy', 'confirm']),
    trigger: z.enum(RENEWAL_TRIGGERS),
    reason: z.string().max(500).optional(),
    /** The bulk rotation this renewal is for (docs/renewal.md): its progress is reported there. */
    rotationId: z.string().refine(isGuid, 'must be a GUID').optional(),
    /** When the need was seen (drift) or asked for (a rotation): a renewal deployed after it has already answered it. */
    requestedAt: z.iso.datetime({ offset: true }).optional(),
    /** How often this renewal was put back to honour a long Retry-After (bounded, see the worker). */
    deferrals: z.int().min(1).max(100).optional(),
    /** How often this renewal was put back because it was throttled (never counted as a delivery). */
    throttled: z.int().min(1).max(MAX_THROTTLED_COUNT).optional(),
  })
  .strict();

/**
 * host.json's `extensions.queues.maxDequeueCount`: the attempt that reaches it is the last, after
 * which the host moves the message to its queue's `-poison` queue. A test keeps the two equal.
 */
export const MAX_DEQUEUE_COUNT = 5;

/**
 * host.json's `extensions.queues.visibilityTimeout` in seconds: how long a failed delivery waits
 * before the next (a longer Retry-After: see failedDeliveryAction). A test keeps it equal to host.json.
 */
export const QUEUE_VISIBILITY_TIMEOUT_SECONDS = 30;

/**
 * host.json's `functionTimeout` in seconds: the host ends an invocation that runs longer, and for
 * Node restarts the worker with every other invocation in it, leaving their leases held. A stage
 * waits (for Entra's propagation) only until a minute before it. A test keeps it equal to host.json.
 */
export const FUNCTION_TIMEOUT_SECONDS = 540;

/** What a rotation's renewal adds to its history rows (docs/renewal.md): the rotation, and why it was asked for. */
export function rotationFieldsOf(message: { readonly rotationId?: string; readonly reason?: string }): {
  rotationId?: string;
  reason?: string;
} {
  return message.rotationId === undefined ? {} : { rotationId: message.rotationId, reason: message.reason };
}
