import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';
import { PreconditionFailedError } from '../errors.js';
import {
  countStages,
  isRotationAppStage,
  isSettled,
  rotationAppSchema,
  rotationRecordSchema,
  type RotationApp,
  type RotationAppStage,
  type RotationCounts,
  type RotationRecord,
  type RotationRepository,
} from '../domain/rotation.js';
import { prefixEnd } from './appRows.js';
import { isRestError, translateStorageError } from './tableErrors.js';

/**
 * The Table Storage rows of bulk rotations (docs/http-api.md), in a table of their own:
 *   PartitionKey `rotations`, RowKey {id}            the rotation's record (JSON, validated on read)
 *   PartitionKey `rotation_{id}`, RowKey app_{appId}  where that app's renewal for it stands (JSON,
 *                                                     and its stage again as a column, so counting reads only that)
 *   PartitionKey `rotation_{id}`, RowKey open_{appId} present while that app is not settled
 * The open_ marker is deleted in the same transaction that settles its app row, so "is anything
 * left" is one RowKey-range read of at most one row, however large the rotation.
 */

export const ROTATIONS_TABLE_NAME = 'CertRotatorRotations';
const RECORDS_PARTITION = 'rotations';
const APP_PREFIX = 'app_';
const OPEN_PREFIX = 'open_';
/** An entity-group transaction holds at most 100 operations (Table service limit). */
const MAX_BATCH = 100;

const partitionOf = (id: string) => `rotation_${id}`;

/** What a range read may select of a row. */
interface RangeRow {
  readonly rowKey: string;
  readonly app?: string;
  /** Untrusted as read: see countRotationApps. */
  readonly stage?: string | null;
}

export class RotationStore implements RotationRepository {
  readonly #table: TableClient;
  #tableReady: Promise<void> | undefined;

  constructor(table: TableClient) {
    this.#table = table;
  }

