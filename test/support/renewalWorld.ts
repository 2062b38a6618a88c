import { randomBytes, randomUUID } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import type { TableClient } from '@azure/data-tables';
import type { QueueClient } from '@azure/storage-queue';
import { QueueServiceClient } from '@azure/storage-queue';
import { inject } from 'vitest';
import { deliverQueueMessage, PROCESSING_VISIBILITY_SECONDS } from '../../tools/local-host/queueTrigger.js';
import type { AppConfig } from '../../src/lib/domain/appConfig.js';
import type { StoredApp } from '../../src/lib/domain/storedApp.js';
import { AppStore } from '../../src/lib/tables/appStore.js';
import { createCertificateVaultClient, createEventPublisher, createNotificationMailer } from '../../src/lib/serviceClients.js';
import { AppRegistrationClient } from '../../src/lib/graph/appRegistrationClient.js';
import { createAppSignIn, createGraphClient, graphScopeFor } from '../../src/lib/graph/graphClient.js';
import type { GraphWritePacer } from '../../src/lib/graph/graphWritePacer.js';
import { AppSignInVerifier } from '../../src/lib/graph/signInVerifier.js';
import { StorageRenewalQueue } from '../../src/lib/queue/renewalQueue.js';
import { MAX_DEQUEUE_COUNT } from '../../src/lib/domain/renewalMessage.js';
import { RenewalScheduler, type SchedulerDependencies } from '../../src/lib/renewal/renewalScheduler.js';
import type { RenewalDependencies } from '../../src/lib/renewal/renewalContext.js';
import { RenewalService } from '../../src/lib/renewal/renewalService.js';
import type { EventSink, RenewalMessage, RenewalQueue } from '../../src/lib/domain/ports.js';
import { EmailEmulator } from '../emulators/email.js';
import { EntraAuthority } from '../emulators/entraAuthority.js';
import { EventGridEmulator } from '../emulators/eventGrid.js';
import { GraphEmulator, type GraphApplication } from '../emulators/graph.js';
import { KeyVaultEmulator } from '../emulators/keyVault.js';
import { loadOrCreateEmulatorTls } from '../emulators/tls.js';
import { createTestTableClient } from './tables.js';

/**
 * Everything a renewal touches, real: Azurite (tables and queues), the Entra authority, Graph, Key
 * Vault, email and Event Grid emulators, and the production adapters over the real SDK clients,
 * signed in as the rotator with a client secret. Each world has its own table, queue and tenant.
 */
export interface RenewalWorld {
  readonly tenantId: string;
  readonly rotator: { readonly clientId: string; readonly oid: string };
  readonly authority: EntraAuthority;
  readonly graph: GraphEmulator;
  readonly keyVault: KeyVaultEmulator;
  readonly email: EmailEmulator;
  readonly eventGrid: EventGridEmulator;
  readonly store: AppStore;
  /** The store's table, and every request the store sent to it (method and URL), for counting. */
  readonly table: TableClient;
  readonly tableRequests: { method: string; url: string }[];
  readonly queue: QueueClient;
  readonly poisonQueue: QueueClient;
  /** The production queue adapter, recording every message the use cases enqueue (`enqueued`). */
  readonly renewalQueue: RenewalQueue;
  readonly enqueued: { message: RenewalMessage; visibilityDelaySeconds: number | undefined }[];
  readonly appRegistrations: AppRegistrationClient;
  /** The production Event Grid adapter the renewal service publishes with (to `eventGrid`). */
  readonly publisher: EventSink;
  readonly logs: string[];
  /** A renewal service on these adapters; `overrides` swap a dependency or add the step hook. */
  service(overrides?: Partial<RenewalDependencies>): RenewalService;
  scheduler(service: RenewalService, overrides?: Partial<SchedulerDependencies>): RenewalScheduler;
  /** An app registration owned by the rotator, and its config in the store. */
  createManagedApp(options?: { displayName?: string; config?: Partial<Omit<AppConfig, 'appId' | 'displayName'>> }): Promise<{
    registration: GraphApplication;
    app: StoredApp;
  }>;
  /**
   * Delivers every visible message through the local host's queue rules (delete on success, retry,
   * poison at maxDequeueCount) until the queue is empty; failed messages come back at once. With
   * `waitForDelayedMs`, messages put back with a delay (a throttled renewal) are waited for, that long at most.
   */
  drain(
    service: RenewalService,
    options?: { maxDeliveries?: number; waitForDelayedMs?: number },
  ): Promise<{ delivered: number; poisoned: number }>;
  /** Sums of every emulator's request counters (and the table's), for round-trip budgets. */
  roundTrips(): RoundTrips;
  resetRoundTrips(): void;
  close(): Promise<void>;
}

