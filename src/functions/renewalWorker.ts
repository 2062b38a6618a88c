import type { InvocationContext } from '@azure/functions';
import { getRenewalService } from '../lib/composition.js';
import { invocationLog } from '../lib/logging/invocationLog.js';

/**
 * Queue trigger on `renewal-requests` (deploys) and `renewal-confirmations` (confirms): one delivery
 * of one renewal stage. A failure after the last
 * delivery is logged through the invocation's logger (it reaches Application Insights as a trace,
 * which the renewal-failure alert matches) before the error goes back to the host.
 */
export async function renewalWorker(message: unknown, context: InvocationContext): Promise<void> {
  const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
  const outcome = await getRenewalService().processQueueMessage(message, {
    dequeueCount,
    // A failure an error with its fields (appId, renewalId, stage, outcome) as JSON; a postponement information.
    log: invocationLog(context),
  });
  context.log(`renewal message ${outcome} (delivery ${dequeueCount})`);
}
