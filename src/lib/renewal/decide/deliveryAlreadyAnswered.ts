import type { RenewalMessage } from '../../domain/ports.js';
import type { StoredApp } from '../../domain/storedApp.js';
import { policyStateOf } from './policyStateOf.js';
import { decideRenewal } from './renewalPolicy.js';

/**
 * Why a deploy delivery has nothing left to do, if so: a newer renewal took the lease after it and
 * recorded a deployment (a late redelivery), or, for a scheduled or drift renewal that has not
 * recorded a deployment, another renewal (a manual one that won the lease) already answered the
 * need, or a renewal deployed after a rotation was asked for answers it. What an earlier attempt of a skipped renewal left (a Key Vault version, a credential) is
 * older than what answered it, so the current certificate stays the newest everywhere.
 */
export function deliveryAlreadyAnswered(app: StoredApp, message: RenewalMessage, now: Date): string | undefined {
  const { state, config } = app;
  const renewal = state.renewal;
  if (renewal && renewal.id !== message.renewalId && renewal.deployedAt !== undefined) {
    const mine = state.deployAttempts.indexOf(message.renewalId);
    if (mine >= 0 && state.deployAttempts.indexOf(renewal.id) > mine) return 'superseded by a newer renewal';
  }
  // Once this renewal has recorded its deployment, a repeat only finishes what it began.
  if (renewal?.id === message.renewalId) return undefined;
  if (message.trigger === 'scheduled') {
    const decision = decideRenewal({ config, state: policyStateOf(app), now });
    if (!decision.renew) return `no longer due (${decision.detail})`;
  }
  // An admin may have turned management off since the scheduler queued it (a scheduled message
  // meets the same check in the policy above; a manual one is the admin's own request).
  if ((message.trigger === 'drift' || message.trigger === 'bootstrap') && !config.enabled) {
    return 'certificate management is off for this app';
  }
  // A first certificate is made once: another (a manual generation) may have made it meanwhile.
  if (message.trigger === 'bootstrap' && state.currentThumbprint !== undefined) return 'the app has its first certificate already';
  if (message.trigger === 'drift' && message.requestedAt !== undefined && renewal?.deployedAt !== undefined) {
    if (Date.parse(renewal.deployedAt) > Date.parse(message.requestedAt))
      return `a renewal deployed at ${renewal.deployedAt} replaced the drifted certificate`;
  }
  // A rotation asks for a certificate made after it was asked for; one deployed since (a scheduled
  // renewal that ran at the same moment, say) is that, so a second would be a duplicate (docs/renewal.md).
  if (
    message.trigger === 'rotation' &&
    message.requestedAt !== undefined &&
    renewal?.deployedAt !== undefined &&
    renewal.stage !== 'failed' &&
    Date.parse(renewal.deployedAt) >= Date.parse(message.requestedAt)
  ) {
    return `renewal ${renewal.id}, deployed at ${renewal.deployedAt} after the rotation was asked for, answers it`;
  }
  return undefined;
}
