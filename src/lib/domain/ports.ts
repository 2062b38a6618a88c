import type { KeyObject } from 'node:crypto';
import type { AccessState, Actor, AppConfig, RenewalState } from './appConfig.js';

/**
 * What the use cases need from the outside world besides the store (storedApp.ts): Key Vault, the
 * app registration in Entra, the sign-in check, the queue, email and Event Grid. The adapters in
 * src/lib/<service>/ implement these; tests use the same adapters against Azurite and the emulators.
 */

// --- Key Vault -------------------------------------------------------------------------------

export interface VaultVersion {
  readonly name: string;
  readonly version: string;
  readonly id: string;
  readonly thumbprint: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface CertificateVault {
  importCertificate(name: string, input: { pfx: Buffer; password: string; tags?: Readonly<Record<string, string>> }): Promise<VaultVersion>;
  findVersionByTag(name: string, tag: string, value: string): Promise<VaultVersion | undefined>;
  /** The version that readers of "the certificate" get; undefined when there is none. */
  getLatest(name: string): Promise<VaultVersion | undefined>;
  listVersions(name: string): Promise<VaultVersion[]>;
  getCertificateWithPrivateKey(
    name: string,
    which: { version: string } | { thumbprint: string },
  ): Promise<{ certificate: VaultVersion; der: Buffer; privateKey: KeyObject }>;
}

/** The Key Vault adapter of a vault URL (one per vault). */
export type VaultFor = (vaultUrl: string) => CertificateVault;

// --- the app registration in Entra -----------------------------------------------------------

/** A certificate and its key, held in memory only: what signs the app in (self mode, verification). */
export interface CertificateSigner {
  readonly der: Buffer;
  readonly privateKey: KeyObject;
}

export type GraphMode = 'owner' | 'self';

/** How a write reaches the app registration: as the rotator (owner), or signed in as the app (self). */
export type GraphWriteMode = { readonly graphMode: 'owner' } | { readonly graphMode: 'self'; readonly signer: CertificateSigner };

export type CertificateStatus = 'current' | 'valid' | 'expired' | 'not yet valid';

/** A certificate credential on an app registration. */
export interface AppCertificate {
  readonly keyId: string;
  readonly displayName: string | null;
  /** SHA-1, upper-case hex: what Entra shows. */
  readonly thumbprint: string;
  readonly thumbprintSha256: string | undefined;
  readonly validFrom: Date;
  readonly validUntil: Date;
  readonly status: CertificateStatus;
  /** Added by this rotator (displayName prefix), so it may remove it by itself. */
  readonly managed: boolean;
  /** The DER certificate, when Graph returned it. */
  readonly der: Buffer | undefined;
}

export interface NewCertificate {
  readonly der: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface AppCredentials {
  listCertificates(appId: string, options?: { currentThumbprint?: string }): Promise<AppCertificate[]>;
  /**
   * Adds the certificate, keeping every other credential. Idempotent by keyId and thumbprint: a
   * retry finds its own work (`added: false`). Owner mode honours `keyId`; in self mode Graph's
   * addKey assigns it, so the result's keyId is the one to record.
   */
  addCertificate(
    appId: string,
    options: { certificate: NewCertificate; keyId: string; mode: GraphWriteMode },
  ): Promise<{ keyId: string; added: boolean; removedToMakeRoom: readonly string[] }>;
  /** Removes one credential, never the last valid one unless forced. */
  removeCertificate(appId: string, keyId: string, options: { force?: boolean; mode: GraphWriteMode }): Promise<void>;
  /** Removes expired certificates the rotator created, never the last valid one; returns what it removed. */
  removeExpiredManagedCertificates(appId: string, mode: GraphWriteMode): Promise<AppCertificate[]>;
}

export interface AppRegistrationSummary {
  /** The application (client) id, lower-case GUID. */
  readonly appId: string;
  /** The application object's id (what Graph's /applications/{id} and addKey's `iss` use). */
  readonly objectId: string;
  readonly displayName: string;
}

/** What the config API needs to know about an app registration in Entra. */
export interface AppRegistrationDirectory {
  /** Throws NotFoundError when the tenant has no app registration with that appId. */
  getAppRegistration(appId: string): Promise<AppRegistrationSummary>;
  /**
   * Checks that the rotator can manage the app in the given mode and throws a PreconditionError
   * that names what is missing (owner: the rotator is not an owner / lacks
   * Application.ReadWrite.OwnedBy, with the grant script to run; self: no valid managed certificate
   * in Key Vault to sign in with).
   */
  assertManageable(appId: string, graphMode: GraphMode): Promise<void>;
}

/** The app's own service principal, whose object id is what role assignments name (docs/consumers.md). */
export interface ServicePrincipalDirectory {
  /** The object id of the app's service principal in the managed tenant; undefined when it has none. */
  servicePrincipalIdOf(appId: string): Promise<string | undefined>;
}

export interface SignInVerifier {
  /** Resolves when the app can sign in with this certificate; throws (RetriableError) while Entra refuses it. */
  verify(appId: string, signer: CertificateSigner): Promise<void>;
}

// --- Key Vault access grants (Azure RBAC through Resource Manager, docs/consumers.md) ------------------------

/** The two roles the rotator hands out; nothing else (the ABAC condition on its own role agrees). */
export type VaultReadRole = 'Key Vault Secrets User' | 'Key Vault Certificate User';

/** Who a role assignment names: ARM needs the type; the rotator grants to these two only. */
export type GrantPrincipalType = 'ServicePrincipal' | 'Group';

export interface VaultRoleAssignment {
  /** Deterministic GUID (accessPlan.ts), so a retry never makes a second assignment. */
  readonly name: string;
  /** `{vault id}/secrets/{name}` or `{vault id}/certificates/{name}`. */
  readonly scope: string;
  readonly role: VaultReadRole;
  readonly principalId: string;
}

/**
 * `granted`: the assignment of that name exists now (made now or by an earlier round).
 * `exists-elsewhere`: someone else's assignment of the same role to the same principal at the same
 * scope (409 RoleAssignmentExists): the access is there, but the assignment is not ours to remove.
 */
export type GrantOutcome = 'granted' | 'exists-elsewhere';

export interface VaultAccessGrants {
  /**
   * Creates the assignment; the principal type is found out (service principal, else group).
   * Throws AccessDeniedError when the rotator may not (403, an ABAC condition included),
   * ValidationError when the principal is neither, RetriableError when Resource Manager is unavailable.
   */
  grant(assignment: VaultRoleAssignment): Promise<GrantOutcome>;
  /** Deletes the assignment by name; one that is already gone is fine. */
  revoke(assignment: Pick<VaultRoleAssignment, 'name' | 'scope'>): Promise<void>;
}

/** The access use case (access/vaultAccessService.ts), as config writes and renewals call it. */
export interface AccessReviewer {
  /**
   * Grants what the config asks for and removes what it no longer does; never throws for a refusal
   * or an outage. `access` is the new `state.access`; `notify`: a change an admin must hear about.
   */
  review(config: AppConfig, state: RenewalState): Promise<{ readonly access: AccessState | undefined; readonly notify: boolean }>;
}

// --- the renewal queue -----------------------------------------------------------------------

export interface RenewalMessage {
  readonly appId: string;
  readonly renewalId: string;
  readonly stage: 'deploy' | 'confirm';
  readonly trigger: 'scheduled' | 'manual' | 'bootstrap' | 'drift' | 'rotation';
  readonly reason?: string;
  readonly rotationId?: string;
  readonly requestedAt?: string;
  readonly deferrals?: number;
  readonly throttled?: number;
}

/** Where the queue worker reports a rotation's renewal after each delivery (docs/http-api.md); never throws. */
export interface RotationTracker {
  track(message: RenewalMessage): Promise<void>;
}

export interface RenewalQueue {
  enqueue(message: RenewalMessage, options?: { visibilityDelaySeconds?: number }): Promise<void>;
}

// --- email and events ------------------------------------------------------------------------

export interface EmailMessage {
  readonly to: readonly string[];
  readonly subject: string;
  readonly plainText: string;
  readonly html: string;
  readonly attachments?: readonly { name: string; contentType: string; content: Buffer }[];
  readonly operationId?: string;
}

export interface Mailer {
  send(email: EmailMessage): Promise<unknown>;
}

export interface RotatorEvent {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly subject?: string;
  readonly time?: Date;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface EventSink {
  publish(events: readonly RotatorEvent[]): Promise<void>;
}

// --- the renewal use case, as the certificate API calls it ------------------------------------

/** What a deploy stage put in place: the new certificate as recorded. */
export interface DeployedCertificate {
  readonly appId: string;
  readonly renewalId: string;
  readonly keyId: string;
  readonly thumbprint: string;
  readonly thumbprintSha256: string | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly keyVault?: { readonly id: string; readonly version: string };
  /**
   * The certificate and key, in memory: for the creating response only, never stored. Absent only
   * when a retry adopted a credential whose key went out by email in an earlier attempt.
   */
  readonly certificate: { readonly der: Buffer; readonly privateKey: KeyObject | undefined } | undefined;
}

/** A manual generation: the deploy stage inline, the confirm stage queued. */
export interface CertificateGenerator {
  generate(appId: string, actor: Actor): Promise<DeployedCertificate>;
}
