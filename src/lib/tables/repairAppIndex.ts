import { odata, type TableClient, type TableEntity } from '@azure/data-tables';
import type { StoredApp } from '../domain/storedApp.js';
import { scheduledRenewalAt } from '../renewal/decide/schedule.js';
import { APPS_PARTITION, DUE_PREFIX, indexKeysOf, prefixEnd } from './appRows.js';
import { isRestError } from './tableErrors.js';

/**
 * Re-derives one app's index rows (due, certificate name) from its app row, and removes the due
 * rows that point at it but are not its own: for damage done outside AppStore (a hand edit, a
 * restore), whose own writes cannot leave the index behind (one transaction each). `app` is the
 * app as just read, undefined when it is not managed (its due rows all go). Returns how many rows
 * it wrote or removed.
 */
export async function repairAppIndex(table: TableClient, appId: string, app: StoredApp | undefined): Promise<number> {
  let repaired = 0;
  const dueRows = table.listEntities<{ appId: string }>({
    queryOptions: {
      filter: odata`PartitionKey eq ${APPS_PARTITION} and RowKey ge ${DUE_PREFIX} and RowKey lt ${prefixEnd(DUE_PREFIX)} and appId eq ${appId}`,
    },
  });
  const keys = app ? indexKeysOf(app.config, app.state) : undefined;
  for await (const row of dueRows) {
    if (row.rowKey !== keys?.dueKey) {
      try {
        await table.deleteEntity(APPS_PARTITION, row.rowKey!);
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
      await table.getEntity(APPS_PARTITION, row.rowKey);
    } catch (error) {
      if (!isRestError(error, 404)) throw error;
      await table.createEntity(row);
      repaired += 1;
    }
  }
  return repaired;
}
