import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TableClient } from '@azure/data-tables';
import { ClientSecretCredential } from '@azure/identity';
import type { AppConfig } from '../src/lib/domain/appConfig.js';
import { createGraphClient } from '../src/lib/graph/graphClient.js';
import { TenantApplicationsClient } from '../src/lib/graph/tenantApplicationsClient.js';
import { InventoryService } from '../src/lib/inventory/inventoryService.js';
import { AppStore } from '../src/lib/tables/appStore.js';
import { startAzurite } from '../test/emulators/azurite.js';
import { EntraAuthority } from '../test/emulators/entraAuthority.js';
import { GraphEmulator } from '../test/emulators/graph.js';
import { loadOrCreateEmulatorTls } from '../test/emulators/tls.js';
import { benchRoot } from './compileApp.js';
import { machine, printResult, round } from './stats.js';
import { managedConfig } from '../test/support/storedAppFixture.js';

/**
 * The tenant inventory (GET /api/inventory) over 20,000 emulated app registrations, 2,000 of them
 * managed, every fifth on a client secret: the Graph requests one whole inventory costs and its
 * time, through the real adapter (Graph SDK client against the Graph emulator) and AppStore on
 * Azurite. Goal: Graph requests = pages only (ceil(apps / 100) with owners expanded), none per app.
 *
 * Baseline in the same run: the naive way, listing the apps ($top=999, no owners) and reading each
 * app's owners with its own request, timed on the first BASELINE_APPS apps and projected to all.
 */
const APPS = Number(process.env.BENCH_INVENTORY_APPS ?? 20_000);
const MANAGED = Math.round(APPS / 10);
const BASELINE_APPS = Number(process.env.BENCH_INVENTORY_BASELINE_APPS ?? 500);
const DAY = 86_400_000;

export async function benchInventory(): Promise<void> {
  const tls = loadOrCreateEmulatorTls(join(benchRoot, '.scratch', 'inventory-tls'));
  // Node reads NODE_EXTRA_CA_CERTS at start only: run in a child that starts trusting the emulators' CA.
  if (process.env.NODE_EXTRA_CA_CERTS !== tls.caPath) {
    const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
      stdio: 'inherit',
      env: { ...process.env, NODE_EXTRA_CA_CERTS: tls.caPath, BENCH_INVENTORY_CHILD: '1' },
    });
    if (child.status !== 0) throw new Error(`the inventory benchmark failed (exit ${child.status})`);
    return;
  }
  const azurite = await startAzurite();
  const authority = new EntraAuthority({ tls });
  const graph = new GraphEmulator({ tls, authority });
  await Promise.all([authority.start(), graph.start()]);
  try {
    const tenantId = randomUUID();
    authority.registerClientSecret(tenantId, 'rotator', 'secret', { roles: ['Application.Read.All'], principalId: randomUUID() });
    const credential = new ClientSecretCredential(tenantId, 'rotator', 'secret', {
      authorityHost: authority.url,
      disableInstanceDiscovery: true,
    });
    const client = createGraphClient({ credential, graphBaseUrl: graph.url });
    const store = new AppStore(
      TableClient.fromConnectionString(azurite.connectionString, 'BenchInventoryApps', { allowInsecureConnection: true }),
    );

    const managed: { config: AppConfig }[] = [];
    for (let i = 0; i < APPS; i++) {
      const app = graph.createApplication({
        tenantId,
        displayName: `Tenant app ${i}`,
        owners: [{ id: randomUUID(), type: 'user', displayName: `Owner of ${i}`, userPrincipalName: `owner${i}@contoso.example` }],
        passwordCredentials:
          i % 5 === 0
            ? [
                {
                  keyId: randomUUID(),
                  displayName: 'secret',
                  hint: 'abc',
                  startDateTime: new Date(),
                  endDateTime: new Date(Date.now() + 90 * DAY),
                },
              ]
            : [],
      });
      if (i < MANAGED) {
        managed.push({
          config: managedConfig(app.appId, app.displayName, {
            vaultUrl: 'https://bench-vault.vault.azure.net/',
            certificateName: `tenant-app-${i}`,
          }),
        });
      }
    }
    await store.importApps(managed);
    const inventory = new InventoryService({ store, tenant: new TenantApplicationsClient({ graph: client }) });

    // Warm: token, connections, the table's first query.
    await inventory.page({});
    graph.server.resetCounters();
    let started = performance.now();
    const all = await inventory.all({});
    const inventoryMs = performance.now() - started;
    const graphRequests = Object.values(graph.server.counters()).reduce((a, b) => a + b, 0);
    const perRoute = graph.server.counters();
    const secretApps = all.filter((i) => i.runsOnClientSecret).length;
    const managedSeen = all.filter((i) => i.managed).length;

    // Baseline: list without owners, then one owners request per app (on a sample, projected).
    graph.server.resetCounters();
    started = performance.now();
    let listed = 0;
    let next: string | undefined = '/applications?$select=id,appId,displayName,keyCredentials,passwordCredentials&$top=999';
    const ids: string[] = [];
    while (next) {
      const page = (await client.api(next).get()) as { value: { id: string }[]; '@odata.nextLink'?: string };
      listed += page.value.length;
      ids.push(...page.value.map((a) => a.id));
      next = page['@odata.nextLink'];
    }
    const listMs = performance.now() - started;
    const listRequests = Object.values(graph.server.counters()).reduce((a, b) => a + b, 0);
    started = performance.now();
    for (const id of ids.slice(0, BASELINE_APPS)) await client.api(`/applications/${id}/owners`).select('id,displayName').get();
    const perOwnersMs = (performance.now() - started) / BASELINE_APPS;
    const baselineRequests = Math.ceil(listed / 999) + listed;
    const baselineMs = listMs + perOwnersMs * listed;

    console.log(`inventory of ${APPS} app registrations (${MANAGED} managed, ${secretApps} on a client secret)`);
    console.log(
      `  paged with owners expanded: ${graphRequests} Graph requests (${JSON.stringify(perRoute)}), ${round(inventoryMs / 1000, 2)} s`,
    );
    console.log(`  for scale, the listing alone ($top=999, no owners): ${listRequests} Graph requests, ${round(listMs / 1000, 2)} s`);
    console.log(
      `  baseline, owners read per app: ${baselineRequests} Graph requests, ${round(baselineMs / 1000, 2)} s (projected from ${BASELINE_APPS} owner reads at ${round(perOwnersMs, 2)} ms)`,
    );
    printResult({
      benchmark: 'inventory',
      apps: APPS,
      managed: managedSeen,
      runsOnClientSecret: secretApps,
      listed: all.length,
      graphRequests,
      graphRequestsGoal: Math.ceil(APPS / 100),
      requestsPerApp: round(graphRequests / APPS, 4),
      seconds: round(inventoryMs / 1000, 2),
      listWithoutOwnersGraphRequests: listRequests,
      listWithoutOwnersSeconds: round(listMs / 1000, 2),
      baselineGraphRequests: baselineRequests,
      baselineSeconds: round(baselineMs / 1000, 2),
      speedup: round(baselineMs / inventoryMs, 1),
      machine: machine(),
    });
  } finally {
    await Promise.all([authority.close(), graph.close()]);
    await azurite.stop();
  }
}

if (process.env.BENCH_INVENTORY_CHILD === '1') await benchInventory();
