import { odata, type TableClient, type TableEntityResult } from '@azure/data-tables';
import { historyEntrySchema, type HistoryEntry } from '../domain/appConfig.js';
import type { AppScanPage, DueAppsResult, Page, PageOptions, StoredApp, UnreadableApp } from '../domain/storedApp.js';
import { errorText } from '../errors.js';
import {
  APP_PREFIX,
  APPS_PARTITION,
  certificateNameRowKey,
  decodeToken,
  DUE_PREFIX,
  dueRowKey,
  encodeToken,
  HISTORY_PREFIX,
  isTombstone,
  prefixEnd,
  toStoredApp,
} from './appRows.js';
import { isRestError, translateStorageError } from './tableErrors.js';

/**
 * The range reads over the apps table's layout (appRows.ts): each reads only the rows of its
 * RowKey prefix, so its cost follows what it returns, not the number of apps. AppStore serves
 * them (the AppRepository port) once its table exists.
 */

/** One page of the rows whose RowKey starts with `prefix`, its continuation token scoped to that range. */
async function readPage<Row extends object, Item>(
  table: TableClient,
  prefix: string,
  options: PageOptions & { defaultPageSize: number; what: string },
  toItems: (rows: TableEntityResult<Row>[]) => Item[],
): Promise<Page<Item>> {
  const continuationToken = decodeToken(options.continuationToken, prefix);
  const filter = odata`PartitionKey eq ${APPS_PARTITION} and RowKey ge ${prefix} and RowKey lt ${prefixEnd(prefix)}`;
  try {
    const pages = table
      .listEntities<Row>({ queryOptions: { filter } })
      .byPage({ maxPageSize: options.maxPageSize ?? options.defaultPageSize, continuationToken });
    const page = await pages.next();
    if (page.done) return { items: [], continuationToken: undefined };
    return { items: toItems(page.value), continuationToken: encodeToken(page.value.continuationToken, prefix) };
  } catch (error) {
    return translateStorageError(error, options.what);
  }
}

export function listAppsPage(table: TableClient, options: PageOptions): Promise<Page<StoredApp>> {
  // A tombstone (a delete between its two steps) is no app: a page may come out shorter than asked.
  return readPage<Record<string, unknown>, StoredApp>(
    table,
    APP_PREFIX,
    { ...options, defaultPageSize: 100, what: 'Listing apps' },
    (rows) => rows.filter((entity) => !isTombstone(entity)).map(toStoredApp),
  );
}

/** listAppsPage that reads each row on its own: a row that does not parse is named, not thrown. */
export async function scanAppsPage(table: TableClient, options: PageOptions): Promise<AppScanPage> {
  const unreadable: UnreadableApp[] = [];
  const page = await readPage<Record<string, unknown>, StoredApp>(
    table,
    APP_PREFIX,
    { ...options, defaultPageSize: 100, what: 'Listing apps' },
    (rows) =>
      rows.flatMap((entity) => {
        if (isTombstone(entity)) return [];
        try {
          return [toStoredApp(entity)];
        } catch (error) {
          unreadable.push({ appId: String(entity.rowKey ?? '').slice(APP_PREFIX.length), cause: errorText(error) });
          return [];
        }
      }),
  );
  return { ...page, unreadable };
}

/** An app's history, newest first. */
export function listHistoryPage(table: TableClient, appId: string, options: PageOptions): Promise<Page<HistoryEntry>> {
  const what = `Listing the history of app ${appId}`;
  return readPage<{ entry: string }, HistoryEntry>(table, `${HISTORY_PREFIX}${appId}_`, { ...options, defaultPageSize: 50, what }, (rows) =>
    rows.map((row) => historyEntrySchema.parse(JSON.parse(row.entry))),
  );
}

/** The app (if any) that holds a certificate name in a vault. */
export async function findCertificateNameOwner(table: TableClient, vaultUrl: string, certificateName: string): Promise<string | undefined> {
  try {
    const row = await table.getEntity<{ appId: string }>(APPS_PARTITION, certificateNameRowKey(vaultUrl, certificateName));
    return row.appId;
  } catch (error) {
    if (isRestError(error, 404)) return undefined;
    return translateStorageError(error, 'Reading certificate names');
  }
}

/**
 * The apps whose renewal is due at `now`: a RowKey range over the due index, so the rows read are
 * the due apps only. Every page is read (a backlog is not left behind), and what it cost is
 * reported so the scheduler can log it and the tests can assert it.
 */
export async function listDueApps(table: TableClient, now: Date, maxPageSize = 1000): Promise<DueAppsResult> {
  const upper = dueRowKey(new Date(now.getTime() + 1), '');
  const filter = odata`PartitionKey eq ${APPS_PARTITION} and RowKey ge ${DUE_PREFIX} and RowKey lt ${upper}`;
  const apps: DueAppsResult['apps'] = [];
  let pagesRead = 0;
  let entitiesRead = 0;
  try {
    const pages = table.listEntities<{ appId: string; dueAt: Date }>({ queryOptions: { filter } }).byPage({ maxPageSize });
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
