import { TableClient } from '@azure/data-tables';
import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import type { Client } from '@microsoft/microsoft-graph-client';
import { AppService } from './apps/appService.js';
import { AppStore } from './apps/appStore.js';
import { loadSettings, type Settings, type StorageConnection } from './config.js';
import type { AppRegistrationDirectory } from './directory.js';
import { ConfigurationError } from './errors.js';
import { AppRegistrationClient } from './graph/appRegistrationClient.js';
import { GraphAppRegistrationDirectory } from './graph/graphAppRegistrationDirectory.js';
import { createAppSignIn, createGraphClient, graphScopeFor } from './graph/graphClient.js';
import { BearerAuthenticator } from './http/bearerAuthenticator.js';

/**
 * The composition root: the one place that reads the environment, builds SDK clients and adapters,
 * and hands them to the use cases. Everything is built lazily on first use, so a cold start pays only
 * for what the first invocation needs, and a bad setting fails that invocation with a message naming
 * the setting rather than crashing the host at import.
 */
let settings: Settings | undefined;

export function getSettings(): Settings {
  settings ??= loadSettings(process.env);
  return settings;
}

let azureCredential: TokenCredential | undefined;

/**
 * The rotator's own identity for every Azure client: managed identity in Azure, whatever
 * DefaultAzureCredential finds locally. Instance discovery is disabled for any authority but the
 * Azure clouds' (PRODUCT.md §7), so a private cloud or the loopback emulator works.
 */
export function getAzureCredential(): TokenCredential {
  const s = getSettings();
  azureCredential ??= new DefaultAzureCredential({ authorityHost: s.authorityHost, disableInstanceDiscovery: !s.authorityIsPublicCloud });
  return azureCredential;
}

/** A credential for identity-based storage: a user-assigned identity when `…__clientId` names one. */
function storageCredential(clientId: string | undefined): TokenCredential {
  if (clientId === undefined) return getAzureCredential();
  const s = getSettings();
  return new DefaultAzureCredential({
    managedIdentityClientId: clientId,
    authorityHost: s.authorityHost,
    disableInstanceDiscovery: !s.authorityIsPublicCloud,
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

// --- Microsoft Graph ---------------------------------------------------------------------------

let graphClient: Client | undefined;
let appRegistrationClient: AppRegistrationClient | undefined;
let appRegistrationDirectory: AppRegistrationDirectory | undefined;

/** Microsoft Graph signed in as the rotator (reads, and owner-mode writes). */
export function getGraphClient(): Client {
  graphClient ??= createGraphClient({ credential: getAzureCredential(), graphBaseUrl: getSettings().graphBaseUrl });
  return graphClient;
}

function appSignIn() {
  const s = getSettings();
  return createAppSignIn({
    tenantId: s.managedTenantId,
    authorityHost: s.authorityHost,
    disableInstanceDiscovery: !s.authorityIsPublicCloud,
    graphBaseUrl: s.graphBaseUrl,
  });
}

export function getAppRegistrationClient(): AppRegistrationClient {
  appRegistrationClient ??= new AppRegistrationClient({ graph: getGraphClient(), signInAsApp: appSignIn() });
  return appRegistrationClient;
}

export function getAppRegistrationDirectory(): AppRegistrationDirectory {
  appRegistrationDirectory ??= new GraphAppRegistrationDirectory({
    graph: getGraphClient(),
    applications: getAppRegistrationClient(),
    credential: getAzureCredential(),
    graphScope: graphScopeFor(getSettings().graphBaseUrl),
  });
  return appRegistrationDirectory;
}

export interface Api {
  readonly apps: AppService;
  readonly authenticator: BearerAuthenticator;
}

let api: Api | undefined;
export function getApi(): Api {
  if (api) return api;
  const s = getSettings();
  api = {
    apps: new AppService({
      store: getAppStore(),
      directory: getAppRegistrationDirectory(),
      defaultKeyVaultUrl: s.defaultKeyVaultUrl,
    }),
    authenticator: new BearerAuthenticator({ authorityHost: s.authorityHost, tenantId: s.apiTenantId, audiences: s.apiAudiences }),
  };
  return api;
}
