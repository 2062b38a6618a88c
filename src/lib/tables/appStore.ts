import { randomBytes } from 'node:crypto';
import { odata, RestError, type TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { z } from 'zod';
import { ConflictError, NotFoundError, PreconditionFailedError, RetriableError, ValidationError } from '../errors.js';
import {
  appConfigSchema,
  historyEntrySchema,
  renewalStateSchema,
  type Actor,
  type AppConfig,
  type HistoryEntry,
  type RenewalState,
  type RenewalStateInput,
} from '../domain/appConfig.js';
import type { AppChange, AppRepository, DueAppsResult, HistoryInput, Page, PageOptions, StoredApp } from '../domain/storedApp.js';
import { scheduledRenewalAt } from '../renewal/decide/schedule.js';

/**
 * The Table Storage repository for app configs, their renewal state, the due index, the Key Vault
 * certificate-name reservations and the history. The only module that knows the entity layout.
 *
 * Layout: every row lives in ONE partition (`apps`), told apart by a RowKey prefix:
 *   app_{appId}                       config + state (JSON, validated on read), the keys below; or,
 *                                     between the two steps of a delete, a tombstone (see deleteApp)
 *   due_{dueEpochMs, 15 digits}_{appId}   the due index: one row per app that has a due time
 *   kvname_{vaultHost}_{name}         reserves a Key Vault certificate name in a vault for one app
 *   hist_{appId}_{invertedMs}_{rand}  history, newest first within an app's range
 *   pending_{appId}                   the app has notifications to retry (see markPendingNotifications)
 *   sched_{name}                      the scheduler's own bookkeeping (the drift slice cursor)
 *
 * Why one partition: an entity-group transaction can only span one partition, and with every row
 * in it, each write commits the app row, its due-index row, its name reservation and its history
 * row atomically (the "intra-partition secondary index" pattern of the Azure Table design guide,
 * https://learn.microsoft.com/azure/storage/tables/table-storage-design-patterns). So the index can
 * never disagree with the config after a crash: there is no second write to crash between, and the
 * name uniqueness per vault is enforced by the service (an insert that collides fails the whole
 * transaction) rather than by a racy read. The cost is one partition's throughput (about 2,000
 * entities/s), far above what a certificate rotator writes. `repairIndex` re-derives index rows
 * from the app rows for damage done outside this code (a hand edit, a restore).
 *
 * The scheduler's query is a RowKey range (`due_` … `due_{now}`) inside that partition, so it reads
 * only the due rows: its cost follows the number of due apps, not the number of apps.
 */

export const APPS_PARTITION = 'apps';
const APP_PREFIX = 'app_';
const DUE_PREFIX = 'due_';
const NAME_PREFIX = 'kvname_';
const HISTORY_PREFIX = 'hist_';
const PENDING_PREFIX = 'pending_';
const SCHEDULER_PREFIX = 'sched_';
/** Larger than any epoch millisecond this code will see; history keys count down from it. */
const HISTORY_EPOCH_CEILING = 9_999_999_999_999;

/** Points where tests interleave or fail a write; production passes none. */
export interface AppStoreHooks {
  /**
   * Called after the caller's read and just before a write is sent (after validation);
   * `remove-tombstone` before the second step of a delete (a throw there stands for a crash).
   */
  beforeCommit?(write: {
    readonly appId: string;
    readonly kind: 'create' | 'update' | 'delete' | 'remove-tombstone';
  }): Promise<void> | void;
}

export interface AppStoreOptions {
  readonly hooks?: AppStoreHooks;
  readonly now?: () => Date;
}

type AppEntity = {
  partitionKey: string;
  rowKey: string;
  appId: string;
  config: string;
  state: string;
  /** RowKey of this app's due-index row, '' when it has none. */
  dueKey: string;
  /** RowKey of this app's certificate-name reservation. */
  nameKey: string;
  createdAt: string;
  updatedAt: string;
  updatedByOid: string;
  updatedByName: string;
};

const appEntitySchema = z.object({
  partitionKey: z.literal(APPS_PARTITION),
  rowKey: z.string().startsWith(APP_PREFIX),
  etag: z.string(),
  appId: z.string(),
  config: z.string(),
  state: z.string(),
  dueKey: z.string(),
  nameKey: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  updatedByOid: z.string().default(''),
  updatedByName: z.string().default(''),
});

// The SDK's token: the service's NextPartitionKey/NextRowKey, which are opaque (encoded by the service).
const continuationTokenSchema = z.object({ nextPartitionKey: z.string(), nextRowKey: z.string().optional() });

export const appRowKey = (appId: string) => `${APP_PREFIX}${appId}`;

export function dueRowKey(dueAt: Date, appId: string): string {
  return `${DUE_PREFIX}${String(Math.max(0, dueAt.getTime())).padStart(15, '0')}_${appId}`;
}

/** Key Vault names are case-insensitive within a vault; the host (with port) identifies the vault. */
export function certificateNameRowKey(vaultUrl: string, certificateName: string): string {
  return `${NAME_PREFIX}${new URL(vaultUrl).host.toLowerCase()}_${certificateName.toLowerCase()}`;
}

function historyRowKey(appId: string, at: Date): string {
  const inverted = String(HISTORY_EPOCH_CEILING - at.getTime()).padStart(13, '0');
  return `${HISTORY_PREFIX}${appId}_${inverted}_${randomBytes(4).toString('hex')}`;
}

/** The first RowKey after every key that starts with `prefix` (for `lt` in range queries). */
function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/**
 * Our continuation tokens wrap the SDK's with the range they continue (the NextRowKey inside is
 * opaque to us: the service encodes it), so a token from one app's history cannot be replayed
 * against another's, and a forged one is the caller's error, not a 500.
 */
function encodeToken(sdkToken: string | undefined, scope: string): string | undefined {
  return sdkToken === undefined ? undefined : Buffer.from(JSON.stringify({ s: scope, t: sdkToken }), 'utf8').toString('base64url');
}

const wrappedTokenSchema = z.object({ s: z.string(), t: z.string() }).strict();

function decodeToken(token: string | undefined, scope: string): string | undefined {
  if (token === undefined) return undefined;
  try {
    const wrapped = wrappedTokenSchema.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
    if (wrapped.s !== scope) throw new Error('token of another range');
    continuationTokenSchema.parse(JSON.parse(Buffer.from(wrapped.t, 'base64').toString('utf8')));
    return wrapped.t;
  } catch {
    throw ValidationError.forField('continuationToken', 'is not a continuation token returned by this API for this list');
  }
}

/** What a deleted app's row holds until the delete's second step removes it: read as no app. */
type Tombstone = { partitionKey: string; rowKey: string; appId: string; deleted: true; deletedAt: string };

const isTombstone = (entity: object): boolean => (entity as { deleted?: unknown }).deleted === true;

function isRestError(error: unknown, status?: number): error is RestError {
  return error instanceof RestError && (status === undefined || error.statusCode === status);
}

/** Translates what Table Storage answered into the error family, naming what the caller can act on. */
function translateStorageError(error: unknown, what: string): never {
  if (error instanceof RestError) {
    const status = error.statusCode ?? 0;
    if (status === 412) throw new PreconditionFailedError(`${what}: the app was changed by someone else since it was read`);
    if (status === 429 || status >= 500 || status === 0) {
      throw new RetriableError(`${what}: Table Storage is unavailable (${status || error.code})`, { cause: error });
    }
  }
  throw error;
}

function toStoredApp(entity: unknown): StoredApp {
  const row = appEntitySchema.parse(entity);
  return {
    config: appConfigSchema.parse(JSON.parse(row.config)),
    state: renewalStateSchema.parse(JSON.parse(row.state)),
    etag: row.etag,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    updatedBy: row.updatedByOid === '' ? undefined : { oid: row.updatedByOid, name: row.updatedByName },
  };
}

export class AppStore implements AppRepository {
  readonly #table: TableClient;
  readonly #hooks: AppStoreHooks;
  readonly #now: () => Date;
  #tableReady: Promise<void> | undefined;

  constructor(table: TableClient, options: AppStoreOptions = {}) {
    this.#table = table;
    this.#hooks = options.hooks ?? {};
    this.#now = options.now ?? (() => new Date());
  }

  get tableName(): string {
    return this.#table.tableName;
  }

  /** Creates the table on first use (idempotent), so a fresh storage account needs no setup step. */
  async #ready(): Promise<void> {
    this.#tableReady ??= this.#table.createTable().catch((error: unknown) => {
      this.#tableReady = undefined;
      translateStorageError(error, 'Creating the apps table');
    });
    return this.#tableReady;
  }

  async getApp(appId: string): Promise<StoredApp | undefined> {
    await this.#ready();
    const entity = await this.#appRow(appId);
    return entity === undefined || isTombstone(entity) ? undefined : toStoredApp(entity);
  }

  /** The app's row as stored, a tombstone included. */
  async #appRow(appId: string): Promise<(Record<string, unknown> & { etag: string }) | undefined> {
    try {
      return await this.#table.getEntity<Record<string, unknown>>(APPS_PARTITION, appRowKey(appId));
    } catch (error) {
      if (isRestError(error, 404)) return undefined;
      return translateStorageError(error, `Reading app ${appId}`);
    }
  }

  async listApps(options: PageOptions = {}): Promise<Page<StoredApp>> {
    await this.#ready();
    const continuationToken = decodeToken(options.continuationToken, APP_PREFIX);
    const filter = odata`PartitionKey eq ${APPS_PARTITION} and RowKey ge ${APP_PREFIX} and RowKey lt ${prefixEnd(APP_PREFIX)}`;
    try {
      const pages = this.#table
        .listEntities({ queryOptions: { filter } })
        .byPage({ maxPageSize: options.maxPageSize ?? 100, continuationToken });
      const page = await pages.next();
      if (page.done) return { items: [], continuationToken: undefined };
      // A tombstone (a delete between its two steps) is no app: a page may come out shorter than asked.
      const apps = page.value.filter((entity) => !isTombstone(entity)).map(toStoredApp);
      return { items: apps, continuationToken: encodeToken(page.value.continuationToken, APP_PREFIX) };
    } catch (error) {
      return translateStorageError(error, 'Listing apps');
    }
  }

  /** The app (if any) that holds a certificate name in a vault. */
  async findCertificateNameOwner(vaultUrl: string, certificateName: string): Promise<string | undefined> {
    await this.#ready();
    try {
      const row = await this.#table.getEntity<{ appId: string }>(APPS_PARTITION, certificateNameRowKey(vaultUrl, certificateName));
      return row.appId;
    } catch (error) {
      if (isRestError(error, 404)) return undefined;
      return translateStorageError(error, 'Reading certificate names');
    }
  }

  /** Adds an app. ConflictError when it exists already or its certificate name is taken in the vault. */
  async createApp(input: { config: AppConfig; state?: RenewalStateInput; actor?: Actor; history: HistoryInput }): Promise<StoredApp> {
    await this.#ready();
    const now = this.#now();
    const config = appConfigSchema.parse(input.config);
    const state = this.#withDerivedState(config, renewalStateSchema.parse(input.state ?? {}));
    const entity = this.#appEntity(config, state, now, now, input.actor);
    const actions: TransactionAction[] = [
      ['create', { partitionKey: APPS_PARTITION, rowKey: entity.nameKey, appId: config.appId }],
      ...this.#dueRow(entity.dueKey, config.appId, state),
      ['create', entity],
      this.#historyAction(config.appId, now, input.history, input.actor),
    ];
    await this.#hooks.beforeCommit?.({ appId: config.appId, kind: 'create' });
    for (let attempt = 1; ; attempt += 1) {
      try {
        const etag = await this.#submit(actions, entity.rowKey);
        return this.#stored(entity, config, state, etag, input.actor);
      } catch (error) {
        if (!isRestError(error, 409)) return translateStorageError(error, `Adding app ${config.appId}`);
        // Which insert collided decides the message; a read tells, the transaction does not say.
        const existing = await this.#appRow(config.appId);
        if (existing !== undefined && !isTombstone(existing)) throw new ConflictError(`App ${config.appId} is already managed`);
        // A delete that stopped between its steps left its tombstone: remove it and add the app again.
        if (existing !== undefined && attempt === 1) {
          await this.#removeTombstone(config.appId, existing.etag).catch((removal: unknown) =>
            translateStorageError(removal, `Adding app ${config.appId}`),
          );
          continue;
        }
        if (existing !== undefined) {
          throw new ConflictError(`App ${config.appId} is being deleted by another request; try again`, { retryAfterSeconds: 1 });
        }
        throw this.#nameConflict(config);
      }
    }
  }

  /**
   * Replaces an app's config and/or state, conditional on the ETag it was read with; the due index,
   * the name reservation and the history row change in the same transaction.
   */
  async updateApp(current: StoredApp, change: AppChange): Promise<StoredApp> {
    await this.#ready();
    const now = this.#now();
    const appId = current.config.appId;
    // What was read is parsed already (toStoredApp); only what the caller changes is parsed again.
    const config = change.config === undefined ? current.config : appConfigSchema.parse(change.config);
    if (config.appId !== appId) throw new Error('updateApp cannot change an appId');
    const state = this.#withDerivedState(config, change.state === undefined ? current.state : renewalStateSchema.parse(change.state));
    const before = this.#keysOf(current.config, current.state);
    const entity = this.#appEntity(config, state, new Date(current.createdAt), now, change.actor ?? current.updatedBy);
    const actions: TransactionAction[] = [];
    // New index rows first: were the service ever to apply a transaction partially, an app would
    // have two index rows (harmless, repaired) rather than none (skipped by the scheduler).
    if (entity.nameKey !== before.nameKey) actions.push(['create', { partitionKey: APPS_PARTITION, rowKey: entity.nameKey, appId }]);
    if (entity.dueKey !== before.dueKey) actions.push(...this.#dueRow(entity.dueKey, appId, state));
    actions.push(['update', entity, 'Replace', { etag: current.etag }]);
    if (entity.dueKey !== before.dueKey && before.dueKey !== '')
      actions.push(['delete', { partitionKey: APPS_PARTITION, rowKey: before.dueKey }]);
    if (entity.nameKey !== before.nameKey) actions.push(['delete', { partitionKey: APPS_PARTITION, rowKey: before.nameKey }]);
    // Several rows (a renewal stage and the cleanup it did) still commit with the state, in one transaction.
    const history: readonly HistoryInput[] =
      change.history === undefined ? [] : Array.isArray(change.history) ? change.history : [change.history];
    for (const entry of history) actions.push(this.#historyAction(appId, now, entry, change.actor));
    await this.#hooks.beforeCommit?.({ appId, kind: 'update' });
    try {
      const etag = await this.#commit(actions, entity.rowKey);
      return this.#stored(entity, config, state, etag, change.actor ?? current.updatedBy);
    } catch (error) {
      if (isRestError(error, 409) && entity.nameKey !== before.nameKey) throw this.#nameConflict(config);
      // A missing index row means the rows were damaged outside this code: rebuild them, and let
      // the caller's retry loop (which re-reads) try again.
      if (isRestError(error, 404)) {
        await this.#repairApp(appId);
        throw new PreconditionFailedError(`Updating app ${appId}: its index rows were repaired; read it again`);
      }
      return translateStorageError(error, `Updating app ${appId}`);
    }
  }

  /**
   * Stops managing an app, on the version it was read at (PRODUCT.md §2: ETags, never last writer
   * wins); its history stays and records the deletion. Two steps, because a delete inside a
   * transaction cannot carry the ETag here: Table Storage takes If-Match on it, but @azure/data-tables
   * (13.3.2) always sends `If-Match: *` there (`submitTransaction` passes no options to a delete
   * action, and `CreateDeleteEntityAction` has no slot for them). So:
   *  1. one transaction, conditional on the ETag: the app row becomes a tombstone, its index rows
   *     and name reservation go, the history row is added. From here the app is gone for every
   *     reader, and a change committed since the read makes the whole transaction 412 instead.
   *  2. the tombstone is deleted, conditional on its own ETag. Should this step not happen (a
   *     crash, an outage), the tombstone stays, read as no app, until the app is added again.
   */
  async deleteApp(current: StoredApp, input: { actor?: Actor; history: HistoryInput }): Promise<void> {
    await this.#ready();
    const appId = current.config.appId;
    const keys = this.#keysOf(current.config, current.state);
    const now = this.#now();
    const tombstone: Tombstone = {
      partitionKey: APPS_PARTITION,
      rowKey: appRowKey(appId),
      appId,
      deleted: true,
      deletedAt: now.toISOString(),
    };
    const actions: TransactionAction[] = [
      ['update', tombstone, 'Replace', { etag: current.etag }],
      ['delete', { partitionKey: APPS_PARTITION, rowKey: keys.nameKey }],
    ];
    if (keys.dueKey !== '') actions.push(['delete', { partitionKey: APPS_PARTITION, rowKey: keys.dueKey }]);
    actions.push(this.#historyAction(appId, now, input.history, input.actor));
    await this.#hooks.beforeCommit?.({ appId, kind: 'delete' });
    let tombstoneEtag: string | undefined;
    try {
      const response = await this.#table.submitTransaction(actions);
      // The app row's operation is the first of the changeset, so its sub-response comes first.
      tombstoneEtag = response.subResponses[0]?.etag?.trim() || undefined;
    } catch (error) {
      if (isRestError(error, 404)) {
        if (!(await this.getApp(appId))) throw new NotFoundError(`App ${appId} is not managed`);
        await this.#repairApp(appId);
        throw new PreconditionFailedError(`Deleting app ${appId}: its index rows were repaired; read it again`);
      }
      // A DELETE that lost a race with another DELETE finds the app gone, not changed.
      if (isRestError(error, 412) && !(await this.getApp(appId))) throw new NotFoundError(`App ${appId} is not managed`);
      return translateStorageError(error, `Deleting app ${appId}`);
    }
    // The app is deleted at this point whatever happens next: a failure from here on leaves a
    // tombstone that reads as no app, so it is not the caller's error. Should the service leave the
    // ETag out of the batch's answer, it is read back, and only a tombstone is removed (by now the
    // row may be the app added again).
    try {
      if (tombstoneEtag === undefined) {
        const row = await this.#appRow(appId);
        tombstoneEtag = row !== undefined && isTombstone(row) ? row.etag : undefined;
      }
      if (tombstoneEtag !== undefined) await this.#removeTombstone(appId, tombstoneEtag);
    } catch {
      // Left for the next add of the app (createApp) to remove.
    }
  }

  /** Removes the tombstones among these apps' rows; how many there were. */
  async #removeTombstonesOf(appIds: readonly string[]): Promise<number> {
    let removed = 0;
    for (const appId of appIds) {
      const row = await this.#appRow(appId);
      if (row === undefined || !isTombstone(row)) continue;
      await this.#removeTombstone(appId, row.etag).catch((error: unknown) => translateStorageError(error, `Importing app ${appId}`));
      removed += 1;
    }
    return removed;
  }

  /** Deletes a tombstone, on its ETag: a row that is anything else by now is left alone (412). */
  async #removeTombstone(appId: string, etag: string): Promise<void> {
    await this.#hooks.beforeCommit?.({ appId, kind: 'remove-tombstone' });
    try {
      await this.#table.deleteEntity(APPS_PARTITION, appRowKey(appId), { etag });
    } catch (error) {
      if (!isRestError(error, 404) && !isRestError(error, 412)) throw error;
    }
  }

  /**
   * Bulk load (migration, the sandbox's demo data, tests): each app's rows go in one transaction
   * with other apps' rows, at most 100 operations each, so a batch never splits an app from its
   * index rows. Fails on an app that exists already (a tombstone an interrupted delete left is
   * removed, as createApp does); writes no history.
   */
  async importApps(records: readonly { config: AppConfig; state?: RenewalStateInput }[]): Promise<void> {
    await this.#ready();
    const now = this.#now();
    let batch: TransactionAction[] = [];
    let batchAppIds: string[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const [actions, appIds] = [batch, batchAppIds];
      [batch, batchAppIds] = [[], []];
      for (let attempt = 1; ; attempt += 1) {
        try {
          await this.#table.submitTransaction(actions);
          return;
        } catch (error) {
          if (attempt === 1 && isRestError(error, 409) && (await this.#removeTombstonesOf(appIds)) > 0) continue;
          translateStorageError(error, 'Importing apps');
        }
      }
    };
    for (const record of records) {
      const config = appConfigSchema.parse(record.config);
      const state = this.#withDerivedState(config, renewalStateSchema.parse(record.state ?? {}));
      const entity = this.#appEntity(config, state, now, now, undefined);
      const rows: TransactionAction[] = [
        ['create', { partitionKey: APPS_PARTITION, rowKey: entity.nameKey, appId: config.appId }],
        ...this.#dueRow(entity.dueKey, config.appId, state),
        ['create', entity],
      ];
      if (batch.length + rows.length > 100) await flush();
      batch.push(...rows);
      batchAppIds.push(config.appId);
    }
    await flush();
  }

  /** A history row for an action that changes no config or state (a download, a failed attempt). */
  async appendHistory(appId: string, entry: HistoryInput, actor?: Actor): Promise<void> {
    await this.#ready();
    try {
      await this.#table.createEntity(this.#historyRow(appId, this.#now(), entry, actor));
    } catch (error) {
      translateStorageError(error, `Recording history of app ${appId}`);
    }
  }

  /** An app's history, newest first. */
  async listHistory(appId: string, options: PageOptions = {}): Promise<Page<HistoryEntry>> {
    await this.#ready();
    const prefix = `${HISTORY_PREFIX}${appId}_`;
    const continuationToken = decodeToken(options.continuationToken, prefix);
    const filter = odata`PartitionKey eq ${APPS_PARTITION} and RowKey ge ${prefix} and RowKey lt ${prefixEnd(prefix)}`;
    try {
      const pages = this.#table
        .listEntities<{ entry: string }>({ queryOptions: { filter } })
        .byPage({ maxPageSize: options.maxPageSize ?? 50, continuationToken });
      const page = await pages.next();
      if (page.done) return { items: [], continuationToken: undefined };
      return {
        items: page.value.map((row) => historyEntrySchema.parse(JSON.parse(row.entry))),
        continuationToken: encodeToken(page.value.continuationToken, prefix),
      };
    } catch (error) {
      return translateStorageError(error, `Listing the history of app ${appId}`);
    }
  }

  /**
   * The apps whose renewal is due at `now`: a RowKey range over the due index, so the rows read are
   * the due apps only. Every page is read (a backlog is not left behind), and what it cost is
   * reported so the scheduler can log it and the tests can assert it.
   */
  async listDueApps(now: Date, options: { maxPageSize?: number } = {}): Promise<DueAppsResult> {
    await this.#ready();
    const upper = dueRowKey(new Date(now.getTime() + 1), '');
    const filter = odata`PartitionKey eq ${APPS_PARTITION} and RowKey ge ${DUE_PREFIX} and RowKey lt ${upper}`;
    const apps: DueAppsResult['apps'] = [];
    let pagesRead = 0;
    let entitiesRead = 0;
    try {
      const pages = this.#table
        .listEntities<{ appId: string; dueAt: Date }>({ queryOptions: { filter } })
        .byPage({ maxPageSize: options.maxPageSize ?? 1000 });
      for await (const page of pages) {
        pagesRead += 1;
        entitiesRead += page.length;
        for (const row of page) apps.push({ appId: row.appId, dueAt: new Date(row.dueAt) });
      }
    } catch (error) {
      return translateStorageError(error, 'Listing due apps');
    }
    return { apps, pagesRead, entitiesRead };
  }

  /**
   * Marks an app as having notifications to retry, so that the scheduler finds it with a range read
   * over `pending_` rows instead of reading every app. Written before the state that records the
   * pending notification (an upsert, idempotent), so a crash in between leaves a marker without
   * work, which the scheduler clears, never work without a marker.
   */
  async markPendingNotifications(appId: string): Promise<void> {
    await this.#ready();
    try {
      await this.#table.upsertEntity({ partitionKey: APPS_PARTITION, rowKey: `${PENDING_PREFIX}${appId}`, appId }, 'Replace');
    } catch (error) {
      translateStorageError(error, `Marking app ${appId} for notification retries`);
    }
  }

  async clearPendingNotifications(appId: string): Promise<void> {
    await this.#ready();
    try {
      await this.#table.deleteEntity(APPS_PARTITION, `${PENDING_PREFIX}${appId}`);
    } catch (error) {
      if (!isRestError(error, 404)) translateStorageError(error, `Clearing the notification marker of app ${appId}`);
    }
  }

  /** The appIds marked as having notifications to retry: its cost follows the marked apps only. */
  async listAppsWithPendingNotifications(options: { maxPageSize?: number } = {}): Promise<string[]> {
    await this.#ready();
    const filter = odata`PartitionKey eq ${APPS_PARTITION} and RowKey ge ${PENDING_PREFIX} and RowKey lt ${prefixEnd(PENDING_PREFIX)}`;
    const appIds: string[] = [];
    try {
      const pages = this.#table
        .listEntities<{ appId: string }>({ queryOptions: { filter } })
        .byPage({ maxPageSize: options.maxPageSize ?? 1000 });
      for await (const page of pages) for (const row of page) appIds.push(row.appId);
    } catch (error) {
      return translateStorageError(error, 'Listing apps with pending notifications');
    }
    return appIds;
  }

  /** The scheduler's bookkeeping row `name` (JSON), with its ETag for a conditional write. */
  async getSchedulerRecord(name: string): Promise<{ value: unknown; etag: string } | undefined> {
    await this.#ready();
    try {
      const row = await this.#table.getEntity<{ value: string }>(APPS_PARTITION, `${SCHEDULER_PREFIX}${name}`);
      return { value: JSON.parse(row.value) as unknown, etag: row.etag };
    } catch (error) {
      if (isRestError(error, 404)) return undefined;
      return translateStorageError(error, `Reading scheduler record ${name}`);
    }
  }

  /** Writes the record; with `etag` only if unchanged since read (PreconditionFailedError otherwise). */
  async putSchedulerRecord(name: string, value: unknown, etag: string | undefined): Promise<void> {
    await this.#ready();
    const entity = { partitionKey: APPS_PARTITION, rowKey: `${SCHEDULER_PREFIX}${name}`, value: JSON.stringify(value) };
    try {
      if (etag === undefined) await this.#table.createEntity(entity);
      else await this.#table.updateEntity(entity, 'Replace', { etag });
    } catch (error) {
      if (isRestError(error, 409)) throw new PreconditionFailedError(`Scheduler record ${name} was written by another instance`);
      translateStorageError(error, `Writing scheduler record ${name}`);
    }
  }

  /**
   * Re-derives the index rows (due, certificate name) of one page of apps and removes due rows
   * that no app points at. For damage done outside this code (a hand edit, a restore); nothing in
   * the app calls it on a schedule, since its own writes cannot leave the index behind (one
   * transaction each). Returns how many rows it wrote or removed.
   */
  async repairIndex(
    options: { maxPageSize?: number; continuationToken?: string } = {},
  ): Promise<{ repaired: number; continuationToken: string | undefined }> {
    const page = await this.listApps(options);
    let repaired = 0;
    for (const app of page.items) repaired += await this.#repairApp(app.config.appId);
    return { repaired, continuationToken: page.continuationToken };
  }

  async #repairApp(appId: string): Promise<number> {
    const app = await this.getApp(appId);
    let repaired = 0;
    const dueRows = this.#table.listEntities<{ appId: string }>({
      queryOptions: {
        filter: odata`PartitionKey eq ${APPS_PARTITION} and RowKey ge ${DUE_PREFIX} and RowKey lt ${prefixEnd(DUE_PREFIX)} and appId eq ${appId}`,
      },
    });
    const keys = app ? this.#keysOf(app.config, app.state) : undefined;
    for await (const row of dueRows) {
      if (row.rowKey !== keys?.dueKey) {
        try {
          await this.#table.deleteEntity(APPS_PARTITION, row.rowKey!);
        } catch (error) {
          if (!isRestError(error, 404)) throw error;
        }
        repaired += 1;
      }
    }
    if (!app || !keys) return repaired;
    const wanted: TableEntity<{ appId: string; dueAt?: Date }>[] = [{ partitionKey: APPS_PARTITION, rowKey: keys.nameKey, appId }];
    if (keys.dueKey !== '')
      wanted.push({ partitionKey: APPS_PARTITION, rowKey: keys.dueKey, appId, dueAt: scheduledRenewalAt(app.config, app.state)! });
    for (const row of wanted) {
      try {
        await this.#table.getEntity(APPS_PARTITION, row.rowKey);
      } catch (error) {
        if (!isRestError(error, 404)) throw error;
        await this.#table.createEntity(row);
        repaired += 1;
      }
    }
    return repaired;
  }

  /**
   * A change of the app row alone (taking or releasing a lease, most state changes) is one
   * conditional update: as atomic as a one-operation transaction, and lighter for the service (no
   * multipart changeset to parse). Anything touching several rows is a transaction.
   */
  async #commit(actions: TransactionAction[], appRow: string): Promise<string> {
    const [only, ...others] = actions;
    if (only?.[0] !== 'update' || others.length > 0) return this.#submit(actions, appRow);
    const [, entity, mode, options] = only;
    const response = await this.#table.updateEntity(entity, mode, options);
    return response.etag ?? (await this.#table.getEntity(APPS_PARTITION, appRow)).etag;
  }

  async #submit(actions: TransactionAction[], appRow: string): Promise<string> {
    const response = await this.#table.submitTransaction(actions);
    // Sub-responses come in the order of the changeset's operations; an update's carries its ETag
    // but no RowKey (only an insert's Location names the row), so it is found by position.
    const position = actions.findIndex(([, entity]) => entity.rowKey === appRow);
    const etag = (response.subResponses.find((r) => r.rowKey === appRow) ?? response.subResponses[position])?.etag?.trim();
    if (etag) return etag;
    // Some service versions leave the ETag out of a batch's sub-responses; read it back.
    const entity = await this.#table.getEntity(APPS_PARTITION, appRow);
    return entity.etag;
  }

  #nameConflict(config: AppConfig): ConflictError {
    return new ConflictError(
      `keyVault.certificateName "${config.keyVault.certificateName}" is already used by another app in ${config.keyVault.vaultUrl}; choose another name`,
    );
  }

  #withDerivedState(config: AppConfig, state: RenewalState): RenewalState {
    const dueAt = scheduledRenewalAt(config, state);
    const { nextRenewalDueAt: _previous, ...rest } = state;
    return dueAt === undefined ? rest : { ...rest, nextRenewalDueAt: dueAt.toISOString() };
  }

  #keysOf(config: AppConfig, state: RenewalState): { dueKey: string; nameKey: string } {
    const dueAt = scheduledRenewalAt(config, state);
    return {
      dueKey: dueAt === undefined ? '' : dueRowKey(dueAt, config.appId),
      nameKey: certificateNameRowKey(config.keyVault.vaultUrl, config.keyVault.certificateName),
    };
  }

  #appEntity(config: AppConfig, state: RenewalState, createdAt: Date, updatedAt: Date, actor: Actor | undefined): AppEntity {
    const keys = this.#keysOf(config, state);
    return {
      partitionKey: APPS_PARTITION,
      rowKey: appRowKey(config.appId),
      appId: config.appId,
      config: JSON.stringify(config),
      state: JSON.stringify(state),
      ...keys,
      createdAt: createdAt.toISOString(),
      updatedAt: updatedAt.toISOString(),
      updatedByOid: actor?.oid ?? '',
      updatedByName: actor?.name ?? '',
    };
  }

  #dueRow(dueKey: string, appId: string, state: RenewalState): TransactionAction[] {
    if (dueKey === '') return [];
    return [['create', { partitionKey: APPS_PARTITION, rowKey: dueKey, appId, dueAt: new Date(state.nextRenewalDueAt!) }]];
  }

  #historyRow(appId: string, at: Date, input: HistoryInput, actor: Actor | undefined): TableEntity<{ appId: string; entry: string }> {
    const entry = historyEntrySchema.parse({ ...input, at: input.at ?? at.toISOString(), actor: input.actor ?? actor });
    return { partitionKey: APPS_PARTITION, rowKey: historyRowKey(appId, at), appId, entry: JSON.stringify(entry) };
  }

  #historyAction(appId: string, at: Date, input: HistoryInput, actor: Actor | undefined): TransactionAction {
    return ['create', this.#historyRow(appId, at, input, actor)];
  }

  #stored(entity: AppEntity, config: AppConfig, state: RenewalState, etag: string, actor: Actor | undefined): StoredApp {
    return { config, state, etag, createdAt: entity.createdAt, updatedAt: entity.updatedAt, updatedBy: actor };
  }
}
