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
 * (graphKeyCredential.ts checkCredentialLimits), as the real service answers (microsoft-graph-docs#21469), and a
 * self-signed certificate under a trustedCertificateAuthority restriction with a 400 of the same
 * family (trustedCertificateRefusal below).
 */
import { X509Certificate } from 'node:crypto';

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

  /** The enabled restrictions that bind an app created at `createdAt`, each with its policy. */
  #inForce(applicationObjectId: string, createdAt: Date): { policy: EmulatedPolicy; restriction: KeyCredentialConfiguration }[] {
    const own = this.assignedTo(applicationObjectId).filter((p) => p.isEnabled);
    const policies = own.length > 0 ? own : this.tenant.isEnabled ? [this.tenant] : [];
    return policies.flatMap((policy) =>
      policy.keyCredentials
        .filter((r) => r.state !== 'disabled')
        .filter((r) => !r.restrictForAppsCreatedAfterDateTime || createdAt.getTime() > Date.parse(r.restrictForAppsCreatedAfterDateTime))
        .map((restriction) => ({ policy, restriction })),
    );
  }

  /** The longest certificate lifetime in force for an app created at `createdAt`, in days; undefined: no cap. */
  maxLifetimeDays(applicationObjectId: string, createdAt: Date): number | undefined {
    const caps = this.#inForce(applicationObjectId, createdAt)
      .filter(({ restriction: r }) => r.restrictionType === 'asymmetricKeyLifetime' && r.maxLifetime)
      .map(({ restriction: r }) => days(r.maxLifetime!));
    return caps.length > 0 ? Math.min(...caps) : undefined;
  }

  /**
   * The refusal of added certificates under a trustedCertificateAuthority restriction: a self-signed
   * one chains to no configured CA. Graph documents no error for this restriction (only the
   * restriction, in beta's keyCredentialConfiguration), so the emulator answers a 400 of the family
   * the real service uses for app management policy refusals, `…AsPerAppPolicy`
   * (CredentialInvalidLifetimeAsPerAppPolicy, CredentialTypeNotAllowedAsPerAppPolicy); the product
   * must match that family, not this exact code. The configured CAs themselves are not modelled.
   */
  trustedCertificateRefusal(
    applicationObjectId: string,
    createdAt: Date,
    added: readonly Buffer[],
  ): { code: string; message: string } | undefined {
    const rule = this.#inForce(applicationObjectId, createdAt).find(
      ({ restriction }) => restriction.restrictionType === 'trustedCertificateAuthority',
    );
    if (!rule) return undefined;
    const selfSigned = added.some((der) => {
      const x509 = new X509Certificate(der);
      // Not checkIssued: OpenSSL's also wants keyCertSign, which a leaf (ours) does not carry.
      return x509.issuer === x509.subject && x509.verify(x509.publicKey);
    });
    return selfSigned
      ? {
          code: 'CertificateIssuerNotTrustedAsPerAppPolicy',
          message: `The certificate is not issued by a certificate authority trusted as per assigned policy '${rule.policy.id}'.`,
        }
      : undefined;
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
