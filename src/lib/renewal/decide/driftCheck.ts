import type { StoredApp } from '../../domain/storedApp.js';
import { policyStateOf } from './policyStateOf.js';
import { decideRenewal, type RenewalDecision } from './renewalPolicy.js';

/**
 * A deployed renewal not confirmed after this long lost its confirm message: longer than any
 * verification window (VERIFY_WINDOW_MINUTES is at most 120) plus the queue's own retries.
 */
export const STUCK_CONFIRM_MS = 3 * 3600_000;

const leaseIsHeld = (app: StoredApp, now: Date) => app.state.lease !== undefined && Date.parse(app.state.lease.until) > now.getTime();

/**
 * Whether the drift slice should look at Entra and Key Vault for this app. Not while a renewal runs,
 * and not for a due (or expired) app: that is the due index's business, and may be queued already,
 * so looking would only cost calls and risk a second message.
 */
export function driftCheckIsWanted(app: StoredApp, now: Date): boolean {
  const { config, state } = app;
  if (!config.enabled || state.currentThumbprint === undefined) return false;
  if (leaseIsHeld(app, now) || state.renewal?.stage === 'deployed') return false;
  return !decideRenewal({ config, state: policyStateOf(app), now }).renew;
}

/** Whether a decision made with observed facts is drift the slice acts on (due and expired are the index's). */
export function isDriftRenewal(decision: RenewalDecision): boolean {
  return decision.renew && decision.reason !== 'inside-renew-before-days' && decision.reason !== 'expired';
}

/**
 * Whether a renewal deployed long ago never ran its confirm stage (its message could not be queued,
 * e.g. after a manual generation answered 201): it is queued again under its own id.
 */
export function confirmIsStuck(app: StoredApp, now: Date): boolean {
  const { renewal } = app.state;
  if (renewal?.stage !== 'deployed' || renewal.deployedAt === undefined) return false;
  if (leaseIsHeld(app, now)) return false;
  return now.getTime() - Date.parse(renewal.deployedAt) >= STUCK_CONFIRM_MS;
}
