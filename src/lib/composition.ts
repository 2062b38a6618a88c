import { TableClient } from '@azure/data-tables';
import { DefaultAzureCredential } from '@azure/identity';
import { AppService } from './apps/appService.js';
import { AppStore } from './apps/appStore.js';
import { loadSettings, type Settings, type StorageConnection } from './config.js';
import type { AppRegistrationDirectory } from './directory.js';
import { ConfigurationError } from './errors.js';
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
  return new TableClient(
    connection.tableServiceUri,
    tableName,
    new DefaultAzureCredential({ managedIdentityClientId: connection.clientId }),
  );
}

let appStore: AppStore | undefined;
export function getAppStore(): AppStore {
  appStore ??= new AppStore(createTableClient(getSettings().configStorage, APPS_TABLE_NAME));
  return appStore;
}

/**
 * The Graph adapter implements this port on its own branch (src/lib/graph/); until it is merged
 * here, the config API cannot preflight a create, and says so instead of pretending.
 */
export function getAppRegistrationDirectory(): AppRegistrationDirectory {
  const missing = (): Promise<never> =>
    Promise.reject(new Error('The Microsoft Graph adapter (AppRegistrationDirectory) is not wired into the composition root yet'));
  return { getAppRegistration: missing, assertManageable: missing };
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
    apps: new AppService({ store: getAppStore(), directory: getAppRegistrationDirectory(), defaultKeyVaultUrl: s.defaultKeyVaultUrl }),
    authenticator: new BearerAuthenticator({ authorityHost: s.authorityHost, tenantId: s.apiTenantId, audiences: s.apiAudiences }),
  };
  return api;
}
