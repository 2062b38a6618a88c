import type { AppManagementPolicyReader } from '../domain/appManagementPolicy.js';
import { preflightAppManagementPolicies, refusalText, type PreflightRefusal } from './decide/appManagementPolicy.js';

/** What the app management policies say of a config: a refusal worded to name the policy, and the warnings for state.preflight. */
export interface PolicyPreflight {
  readonly refusal: { readonly kind: PreflightRefusal['kind']; readonly message: string } | undefined;
  readonly warnings: readonly string[];
}

/**
 * Reads the policies that bind the app and decides (docs/renewal.md, "Preflight"); shared by the
 * config API (on create and update) and the deploy (before any key is made), which differ only in
 * what they do with a refusal. Policies that cannot be read refuse nothing: why is the one warning.
 */
export async function preflightOutcome(
  reader: AppManagementPolicyReader,
  config: { readonly appId: string; readonly lifetimeDays: number },
): Promise<PolicyPreflight> {
  const facts = await reader.policyFacts(config.appId);
  if ('unreadable' in facts) return { refusal: undefined, warnings: [facts.unreadable] };
  const { refusal, warnings } = preflightAppManagementPolicies(config, facts);
  return { refusal: refusal && { kind: refusal.kind, message: refusalText(refusal, config.lifetimeDays) }, warnings };
}
