import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { TableClient } from '@azure/data-tables';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { QueueClient } from '@azure/storage-queue';
import type { Client } from '@microsoft/microsoft-graph-client';
import { VaultAccessService } from './access/vaultAccessService.js';
import { AppService } from './apps/appService.js';
import { VaultRoleAssignmentClient } from './authorization/vaultRoleAssignmentClient.js';
import { CertificateService } from './apps/certificateService.js';
import { AppStore } from './tables/appStore.js';
import { ROTATIONS_TABLE_NAME, RotationStore } from './tables/rotationStore.js';
import { RotationService } from './rotations/rotationService.js';
import { InventoryService } from './inventory/inventoryService.js';
import { TenantApplicationsClient } from './graph/tenantApplicationsClient.js';
import { AppManagementPolicyClient } from './graph/appManagementPolicyClient.js';
import { loadSettings, type Settings, type StorageConnection } from './config.js';
import type { AppRegistrationDirectory, ServicePrincipalDirectory } from './domain/ports.js';
import { ConfigurationError } from './errors.js';
import { AppRegistrationClient } from './graph/appRegistrationClient.js';
import { GraphAppRegistrationDirectory } from './graph/graphAppRegistrationDirectory.js';
import { createAppSignIn, createGraphClient, graphScopeFor } from './graph/graphClient.js';
import { GraphWritePacer } from './graph/graphWritePacer.js';
import { AppSignInVerifier } from './graph/signInVerifier.js';
import { BearerAuthenticator } from './http/bearerAuthenticator.js';
import { DASHBOARD_ROOT, DashboardSite, dashboardSignIn } from './ui/dashboardSite.js';
import { RENEWAL_CONFIRM_QUEUE_NAME, RENEWAL_QUEUE_NAME, StorageRenewalQueue } from './queue/renewalQueue.js';
import { RenewalScheduler } from './renewal/renewalScheduler.js';
import { RenewalService } from './renewal/renewalService.js';
import type { NotificationMailer } from './email/notificationMailer.js';
import type { EventPublisher } from './eventgrid/eventPublisher.js';
import type { CertificateVaultClient } from './keyvault/certificateVaultClient.js';
import { createCertificateVaultClient, createEventPublisher, createNotificationMailer } from './serviceClients.js';

/**
 * The composition root: the one place that reads the environment, builds SDK clients and adapters,
 * and hands them to the use cases. Everything is built lazily on first use, so a cold start pays only
 * for what the first invocation needs, and a bad setting fails that invocation with a message naming
 * the setting rather than crashing the host at import. Two parts live beside it: serviceClients.ts
 * (adapters built from arguments, which tests share) and readinessProbes.ts (GET /api/health?ready).
 */
let loadedSettings: Settings | undefined;

export function getSettings(): Settings {
  loadedSettings ??= loadSettings(process.env);
  return loadedSettings;
}

let azureCredential: TokenCredential | undefined;

/**
 * The rotator's own identity for every Azure client: managed identity in Azure, whatever
 * DefaultAzureCredential finds locally. Instance discovery is disabled for any authority but the
 * Azure clouds' (docs/configuration.md), so a private cloud or the loopback emulator works.
 */
export function getAzureCredential(): TokenCredential {
  const settings = getSettings();
  azureCredential ??= new DefaultAzureCredential({
    authorityHost: settings.authorityHost,
    disableInstanceDiscovery: !settings.authorityIsPublicCloud,
  });
  return azureCredential;
}

/** A credential for identity-based storage: a user-assigned identity when `…__clientId` names one. */
function storageCredential(clientId: string | undefined): TokenCredential {
  if (clientId === undefined) return getAzureCredential();
  const settings = getSettings();
  return new DefaultAzureCredential({
    managedIdentityClientId: clientId,
    authorityHost: settings.authorityHost,
    disableInstanceDiscovery: !settings.authorityIsPublicCloud,
  });
}

