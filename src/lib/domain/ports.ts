import type { KeyObject } from 'node:crypto';
import type { Actor, AppConfig, HistoryEntry, RenewalState, RenewalStateInput } from './appConfig.js';
import type { DueAppsResult, HistoryInput, Page, StoredApp } from '../tables/appStore.js';

/**
 * What the renewal use cases need from the outside world. The adapters (Table Storage, Key Vault,
 * Graph, the sign-in check, the queue, email, Event Grid) satisfy these structurally; tests use the
 * same adapters against Azurite and the emulators.
 */

export interface RenewalStore {
  getApp(appId: string): Promise<StoredApp | undefined>;
  listApps(options?: { maxPageSize?: number; continuationToken?: string }): Promise<Page<StoredApp>>;
  updateApp(
    current: StoredApp,
    change: { config?: AppConfig; state?: RenewalStateInput; actor?: Actor; history?: HistoryInput | readonly HistoryInput[] },
  ): Promise<StoredApp>;
  appendHistory(appId: string, entry: HistoryInput, actor?: Actor): Promise<void>;
  listDueApps(now: Date, options?: { maxPageSize?: number }): Promise<DueAppsResult>;
  markPendingNotifications(appId: string): Promise<void>;
  clearPendingNotifications(appId: string): Promise<void>;
  listAppsWithPendingNotifications(options?: { maxPageSize?: number }): Promise<string[]>;
  getSchedulerRecord(name: string): Promise<{ value: unknown; etag: string } | undefined>;
  putSchedulerRecord(name: string, value: unknown, etag: string | undefined): Promise<void>;
}

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

/** A certificate and its key, held in memory only: what signs the app in (self mode, verification). */
export interface CertificateSigner {
  readonly der: Buffer;
  readonly privateKey: KeyObject;
}

export type GraphWriteMode = { readonly graphMode: 'owner' } | { readonly graphMode: 'self'; readonly signer: CertificateSigner };

export interface AppCertificate {
  readonly keyId: string;
  readonly displayName: string | null;
  readonly thumbprint: string;
  readonly validFrom: Date;
  readonly validUntil: Date;
  readonly status: 'current' | 'valid' | 'expired' | 'not yet valid';
  readonly managed: boolean;
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
    options: { certificate: { der: Buffer; notBefore: Date; notAfter: Date }; keyId: string; mode: GraphWriteMode },
  ): Promise<{ keyId: string; added: boolean; removedToMakeRoom: readonly string[] }>;
  /** Removes expired certificates the rotator created, never the last valid one; returns what it removed. */
  removeExpiredManagedCertificates(appId: string, mode: GraphWriteMode): Promise<AppCertificate[]>;
}

export interface SignInVerifier {
  /** Resolves when the app can sign in with this certificate; throws (RetriableError) while Entra refuses it. */
  verify(appId: string, signer: CertificateSigner): Promise<void>;
}

export interface RenewalMessage {
  readonly appId: string;
  readonly renewalId: string;
  readonly stage: 'deploy' | 'confirm';
  readonly trigger: 'scheduled' | 'manual' | 'bootstrap' | 'drift';
  readonly reason?: string;
  readonly requestedAt?: string;
  readonly deferrals?: number;
}

export interface RenewalQueue {
  enqueue(message: RenewalMessage, options?: { visibilityDelaySeconds?: number }): Promise<void>;
}

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

export type { Actor, AppConfig, HistoryEntry, RenewalState, StoredApp };
