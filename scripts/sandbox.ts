import { type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppStore } from '../src/lib/tables/appStore.js';
import { APPS_TABLE_NAME, createTableClient } from '../src/lib/composition.js';
import { startAzurite, type RunningAzurite } from '../test/emulators/azurite.js';
import { EmailEmulator } from '../test/emulators/email.js';
import { EntraAuthority } from '../test/emulators/entraAuthority.js';
import { EventGridEmulator } from '../test/emulators/eventGrid.js';
import { GraphEmulator } from '../test/emulators/graph.js';
import { KeyVaultEmulator } from '../test/emulators/keyVault.js';
import { KEY_VAULT_GRANTS_CONDITION, ResourceManagerEmulator } from '../test/emulators/resourceManager.js';
import { loadOrCreateEmulatorTls } from '../test/emulators/tls.js';
import { DEMO, issueRoleTokens, registerDashboardSignIn, seedDemoTenant } from './sandbox/demoTenant.js';
import { EmulatorState, readTenantRecord, writeTenantRecord, type TenantRecord } from './sandbox/emulatorState.js';
import { expiryBannerLines, readExpiryFigures } from './sandbox/expiryFigures.js';
import { sandboxLayout } from './sandbox/sandboxLayout.js';
import { busyPorts } from './sandbox/busyPorts.js';
import { checkKeptState, hasData, KeptStateError, resetSandbox } from './sandbox/keptState.js';
import { deployPackage, exited, inheritedEnvironment, spawnHost, stopChild, waitForHost } from './sandbox/hostProcess.js';
import { displayPath, sandboxBanner } from './sandbox/sandboxBanner.js';
import { ensureWebBuild } from '../test/support/webBuild.js';

/**
 * `npm run sandbox` (`-- --reset` to start clean): the whole product on one machine with no Azure
 * account (docs/getting-started.md). Azurite (tables, queues) with its data under .sandbox/azurite; loopback
 * emulators of the Entra authority, Microsoft Graph, Key Vault, Resource Manager (role assignments), Communication Services Email and
 * Event Grid; and `npm run host` as a child process, configured through the ordinary settings of
 * docs/configuration.md only: it signs in with the authority's managed identity (IDENTITY_ENDPOINT / IDENTITY_HEADER,
 * as App Service provides them), which owns the demo apps and holds the roles it needs in each
 * emulator, exactly as the Bicep deployment and the grant script set it up in Azure.
 *
 * Ctrl-C (SIGINT) or SIGTERM stops the host, saves the emulators' state, and stops Azurite.
 */

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const reset = process.argv.slice(2).includes('--reset');
const layout = sandboxLayout(process.env, projectRoot);

let azurite: RunningAzurite | undefined;
let host: ChildProcess | undefined;
let state: EmulatorState | undefined;
const emulators: { close(): Promise<void> }[] = [];
let stopping: Promise<void> | undefined;

