import type { TableClient, TransactionAction } from '@azure/data-tables';
import { ConflictError, NotFoundError, PreconditionFailedError } from '../errors.js';
import {
  appConfigSchema,
  renewalStateSchema,
  type Actor,
  type AppConfig,
  type HistoryEntry,
  type RenewalStateInput,
} from '../domain/appConfig.js';
import type {
  AppChange,
  AppRepository,
  AppScanPage,
  DueAppsResult,
  HistoryInput,
  Page,
  PageOptions,
  StoredApp,
} from '../domain/storedApp.js';
import {
  APPS_PARTITION,
  appEntityOf,
  appRowKey,
  dueRowActions,
  historyAction,
  historyRow,
  indexKeysOf,
  isTombstone,
  nameConflictError,
  storedAppOf,
  toStoredApp,
  withDerivedState,
  type Tombstone,
} from './appRows.js';
import * as appQueries from './appQueries.js';
import { repairAppIndex } from './repairAppIndex.js';
import * as schedulerRows from './schedulerRows.js';
import { isRestError, translateStorageError } from './tableErrors.js';

/**
 * The Table Storage repository for app configs, their renewal state, the due index, the Key Vault
 * certificate-name reservations and the history: every write of an app commits its rows in one
 * transaction (the layout, and why one partition, are in appRows.ts).
 */

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
    return appQueries.listAppsPage(this.#table, options);
  }

  async scanApps(options: PageOptions = {}): Promise<AppScanPage> {
    await this.#ready();
    return appQueries.scanAppsPage(this.#table, options);
  }

  async findCertificateNameOwner(vaultUrl: string, certificateName: string): Promise<string | undefined> {
    await this.#ready();
    return appQueries.findCertificateNameOwner(this.#table, vaultUrl, certificateName);
  }

  /** Adds an app. ConflictError when it exists already or its certificate name is taken in the vault. */
  async createApp(input: { config: AppConfig; state?: RenewalStateInput; actor?: Actor; history: HistoryInput }): Promise<StoredApp> {
    await this.#ready();
    const now = this.#now();
    const config = appConfigSchema.parse(input.config);
    const state = withDerivedState(config, renewalStateSchema.parse(input.state ?? {}));
    const entity = appEntityOf(config, state, now, now, input.actor);
    const actions: TransactionAction[] = [
      ['create', { partitionKey: APPS_PARTITION, rowKey: entity.nameKey, appId: config.appId }],
      ...dueRowActions(entity.dueKey, config.appId, state),
      ['create', entity],
      historyAction(config.appId, now, input.history, input.actor),
    ];
    await this.#hooks.beforeCommit?.({ appId: config.appId, kind: 'create' });
    for (let attempt = 1; ; attempt += 1) {
      try {
        const etag = await this.#submit(actions, entity.rowKey);
        return storedAppOf(entity, config, state, etag, input.actor);
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
        throw nameConflictError(config);
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
    const state = withDerivedState(config, change.state === undefined ? current.state : renewalStateSchema.parse(change.state));
    const before = indexKeysOf(current.config, current.state);
    const entity = appEntityOf(config, state, new Date(current.createdAt), now, change.actor ?? current.updatedBy);
    const actions: TransactionAction[] = [];
    // New index rows first: were the service ever to apply a transaction partially, an app would
    // have two index rows (harmless, repaired) rather than none (skipped by the scheduler).
    if (entity.nameKey !== before.nameKey) actions.push(['create', { partitionKey: APPS_PARTITION, rowKey: entity.nameKey, appId }]);
    if (entity.dueKey !== before.dueKey) actions.push(...dueRowActions(entity.dueKey, appId, state));
    actions.push(['update', entity, 'Replace', { etag: current.etag }]);
    if (entity.dueKey !== before.dueKey && before.dueKey !== '')
      actions.push(['delete', { partitionKey: APPS_PARTITION, rowKey: before.dueKey }]);
    if (entity.nameKey !== before.nameKey) actions.push(['delete', { partitionKey: APPS_PARTITION, rowKey: before.nameKey }]);
    // Several rows (a renewal stage and the cleanup it did) still commit with the state, in one transaction.
    const history: readonly HistoryInput[] =
      change.history === undefined ? [] : Array.isArray(change.history) ? change.history : [change.history];
    for (const entry of history) actions.push(historyAction(appId, now, entry, change.actor));
    await this.#hooks.beforeCommit?.({ appId, kind: 'update' });
    try {
      const etag = await this.#commit(actions, entity.rowKey);
      return storedAppOf(entity, config, state, etag, change.actor ?? current.updatedBy);
    } catch (error) {
      if (isRestError(error, 409) && entity.nameKey !== before.nameKey) throw nameConflictError(config);
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
   * Stops managing an app, on the version it was read at (docs/configuration.md: ETags, never last writer
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
    const keys = indexKeysOf(current.config, current.state);
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
    actions.push(historyAction(appId, now, input.history, input.actor));
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
      const state = withDerivedState(config, renewalStateSchema.parse(record.state ?? {}));
      const entity = appEntityOf(config, state, now, now, undefined);
      const rows: TransactionAction[] = [
        ['create', { partitionKey: APPS_PARTITION, rowKey: entity.nameKey, appId: config.appId }],
        ...dueRowActions(entity.dueKey, config.appId, state),
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
      await this.#table.createEntity(historyRow(appId, this.#now(), entry, actor));
    } catch (error) {
      translateStorageError(error, `Recording history of app ${appId}`);
    }
  }

  async listHistory(appId: string, options: PageOptions = {}): Promise<Page<HistoryEntry>> {
    await this.#ready();
    return appQueries.listHistoryPage(this.#table, appId, options);
  }

  async listDueApps(now: Date, options: { maxPageSize?: number } = {}): Promise<DueAppsResult> {
    await this.#ready();
    return appQueries.listDueApps(this.#table, now, options.maxPageSize);
  }

  async markPendingNotifications(appId: string): Promise<void> {
    await this.#ready();
    return schedulerRows.markPendingNotifications(this.#table, appId);
  }

  async clearPendingNotifications(appId: string): Promise<void> {
    await this.#ready();
    return schedulerRows.clearPendingNotifications(this.#table, appId);
  }

  async listAppsWithPendingNotifications(options: { maxPageSize?: number } = {}): Promise<string[]> {
    await this.#ready();
    return schedulerRows.listAppsWithPendingNotifications(this.#table, options.maxPageSize);
  }

  async getSchedulerRecord(name: string): Promise<{ value: unknown; etag: string } | undefined> {
    await this.#ready();
    return schedulerRows.getSchedulerRecord(this.#table, name);
  }

  async putSchedulerRecord(name: string, value: unknown, etag: string | undefined): Promise<void> {
    await this.#ready();
    return schedulerRows.putSchedulerRecord(this.#table, name, value, etag);
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
    return repairAppIndex(this.#table, appId, await this.getApp(appId));
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
}