export interface RoundTrips {
  readonly table: number;
  readonly keyVault: number;
  readonly graph: number;
  readonly token: number;
  readonly email: number;
  readonly eventGrid: number;
}

const FAST_RETRY = { maxRetries: 2, retryDelayInMs: 5, maxRetryDelayInMs: 20 };
const sum = (counters: Record<string, number>) => Object.values(counters).reduce((a, b) => a + b, 0);

export interface RenewalWorldOptions {
  /**
   * The Graph write pacer every Graph client of the world shares, as the composition root's do;
   * default none: tests here inject a 429 with a long Retry-After on one write and go on, which a
   * pacer would rightly hold every later write for.
   */
  readonly graphWritePacer?: GraphWritePacer;
}

export async function startRenewalWorld(options: RenewalWorldOptions = {}): Promise<RenewalWorld> {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  const tenantId = randomUUID();
  const rotator = { clientId: randomUUID(), oid: randomUUID() };
  const authority = new EntraAuthority({ tls });
  const graph = new GraphEmulator({ tls, authority });
  await Promise.all([authority.start(), graph.start()]);
  const verifyToken = (token: string, audiences: string[]) => authority.verifyAccessToken(token, audiences);
  const keyVault = new KeyVaultEmulator({ tls, tenantId, authorityHost: authority.url, verifyToken });
  const email = new EmailEmulator({ tls, accessKey: randomBytes(32).toString('base64'), pollRetryAfterSeconds: 0 });
  const eventGrid = new EventGridEmulator({ tls, keys: ['topic-key'] });
  await Promise.all([keyVault.start(), email.start(), eventGrid.start()]);

  authority.registerClientSecret(tenantId, rotator.clientId, 'rotator-secret', {
    roles: ['Application.ReadWrite.OwnedBy'],
    principalId: rotator.oid,
  });
  const credential = new ClientSecretCredential(tenantId, rotator.clientId, 'rotator-secret', {
    authorityHost: authority.url,
    disableInstanceDiscovery: true,
  });
  const graphRetry = { delaySeconds: 0, maxRetries: 2 };
  const writePacer = options.graphWritePacer ?? false;
  const appSignIn = createAppSignIn({
    tenantId,
    authorityHost: authority.url,
    disableInstanceDiscovery: true,
    graphBaseUrl: graph.url,
    retry: graphRetry,
    writePacer,
  });
  const appRegistrations = new AppRegistrationClient({
    graph: createGraphClient({ credential, graphBaseUrl: graph.url, retry: graphRetry, writePacer }),
    signInAsApp: appSignIn,
  });
  const vault = createCertificateVaultClient(keyVault.vaultUrl, credential, { retryOptions: FAST_RETRY });
  const mailer = createNotificationMailer(
    { endpoint: email.server.url, connectionString: email.connectionString, sender: 'DoNotReply@rotator.example' },
    () => credential,
    { retryOptions: FAST_RETRY, pollIntervalInMs: 5 },
  );
  const publisher = createEventPublisher({ topicEndpoint: eventGrid.topicEndpoint, topicKey: 'topic-key' }, () => credential, {
    retryOptions: FAST_RETRY,
  });

  const table = createTestTableClient('renewal');
  const tableRequests: { method: string; url: string }[] = [];
  // Counts what the store sends, as a pipeline policy on the real client (not a double of it).
  table.pipeline.addPolicy({
    name: 'countTableRequests',
    sendRequest: (request, next) => {
      tableRequests.push({ method: request.method, url: request.url });
      return next(request);
    },
  });
  const store = new AppStore(table);
  const queueService = QueueServiceClient.fromConnectionString(inject('storageConnectionString'));
  const queueName = `rq-${randomBytes(6).toString('hex')}`;
  const queue = queueService.getQueueClient(queueName);
  const poisonQueue = queueService.getQueueClient(`${queueName}-poison`);
  await queue.createIfNotExists();
  // One queue for both stages, drained in order here; the production split is tested in
  // test/lib/queue/renewalQueue.test.ts and through the local host.
  const storageQueue = new StorageRenewalQueue({ deploy: queue, confirm: queue });
  const enqueued: RenewalWorld['enqueued'] = [];
  const renewalQueue: RenewalQueue = {
    async enqueue(message, options) {
      await storageQueue.enqueue(message, options);
      enqueued.push({ message, visibilityDelaySeconds: options?.visibilityDelaySeconds });
    },
  };
  const logs: string[] = [];
  const log = (message: string, properties?: Record<string, unknown>) => void logs.push(JSON.stringify({ message, ...properties }));

  // One per process, as in the composition root: it reads the authority's metadata once.
  const verifier = new AppSignInVerifier({ tenantId, authorityHost: authority.url, scope: graphScopeFor(graph.url) });

  // Counters only grow (the request logs stay whole for the invariants); a reset moves the baseline.
  const totals = (): RoundTrips => ({
    table: tableRequests.length,
    keyVault: sum(keyVault.server.counters()),
    graph: sum(graph.server.counters()),
    // Every request to the authority: tokens, and metadata a client reads before asking for one.
    token: sum(authority.server.counters()),
    email: sum(email.server.counters()),
    eventGrid: sum(eventGrid.server.counters()),
  });
  let baseline = totals();

  const world: RenewalWorld = {
    tenantId,
    rotator,
    authority,
    graph,
    keyVault,
    email,
    eventGrid,
    store,
    table,
    tableRequests,
    queue,
    poisonQueue,
    renewalQueue,
    enqueued,
    appRegistrations,
    publisher,
    logs,
    service(overrides = {}) {
      return new RenewalService({
        store,
        vaultFor: () => vault,
        credentials: appRegistrations,
        verifier,
        queue: renewalQueue,
        mailer,
        events: publisher,
        settings: {
          leaseSeconds: 600,
          verifyWindowMinutes: 1,
          confirmDelaySeconds: 0,
          verifyRetryMaxDelayMs: 200,
          postponeDelaySeconds: 0,
        },
        log,
        ...overrides,
      });
    },
    scheduler(service, overrides = {}) {
      return new RenewalScheduler({
        store,
        renewals: service,
        queue: renewalQueue,
        credentials: appRegistrations,
        vaultFor: () => vault,
        schedule: '0 */15 * * * *',
        log,
        ...overrides,
      });
    },
    async createManagedApp(options = {}) {
      const displayName = options.displayName ?? `App ${randomBytes(3).toString('hex')}`;
      const registration = graph.createApplication({ tenantId, displayName, owners: [rotator.oid] });
      const config: AppConfig = {
        appId: registration.appId,
        displayName,
        enabled: true,
        lifetimeDays: 90,
        renewBeforeDays: 30,
        keySize: 2048,
        graphMode: 'owner',
        bootstrap: false,
        ...options.config,
        notifications: {
          enabled: true,
          recipients: ['admins@contoso.example'],
          thresholdDays: 14,
          includeCertificate: false,
          attachmentFormat: 'cer',
          ...options.config?.notifications,
        },
        keyVault: {
          enabled: true,
          vaultUrl: keyVault.vaultUrl,
          certificateName: `cert-${registration.appId}`,
          grantAppRead: true,
          readers: [],
          ...options.config?.keyVault,
        },
      };
      const app = await store.createApp({ config, history: { action: 'config.created', trigger: 'test', outcome: 'succeeded' } });
      return { registration, app };
    },
    async drain(service, options = {}) {
      const rules = {
        maxDequeueCount: MAX_DEQUEUE_COUNT,
        visibilityTimeoutMs: 0,
        batchSize: 16,
        newBatchThreshold: 8,
        maxPollingIntervalMs: 0,
      };
      const fn = {
        name: 'renewalWorker',
        handler: async (...args: unknown[]) => {
          const context = args[1] as { triggerMetadata?: Record<string, unknown> };
          await service.processQueueMessage(args[0], {
            dequeueCount: Number(context.triggerMetadata?.dequeueCount ?? 1),
            log: (line) => void logs.push(line),
          });
        },
      };
      let delivered = 0;
      let poisoned = 0;
      const max = options.maxDeliveries ?? 200;
      const waitUntil = Date.now() + (options.waitForDelayedMs ?? 0);
      while (delivered < max) {
        const { receivedMessageItems } = await queue.receiveMessages({
          numberOfMessages: 16,
          visibilityTimeout: PROCESSING_VISIBILITY_SECONDS,
        });
        if (receivedMessageItems.length === 0) {
          // The count includes messages not visible yet: those put back with a delay.
          const waiting = Date.now() < waitUntil && ((await queue.getProperties()).approximateMessagesCount ?? 0) > 0;
          if (!waiting) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
          continue;
        }
        for (const message of receivedMessageItems) {
          delivered += 1;
          const outcome = await deliverQueueMessage({
            fn,
            queue,
            poison: poisonQueue,
            message,
            rules,
            logHandler:
              () =>
              (level, ...args) =>
                void logs.push(`${level}: ${args.map(String).join(' ')}`),
          });
          if (outcome === 'poisoned') poisoned += 1;
        }
      }
      if (delivered >= max) throw new Error(`The queue did not drain within ${max} deliveries`);
      return { delivered, poisoned };
    },
    roundTrips() {
      const now = totals();
      return Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - baseline[k as keyof RoundTrips]])) as unknown as RoundTrips;
    },
    resetRoundTrips() {
      baseline = totals();
    },
    async close() {
      await Promise.all([authority.close(), graph.close(), keyVault.close(), email.close(), eventGrid.close()]);
      await queue.deleteIfExists();
      await poisonQueue.deleteIfExists();
    },
  };
  return world;
}

