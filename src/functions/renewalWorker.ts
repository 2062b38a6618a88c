import type { InvocationContext } from '@azure/functions';
import { getRenewalService } from '../lib/composition.js';

/** Queue trigger on `renewal-requests`: one delivery of one renewal stage. */
export async function renewalWorker(message: unknown, context: InvocationContext): Promise<void> {
  const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
  const outcome = await getRenewalService().processQueueMessage(message, { dequeueCount });
  context.log(`renewal message ${outcome} (delivery ${dequeueCount})`);
}
