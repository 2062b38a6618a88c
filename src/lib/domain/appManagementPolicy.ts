/**
 * What the preflight (renewal/decide/appManagementPolicy.ts) reads of the tenant's app management
 * policies, and the port that reads it (the Graph adapter: graph/appManagementPolicyClient.ts).
 */

export interface KeyCredentialRestriction {
  readonly restrictionType: string;
  /** ISO 8601 duration, `asymmetricKeyLifetime` only (P90D, P1Y, PT2160H…). */
  readonly maxLifetime?: string | null;
  readonly restrictForAppsCreatedAfterDateTime?: string | null;
  /** `disabled` turns one restriction off (absent: enabled). */
  readonly state?: string | null;
}

export interface PolicyOfApp {
  readonly id: string;
  readonly displayName: string | null;
  readonly isEnabled: boolean;
  readonly keyCredentials: readonly KeyCredentialRestriction[];
}

export interface PolicyFacts {
  /** The tenant default policy; undefined when there is none to read. */
  readonly tenant: PolicyOfApp | undefined;
  /** Policies assigned to the app itself (at most one in practice). */
  readonly app: readonly PolicyOfApp[];
  readonly appCreatedAt: Date | undefined;
  /** Certificates on the app registration now (for the object's size headroom). */
  readonly keyCredentialCount: number;
  /** Items across the app object's collection properties (credentials, identifierUris, appRoles, redirect URIs…). */
  readonly collectionItems: number;
}

/** Reads the policies that bind an app; `unreadable` says why not (a missing Graph permission, say). */
export interface AppManagementPolicyReader {
  policyFacts(appId: string): Promise<PolicyFacts | { readonly unreadable: string }>;
}
