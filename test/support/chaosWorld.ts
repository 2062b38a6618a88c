import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TableClient } from '@azure/data-tables';
import { QueueClient } from '@azure/storage-queue';
import { APPS_TABLE_NAME } from '../../src/lib/composition.js';
import { RENEWAL_CONFIRM_QUEUE_NAME, RENEWAL_QUEUE_NAME } from '../../src/lib/domain/renewalQueueName.js';
import type { StoredApp } from '../../src/lib/domain/storedApp.js';
import { AppStore } from '../../src/lib/tables/appStore.js';
import { startAzurite, type RunningAzurite } from '../emulators/azurite.js';
import type { EmailEmulator } from '../emulators/email.js';
import type { EntraAuthority } from '../emulators/entraAuthority.js';
import type { EventGridEmulator } from '../emulators/eventGrid.js';
import type { GraphEmulator } from '../emulators/graph.js';
import type { KeyVaultEmulator } from '../emulators/keyVault.js';
import { loadOrCreateEmulatorTls } from '../emulators/tls.js';
import { hostEnvironment, seedRenewalApps, startEmulatedServices } from './emulatedServices.js';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * What the chaos soak (issue 20) runs against: Azurite as a child process keeping its data on disk
 * at fixed ports (so it can be restarted under the hosts), every emulator in this process, `apps`
 * app registrations owned by the rotator's managed identity with their configs in the table, and
 * local hosts started as `npm run host` starts them (node --import tsx tools/local-host/main.ts),
 * each a process that can be SIGKILLed.
 */
export interface ChaosWorld {
  readonly dir: string;
  readonly appIds: readonly string[];
  readonly tenantId: string;
  readonly authority: EntraAuthority;
  readonly graph: GraphEmulator;
  readonly keyVault: KeyVaultEmulator;
  readonly email: EmailEmulator;
  readonly eventGrid: EventGridEmulator;
  readonly store: AppStore;
  /** The deploy stages' queue, which the soak feeds. */
  readonly queue: QueueClient;
  /** Both stages' queues (docs/renewal.md) and their poison queues. */
  readonly queues: readonly QueueClient[];
  readonly poisonQueues: readonly QueueClient[];
  /** Every app, read from the table. */
  apps(): Promise<StoredApp[]>;
  /** A local host with the soak's environment plus `env`; its output goes to `<dir>/<name>.log`. */
  startHost(name: string, env?: NodeJS.ProcessEnv): Promise<ChaosHost>;
  /** Azurite stopped (SIGTERM, so it writes its data) and started again on the same ports and data. */
  restartAzurite(): Promise<void>;
  close(): Promise<void>;
}

export interface ChaosHost {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  /** SIGKILL: no invocation finishes, no message is released. */
  readonly kill: () => Promise<void>;
  /** SIGTERM: running invocations finish (main.ts). */
  readonly stop: () => Promise<void>;
}

export interface ChaosWorldOptions {
  readonly apps: number;
  /** A scratch folder, emptied first: Azurite's data, the TLS files and the hosts' logs. */
  readonly dir: string;
  /** host.json's queue visibilityTimeout (the wait before a failed delivery's retry), under a minute; default host.json's. */
  readonly queueRetrySeconds?: number;
  /** Host settings for every host (RENEWAL_SCHEDULE, RENEWAL_LEASE_SECONDS, …). */
  readonly hostEnv?: NodeJS.ProcessEnv;
}