// --- Table Storage: configs, state, history --------------------------------------------------

/** The table that holds configs, state, the due index and history (one partition, see AppStore). */
export const APPS_TABLE_NAME = 'CertRotatorApps';

function isInsecureEndpoint(connectionString: string): boolean {
  // Azurite speaks http; the SDK refuses shared-key auth over http unless told it is intended.
  return /(^|;)\s*UseDevelopmentStorage=true/i.test(connectionString) || /(^|;)\s*TableEndpoint=http:/i.test(connectionString);
}

export function createTableClient(connection: StorageConnection, tableName: string): TableClient {
  if (connection.kind === 'connectionString') {
    return TableClient.fromConnectionString(connection.connectionString, tableName, {
      allowInsecureConnection: isInsecureEndpoint(connection.connectionString),
    });
  }
  if (connection.tableServiceUri === undefined) {
    throw new ConfigurationError([{ path: 'CONFIG_STORAGE__tableServiceUri', message: 'is required for identity-based table access' }]);
  }
  return new TableClient(connection.tableServiceUri, tableName, storageCredential(connection.clientId));
}

let appStore: AppStore | undefined;
export function getAppStore(): AppStore {
  appStore ??= new AppStore(createTableClient(getSettings().configStorage, APPS_TABLE_NAME));
  return appStore;
}

// --- Storage queue: renewal requests ------------------------------------------------------------

export function createRenewalQueueClient(connection: StorageConnection, queueName: string): QueueClient {
  if (connection.kind === 'connectionString') return new QueueClient(connection.connectionString, queueName);
  if (connection.queueServiceUri === undefined) {
    throw new ConfigurationError([
      { path: 'AzureWebJobsStorage__queueServiceUri', message: 'is required for identity-based queue access' },
    ]);
  }
  return new QueueClient(`${connection.queueServiceUri}/${queueName}`, storageCredential(connection.clientId));
}

let renewalQueue: StorageRenewalQueue | undefined;
export function getRenewalQueue(): StorageRenewalQueue {
  const connection = getSettings().webJobsStorage;
  renewalQueue ??= new StorageRenewalQueue({
    deploy: createRenewalQueueClient(connection, RENEWAL_QUEUE_NAME),
    confirm: createRenewalQueueClient(connection, RENEWAL_CONFIRM_QUEUE_NAME),
  });
  return renewalQueue;
}

// --- Microsoft Graph ---------------------------------------------------------------------------

let graphClient: Client | undefined;
let graphWritePacer: GraphWritePacer | undefined;
let appRegistrationClient: AppRegistrationClient | undefined;
let appRegistrationDirectory: GraphAppRegistrationDirectory | undefined;

/** One per process: the rotator's writes and every self-mode session's count against one budget, as Graph counts them. */
function getGraphWritePacer(): GraphWritePacer {
  graphWritePacer ??= new GraphWritePacer();
  return graphWritePacer;
}

/** Microsoft Graph signed in as the rotator (reads, and owner-mode writes). */
export function getGraphClient(): Client {
  graphClient ??= createGraphClient({
    credential: getAzureCredential(),
    graphBaseUrl: getSettings().graphBaseUrl,
    writePacer: getGraphWritePacer(),
  });
  return graphClient;
}

function appSignIn() {
  const settings = getSettings();
  return createAppSignIn({
    tenantId: settings.managedTenantId,
    authorityHost: settings.authorityHost,
    disableInstanceDiscovery: !settings.authorityIsPublicCloud,
    graphBaseUrl: settings.graphBaseUrl,
    writePacer: getGraphWritePacer(),
  });
}

let appManagementPolicyClient: AppManagementPolicyClient | undefined;
/** The tenant's app management policies, read as the rotator (Policy.Read.All). */
export function getAppManagementPolicyClient(): AppManagementPolicyClient {
  appManagementPolicyClient ??= new AppManagementPolicyClient({ graph: getGraphClient() });
  return appManagementPolicyClient;
}

