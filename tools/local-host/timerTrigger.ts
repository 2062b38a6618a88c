import { randomUUID } from 'node:crypto';
import functions, { type Timer } from '@azure/functions';
import { Cron } from 'croner';
import type { FunctionsLibrary, RegisteredFunction } from './functionsCore.js';

/**
 * Timer triggers on their NCRONTAB schedule (six fields, seconds first, UTC as in Azure unless
 * WEBSITE_TIME_ZONE says otherwise), via croner. An invocation that is still running when the next
 * occurrence comes is not overlapped: the Functions host also runs one timer invocation at a time.
 */
export interface TimerTriggerHost {
  /** Invokes the timer function now (for `--run-timer-now`), as a past-due run would. */
  runNow(name?: string): Promise<void>;
  stop(): Promise<void>;
}

export function startTimerTriggers(options: {
  functions: readonly RegisteredFunction[];
  resolveSchedule: (expression: string) => string;
  timeZone?: string;
  logHandler: (functionName: string, invocationId: string) => (level: string, ...args: unknown[]) => void;
  /** The app's @azure/functions (functionsCore.ts); default the host's own copy. */
  library?: FunctionsLibrary;
}): TimerTriggerHost {
  const { InvocationContext } = options.library ?? functions; // default export: see httpTrigger.ts
  const timers = options.functions.filter((fn) => fn.trigger.type.toLowerCase() === 'timertrigger');
  const running = new Set<Promise<void>>();
  const jobs: Cron[] = [];
  const last = new Map<string, Date>();

  function invoke(fn: RegisteredFunction, job: Cron | undefined, isPastDue: boolean): Promise<void> {
    const invocationId = randomUUID();
    const now = new Date();
    const timer: Timer = {
      isPastDue,
      schedule: { adjustForDST: false },
      scheduleStatus: {
        last: (last.get(fn.name) ?? now).toISOString(),
        next: (job?.nextRun() ?? now).toISOString(),
        lastUpdated: now.toISOString(),
      },
    };
    last.set(fn.name, now);
    const context = new InvocationContext({ invocationId, functionName: fn.name, logHandler: options.logHandler(fn.name, invocationId) });
    const run = Promise.resolve()
      .then(() => fn.handler(timer, context))
      .then(
        () => undefined,
        (error: unknown) => context.error(`Timer function ${fn.name} failed: ${(error as Error).message}`),
      );
    running.add(run);
    void run.finally(() => running.delete(run));
    return run;
  }

  for (const fn of timers) {
    const schedule = options.resolveSchedule(String(fn.trigger.schedule));
    const job: Cron = new Cron(schedule, { timezone: options.timeZone ?? 'Etc/UTC', protect: true }, () => invoke(fn, job, false));
    jobs.push(job);
  }

  return {
    async runNow(name) {
      const chosen = timers.filter((fn) => name === undefined || fn.name === name);
      await Promise.all(chosen.map((fn) => invoke(fn, jobs[timers.indexOf(fn)], true)));
    },
    async stop() {
      for (const job of jobs) job.stop();
      await Promise.all(running);
    },
  };
}
