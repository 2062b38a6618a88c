import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { appConfigSchema, type AppConfig } from '../../../src/lib/domain/appConfig.js';
import { AppService } from '../../../src/lib/apps/appService.js';
import { renewalSpreadOffsetMs } from '../../../src/lib/renewal/decide/schedule.js';
import { dueRowKey } from '../../../src/lib/tables/appRows.js';
import { AppStore } from '../../../src/lib/tables/appStore.js';
import { PreconditionFailedError, ValidationError } from '../../../src/lib/errors.js';
import { AppRegistrationDirectoryDouble } from '../../support/appRegistrationDirectoryDouble.js';
import { createTestTableClient, snapshotTable } from '../../support/tables.js';

const DAY = 24 * 60 * 60 * 1000;
const VAULT = 'https://unit-vault.vault.azure.net/';
const admin = { oid: randomUUID(), name: 'Ada Admin' };

function config(appId: string, overrides: Partial<AppConfig> = {}): AppConfig {
  return appConfigSchema.parse({
    appId,
    displayName: `App ${appId.slice(0, 8)}`,
    keyVault: { enabled: true, vaultUrl: VAULT, certificateName: `cert-${appId}` },
    ...overrides,
  });
}

/**
 * Renewal state whose due time is `dueAt` for the app: notAfter − 30 days (the default renewBeforeDays)
 * less the app's place in the spread of renewal times (decide/schedule.ts).
 */
function stateDueAt(dueAt: Date, appId: string) {
  const offset = renewalSpreadOffsetMs({ appId, renewBeforeDays: 30, lifetimeDays: 365 });
  return { notAfter: new Date(dueAt.getTime() + 30 * DAY + offset).toISOString(), currentThumbprint: 'AB'.repeat(20) };
}

async function dueRows(store: AppStore, now: Date) {
  return (await store.listDueApps(now)).apps.map((a) => a.appId).sort();
}

