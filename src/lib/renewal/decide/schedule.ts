import type { AppConfig, RenewalState } from '../../domain/appConfig.js';
import { spreadFraction } from './spread.js';

/** When renewals fall due and how failures are retried: pure, so the store and the scheduler agree. */

const DAY_MS = 24 * 60 * 60 * 1000;
const HOUR_MS = 3600_000;

/**
 * A bootstrap app's first certificate is due at once: it sits at the start of the due index, so the
 * scheduler finds it even when the request queued at create time was lost.
 */
export const BOOTSTRAP_DUE_AT = new Date(0);

/** A `queued` mark older than this without a deploy is taken as a lost message and re-sent. */
export const QUEUED_STALE_MS = 30 * 60 * 1000;

/** The widest spread of scheduled renewals: a day, 96 ticks of the default schedule. */
export const MAX_RENEWAL_SPREAD_MS = DAY_MS;
/** The spread is also at most this share of the renewal window and of the time between two renewals. */
const RENEWAL_SPREAD_SHARE = 0.1;

/** What fixes an app's renewal time. */
export type RenewalTiming = Pick<AppConfig, 'appId' | 'renewBeforeDays' | 'lifetimeDays'>;

/** The spread an app's renewal time falls in (see renewalSpreadOffsetMs). */
export function renewalSpreadMs(timing: Omit<RenewalTiming, 'appId'>): number {
  const between = Math.max(0, timing.lifetimeDays - timing.renewBeforeDays);
  return Math.min(MAX_RENEWAL_SPREAD_MS, RENEWAL_SPREAD_SHARE * timing.renewBeforeDays * DAY_MS, RENEWAL_SPREAD_SHARE * between * DAY_MS);
}

/**
 * How much earlier than notAfter − renewBeforeDays the app's renewal falls due: its place, fixed by
 * its appId, in a spread of a day at most (issue 19, docs/renewal.md). A fleet created on one day, whose
 * certificates all expire on one day, then falls due across the spread instead of in one timer tick
 * (one burst of Graph writes), and each app keeps its place renewal after renewal. Earlier, never
 * later: renewBeforeDays stays the latest an app is renewed, which the near-expiry warning, the
 * expiry-at-risk alert and entra-cert-sync's interval are reckoned from; the cost is at most a day,
 * and at most a tenth of the time between renewals, of a certificate's use.
 */
export function renewalSpreadOffsetMs(timing: RenewalTiming): number {
  return Math.floor(spreadFraction(`renewal-due/${timing.appId.toLowerCase()}`) * renewalSpreadMs(timing));
}

/** When renewal is due: notAfter − renewBeforeDays, less the app's place in the spread. */
export function renewalDueAt(notAfter: Date, timing: RenewalTiming): Date {
  return new Date(notAfter.getTime() - timing.renewBeforeDays * DAY_MS - renewalSpreadOffsetMs(timing));
}

/** The current certificate came from a renewal that failed before it was verified. */
export function failedUnverified(state: Pick<RenewalState, 'verifiedAt' | 'renewal' | 'lastOutcomeAt'>): boolean {
  return state.renewal?.stage === 'failed' && state.verifiedAt === undefined && state.lastOutcomeAt !== undefined;
}

/** After a failed renewal the next try waits 1 h, doubling per consecutive failure, at most a day. */
export function failureRetryDelayMs(consecutiveFailures: number): number {
  return Math.min(DAY_MS, HOUR_MS * 2 ** Math.max(0, consecutiveFailures - 1));
}

/**
 * When the scheduler must renew the app: `notAfter - renewBeforeDays` less its place in the spread
 * (renewalDueAt), only for an enabled app
 * that already has a managed certificate (the first one comes from a manual generation), or at once
 * for an enabled app created with `bootstrap: true` that has none yet. A renewal that failed after
 * deploying leaves an unverified certificate current; the app then stays due (after the failure
 * backoff) rather than waiting for that certificate's own renewal time, which may be months away
 * while the certificate that works expires.
 */
export function scheduledRenewalAt(
  config: Pick<AppConfig, 'enabled' | 'bootstrap'> & RenewalTiming,
  state: Pick<RenewalState, 'notAfter' | 'verifiedAt' | 'renewal' | 'lastOutcomeAt' | 'consecutiveFailures'>,
): Date | undefined {
  if (!config.enabled) return undefined;
  if (state.notAfter === undefined) return config.bootstrap ? BOOTSTRAP_DUE_AT : undefined;
  if (failedUnverified(state)) return new Date(Date.parse(state.lastOutcomeAt!) + failureRetryDelayMs(state.consecutiveFailures));
  return renewalDueAt(new Date(state.notAfter), config);
}

/** What the scheduler does with a due app: send a message under this renewal id, or not yet. */
export type EnqueueDecision = { readonly enqueue: false } | { readonly enqueue: true; readonly renewalId: string };

/**
 * Whether a due app gets a message now: once per due period (the `queued` mark names it). Again
 * only after a failure's backoff (a fresh renewal id), or once the mark is stale without a deploy
 * (a lost message: re-sent under the same id, so whatever it had done is reused).
 */
export function enqueueDecision(
  state: Pick<RenewalState, 'queued' | 'renewal' | 'lastOutcomeAt' | 'consecutiveFailures'>,
  forDueAt: string,
  now: Date,
  freshRenewalId: () => string,
): EnqueueDecision {
  const queued = state.queued;
  if (!queued || queued.forDueAt !== forDueAt) return { enqueue: true, renewalId: freshRenewalId() };
  const failed = state.renewal?.id === queued.renewalId && state.renewal.stage === 'failed';
  const since = now.getTime() - Date.parse(failed ? (state.lastOutcomeAt ?? queued.at) : queued.at);
  if (failed ? since < failureRetryDelayMs(state.consecutiveFailures) : since < QUEUED_STALE_MS) return { enqueue: false };
  return { enqueue: true, renewalId: failed ? freshRenewalId() : queued.renewalId };
}
