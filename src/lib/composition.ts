import { DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import type { Client } from '@microsoft/microsoft-graph-client';
import { loadSettings, type Settings } from './config.js';
import type { AppRegistrationDirectory } from './directory.js';
import { AppRegistrationClient } from './graph/appRegistrationClient.js';
import { GraphAppRegistrationDirectory } from './graph/graphAppRegistrationDirectory.js';
import { createAppSignIn, createGraphClient, graphScopeFor } from './graph/graphClient.js';

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
let graphClient: Client | undefined;
let appRegistrationClient: AppRegistrationClient | undefined;
let appRegistrationDirectory: AppRegistrationDirectory | undefined;

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

/** Microsoft Graph signed in as the rotator (reads, and owner-mode writes). */
export function getGraphClient(): Client {
  graphClient ??= createGraphClient({ credential: getAzureCredential(), graphBaseUrl: getSettings().graphBaseUrl });
  return graphClient;
}

export function getAppRegistrationClient(): AppRegistrationClient {
  const s = getSettings();
  appRegistrationClient ??= new AppRegistrationClient({
    graph: getGraphClient(),
    signInAsApp: createAppSignIn({
      tenantId: s.managedTenantId,
      authorityHost: s.authorityHost,
      disableInstanceDiscovery: !s.authorityIsPublicCloud,
      graphBaseUrl: s.graphBaseUrl,
    }),
  });
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