  async #ready(): Promise<void> {
    this.#tableReady ??= this.#table.createTable().catch((error: unknown) => {
      this.#tableReady = undefined;
      translateStorageError(error, 'Creating the rotations table');
    });
    return this.#tableReady;
  }

  async createRotation(record: RotationRecord): Promise<{ etag: string } | undefined> {
    await this.#ready();
    try {
      const response = await this.#table.createEntity({
        partitionKey: RECORDS_PARTITION,
        rowKey: record.id,
        record: JSON.stringify(record),
      });
      return { etag: response.etag! };
    } catch (error) {
      if (isRestError(error, 409)) return undefined;
      return translateStorageError(error, `Starting rotation ${record.id}`);
    }
  }

  async getRotation(id: string): Promise<{ record: RotationRecord; etag: string } | undefined> {
    await this.#ready();
    try {
      const entity = await this.#table.getEntity<{ record: string }>(RECORDS_PARTITION, id);
      return { record: rotationRecordSchema.parse(JSON.parse(entity.record)), etag: entity.etag };
    } catch (error) {
      if (isRestError(error, 404)) return undefined;
      return translateStorageError(error, `Reading rotation ${id}`);
    }
  }

  async updateRotation(record: RotationRecord, etag: string): Promise<{ etag: string }> {
    await this.#ready();
    try {
      const entity = { partitionKey: RECORDS_PARTITION, rowKey: record.id, record: JSON.stringify(record) };
      const response = await this.#table.updateEntity(entity, 'Replace', { etag });
      return { etag: response.etag! };
    } catch (error) {
      if (isRestError(error, 412))
        throw new PreconditionFailedError(`Rotation ${record.id} was changed by another writer since it was read`);
      return translateStorageError(error, `Updating rotation ${record.id}`);
    }
  }

  async listRotations(): Promise<RotationRecord[]> {
    await this.#ready();
    const records: RotationRecord[] = [];
    try {
      const rows = this.#table.listEntities<{ record: string }>({ queryOptions: { filter: odata`PartitionKey eq ${RECORDS_PARTITION}` } });
      for await (const row of rows) records.push(rotationRecordSchema.parse(JSON.parse(row.record)));
    } catch (error) {
      return translateStorageError(error, 'Listing rotations');
    }
    return records;
  }

  async listRotationApps(id: string): Promise<RotationApp[]> {
    return this.#appsInRange(id, APP_PREFIX, Number.POSITIVE_INFINITY, (row) => rotationAppSchema.parse(JSON.parse(row.app!)));
  }

  async countRotationApps(id: string): Promise<RotationCounts> {
    const stages = await this.#appsInRange(id, APP_PREFIX, Number.POSITIVE_INFINITY, (row) => row.stage, ['stage']);
    // A row written before the stage column existed: read that rotation's rows whole. Azure Tables
    // answers a selected property a row lacks as null, Azurite leaves it out (Azurite#2535), so
    // anything but a known stage counts as missing.
    if (!stages.every(isRotationAppStage)) return countStages(await this.listRotationApps(id));
    return countStages(stages.map((stage) => ({ stage })));
  }

  async listOpenAppIds(id: string, limit: number): Promise<string[]> {
    return this.#appsInRange(id, OPEN_PREFIX, limit, (row) => row.rowKey.slice(OPEN_PREFIX.length), ['RowKey']);
  }

  async hasOpenApps(id: string): Promise<boolean> {
    return (await this.#appsInRange(id, OPEN_PREFIX, 1, (row) => row.rowKey, ['RowKey'])).length > 0;
  }

  async #appsInRange<T>(id: string, prefix: string, limit: number, map: (row: RangeRow) => T, select?: string[]): Promise<T[]> {
    await this.#ready();
    const filter = odata`PartitionKey eq ${partitionOf(id)} and RowKey ge ${prefix} and RowKey lt ${prefixEnd(prefix)}`;
    const items: T[] = [];
    try {
      const pages = this.#table
        .listEntities<RangeRow>({ queryOptions: { filter, ...(select ? { select } : {}) } })
        .byPage({ maxPageSize: Math.min(1000, limit) });
      for await (const page of pages) {
        for (const row of page) {
          items.push(map(row));
          if (items.length >= limit) return items;
        }
      }
    } catch (error) {
      return translateStorageError(error, `Reading the apps of rotation ${id}`);
    }
    return items;
  }

  async addRotationApps(id: string, apps: readonly RotationApp[]): Promise<void> {
    await this.#ready();
    const partitionKey = partitionOf(id);
    const rowsOf = (app: RotationApp): TransactionAction[] => [
      ['create', { partitionKey, rowKey: `${APP_PREFIX}${app.appId}`, app: JSON.stringify(app), stage: app.stage }],
      ...(isSettled(app.stage) ? [] : [['create', { partitionKey, rowKey: `${OPEN_PREFIX}${app.appId}` }] as TransactionAction]),
    ];
    // Batches of whole apps: an app's row and its open marker always go in one transaction.
    let batch: TransactionAction[][] = [];
    const batches: TransactionAction[][][] = [];
    for (const app of apps) {
      const rows = rowsOf(app);
      if (batch.flat().length + rows.length > MAX_BATCH) {
        batches.push(batch);
        batch = [];
      }
      batch.push(rows);
    }
    if (batch.length > 0) batches.push(batch);
    for (const groups of batches) {
      try {
        await this.#table.submitTransaction(groups.flat());
      } catch (error) {
        // Another start of the same rotation wrote some of these first: add the rest app by app,
        // each with its marker, so a crash in between never leaves an open app without one.
        if (!isRestError(error, 409)) translateStorageError(error, `Adding apps to rotation ${id}`);
        for (const rows of groups) {
          try {
            await this.#table.submitTransaction(rows);
          } catch (single) {
            if (!isRestError(single, 409)) translateStorageError(single, `Adding apps to rotation ${id}`);
          }
        }
      }
    }
  }

  async getRotationApp(id: string, appId: string): Promise<{ app: RotationApp; etag: string } | undefined> {
    await this.#ready();
    try {
      const row = await this.#table.getEntity<{ app: string }>(partitionOf(id), `${APP_PREFIX}${appId}`);
      return { app: rotationAppSchema.parse(JSON.parse(row.app)), etag: row.etag };
    } catch (error) {
      if (isRestError(error, 404)) return undefined;
      return translateStorageError(error, `Reading app ${appId} of rotation ${id}`);
    }
  }

  async updateRotationApp(id: string, app: RotationApp, etag: string, previous: RotationAppStage): Promise<void> {
    await this.#ready();
    const partitionKey = partitionOf(id);
    const actions: TransactionAction[] = [
      ['update', { partitionKey, rowKey: `${APP_PREFIX}${app.appId}`, app: JSON.stringify(app), stage: app.stage }, 'Replace', { etag }],
    ];
    // Settling removes the marker in the same commit, so the marker and the row never disagree.
    if (isSettled(app.stage) && !isSettled(previous)) actions.push(['delete', { partitionKey, rowKey: `${OPEN_PREFIX}${app.appId}` }]);
    try {
      await this.#table.submitTransaction(actions);
    } catch (error) {
      if (isRestError(error, 412)) throw new PreconditionFailedError(`App ${app.appId} of rotation ${id} was changed since it was read`);
      translateStorageError(error, `Recording app ${app.appId} of rotation ${id}`);
    }
  }
}