export async function startChaosWorld(options: ChaosWorldOptions): Promise<ChaosWorld> {
  const { dir } = options;
  rmSync(dir, { recursive: true, force: true });
  const appRoot = join(dir, 'app');
  mkdirSync(appRoot, { recursive: true });
  // Only host.json: a developer's local.settings.json must not reach the soak's hosts.
  const hostJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'host.json'), 'utf8')) as { extensions: { queues: Record<string, unknown> } };
  if (options.queueRetrySeconds !== undefined)
    hostJson.extensions.queues.visibilityTimeout = `00:00:${String(options.queueRetrySeconds).padStart(2, '0')}`;
  writeFileSync(join(appRoot, 'host.json'), JSON.stringify(hostJson, null, 2));
  const tls = loadOrCreateEmulatorTls(join(dir, 'tls'));
  const azuriteData = join(dir, 'azurite');
  let azurite: RunningAzurite = await startAzurite({ location: azuriteData });
  const ports = {
    blob: Number(new URL(azurite.blobEndpoint).port),
    queue: Number(new URL(azurite.queueEndpoint).port),
    table: Number(new URL(azurite.tableEndpoint).port),
  };
  const hosts = new Set<ChaosHost>();
  const closers: (() => Promise<unknown>)[] = [() => azurite.stop()];
  const close = async () => {
    for (const host of [...hosts]) await host.kill();
    for (const step of closers.reverse()) await step().catch(() => {});
  };
  try {
    const services = await startEmulatedServices(tls);
    closers.push(services.close);
    const { tenantId, authority, graph, keyVault, email, eventGrid } = services;
    const store = new AppStore(
      TableClient.fromConnectionString(azurite.connectionString, APPS_TABLE_NAME, { allowInsecureConnection: true }),
    );
    const appIds = await seedRenewalApps(store, services, options.apps, { displayName: 'Chaos app', certificateName: 'chaos-app' });
    const baseEnv: NodeJS.ProcessEnv = {
      ...hostEnvironment(services, {
        appRoot,
        storageConnectionString: azurite.connectionString,
        apiAudience: 'api://entra-cert-rotator-chaos',
      }),
      ...options.hostEnv,
    };

    const queues = [RENEWAL_QUEUE_NAME, RENEWAL_CONFIRM_QUEUE_NAME].map((name) => new QueueClient(azurite.connectionString, name));
    const poisonQueues = queues.map((q) => new QueueClient(azurite.connectionString, `${q.name}-poison`));
    const queue = queues[0]!;
    await Promise.all(queues.map((q) => q.createIfNotExists()));
    return {
      dir,
      appIds,
      tenantId,
      authority,
      graph,
      keyVault,
      email,
      eventGrid,
      store,
      queue,
      queues,
      poisonQueues,
      async apps() {
        const all: StoredApp[] = [];
        let continuationToken: string | undefined;
        do {
          const page = await store.listApps({ maxPageSize: 500, continuationToken });
          all.push(...page.items);
          continuationToken = page.continuationToken;
        } while (continuationToken !== undefined);
        return all;
      },
      async startHost(name, env = {}) {
        const host = await spawnHost(name, { ...baseEnv, ...env }, join(dir, `${name}.log`));
        hosts.add(host);
        const forget =
          <T>(step: () => Promise<T>) =>
          () =>
            step().finally(() => hosts.delete(host));
        return { ...host, kill: forget(host.kill), stop: forget(host.stop) };
      },
      async restartAzurite() {
        await azurite.stop();
        azurite = await startAzurite({ location: azuriteData, ports });
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function spawnHost(name: string, env: NodeJS.ProcessEnv, logPath: string): Promise<ChaosHost> {
  // What `npm run host` runs (package.json), on a free port; node itself, so the pid is the host's.
  const child: ChildProcess = spawn(process.execPath, ['--max-old-space-size=128', '--import', 'tsx', 'tools/local-host/main.ts'], {
    cwd: PROJECT_ROOT,
    env: { ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logPath, { flags: 'a' });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const match = /Local host listening on (\S+)/.exec(buffered);
      if (match) {
        child.stdout!.off('data', onData);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    void exited.then(() => reject(new Error(`Local host ${name} exited before listening; see ${logPath}`)));
  });
  const signal = async (which: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(which);
    await exited;
  };
  return { name, pid: child.pid!, url, kill: () => signal('SIGKILL'), stop: () => signal('SIGTERM') };
}
