import { odata, type TableClient } from '@azure/data-tables';
import { PreconditionFailedError } from '../errors.js';
import { APPS_PARTITION, PENDING_PREFIX, prefixEnd, SCHEDULER_PREFIX } from './appRows.js';
import { isRestError, translateStorageError } from './tableErrors.js';

/**
 * The rows the scheduler reads besides the due index: the `pending_` markers of apps with
 * notifications to retry, and its own `sched_` bookkeeping records. AppStore serves them (the
 * AppRepository port) once its table exists.
 */

/**
 * Marks an app as having notifications to retry, so that the scheduler finds it with a range read
 * over `pending_` rows instead of reading every app. Written before the state that records the
 * pending notification (an upsert, idempotent), so a crash in between leaves a marker without
 * work, which the scheduler clears, never work without a marker.
 */
export async function markPendingNotifications(table: TableClient, appId: string): Promise<void> {
  try {
    await table.upsertEntity({ partitionKey: APPS_PARTITION, rowKey: `${PENDING_PREFIX}${appId}`, appId }, 'Replace');
  } catch (error) {
    translateStorageError(error, `Marking app ${appId} for notification retries`);
  }
}

export async function clearPendingNotifications(table: TableClient, appId: string): Promise<void> {
  try {
    await table.deleteEntity(APPS_PARTITION, `${PENDING_PREFIX}${appId}`);
  } catch (error) {
    if (!isRestError(error, 404)) translateStorageError(error, `Clearing the notification marker of app ${appId}`);
  }
}

/** The appIds marked as having notifications to retry: its cost follows the marked apps only. */
export async function listAppsWithPendingNotifications(table: TableClient, maxPageSize = 1000): Promise<string[]> {
  const filter = odata`PartitionKey eq ${APPS_PARTITION} and RowKey ge ${PENDING_PREFIX} and RowKey lt ${prefixEnd(PENDING_PREFIX)}`;
  const appIds: string[] = [];
  try {
    const pages = table.listEntities<{ appId: string }>({ queryOptions: { filter } }).byPage({ maxPageSize });
    for await (const page of pages) for (const row of page) appIds.push(row.appId);
  } catch (error) {
    return translateStorageError(error, 'Listing apps with pending notifications');
  }
  return appIds;
}

/** The scheduler's bookkeeping row `name` (JSON), with its ETag for a conditional write. */
export async function getSchedulerRecord(table: TableClient, name: string): Promise<{ value: unknown; etag: string } | undefined> {
  try {
    const row = await table.getEntity<{ value: string }>(APPS_PARTITION, `${SCHEDULER_PREFIX}${name}`);
    return { value: JSON.parse(row.value) as unknown, etag: row.etag };
  } catch (error) {
    if (isRestError(error, 404)) return undefined;
    return translateStorageError(error, `Reading scheduler record ${name}`);
  }
}

/** Writes the record; with `etag` only if unchanged since read (PreconditionFailedError otherwise). */
export async function putSchedulerRecord(table: TableClient, name: string, value: unknown, etag: string | undefined): Promise<void> {
  const entity = { partitionKey: APPS_PARTITION, rowKey: `${SCHEDULER_PREFIX}${name}`, value: JSON.stringify(value) };
  try {
    if (etag === undefined) await table.createEntity(entity);
    else await table.updateEntity(entity, 'Replace', { etag });
  } catch (error) {
    if (isRestError(error, 409)) throw new PreconditionFailedError(`Scheduler record ${name} was written by another instance`);
    translateStorageError(error, `Writing scheduler record ${name}`);
  }
}