describe('AppStore due index', () => {
  it('finds the 10 due apps among 5,000 by reading one page of 10 entities', async () => {
    const table = createTestTableClient();
    // What the service is asked matters as much as what comes back: Azure Tables reads what the
    // key range covers, so the query must be a PartitionKey + RowKey range and nothing wider.
    const filters: string[] = [];
    table.pipeline.addPolicy({
      name: 'record-table-queries',
      sendRequest(request, next) {
        const filter = new URL(request.url).searchParams.get('$filter');
        if (request.method === 'GET' && filter !== null) filters.push(filter);
        return next(request);
      },
    });
    const store = new AppStore(table);
    const now = new Date();
    const due = new Set<string>();
    const records = Array.from({ length: 5000 }, (_, i) => {
      const appId = randomUUID();
      // Every 500th app is due (in the past); the rest are due from tomorrow to ~1 year out, and
      // every 7th has no certificate yet (no due time at all).
      const isDue = i % 500 === 0;
      if (isDue) due.add(appId);
      const dueAt = new Date(now.getTime() + (isDue ? -(i + 1) * 60_000 : (1 + (i % 360)) * DAY));
      return { config: config(appId), state: i % 7 === 3 && !isDue ? {} : stateDueAt(dueAt, appId) };
    });
    await store.importApps(records);

    filters.length = 0;
    const result = await store.listDueApps(now);
    expect(filters).toHaveLength(1);
    expect(filters[0]).toMatch(/^PartitionKey eq 'apps' and RowKey ge 'due_' and RowKey lt 'due_\d{15}_'$/);
    expect(result.apps.map((a) => a.appId).sort()).toEqual([...due].sort());
    expect(result.pagesRead).toBe(1);
    expect(result.entitiesRead).toBe(10);
    // Oldest first: the scheduler works the longest-overdue apps first.
    const times = result.apps.map((a) => a.dueAt.getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('follows PUT, PATCH of lifetimeDays and renewBeforeDays, disabling, a renewal state update and DELETE', async () => {
    const store = new AppStore(createTestTableClient());
    const directory = new AppRegistrationDirectoryDouble();
    const service = new AppService({ store, directory, defaultKeyVaultUrl: VAULT });
    const now = new Date();
    const appId = randomUUID();
    directory.add(appId, 'Payments API');

    // Created without a certificate: nothing to renew yet.
    await service.putApp(appId, {}, { caller: admin });
    expect(await dueRows(store, now)).toEqual([]);

    // The renewal records a certificate expiring in 40 days: with renewBeforeDays 30 it is due in 10.
    let app = (await store.getApp(appId))!;
    await store.updateApp(app, { state: { ...app.state, notAfter: new Date(now.getTime() + 40 * DAY).toISOString() } });
    expect(await dueRows(store, now)).toEqual([]);
    expect(await dueRows(store, new Date(now.getTime() + 10 * DAY))).toEqual([appId]);

    // PATCH renewBeforeDays 45: due 5 days ago, so due now.
    await service.patchApp(appId, { renewBeforeDays: 45 }, { caller: admin });
    expect(await dueRows(store, now)).toEqual([appId]);

    // PATCH lifetimeDays below renewBeforeDays is refused (and changes nothing)...
    await expect(service.patchApp(appId, { lifetimeDays: 40 }, { caller: admin })).rejects.toThrow(/renewBeforeDays/);
    expect(await dueRows(store, now)).toEqual([appId]);
    // ...while a valid one with a smaller renewBeforeDays moves the due time back out.
    await service.patchApp(appId, { lifetimeDays: 90, renewBeforeDays: 20 }, { caller: admin });
    expect(await dueRows(store, now)).toEqual([]);
    expect(await dueRows(store, new Date(now.getTime() + 20 * DAY))).toEqual([appId]);

    // PUT replaces the config: back to the defaults (renewBeforeDays 30), due in 10 days.
    await service.putApp(appId, { lifetimeDays: 365 }, { caller: admin });
    expect(await dueRows(store, new Date(now.getTime() + 9 * DAY))).toEqual([]);
    expect(await dueRows(store, new Date(now.getTime() + 10 * DAY + 1))).toEqual([appId]);

    // A disabled app is skipped by the scheduler: no index row.
    await service.patchApp(appId, { enabled: false }, { caller: admin });
    expect(await dueRows(store, new Date(now.getTime() + 365 * DAY))).toEqual([]);
    await service.patchApp(appId, { enabled: true }, { caller: admin });

    // A renewal stores the new certificate: due moves a year out, and only one row remains.
    app = (await store.getApp(appId))!;
    await store.updateApp(app, { state: { ...app.state, notAfter: new Date(now.getTime() + 395 * DAY).toISOString() } });
    expect(await dueRows(store, new Date(now.getTime() + 364 * DAY))).toEqual([]);
    expect(await dueRows(store, new Date(now.getTime() + 366 * DAY))).toEqual([appId]);

    await service.deleteApp(appId, { caller: admin });
    expect(await dueRows(store, new Date(now.getTime() + 10_000 * DAY))).toEqual([]);
  });

  it('never leaves the index out of step when a write fails between our read and the service applying it', async () => {
    const table = createTestTableClient();
    let interfere: (() => Promise<void>) | undefined;
    const store = new AppStore(table, { hooks: { beforeCommit: () => interfere?.() } });
    const other = new AppStore(table);
    const now = new Date();
    const appId = randomUUID();
    await store.importApps([{ config: config(appId), state: stateDueAt(new Date(now.getTime() - DAY), appId) }]);
    const read = (await store.getApp(appId))!;

    // A crash before the transaction is sent: nothing was written, nothing to repair.
    const before = await snapshotTable(table);
    interfere = () => Promise.reject(new Error('process killed'));
    await expect(store.updateApp(read, { state: stateDueAt(new Date(now.getTime() + 100 * DAY), appId) })).rejects.toThrow(
      'process killed',
    );
    expect(await snapshotTable(table)).toBe(before);

    // The service rejects the app row's update (another writer changed it) after the transaction's
    // first operation (the new index row) was already in it: the whole transaction is rolled back,
    // so the new due row does not exist and the old one still does.
    interfere = async () => {
      interfere = undefined;
      const fresh = (await other.getApp(appId))!;
      await other.updateApp(fresh, { config: { ...fresh.config, keySize: 4096 } });
    };
    await expect(store.updateApp(read, { state: stateDueAt(new Date(now.getTime() + 100 * DAY), appId) })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    expect(await dueRows(store, now)).toEqual([appId]);
    expect(await dueRows(store, new Date(now.getTime() + 200 * DAY))).toEqual([appId]);
    await expect(table.getEntity('apps', dueRowKey(new Date(now.getTime() + 100 * DAY), appId))).rejects.toMatchObject({ statusCode: 404 });
  });

  it('writes a change of the app row alone as one conditional update, and a change of several rows as one transaction', async () => {
    const table = createTestTableClient();
    const requests: string[] = [];
    table.pipeline.addPolicy({
      name: 'record-table-writes',
      sendRequest(request, next) {
        const path = decodeURIComponent(new URL(request.url).pathname).split('/').pop()!;
        if (request.method !== 'GET')
          requests.push(`${request.method} ${path.startsWith('$batch') ? '$batch' : path.replace(/\(.*\)$/, '(…)')}`);
        return next(request);
      },
    });
    const store = new AppStore(table);
    const other = new AppStore(table);
    const now = new Date();
    const appId = randomUUID();
    const dueAt = new Date(now.getTime() - DAY);
    await store.importApps([{ config: config(appId), state: stateDueAt(dueAt, appId) }]);
    const read = (await store.getApp(appId))!;

    // A lease, as a renewal takes it: the due time (and so every index row) stays as it is.
    requests.length = 0;
    const leased = await store.updateApp(read, {
      state: {
        ...read.state,
        lease: { owner: randomUUID(), renewalId: randomUUID(), until: new Date(now.getTime() + 60_000).toISOString() },
      },
    });
    expect(requests).toEqual([`PUT ${table.tableName}(…)`]);
    expect(leased.state.lease).toBeDefined();
    expect((await store.getApp(appId))!.etag).toBe(leased.etag);
    // Conditional like the transaction: a writer holding the old ETag loses.
    await expect(other.updateApp(read, { config: { ...read.config, keySize: 4096 } })).rejects.toBeInstanceOf(PreconditionFailedError);

    // The same change with a history row: both rows in one transaction.
    requests.length = 0;
    await store.updateApp(leased, {
      state: { ...leased.state, lease: undefined },
      history: { action: 'renewal.deploy', trigger: 'queue', outcome: 'failed', error: 'test' },
    });
    expect(requests).toEqual(['POST $batch']);
    expect(await dueRows(store, now)).toEqual([appId]);
  });

  it('repairs index rows damaged outside the store (a hand edit or a restore) on the next write and by the sweep', async () => {
    const table = createTestTableClient();
    const store = new AppStore(table);
    const now = new Date();
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await store.importApps([
      { config: config(a), state: stateDueAt(new Date(now.getTime() - DAY), a) },
      { config: config(b), state: stateDueAt(new Date(now.getTime() - 2 * DAY), b) },
      { config: config(c), state: stateDueAt(new Date(now.getTime() + DAY), c) },
    ]);
    const appB = (await store.getApp(b))!;
    // Damage: a's due row deleted; an orphan due row for c at a wrong time; b's row deleted too.
    await table.deleteEntity('apps', dueRowKey(new Date(now.getTime() - DAY), a));
    await table.deleteEntity('apps', dueRowKey(new Date(now.getTime() - 2 * DAY), b));
    await table.createEntity({
      partitionKey: 'apps',
      rowKey: dueRowKey(new Date(now.getTime() - 3 * DAY), c),
      appId: c,
      dueAt: new Date(now.getTime() - 3 * DAY),
    });
    expect(await dueRows(store, now)).toEqual([c]);

    // The next write to b finds its index row gone, repairs it and asks the caller to re-read.
    await expect(store.updateApp(appB, { state: stateDueAt(new Date(now.getTime() + 50 * DAY), b) })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    expect(await dueRows(store, now)).toEqual([c, b].sort());
    const reread = (await store.getApp(b))!;
    await store.updateApp(reread, { state: stateDueAt(new Date(now.getTime() + 50 * DAY), b) });
    expect(await dueRows(store, now)).toEqual([c]);

    // The sweep restores a's row and drops c's orphan.
    const swept = await store.repairIndex({ maxPageSize: 100 });
    expect(swept.repaired).toBe(2);
    expect(await dueRows(store, now)).toEqual([a]);
    expect(await dueRows(store, new Date(now.getTime() + 2 * DAY))).toEqual([a, c].sort());
    expect((await store.repairIndex({ maxPageSize: 100 })).repaired).toBe(0);
  });
});

describe('AppStore and what Table Storage refuses', () => {
  it('answers a row over the 64 KiB property limit with a ValidationError, not a raw storage error, and stores nothing', async () => {
    const table = createTestTableClient();
    const store = new AppStore(table);
    const appId = randomUUID();
    await store.createApp({ config: config(appId), history: { action: 'config.created', trigger: 'api', outcome: 'succeeded' } });
    const before = await snapshotTable(table);
    // Table Storage caps a string property at 64 KiB (32K UTF-16 characters): 40,000 characters is over it.
    const error = await store
      .appendHistory(appId, { action: 'renewal.deploy', trigger: 'queue', outcome: 'failed', error: 'x'.repeat(40_000) })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toMatch(/too large/);
    expect(await snapshotTable(table)).toBe(before);
  });
});
