import { setTimeout as sleep } from 'node:timers/promises';
import type { JsonLog } from './jsonLog.js';
import { EXIT } from './syncOptions.js';

/** After a failed cycle the next comes sooner than a long interval: an outage or a missing grant is often fixed within minutes. */
export const RETRY_AFTER_FAILURE_MS = 5 * 60_000;

export interface LoopOptions {
  /** undefined: one cycle (`--once`). */
  readonly intervalInMs: number | undefined;
  /** SIGTERM or SIGINT: no new cycle starts, the wait ends at once. */
  readonly stop: AbortSignal;
  readonly log: JsonLog;
}

/**
 * `--once` returns the cycle's exit status. `--interval` runs a cycle, waits, and again, until
 * stopped; each cycle's outcome is in the log, and the process exits 0 when asked to stop.
 */
export async function runSyncLoop(cycle: () => Promise<number>, options: LoopOptions): Promise<number> {
  if (options.intervalInMs === undefined) return cycle();
  const interval = options.intervalInMs;
  while (!options.stop.aborted) {
    const status = await cycle();
    if (options.stop.aborted) break;
    const waitMs = status === EXIT.failed ? Math.min(interval, RETRY_AFTER_FAILURE_MS) : interval;
    try {
      await sleep(waitMs, undefined, { signal: options.stop });
    } catch {
      break;
    }
  }
  options.log.write('info', 'stopped', 'Stopped on a signal');
  return EXIT.ok;
}
