import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { QueueClient, QueueServiceClient } from '@azure/storage-queue';
import { AppStore } from '../src/lib/tables/appStore.js';
import { APPS_TABLE_NAME } from '../src/lib/composition.js';
import { StorageRenewalQueue } from '../src/lib/queue/renewalQueue.js';
import { RENEWAL_CONFIRM_QUEUE_NAME, RENEWAL_QUEUE_NAME } from '../src/lib/domain/renewalQueueName.js';
import type { RenewalMessage } from '../src/lib/domain/ports.js';
import { AZURITE_ACCOUNT_NAME, startAzurite } from '../test/emulators/azurite.js';
import type { EmulatorServer } from '../test/emulators/emulatorServer.js';
import { loadOrCreateEmulatorTls } from '../test/emulators/tls.js';
import { hostEnvironment, seedRenewalApps, startEmulatedServices, type EmulatedServices } from '../test/support/emulatedServices.js';
import { AzuriteRequestLog } from './azuriteRequestLog.js';
import { benchRoot, compileLocalHost } from './compileApp.js';
import { startHost, type HostProcess } from './hostProcess.js';

export type Emulators = Record<'authority' | 'graph' | 'keyVault' | 'email' | 'eventGrid', EmulatorServer>;

/**
 * What the renewal benchmark runs against: Azurite (its request log read), every emulator, `renewals`
 * apps seeded, and the local host serving them; `cleanup` stops it all.
 */
export interface RenewWorld {
  readonly appIds: readonly string[];
  readonly host: HostProcess;
  readonly hostLog: string;
  readonly storage: AzuriteRequestLog;
  readonly emulators: Emulators;
  readonly azuritePid: number | undefined;
  /** The emulators' objects (their state: applications, ledger, write limits, vault versions, tokens). */
  readonly services: Services;
  /** The host's app table. */
  readonly store: AppStore;
  /** The API's audience and tenant, for an access token from the authority emulator. */
  readonly api: { readonly audience: string; readonly tenantId: string };
  readonly storageConnectionString: string;
  readonly queue: StorageRenewalQueue;
  /** The current end of Azurite's request log (AzuriteRequestLog.mark). */
  readonly mark: () => Promise<number>;
  /** One deploy message per app. */
  readonly push: (trigger: RenewalMessage['trigger'], visibilityDelaySeconds?: number) => Promise<void>;
  readonly makeDue: (ids: readonly string[]) => Promise<void>;
  /** CertificateRenewed events published so far. */
  readonly renewed: () => number;
  /** CertificateRenewalFailed events published so far. */
  readonly failed: () => number;
  readonly cleanup: () => Promise<void>;
}

export type Services = EmulatedServices;

const API_AUDIENCE = 'api://entra-cert-rotator-bench';

