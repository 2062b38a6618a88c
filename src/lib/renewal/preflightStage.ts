import { PreconditionError } from '../errors.js';
import { keyIdForRenewal } from './deployStage.js';
import type { LeasedApp } from './leasedApp.js';
import { preflightOutcome } from './preflightOutcome.js';
import type { RenewalContext } from './renewalContext.js';
import { writeRenewalState } from './writeRenewalState.js';

/**
 * Before a deploy makes anything: the app management policies that bind the app (docs/renewal.md,
 * "Preflight"). A policy that would refuse the certificate fails the renewal at once, naming the
 * policy (a PreconditionError: recorded, and no key is made); what only needs attention is kept in
 * the state's preflight warnings.
 *
 * A redelivery whose first attempt already made its certificate (a Key Vault version tagged with
 * the renewal, or without Key Vault its credential on the app registration) is let through even
 * when a policy set since would refuse a new one: it must finish what Entra may already hold, so
 * that Entra, Key Vault and the state agree; Graph refuses what the policy forbids of anything it
 * still adds, and that failure restores Key Vault.
 */
export async function preflightStage(context: RenewalContext, held: LeasedApp): Promise<void> {
  const { policies, store, now } = context;
  if (!policies) return;
  const { config } = held.app;
  const { refusal, warnings } = await preflightOutcome(policies, config);
  if (refusal && !(await madeEarlier(context, held))) throw new PreconditionError(refusal.message);
  if (JSON.stringify(held.app.state.preflight?.warnings ?? []) !== JSON.stringify(warnings)) {
    held.app = await writeRenewalState(store, held.app, held.owner, () => ({
      preflight: { checkedAt: now().toISOString(), warnings: [...warnings] },
    }));
  }
}

/** Whether an earlier attempt of this renewal made its certificate (the look-ups deployStage makes to reuse it). */
async function madeEarlier(context: RenewalContext, held: LeasedApp): Promise<boolean> {
  if (held.firstAttempt) return false;
  const { config } = held.app;
  const { renewalId } = held.message;
  if (config.keyVault.enabled) {
    return (
      (await context.vaultFor(config.keyVault.vaultUrl).findVersionByTag(config.keyVault.certificateName, 'renewalId', renewalId)) !==
      undefined
    );
  }
  return (await context.credentials.listCertificates(config.appId)).some((c) => c.keyId === keyIdForRenewal(renewalId));
}