export function getAppRegistrationClient(): AppRegistrationClient {
  appRegistrationClient ??= new AppRegistrationClient({ graph: getGraphClient(), signInAsApp: appSignIn() });
  return appRegistrationClient;
}

export function getAppRegistrationDirectory(): AppRegistrationDirectory & ServicePrincipalDirectory {
  appRegistrationDirectory ??= new GraphAppRegistrationDirectory({
    graph: getGraphClient(),
    applications: getAppRegistrationClient(),
    credential: getAzureCredential(),
    graphScope: graphScopeFor(getSettings().graphBaseUrl),
  });
  return appRegistrationDirectory;
}

// --- Key Vault access grants (Resource Manager) ----------------------------------------------

const authorizationClients = new Map<string, AuthorizationManagementClient>();
let vaultAccessService: VaultAccessService | undefined;

/** Grants read access to each app's certificate (docs/consumers.md) through ARM_BASE_URL, as the rotator's identity. */
export function getVaultAccessService(): VaultAccessService {
  const { armBaseUrl } = getSettings();
  vaultAccessService ??= new VaultAccessService({
    grants: new VaultRoleAssignmentClient({
      clientFor: (subscriptionId) => {
        let client = authorizationClients.get(subscriptionId);
        if (!client) {
          client = new AuthorizationManagementClient(getAzureCredential(), subscriptionId, {
            endpoint: armBaseUrl,
            credentialScopes: [`${armBaseUrl}/.default`],
          });
          authorizationClients.set(subscriptionId, client);
        }
        return client;
      },
    }),
    principals: getAppRegistrationDirectory(),
    now: () => new Date(),
  });
  return vaultAccessService;
}

// --- Key Vault, email, Event Grid -------------------------------------------------------------

const vaultClients = new Map<string, CertificateVaultClient>();

/** The Key Vault adapter for a vault (default: DEFAULT_KEYVAULT_URL), one per vault URL. */
export function getCertificateVaultClient(vaultUrl?: string): CertificateVaultClient {
  const url = vaultUrl ?? getSettings().defaultKeyVaultUrl;
  let client = vaultClients.get(url);
  if (!client) {
    client = createCertificateVaultClient(url, getAzureCredential());
    vaultClients.set(url, client);
  }
  return client;
}

let mailer: NotificationMailer | null | undefined;

/** The email adapter, or undefined when email is not configured (docs/configuration.md: no email without the settings). */
export function getNotificationMailer(): NotificationMailer | undefined {
  if (mailer === undefined) {
    const email = getSettings().email;
    mailer = email ? createNotificationMailer(email, () => getAzureCredential()) : null;
  }
  return mailer ?? undefined;
}

let publisher: EventPublisher | null | undefined;

/** The Event Grid adapter, or undefined when no topic endpoint is configured. */
export function getEventPublisher(): EventPublisher | undefined {
  if (publisher === undefined) {
    const eventGrid = getSettings().eventGrid;
    publisher = eventGrid ? createEventPublisher(eventGrid, () => getAzureCredential()) : null;
  }
  return publisher ?? undefined;
}

// --- Use cases ---------------------------------------------------------------------------------

/** The use cases' own progress lines, one JSON object each on stdout (the host forwards them as traces). */
const processLog = (message: string, properties?: Record<string, unknown>) => console.log(JSON.stringify({ message, ...properties }));

let renewalService: RenewalService | undefined;
export function getRenewalService(): RenewalService {
  const settings = getSettings();
  renewalService ??= new RenewalService({
    store: getAppStore(),
    vaultFor: (url) => getCertificateVaultClient(url),
    credentials: getAppRegistrationClient(),
    verifier: new AppSignInVerifier({
      tenantId: settings.managedTenantId,
      authorityHost: settings.authorityHost,
      scope: graphScopeFor(settings.graphBaseUrl),
    }),
    queue: getRenewalQueue(),
    mailer: getNotificationMailer(),
    events: getEventPublisher(),
    access: getVaultAccessService(),
    rotations: getRotationService(),
    policies: getAppManagementPolicyClient(),
    settings: {
      leaseSeconds: settings.renewalLeaseSeconds,
      verifyWindowMinutes: settings.verifyWindowMinutes,
      confirmDelaySeconds: settings.confirmDelaySeconds,
    },
    log: processLog,
  });
  return renewalService;
}

