import { randomUUID } from 'node:crypto';
import { TableClient, type TableServiceClientOptions } from '@azure/data-tables';
import { QueueClient } from '@azure/storage-queue';
import type { AppConfig, RenewalStateInput } from '../src/lib/domain/appConfig.js';
import { AppStore } from '../src/lib/tables/appStore.js';
import { StorageRenewalQueue } from '../src/lib/queue/renewalQueue.js';
import { RenewalScheduler } from '../src/lib/renewal/renewalScheduler.js';
import { startAzurite } from '../test/emulators/azurite.js';
import { machine, median, printResult, round } from './stats.js';
import { managedConfig } from '../test/support/storedAppFixture.js';

/**
 * One scheduler scan at 1,000, 10,000 and 100,000 managed apps, of which the same 100 are due.
 *
 * The table is seeded in steps (1,000, then 9,000 more, then 90,000 more) with AppStore.importApps
 * (entity-group transactions of up to 100 rows), and at each size we measure:
 *  - `listDueApps`: time (median of SCAN_RUNS) and the pages/entities it read. Goal: entities read
 *    <= due apps + one page (1,000 rows) at every size;
 *  - one whole `RenewalScheduler.tick`: the due part (range read, one getApp + one conditional
 *    write + one queue message per due app) plus the pending-notification read and the drift slice,
 *    with the Table requests it sent (counted by a pipeline policy on the client).
 *
 * The baseline in the same run is the smallest size: a scan that followed the number of apps would
 * read 100x more at 100,000 than at 1,000; the ratio of entities read says whether it does.
 *
 * Azurite (in memory here) evaluates every query by walking the whole table in JavaScript, so its
 * times grow with the table whatever the RowKey range; Azure Tables seeks the range. Judge by the
 * entities read; the times are reported for what they are.
 *
 * The drift slice's Graph and Key Vault reads are answered in-process from what was seeded (each
 * app's current certificate is where its state says), so that the tick finds no drift: they are not
 * what this benchmark measures, and `renew` measures those services.
 */
const SIZES = (process.env.BENCH_SCAN_SIZES ?? '1000,10000,100000').split(',').map(Number);
const DUE = Number(process.env.BENCH_SCAN_DUE ?? 100);
const SCAN_RUNS = Number(process.env.BENCH_SCAN_RUNS ?? 5);
/** Concurrent importApps calls while seeding (each sends its transactions one after another). */
const SEED_CONCURRENCY = 4;
const DAY_MS = 24 * 3600_000;
const VAULT_URL = 'https://bench-vault.vault.azure.net/';

interface Seeded {
  readonly config: AppConfig;
  readonly state: RenewalStateInput;
}

function seedRecord(index: number, due: boolean, now: number): Seeded {
  const appId = randomUUID();
  const lifetimeDays = 365;
  // Due apps expire in 10 days (due 20 days ago with renewBeforeDays 30); the others in 200-364
  // days, months past any `now` this benchmark uses.
  const notAfter = now + (due ? 10 : 200 + (index % 165)) * DAY_MS;
  return {
    config: managedConfig(
      appId,
      `Benchmark app ${index}`,
      { vaultUrl: VAULT_URL, certificateName: `bench-app-${index}` },
      { lifetimeDays },
    ),
    state: {
      currentThumbprint: appId.replaceAll('-', '').padEnd(40, '0').toUpperCase(),
      keyId: appId,
      notBefore: new Date(notAfter - lifetimeDays * DAY_MS).toISOString(),
      notAfter: new Date(notAfter).toISOString(),
      keySize: 2048,
      keyVaultVersion: `v${index}`,
    },
  };
}

async function importAll(store: AppStore, records: readonly Seeded[]): Promise<void> {
  // Chunks of 33 apps fill a 100-row transaction (3 rows per app), so each importApps call here is
  // one transaction; several run at once to keep the seeding time reasonable.
  const chunks: Seeded[][] = [];
  for (let i = 0; i < records.length; i += 33) chunks.push(records.slice(i, i + 33));
  let next = 0;
  await Promise.all(
    Array.from({ length: SEED_CONCURRENCY }, async () => {
      while (next < chunks.length) await store.importApps(chunks[next++]!);
    }),
  );
}