/** Every message still in a queue (peeked, not taken), decoded. */
export async function peekAll(queue: QueueClient): Promise<string[]> {
  const { peekedMessageItems } = await queue.peekMessages({ numberOfMessages: 32 });
  return peekedMessageItems.map((m) => Buffer.from(m.messageText, 'base64').toString('utf8'));
}

/** Makes the app due: its recorded validity moved to end ten days from now, its length kept. */
export async function makeDue(world: RenewalWorld, appId: string): Promise<void> {
  const app = (await world.store.getApp(appId))!;
  const shift = Date.now() + 10 * 24 * 3600_000 - Date.parse(app.state.notAfter!);
  const moved = (iso: string) => new Date(Date.parse(iso) + shift).toISOString();
  await world.store.updateApp(app, {
    state: { ...app.state, notAfter: moved(app.state.notAfter!), notBefore: moved(app.state.notBefore!) },
  });
}

/** Makes the app due and lets the scheduler enqueue it; returns the message it enqueued. */
export async function scheduleDueRenewal(world: RenewalWorld, appId: string): Promise<RenewalMessage> {
  await makeDue(world, appId);
  const count = world.enqueued.length;
  await world.scheduler(world.service()).tick();
  const message = world.enqueued.slice(count).find((e) => e.message.appId === appId)?.message;
  if (!message) throw new Error('the scheduler did not enqueue the due app');
  return message;
}
