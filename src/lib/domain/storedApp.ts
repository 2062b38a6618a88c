import type { Actor, AppConfig, HistoryEntry, RenewalState, RenewalStateInput } from './appConfig.js';

/** An app as stored: its config, its renewal state, and the version (ETag) every write is conditional on. */
export interface StoredApp {
  readonly config: AppConfig;
  readonly state: RenewalState;
  readonly etag: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly updatedBy: Actor | undefined;
}

export interface Page<T> {
  readonly items: T[];
  /** Opaque (base64url); absent on the last page. */
  readonly continuationToken: string | undefined;
}

/** A row of the apps table that does not read as an app (a hand edit, a restore of another version). */
export interface UnreadableApp {
  readonly appId: string;
  readonly cause: string;
}

/** A page of a scan that goes on past rows it cannot read; those come back in `unreadable`. */
export interface AppScanPage extends Page<StoredApp> {
  readonly unreadable: readonly UnreadableApp[];
}

export interface PageOptions {
  readonly maxPageSize?: number;
  readonly continuationToken?: string;
}

export interface DueApp {
  readonly appId: string;
  readonly dueAt: Date;
}

export interface DueAppsResult {
  readonly apps: DueApp[];
  /** Pages and entities the query read: what the scheduler pays for, asserted by the tests. */
  readonly pagesRead: number;
  readonly entitiesRead: number;
}

export type HistoryInput = Omit<HistoryEntry, 'at'> & { readonly at?: string };

export interface AppChange {
  readonly config?: AppConfig;
  readonly state?: RenewalStateInput;
  readonly actor?: Actor;
  readonly history?: HistoryInput | readonly HistoryInput[];
}

/**
 * The store of app configs, their renewal state, the due index and history: the one store port the
 * use cases depend on (the Table adapter implements it). Every write of an app is conditional on the
 * ETag it was read with and fails with PreconditionFailedError when another writer got in between.
 */
export interface AppRepository {
  getApp(appId: string): Promise<StoredApp | undefined>;
  listApps(options?: PageOptions): Promise<Page<StoredApp>>;
  /** listApps for the scheduler's slice: one unreadable row is reported, not a failed page. */
  scanApps(options?: PageOptions): Promise<AppScanPage>;
  /** ConflictError when the app exists already or its certificate name is taken in the vault. */
  createApp(input: { config: AppConfig; state?: RenewalStateInput; actor?: Actor; history: HistoryInput }): Promise<StoredApp>;
  updateApp(current: StoredApp, change: AppChange): Promise<StoredApp>;
  deleteApp(current: StoredApp, input: { actor?: Actor; history: HistoryInput }): Promise<void>;
  /** The app that holds a Key Vault certificate name in a vault, if any. */
  findCertificateNameOwner(vaultUrl: string, certificateName: string): Promise<string | undefined>;
  appendHistory(appId: string, entry: HistoryInput, actor?: Actor): Promise<void>;
  listHistory(appId: string, options?: PageOptions): Promise<Page<HistoryEntry>>;
  /** The apps whose renewal is due by `now`: a read of the due index only. */
  listDueApps(now: Date, options?: { maxPageSize?: number }): Promise<DueAppsResult>;
  markPendingNotifications(appId: string): Promise<void>;
  clearPendingNotifications(appId: string): Promise<void>;
  listAppsWithPendingNotifications(options?: { maxPageSize?: number }): Promise<string[]>;
  getSchedulerRecord(name: string): Promise<{ value: unknown; etag: string } | undefined>;
  putSchedulerRecord(name: string, value: unknown, etag: string | undefined): Promise<void>;
}