let rotationService: RotationService | undefined;
export function getRotationService(): RotationService {
  rotationService ??= new RotationService({
    store: getAppStore(),
    rotations: new RotationStore(createTableClient(getSettings().configStorage, ROTATIONS_TABLE_NAME)),
    queue: getRenewalQueue(),
    events: getEventPublisher(),
    log: processLog,
  });
  return rotationService;
}

let inventoryService: InventoryService | undefined;
/** The /api/inventory handlers' dependencies (docs/http-api.md). */
export function getInventoryApi(): { inventory: InventoryService; authenticator: BearerAuthenticator } {
  inventoryService ??= new InventoryService({ store: getAppStore(), tenant: new TenantApplicationsClient({ graph: getGraphClient() }) });
  return { inventory: inventoryService, authenticator: getApi().authenticator };
}

/** The /api/rotations handlers' dependencies (docs/http-api.md). */
export function getRotationApi(): { rotations: RotationService; authenticator: BearerAuthenticator } {
  return { rotations: getRotationService(), authenticator: getApi().authenticator };
}

let dashboardSite: DashboardSite | undefined;
/** The dashboard's built files and sign-in settings, read once per process (src/lib/ui/dashboardSite.ts). */
export function getDashboardSite(): DashboardSite {
  dashboardSite ??= DashboardSite.load(DASHBOARD_ROOT, dashboardSignIn(getSettings()));
  return dashboardSite;
}

let renewalScheduler: RenewalScheduler | undefined;
export function getRenewalScheduler(): RenewalScheduler {
  renewalScheduler ??= new RenewalScheduler({
    store: getAppStore(),
    renewals: getRenewalService(),
    queue: getRenewalQueue(),
    credentials: getAppRegistrationClient(),
    vaultFor: (url) => getCertificateVaultClient(url),
    schedule: getSettings().renewalSchedule,
    rotations: getRotationService(),
    log: processLog,
  });
  return renewalScheduler;
}

export interface Api {
  readonly apps: AppService;
  readonly certificates: CertificateService;
  readonly authenticator: BearerAuthenticator;
}

let api: Api | undefined;
export function getApi(): Api {
  if (api) return api;
  const settings = getSettings();
  api = {
    apps: new AppService({
      store: getAppStore(),
      directory: getAppRegistrationDirectory(),
      defaultKeyVaultUrl: settings.defaultKeyVaultUrl,
      defaultKeyVaultResourceId: settings.defaultKeyVaultResourceId,
      allowLoopbackVaultUrls: settings.authorityIsLoopback,
      requestBootstrap: (appId, renewalId) => getRenewalQueue().enqueue({ appId, renewalId, stage: 'deploy', trigger: 'bootstrap' }),
      access: getVaultAccessService(),
      notifyAccess: (app) => getRenewalService().announceAccess(app),
      policies: getAppManagementPolicyClient(),
    }),
    certificates: new CertificateService({
      store: getAppStore(),
      renewals: getRenewalService(),
      credentials: getAppRegistrationClient(),
      vaultFor: (url) => getCertificateVaultClient(url),
      mailer: getNotificationMailer(),
      events: getEventPublisher(),
      leaseSeconds: settings.renewalLeaseSeconds,
    }),
    authenticator: new BearerAuthenticator({
      authorityHost: settings.authorityHost,
      tenantId: settings.apiTenantId,
      audiences: settings.apiAudiences,
    }),
  };
  return api;
}