function shutdown(code: number): Promise<void> {
  stopping ??= (async () => {
    console.log('\nStopping the sandbox…');
    if (host) await stopChild(host);
    // After the host, so whatever it did last is in the snapshot.
    try {
      state?.stop();
    } catch (error) {
      console.error(`Could not save the emulators' state: ${(error as Error).message}`);
    }
    await Promise.allSettled(emulators.map((e) => e.close()));
    await azurite?.stop();
    console.log('Sandbox stopped.');
    process.exit(code);
  })();
  return stopping;
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(0));
// Last resort if the sandbox dies some other way: no child outlives it.
process.on('exit', () => {
  if (host && !exited(host)) host.kill('SIGKILL');
  if (azurite?.pid !== undefined) {
    try {
      process.kill(azurite.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

async function main(): Promise<void> {
  const { paths, ports } = layout;
  const busy = await busyPorts(ports);
  if (busy.length > 0) throw new KeptStateError(`${busy.join('; ')}.`);
  const app = layout.app === undefined ? undefined : deployPackage(layout.app);
  if (reset) resetSandbox(layout);
  // tenant.json is written last, once the seed is complete: it is the commit of a first start. Data
  // without it is what a start that died while seeding left behind, never kept state.
  else if (readTenantRecord(paths.state) === undefined && hasData(layout)) {
    console.log(`${displayPath(layout.dir)} holds data of a start that did not finish seeding; starting clean (the TLS material is kept).`);
    resetSandbox(layout);
  }
  for (const dir of [layout.dir, paths.azurite, paths.outbox, paths.tokens, paths.hostRoot]) mkdirSync(dir, { recursive: true });
  const tls = loadOrCreateEmulatorTls(paths.tls);
  const existing = readTenantRecord(paths.state);

  azurite = await startAzurite({ location: paths.azurite, ports: { blob: ports.blob, queue: ports.queue, table: ports.table } });

  const authority = new EntraAuthority({ tls });
  const graph = new GraphEmulator({ tls, authority });
  emulators.push(authority, graph);
  await authority.start(ports.authority);
  await graph.start(ports.graph);
  const verifyToken = (token: string, audiences: string[]) => authority.verifyAccessToken(token, audiences);
  const record: TenantRecord = existing ?? {
    seededAt: new Date().toISOString(),
    identityHeader: '',
    emailAccessKey: randomBytes(32).toString('base64'),
  };
  // Resource Manager for the access grants (docs/consumers.md): every principal the tenant knows is a
  // service principal (the rotator, each app's), or a user (the people behind the role tokens).
  const users = new Set<string>(Object.values(DEMO.users));
  const resourceManager = new ResourceManagerEmulator({
    tls,
    tenantId: DEMO.tenantId,
    verifyToken,
    principalTypeOf: (id) =>
      id === DEMO.rotator.principalId || graph.allApplications().some((a) => a.servicePrincipalId.toLowerCase() === id)
        ? 'ServicePrincipal'
        : users.has(id)
          ? 'User'
          : undefined,
  });
  const keyVault = new KeyVaultEmulator({
    tls,
    tenantId: DEMO.tenantId,
    authorityHost: authority.url,
    verifyToken,
    rbac: true,
    roleAssignments: { vaultResourceId: DEMO.vaultResourceId, list: () => resourceManager.assignments() },
  });
  const email = new EmailEmulator({
    tls,
    accessKey: record.emailAccessKey,
    verifyToken,
    outboxDir: paths.outbox,
    senderDomains: [DEMO.emailSender.split('@')[1]!],
    pollRetryAfterSeconds: 1,
  });
  const eventGrid = new EventGridEmulator({
    tls,
    keys: [randomBytes(32).toString('base64')],
    verifyToken,
    dataSenders: [DEMO.rotator.principalId],
    eventsFile: paths.events,
  });
  emulators.push(resourceManager, keyVault, email, eventGrid);
  await resourceManager.start(ports.resourceManager);
  await keyVault.start(ports.keyVault);
  await email.start(ports.email);
  await eventGrid.start(ports.eventGrid);

  state = new EmulatorState(paths.state);
  state.track('authority', authority);
  state.track('graph', graph);
  state.track('key-vault', keyVault);
  state.track('resource-manager', resourceManager);

  const store = new AppStore(createTableClient({ kind: 'connectionString', connectionString: azurite.connectionString }, APPS_TABLE_NAME));
  if (existing) await checkKeptState({ state: paths.state, graph, store });
  let identityHeader = record.identityHeader;
  if (!existing) {
    // What infra/ and scripts/grant-graph-permission.sh do in Azure: the Function App's identity gets
    // Application.ReadWrite.OwnedBy (and owns the demo apps, see the seed), Key Vault Certificates
    // Officer + Secrets User, EventGrid Data Sender (dataSenders above); email accepts its token.
    ({ header: identityHeader } = authority.enableManagedIdentity({
      tenantId: DEMO.tenantId,
      clientId: DEMO.rotator.clientId,
      principalId: DEMO.rotator.principalId,
      roles: ['Application.ReadWrite.OwnedBy', 'Policy.Read.All'],
    }));
    keyVault.assignRole(DEMO.rotator.principalId, 'Key Vault Certificates Officer');
    keyVault.assignRole(DEMO.rotator.principalId, 'Key Vault Secrets User');
    // What infra/ assigns: RBAC Administrator on the vault, under the condition that it may grant only
    // the two read roles, to service principals and groups.
    resourceManager.assign(DEMO.vaultResourceId, 'Role Based Access Control Administrator', DEMO.rotator.principalId, {
      condition: KEY_VAULT_GRANTS_CONDITION,
    });
    await seedDemoTenant({ graph, keyVault, store, dueInSeconds: layout.demoDueInSeconds });
    writeTenantRecord(paths.state, { ...record, identityHeader });
    state.save();
  }
  state.saveEvery(1000);

  const { tokens, expiresAt } = await issueRoleTokens(authority);
  // The address the host serves the dashboard at is its redirect URI: registered on every start, as the port may change.
  const dashboardUrl = `http://localhost:${ports.host}/api/ui/`;
  registerDashboardSignIn(authority, dashboardUrl);
  for (const [role, token] of Object.entries(tokens)) {
    writeFileSync(join(paths.tokens, `${role.toLowerCase()}.jwt`), token, { mode: 0o600 });
  }

  // The dashboard is served from dist/web (a package has its own): built when missing or older than web/.
  if (!app) await ensureWebBuild();
  // The host reads host.json (and local.settings.json) from FUNCTIONS_APP_ROOT: a folder with the
  // project's host.json and no local.settings.json, so a developer's settings never mix in; or the
  // deploy package, which has its own host.json and none either.
  copyFileSync(join(projectRoot, 'host.json'), join(paths.hostRoot, 'host.json'));
  const hostEnv: NodeJS.ProcessEnv = {
    ...inheritedEnvironment(),
    PORT: String(ports.host),
    FUNCTIONS_APP_ROOT: app?.root ?? paths.hostRoot,
    ...(app ? { FUNCTIONS_ENTRY_POINT: app.entryPoint } : {}),
    NODE_EXTRA_CA_CERTS: tls.caPath,
    IDENTITY_ENDPOINT: `${authority.url}/msi/token`,
    IDENTITY_HEADER: identityHeader,
    AzureWebJobsStorage: azurite.connectionString,
    MANAGED_TENANT_ID: DEMO.tenantId,
    RENEWAL_SCHEDULE: layout.renewalSchedule,
    VERIFY_WINDOW_MINUTES: '1',
    GRAPH_BASE_URL: graph.url,
    AZURE_AUTHORITY_HOST: authority.url,
    DEFAULT_KEYVAULT_URL: keyVault.vaultUrl,
    DEFAULT_KEYVAULT_RESOURCE_ID: DEMO.vaultResourceId,
    ARM_BASE_URL: resourceManager.url,
    EMAIL_ENDPOINT: email.server.url,
    EMAIL_SENDER: DEMO.emailSender,
    EVENTGRID_TOPIC_ENDPOINT: eventGrid.topicEndpoint,
    API_AUDIENCE: `${DEMO.api.audience},${DEMO.api.clientId}`,
    API_TENANT_ID: DEMO.tenantId,
  };
  // A package runs from its own folder, as from wwwroot in Azure.
  const child = spawnHost(projectRoot, app?.root ?? projectRoot, hostEnv);
  host = child;
  child.once('exit', (code, signal) => {
    if (stopping) return;
    console.error(`The local host stopped by itself (code ${code}, signal ${signal}); stopping the sandbox.`);
    void shutdown(1);
  });

  const apiBaseUrl = `http://localhost:${ports.host}/api`;
  await waitForHost(child, `http://127.0.0.1:${ports.host}/api/health`);

  const managed = await store.getApp(DEMO.managedApp.appId);
  const sandbox = {
    apiBaseUrl,
    dashboardUrl,
    tenantId: DEMO.tenantId,
    apiAudience: DEMO.api.audience,
    apps: {
      managed: { ...DEMO.managedApp, renewalDueAt: managed?.state.nextRenewalDueAt, currentThumbprint: managed?.state.currentThumbprint },
      unmanaged: DEMO.unmanagedApp,
    },
    tokens,
    tokensExpireAt: expiresAt.toISOString(),
    tokenFiles: Object.fromEntries(Object.keys(tokens).map((role) => [role, join(paths.tokens, `${role.toLowerCase()}.jwt`)])),
    outbox: paths.outbox,
    events: paths.events,
    caCertificate: tls.caPath,
    emulators: {
      authority: authority.url,
      graph: graph.url,
      keyVault: keyVault.vaultUrl,
      resourceManager: resourceManager.url,
      email: email.server.url,
      eventGrid: eventGrid.topicEndpoint,
      azuriteConnectionString: azurite.connectionString,
    },
    pids: { sandbox: process.pid, host: child.pid, azurite: azurite.pid },
  };
  writeFileSync(paths.sandboxJson, `${JSON.stringify(sandbox, null, 2)}\n`, { mode: 0o600 });

  // The safety net's figures, through the API as a user would ask: a failure to read them is said, not fatal.
  const expiry = await readExpiryFigures(async (pathAndQuery) => {
    const response = await fetch(`${apiBaseUrl}${pathAndQuery}`, { headers: { authorization: `Bearer ${tokens.Reader}` } });
    if (!response.ok) throw new Error(`GET /api${pathAndQuery} answered ${response.status}`);
    return response.json();
  }).then(expiryBannerLines, (error: unknown) => [
    `  Expiry     could not be read: ${error instanceof Error ? error.message : String(error)}`,
  ]);
  console.log(
    sandboxBanner({
      kept: existing !== undefined,
      apiBaseUrl,
      dashboardUrl,
      paths,
      managed,
      reporting: await store.getApp(DEMO.unmanagedApp.appId),
      tokensExpireAt: expiresAt,
      appEntryPoint: app?.entryPoint,
      emulators: {
        authority: authority.url,
        graph: graph.url,
        keyVault: keyVault.vaultUrl,
        email: email.server.url,
        eventGrid: eventGrid.server.url,
        resourceManager: resourceManager.url,
      },
      storage: { tableEndpoint: azurite.tableEndpoint, queueEndpoint: azurite.queueEndpoint },
      caPath: tls.caPath,
      expiry,
    }),
  );
}

main().catch((error: unknown) => {
  const text = error instanceof KeptStateError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
  console.error(`The sandbox could not start: ${text}`);
  void shutdown(1);
});
