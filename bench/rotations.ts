import { randomUUID } from 'node:crypto';
import { TableClient, type TableServiceClientOptions } from '@azure/data-tables';
import { countStages, type RotationApp, type RotationRecord } from '../src/lib/domain/rotation.js';
import { RotationService } from '../src/lib/rotations/rotationService.js';
import { AppStore } from '../src/lib/tables/appStore.js';
import { RotationStore } from '../src/lib/tables/rotationStore.js';
import { startAzurite } from '../test/emulators/azurite.js';
import { managedConfig } from '../test/support/storedAppFixture.js';
import { machine, printResult } from './stats.js';

/**
 * What the bulk-rotation reads cost in Table requests and bytes (issue 19.1 review): BENCH_ROTATIONS_APPS
 * (2,000) managed apps in one running rotation, none settled yet, beside BENCH_ROTATIONS_FINISHED (50)
 * completed rotations. Measured, each through a pipeline policy counting the requests and the bytes
 * of the answers, per table:
 *  - the scheduler's RotationService.reconcile() (one tick's pass over unfinished rotations);
 *  - RotationService.list() (GET /api/rotations) and get(id) (GET /api/rotations/{id}).
 * The baseline in the same run is what a pass cannot do without: reconcile reads each open app it
 * re-checks twice (its rotation row, for the ETag, and its stored state), so 2 x the apps it
 * re-checks per tick; list reads at least every rotation's record.
 */
const APPS = Number(process.env.BENCH_ROTATIONS_APPS ?? 2000);
const FINISHED = Number(process.env.BENCH_ROTATIONS_FINISHED ?? 50);
/** RotationService's RECONCILED_PER_TICK: the open apps a tick re-reads per rotation. */
const RECONCILED_PER_TICK = 100;

interface Counter {
  requests: number;
  bytes: number;
}

function counted(counter: Counter): TableServiceClientOptions {
  return {
    allowInsecureConnection: true,
    additionalPolicies: [
      {
        position: 'perCall',
        policy: {
          name: 'countTableRequests',
          sendRequest: async (request, next) => {
            counter.requests += 1;
            const response = await next(request);
            counter.bytes += Number(response.headers.get('content-length') ?? response.bodyAsText?.length ?? 0);
            return response;
          },
        },
      },
    ],
  };
}

export async function benchRotations(): Promise<void> {
  const azurite = await startAzurite();
  const apps: Counter = { requests: 0, bytes: 0 };
  const rotationRows: Counter = { requests: 0, bytes: 0 };
  try {
    const store = new AppStore(TableClient.fromConnectionString(azurite.connectionString, 'BenchRotationApps', counted(apps)));
    const rotations = new RotationStore(
      TableClient.fromConnectionString(azurite.connectionString, 'BenchRotations', counted(rotationRows)),
    );
    const seeded = Array.from({ length: APPS }, (_, i) => {
      const appId = randomUUID();
      return {
        config: managedConfig(appId, `Rotated ${i}`, { vaultUrl: 'https://bench-vault.vault.azure.net/', certificateName: `rotated-${i}` }),
        state: {
          currentThumbprint: appId.replaceAll('-', '').padEnd(40, '0').toUpperCase(),
          keyId: randomUUID(),
          notBefore: '2026-01-01T00:00:00Z',
          notAfter: '2027-01-01T00:00:00Z',
          keySize: 2048,
        },
      };
    });
    for (let i = 0; i < seeded.length; i += 500) await store.importApps(seeded.slice(i, i + 500));
    await seedFinished(
      rotations,
      seeded.slice(0, 10).map((s) => s.config),
    );

    const service = new RotationService({ store, rotations, queue: { enqueue: async () => {} } });
    const caller = { oid: randomUUID(), name: 'Bench Admin' };
    const { view } = await service.start({ selector: { all: true }, reason: 'benchmark' }, { idempotencyKey: 'bench', caller });

    const measure = async (work: () => Promise<unknown>) => {
      const before = { apps: { ...apps }, rotations: { ...rotationRows } };
      const started = performance.now();
      await work();
      return {
        ms: Math.round(performance.now() - started),
        rotationRequests: rotationRows.requests - before.rotations.requests,
        rotationKB: Math.round((rotationRows.bytes - before.rotations.bytes) / 1024),
        appRequests: apps.requests - before.apps.requests,
      };
    };
    const reconcile = await measure(() => service.reconcile());
    const list = await measure(() => service.list());
    const get = await measure(() => service.get(view.id));
    const reconcileFloor = 2 * Math.min(RECONCILED_PER_TICK, APPS);
    const reconcileRequests = reconcile.rotationRequests + reconcile.appRequests;

    console.log(`${APPS} apps in one running rotation (status ${view.status}), ${FINISHED} completed rotations beside it`);
    console.log(
      `reconcile: ${reconcileRequests} Table requests (${reconcile.rotationRequests} rotations, ${reconcile.appRequests} apps), ${reconcile.rotationKB} KB of rotation rows, ${reconcile.ms} ms; floor ${reconcileFloor} (${(reconcileRequests / reconcileFloor).toFixed(2)}x)`,
    );
    console.log(`list:      ${list.rotationRequests} Table requests, ${list.rotationKB} KB of rotation rows, ${list.ms} ms`);
    console.log(`get:       ${get.rotationRequests} Table requests, ${get.rotationKB} KB of rotation rows, ${get.ms} ms`);
    printResult({
      benchmark: 'rotations',
      apps: APPS,
      finishedRotations: FINISHED,
      reconcile: {
        ...reconcile,
        requests: reconcileRequests,
        floor: reconcileFloor,
        ratio: Number((reconcileRequests / reconcileFloor).toFixed(2)),
      },
      list,
      get,
      machine: machine(),
    });
  } finally {
    await azurite.stop();
  }
}

/** FINISHED completed rotations of a few apps each, their RotationCompleted sent. */
async function seedFinished(rotations: RotationStore, configs: readonly { appId: string; displayName: string }[]): Promise<void> {
  for (let n = 0; n < FINISHED; n++) {
    const id = randomUUID();
    const at = new Date(Date.UTC(2026, 0, 1 + n)).toISOString();
    const rows: RotationApp[] = configs.map((c) => ({ appId: c.appId, displayName: c.displayName, stage: 'verified', updatedAt: at }));
    const record: RotationRecord = {
      id,
      status: 'completed',
      selector: { appIds: configs.map((c) => c.appId) },
      reason: `finished ${n}`,
      requestedBy: { oid: randomUUID(), name: 'Earlier Admin' },
      createdAt: at,
      requestHash: 'seeded',
      total: rows.length,
      completedAt: at,
      counts: countStages(rows),
      completionPublished: true,
    };
    await rotations.createRotation(record);
    await rotations.addRotationApps(id, rows);
  }
}
