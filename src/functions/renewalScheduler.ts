import type { InvocationContext, Timer } from '@azure/functions';
import { getRenewalScheduler } from '../lib/composition.js';

/**
 * Timer on %RENEWAL_SCHEDULE%: enqueue due renewals, retry notifications, check a drift slice. A
 * per-app failure inside the tick is logged through the invocation's logger (Application Insights).
 */
export async function renewalScheduler(timer: Timer, context: InvocationContext): Promise<void> {
  const report = await getRenewalScheduler().tick({ log: (line, properties) => context.error(line, properties) });
  context.log(`scheduler tick${timer.isPastDue ? ' (past due)' : ''}: ${JSON.stringify(report)}`);
}
