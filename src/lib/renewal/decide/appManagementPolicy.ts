import type { KeyCredentialRestriction, PolicyFacts, PolicyOfApp } from '../../domain/appManagementPolicy.js';

/**
 * Preflight against the tenant's app management policies (docs/renewal.md, "Preflight"): pure, over
 * the policies Graph returned. Microsoft documents the rules: the tenant default policy
 * (`policies/defaultAppManagementPolicy`) applies when it is enabled, and each restriction only to
 * apps created after its `restrictForAppsCreatedAfterDateTime`; a policy assigned to the app itself
 * (`applications/{id}/appManagementPolicies`) replaces the default for that app. Two key-credential
 * restrictions matter to a rotator: `asymmetricKeyLifetime` (a certificate valid longer than
 * `maxLifetime` is refused) and `trustedCertificateAuthority` (only certificates issued by the
 * tenant's configured CAs: a self-signed one is refused).
 */

export type PreflightRefusal =
  | { readonly kind: 'lifetime'; readonly policy: string; readonly maxLifetimeDays: number }
  | { readonly kind: 'trusted-ca'; readonly policy: string };

export interface PreflightOutcome {
  readonly refusal: PreflightRefusal | undefined;
  readonly warnings: readonly string[];
}

/**
 * Items across the app object's collection properties from which the rotator warns: Microsoft
 * documents "a global limit of about 1000 items across all the collection properties on the app
 * object" (learn.microsoft.com/entra/identity-platform/supported-accounts-validation); a write past
 * the object's limits fails (Directory_ResourceSizeExceeded). 90 % of it leaves room for a rotation.
 */
export const NEAR_SIZE_LIMIT_ITEMS = 900;

/**
 * Certificates on one app registration from which the rotator warns as well. The object's size
 * (Directory_ResourceSizeExceeded: "The size of the object has exceeded its limit") is what Graph
 * limits, and it documents no certificate count: each certificate carries its DER (about 1 KB for
 * RSA 2048, more for larger keys) where other items carry a URI or a GUID. This is our margin,
 * five times the three the rotator keeps at most (current, next, one retiring); the Graph
 * emulator refuses past 20 (graph.ts maxKeyCredentials).
 */
export const NEAR_SIZE_LIMIT_CERTIFICATES = 15;

/** The restriction types the preflight knows; any other enabled one is a warning, not a guess. */
const KNOWN_RESTRICTIONS = new Set(['asymmetricKeyLifetime', 'trustedCertificateAuthority']);

const DAY_MS = 86_400_000;

/** Whole days of an ISO 8601 duration (days, weeks, hours; years as 365 and months as 30 days); undefined when unreadable. */
export function durationDays(iso: string): number | undefined {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(iso);
  if (!m || iso === 'P' || iso.endsWith('T')) return undefined;
  const [, y, mo, w, d, h, mi, s] = m.map((v) => Number(v ?? 0));
  return y! * 365 + mo! * 30 + w! * 7 + d! + (h! + mi! / 60 + s! / 3600) / 24;
}

function name(policy: PolicyOfApp, scope: string): string {
  return `${scope} app management policy ${policy.displayName ? `"${policy.displayName}" ` : ''}(${policy.id})`;
}

/** The restrictions in force for this app, and the policy each comes from. */
function inForce(facts: PolicyFacts): { restriction: KeyCredentialRestriction; policy: string }[] {
  const own = facts.app.filter((p) => p.isEnabled);
  const source: { policy: PolicyOfApp; scope: string }[] =
    own.length > 0
      ? own.map((policy) => ({ policy, scope: "the app's" }))
      : facts.tenant?.isEnabled
        ? [{ policy: facts.tenant, scope: "the tenant's default" }]
        : [];
  return source.flatMap(({ policy, scope }) =>
    policy.keyCredentials
      .filter((r) => r.state !== 'disabled')
      .filter((r) => {
        const after = r.restrictForAppsCreatedAfterDateTime;
        return !after || facts.appCreatedAt === undefined || facts.appCreatedAt.getTime() > Date.parse(after);
      })
      .map((restriction) => ({ restriction, policy: name(policy, scope) })),
  );
}

/** Whether a config with this lifetime may be renewed under the policies, and what to warn about. */
export function preflightAppManagementPolicies(config: { readonly lifetimeDays: number }, facts: PolicyFacts): PreflightOutcome {
  const warnings: string[] = [];
  let refusal: PreflightRefusal | undefined;
  for (const { restriction, policy } of inForce(facts)) {
    if (restriction.restrictionType === 'trustedCertificateAuthority') {
      // No lifetime helps a self-signed certificate: this refusal says what would.
      if (refusal?.kind !== 'trusted-ca') refusal = { kind: 'trusted-ca', policy };
    } else if (!KNOWN_RESTRICTIONS.has(restriction.restrictionType)) {
      warnings.push(
        `${policy} has a certificate restriction of type ${restriction.restrictionType}, which the rotator does not check: Microsoft Graph may refuse a renewal under it`,
      );
    } else if (restriction.restrictionType === 'asymmetricKeyLifetime' && restriction.maxLifetime) {
      const days = durationDays(restriction.maxLifetime);
      if (days === undefined)
        warnings.push(`${policy} caps certificate lifetime at ${restriction.maxLifetime}, which the rotator cannot read`);
      // The certificate's validity starts 5 minutes back (clock skew): a lifetime equal to the cap is still inside it.
      // Of several caps the smallest is named, so that following the message clears them all.
      else if (
        config.lifetimeDays * DAY_MS > days * DAY_MS &&
        refusal?.kind !== 'trusted-ca' &&
        (refusal === undefined || Math.floor(days) < refusal.maxLifetimeDays)
      )
        refusal = { kind: 'lifetime', policy, maxLifetimeDays: Math.floor(days) };
    }
  }
  if (facts.collectionItems >= NEAR_SIZE_LIMIT_ITEMS) {
    warnings.push(
      `the app registration holds ${facts.collectionItems} items across its collection properties, near Entra's limit of about 1,000 (Directory_ResourceSizeExceeded): remove credentials, redirect URIs or roles nobody uses`,
    );
  }
  if (facts.keyCredentialCount >= NEAR_SIZE_LIMIT_CERTIFICATES) {
    warnings.push(
      `the app registration holds ${facts.keyCredentialCount} certificates, which weigh on Entra's object size limit (Directory_ResourceSizeExceeded): remove certificates nobody uses`,
    );
  }
  return { refusal, warnings };
}

/** What a refusal says to a person: the policy, and what to change. */
export function refusalText(refusal: PreflightRefusal, lifetimeDays: number): string {
  return refusal.kind === 'lifetime'
    ? `${refusal.policy} allows certificates valid at most ${refusal.maxLifetimeDays} days, and lifetimeDays is ${lifetimeDays}: set lifetimeDays to ${refusal.maxLifetimeDays} or less, or ask an administrator to exempt the app`
    : `${refusal.policy} accepts only certificates issued by the tenant's trusted certificate authorities, and the rotator's certificates are self-signed: ask an administrator to exempt the app from that restriction`;
}
