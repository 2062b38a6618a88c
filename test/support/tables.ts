import { randomBytes } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { inject } from 'vitest';

/** A client for a fresh, uniquely named table in the run's Azurite: tests isolate by table name. */
export function createTestTableClient(label = 'apps'): TableClient {
  const name = `t${randomBytes(6).toString('hex')}${label.replace(/[^a-z0-9]/gi, '')}`.slice(0, 63);
  return TableClient.fromConnectionString(inject('storageConnectionString'), name, { allowInsecureConnection: true });
}

/**
 * Every entity of the table, every property (ETag and Timestamp included), serialised in a stable
 * order: two snapshots are equal only when nothing was written, not even an identical value.
 */
export async function snapshotTable(table: TableClient): Promise<string> {
  const rows: string[] = [];
  for await (const entity of table.listEntities()) {
    const sorted = Object.fromEntries(Object.entries(entity).sort(([a], [b]) => a.localeCompare(b)));
    rows.push(JSON.stringify(sorted));
  }
  return rows.sort().join('\n');
}
