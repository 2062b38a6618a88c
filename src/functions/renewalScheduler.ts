import type { InvocationContext, Timer } from '@azure/functions';
import { getRenewalScheduler } from '../lib/composition.js';
import { invocationLog } from '../lib/logging/invocationLog.js';

/**
 * Timer on %RENEWAL_SCHEDULE%: enqueue due renewals, retry notifications, check a drift slice. Its
 * per-app lines (days left, a failure with its cause) go through the invocation's logger
 * (Application Insights traces of this run, fields as JSON: src/lib/logging/invocationLog.ts).
 */
export async function renewalScheduler(timer: Timer, context: InvocationContext): Promise<void> {
  const report = await getRenewalScheduler().tick({ log: invocationLog(context) });
  context.log(`scheduler tick${timer.isPastDue ? ' (past due)' : ''}: ${JSON.stringify(report)}`);
}