export async function benchScan(): Promise<void> {
  const azurite = await startAzurite();
  const counter = { table: 0 };
  const options: TableServiceClientOptions = {
    allowInsecureConnection: true,
    additionalPolicies: [
      {
        position: 'perCall',
        policy: {
          name: 'countTableRequests',
          sendRequest: (request, next) => {
            counter.table += 1;
            return next(request);
          },
        },
      },
    ],
  };
  try {
    const store = new AppStore(TableClient.fromConnectionString(azurite.connectionString, 'BenchScanApps', options));
    const queueClient = new QueueClient(azurite.connectionString, 'bench-scan-requests');
    const seeded = new Map<string, Seeded>();
    const start = Date.now();
    const scheduler = (now: Date) =>
      new RenewalScheduler({
        store,
        renewals: {
          retryPendingNotifications: () => Promise.reject(new Error('no app has pending notifications in this benchmark')),
          warnNearExpiry: () => Promise.reject(new Error('no app has notifications enabled in this benchmark')),
        },
        queue: new StorageRenewalQueue({ deploy: queueClient, confirm: queueClient }), // the tick sends deploys only
        credentials: {
          listCertificates: (appId) => {
            const state = seeded.get(appId)!.state;
            return Promise.resolve([
              {
                keyId: state.keyId!,
                thumbprint: state.currentThumbprint!,
                validFrom: new Date(state.notBefore!),
                validUntil: new Date(state.notAfter!),
                displayName: 'bench',
                status: 'current' as const,
                thumbprintSha256: undefined,
                der: undefined,
                managed: true,
              },
            ]);
          },
        },
        vaultFor: () => ({
          listVersions: (name: string) => {
            const version = `v${Number(name.slice('bench-app-'.length))}`;
            return Promise.resolve([{ name, version, id: `${VAULT_URL}certificates/${name}/${version}`, thumbprint: '', tags: {} }]);
          },
        }),
        schedule: '0 */15 * * * *',
        now: () => now,
      });

    const rows: Record<string, unknown>[] = [];
    let seededCount = 0;
    console.log(`scan: ${DUE} due apps among ${SIZES.join(', ')} (Azurite in memory, node ${process.version})`);
    for (const [sizeIndex, size] of SIZES.entries()) {
      const records: Seeded[] = [];
      for (let i = seededCount; i < size; i++) records.push(seedRecord(i, i < DUE, start));
      for (const record of records) seeded.set(record.config.appId, record);
      const seedStart = performance.now();
      await importAll(store, records);
      const seedMs = performance.now() - seedStart;
      seededCount = size;

      const scanMs: number[] = [];
      let scan = { pagesRead: 0, entitiesRead: 0, due: 0, requests: 0 };
      for (let run = 0; run < SCAN_RUNS; run++) {
        const before = counter.table;
        const t0 = performance.now();
        const result = await store.listDueApps(new Date(start));
        scanMs.push(performance.now() - t0);
        scan = {
          pagesRead: result.pagesRead,
          entitiesRead: result.entitiesRead,
          due: result.apps.length,
          requests: counter.table - before,
        };
      }

      // Each size's tick runs an hour after the previous one, so the `queued` marks of the last tick
      // are stale and the same due apps are enqueued again (as a lost message would be).
      const tickNow = new Date(start + (sizeIndex + 1) * 3600_000);
      await queueClient.createIfNotExists();
      await queueClient.clearMessages();
      const beforeTick = counter.table;
      const t0 = performance.now();
      // The tick's days-left lines (issue 20.4), counted as the invocation's logger would ship them.
      let daysLeftLines = 0;
      const report = await scheduler(tickNow).tick({
        log: (line) => void (line.startsWith('certificate days left') && (daysLeftLines += 1)),
      });
      const tickMs = performance.now() - t0;
      const tickTableRequests = counter.table - beforeTick;
      const queued = (await queueClient.getProperties()).approximateMessagesCount ?? 0;

      const row = {
        apps: size,
        dueApps: scan.due,
        entitiesRead: scan.entitiesRead,
        pagesRead: scan.pagesRead,
        scanRequests: scan.requests,
        scanMedianMs: round(median(scanMs)),
        goalMet: scan.due === DUE && scan.entitiesRead <= DUE + 1000,
        tickMs: round(tickMs),
        tickTableRequests,
        tickEnqueued: report.enqueued,
        tickQueueMessages: queued,
        tickDriftChecked: report.driftChecked,
        tickDaysLeftLines: daysLeftLines,
        tickExpiryAtRisk: report.expiryAtRisk,
        tickSoonestWindowFraction: report.soonestExpiry?.windowRemainingFraction,
        seedMs: round(seedMs),
      };
      rows.push(row);
      console.log(
        `  ${String(size).padStart(7)} apps: listDueApps read ${row.entitiesRead} entities in ${row.pagesRead} page(s) ` +
          `(${row.scanRequests} request), median ${row.scanMedianMs} ms over ${SCAN_RUNS}; ` +
          `tick ${row.tickMs} ms, ${row.tickTableRequests} Table requests, enqueued ${row.tickEnqueued}, drift-checked ${row.tickDriftChecked}, ` +
          `${row.tickDaysLeftLines} days-left lines (${row.tickExpiryAtRisk} at risk); ` +
          `seeding ${size - (sizeIndex === 0 ? 0 : SIZES[sizeIndex - 1]!)} apps took ${Math.round(seedMs / 1000)} s`,
      );
    }
    const first = rows[0]!;
    const last = rows[rows.length - 1]!;
    const entitiesRatio = round(Number(last.entitiesRead) / Number(first.entitiesRead), 3);
    const timeRatio = round(Number(last.scanMedianMs) / Number(first.scanMedianMs), 2);
    console.log(
      `  entities read at ${String(last.apps)} apps / at ${String(first.apps)} apps: ${entitiesRatio} (goal: <= ${DUE} + one page of 1000 at every size)`,
    );
    console.log(
      `  scan time at ${String(last.apps)} / at ${String(first.apps)}: ${timeRatio}x. Azurite evaluates every query over the whole table in memory,` +
        ' so its times grow with table size regardless of the index (Azure Tables seeks the RowKey range); judge by entities read.',
    );
    printResult({
      benchmark: 'scan',
      due: DUE,
      sizes: rows,
      entitiesReadRatioLargestToSmallest: entitiesRatio,
      scanTimeRatioLargestToSmallest: timeRatio,
      goalMet: rows.every((r) => r.goalMet === true),
      note: 'Azurite evaluates queries over the whole table in memory: times grow with table size regardless of the index',
      ...machine(),
    });
  } finally {
    await azurite.stop();
  }
}
