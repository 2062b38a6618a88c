/**
 * How fast the rotator writes to Microsoft Graph: pure, with the clock passed in (graphWritePacer.ts
 * holds the state). Graph meters identity writes in token buckets (3,000 per 150 s per application
 * and tenant, 18,000 per 5 minutes per tenant shared with every other app, 60 a minute on an
 * application whose audience includes personal accounts), says how full the fullest one is on each
 * write from 0.8 of it (`x-ms-throttle-limit-percentage`), and answers 429 with `Retry-After` past it
 * (https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits).
 *
 * The rule: after a 429 no write goes before its Retry-After; while Graph reports 0.8 or more, writes
 * are spaced `slowIntervalMs` apart at 0.8, in proportion more as usage climbs (3x at 1.0), which at
 * the default second is no faster than the slowest of those buckets refills, so the bucket drains no
 * further and the tenant's other apps keep the room that is left. A write answered without the header
 * means usage fell below 0.8: full speed again. Rate-limiting libraries meter against limits they are
 * told; none reads Graph's headers, hence this.
 */

/** Graph reports usage from here on; writes are spaced from here on. */
export const SLOW_DOWN_AT = 0.8;

export interface WritePacingOptions {
  /** Gap between two writes at 0.8 of a limit; 3x that at 1.0. */
  readonly slowIntervalMs: number;
  /** What a 429 without Retry-After holds writes for. */
  readonly throttledWaitMs: number;
}

export const DEFAULT_WRITE_PACING: WritePacingOptions = { slowIntervalMs: 1000, throttledWaitMs: 30_000 };

export interface WritePacingState {
  /** No write before this (epoch ms): the last 429's Retry-After. */
  readonly notBefore: number;
  /** The usage Graph last reported on a write; 0 when it reported none (below 0.8). */
  readonly usage: number;
  /** When the last write was let go, or is booked to go (epoch ms). */
  readonly lastStart: number;
}

export const IDLE_WRITES: WritePacingState = { notBefore: 0, usage: 0, lastStart: Number.NEGATIVE_INFINITY };

/** The gap a write keeps from the one before it, at a reported usage. */
export function writeIntervalMs(usage: number, options: WritePacingOptions): number {
  return usage < SLOW_DOWN_AT ? 0 : options.slowIntervalMs * (1 + (usage - SLOW_DOWN_AT) * 10);
}

/** When the next write may go, and the state with it booked (concurrent writes queue behind it). */
export function nextWrite(
  state: WritePacingState,
  now: number,
  options: WritePacingOptions,
): { readonly startAt: number; readonly state: WritePacingState } {
  const startAt = Math.max(now, state.notBefore, state.lastStart + writeIntervalMs(state.usage, options));
  return { startAt, state: { ...state, lastStart: startAt } };
}

export interface WriteAnswer {
  readonly status: number;
  /** Retry-After in ms, when the answer had one. */
  readonly retryAfterMs?: number;
  /** The `x-ms-throttle-limit-percentage` header, when present. */
  readonly limitPercentage?: string | null;
}

/**
 * `x-ms-throttle-limit-percentage` as a fraction of the limit. Graph's docs give it as 0.8 to 1.8;
 * a value above 2 is taken as written in percent (80 to 180). Absent or unreadable: below 0.8.
 */
export function usageOf(header: string | null | undefined): number {
  const value = header === null || header === undefined ? Number.NaN : Number(header.trim());
  if (!Number.isFinite(value) || value <= 0) return 0;
  return value > 2 ? value / 100 : value;
}

/** What a write's answer teaches: a 429 holds writes and counts as a full bucket; a 5xx says nothing. */
export function afterWrite(state: WritePacingState, answer: WriteAnswer, now: number, options: WritePacingOptions): WritePacingState {
  if (answer.status === 429) {
    const wait = answer.retryAfterMs ?? options.throttledWaitMs;
    return { ...state, notBefore: Math.max(state.notBefore, now + wait), usage: Math.max(state.usage, 1) };
  }
  if (answer.status >= 500 || answer.status <= 0) return state;
  return { ...state, usage: usageOf(answer.limitPercentage) };
}
