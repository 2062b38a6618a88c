import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { describe, expect, it } from 'vitest';
import { startAzurite } from './azurite.js';

describe('startAzurite with a data folder (the sandbox)', () => {
  it('keeps tables across a restart, on fresh ports each time', async () => {
    const location = mkdtempSync(join(tmpdir(), 'ecr-azurite-'));
    try {
      const first = await startAzurite({ location });
      const table = TableClient.fromConnectionString(first.connectionString, 'persisted', { allowInsecureConnection: true });
      await table.createTable();
      await table.createEntity({ partitionKey: 'p', rowKey: 'r', value: 'kept' });
      await first.stop();

      const second = await startAzurite({ location });
      try {
        const again = TableClient.fromConnectionString(second.connectionString, 'persisted', { allowInsecureConnection: true });
        expect((await again.getEntity<{ value: string }>('p', 'r')).value).toBe('kept');
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(location, { recursive: true, force: true });
    }
  });
});
