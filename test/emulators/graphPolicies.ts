/**
 * App management policies for the Graph emulator (graph.ts mounts the routes):
 *  - GET /v1.0/policies/defaultAppManagementPolicy: the tenantAppManagementPolicy (id, displayName,
 *    isEnabled, applicationRestrictions.keyCredentials / passwordCredentials), which needs
 *    Policy.Read.All ("Get tenantAppManagementPolicy", permissions table);
 *  - GET /v1.0/applications/{id}/appManagementPolicies: the appManagementPolicy objects assigned to
 *    the app (restrictions.keyCredentials …), which needs Policy.Read.All and Application.Read.All
 *    ("List appManagementPolicies" of an application).
 * Each keyCredentialConfiguration has restrictionType (`asymmetricKeyLifetime` with an ISO 8601
 * maxLifetime, `trustedCertificateAuthority`), restrictForAppsCreatedAfterDateTime and state. A
 * policy assigned to an app replaces the tenant default for it. Writes are refused with
 * CredentialInvalidLifetimeAsPerAppPolicy when a new certificate outlives the lifetime in force
 * (graph.ts #checkLimits), as the real service answers (microsoft-graph-docs#21469).
 */

export interface KeyCredentialConfiguration {
  restrictionType: 'asymmetricKeyLifetime' | 'trustedCertificateAuthority';
  maxLifetime?: string | null;
  restrictForAppsCreatedAfterDateTime?: string | null;
  certificateBasedApplicationConfigurationIds?: string[];
  state?: 'enabled' | 'disabled';
}

export interface EmulatedPolicy {
  id: string;
  displayName: string | null;
  isEnabled: boolean;
  keyCredentials: KeyCredentialConfiguration[];
}

export const DEFAULT_POLICY_ID = '00000000-0000-0000-0000-000000000000';
export const POLICY_READ = 'Policy.Read.All';

/** Days of an ISO 8601 duration written with days, hours or years (what tests and the docs use). */
function days(duration: string): number {
  const m = /^P(?:(\d+)Y)?(?:(\d+)D)?(?:T(\d+)H)?$/.exec(duration);
  if (!m) throw new Error(`The emulator reads P{n}Y, P{n}D or PT{n}H durations only, not ${duration}`);
  return Number(m[1] ?? 0) * 365 + Number(m[2] ?? 0) + Number(m[3] ?? 0) / 24;
}

export class AppManagementPolicies {
  /** The tenant default policy (Graph has one per tenant; off until enabled). */
  tenant: EmulatedPolicy = {
    id: DEFAULT_POLICY_ID,
    displayName: 'Default app management tenant policy',
    isEnabled: false,
    keyCredentials: [],
  };
  readonly #assigned = new Map<string, EmulatedPolicy[]>();

  /** Assigns a policy to an application (by object id), replacing the tenant default for it. */
  assign(applicationObjectId: string, policy: EmulatedPolicy): void {
    this.#assigned.set(applicationObjectId, [...(this.#assigned.get(applicationObjectId) ?? []), policy]);
  }

  assignedTo(applicationObjectId: string): EmulatedPolicy[] {
    return this.#assigned.get(applicationObjectId) ?? [];
  }

  clear(): void {
    this.tenant = { ...this.tenant, isEnabled: false, keyCredentials: [] };
    this.#assigned.clear();
  }

  /** The longest certificate lifetime in force for an app created at `createdAt`, in days; undefined: no cap. */
  maxLifetimeDays(applicationObjectId: string, createdAt: Date): number | undefined {
    const own = this.assignedTo(applicationObjectId).filter((p) => p.isEnabled);
    const policies = own.length > 0 ? own : this.tenant.isEnabled ? [this.tenant] : [];
    const caps = policies
      .flatMap((p) => p.keyCredentials)
      .filter((r) => r.restrictionType === 'asymmetricKeyLifetime' && r.maxLifetime && r.state !== 'disabled')
      .filter((r) => !r.restrictForAppsCreatedAfterDateTime || createdAt.getTime() > Date.parse(r.restrictForAppsCreatedAfterDateTime))
      .map((r) => days(r.maxLifetime!));
    return caps.length > 0 ? Math.min(...caps) : undefined;
  }

  tenantBody(baseUrl: string): Record<string, unknown> {
    return {
      '@odata.context': `${baseUrl}/v1.0/$metadata#policies/defaultAppManagementPolicy/$entity`,
      id: this.tenant.id,
      displayName: this.tenant.displayName,
      description: 'Default tenant policy that enforces app management restrictions on applications and service principals.',
      isEnabled: this.tenant.isEnabled,
      applicationRestrictions: { passwordCredentials: [], keyCredentials: this.tenant.keyCredentials },
      servicePrincipalRestrictions: { passwordCredentials: [], keyCredentials: [] },
    };
  }

  assignedBody(baseUrl: string, applicationObjectId: string): Record<string, unknown> {
    return {
      '@odata.context': `${baseUrl}/v1.0/$metadata#appManagementPolicies`,
      value: this.assignedTo(applicationObjectId).map((p) => ({
        id: p.id,
        displayName: p.displayName,
        description: null,
        isEnabled: p.isEnabled,
        restrictions: { passwordCredentials: [], keyCredentials: p.keyCredentials },
      })),
    };
  }
}