/** `scratch`: the folder under .scratch/ (host build, log, TLS), so that two benchmarks do not share one. */
export async function startRenewWorld(
  renewals: number,
  confirmDelaySeconds: number,
  { scratch = 'renew' }: { scratch?: string } = {},
): Promise<RenewWorld> {
  const work = join(benchRoot, '.scratch', scratch);
  rmSync(work, { recursive: true, force: true });
  const appRoot = join(work, 'app');
  mkdirSync(appRoot, { recursive: true });
  // Only host.json: a developer's local.settings.json must not leak into the benchmark's settings.
  copyFileSync(join(benchRoot, 'host.json'), join(appRoot, 'host.json'));
  const distDir = join(work, 'dist');
  compileLocalHost(distDir);
  const hostLog = join(work, 'host.log');

  const tls = loadOrCreateEmulatorTls(join(work, 'tls'));
  const storage = new AzuriteRequestLog({
    account: AZURITE_ACCOUNT_NAME,
    queues: [RENEWAL_QUEUE_NAME, `${RENEWAL_QUEUE_NAME}-poison`, RENEWAL_CONFIRM_QUEUE_NAME, `${RENEWAL_CONFIRM_QUEUE_NAME}-poison`],
  });
  const azurite = await startAzurite({ requestLog: true, onOutput: storage.onLine });
  const cleanups: (() => Promise<void>)[] = [() => azurite.stop()];
  const cleanup = async () => {
    for (const step of cleanups) await step().catch(() => {});
  };
  try {
    const services = await startEmulatedServices(tls);
    cleanups.push(services.close);

    // The apps: registrations owned by the rotator's identity, configs imported into its table.
    const store = new AppStore(
      TableClient.fromConnectionString(azurite.connectionString, APPS_TABLE_NAME, { allowInsecureConnection: true }),
    );
    const appIds = await seedRenewalApps(store, services, renewals, { displayName: 'Benchmark app', certificateName: 'bench-app' });

    const env: NodeJS.ProcessEnv = {
      ...hostEnvironment(services, { appRoot, storageConnectionString: azurite.connectionString, apiAudience: API_AUDIENCE }),
      PORT: '0',
      // Yearly: the timer must not fire during the run (messages are pushed by the benchmark).
      RENEWAL_SCHEDULE: '0 0 0 1 1 *',
      CONFIRM_DELAY_SECONDS: String(confirmDelaySeconds),
    };
    const host = await startHost(distDir, appRoot, env, hostLog);
    cleanups.unshift(() => host.stop());

    const { queue, probe, push, makeDue } = appControls(azurite.connectionString, store, appIds);
    const eventsOfType = (type: string) => services.eventGrid.events().filter((e) => e.event.type === type).length;
    return {
      appIds,
      host,
      hostLog,
      storage,
      emulators: {
        authority: services.authority.server,
        graph: services.graph.server,
        keyVault: services.keyVault.server,
        email: services.email.server,
        eventGrid: services.eventGrid.server,
      },
      azuritePid: azurite.pid,
      services,
      store,
      api: { audience: API_AUDIENCE, tenantId: services.tenantId },
      storageConnectionString: azurite.connectionString,
      queue,
      mark: () => storage.mark(probe),
      push,
      makeDue,
      renewed: () => eventsOfType('EntraCertRotator.CertificateRenewed'),
      failed: () => eventsOfType('EntraCertRotator.CertificateRenewalFailed'),
      cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** The benchmark's hands on the apps: their deploy messages, and their windows in the table. */
function appControls(storageConnectionString: string, store: AppStore, appIds: readonly string[]) {
  const queue = new StorageRenewalQueue({
    deploy: new QueueClient(storageConnectionString, RENEWAL_QUEUE_NAME),
    confirm: new QueueClient(storageConnectionString, RENEWAL_CONFIRM_QUEUE_NAME),
  });
  const queueService = QueueServiceClient.fromConnectionString(storageConnectionString);
  const probe = (name: string) => queueService.getQueueClient(name).exists();
  const push = async (trigger: RenewalMessage['trigger'], visibilityDelaySeconds?: number) => {
    const messages = appIds.map<RenewalMessage>((appId) => ({ appId, renewalId: randomUUID(), stage: 'deploy', trigger }));
    for (let i = 0; i < messages.length; i += 50) {
      await Promise.all(messages.slice(i, i + 50).map((m) => queue.enqueue(m, { visibilityDelaySeconds })));
    }
  };
  // A scheduled renewal of an app that is not due is skipped (the pipeline re-checks), so before each
  // measured push the apps are made due the way an admin would: a longer lifetime and renew-before
  // window, under which the certificate just made is inside its renewal window. Written straight
  // to Azurite, before a round's mark, so that they are not counted as the host's.
  let window = { lifetimeDays: 30, renewBeforeDays: 20 };
  const makeDue = async (ids: readonly string[]) => {
    window = { lifetimeDays: window.lifetimeDays * 2, renewBeforeDays: window.lifetimeDays + 10 };
    for (let i = 0; i < ids.length; i += 20) {
      await Promise.all(
        ids.slice(i, i + 20).map(async (appId) => {
          const app = (await store.getApp(appId))!;
          await store.updateApp(app, { config: { ...app.config, ...window } });
        }),
      );
    }
  };
  return { queue, probe, push, makeDue };
}
