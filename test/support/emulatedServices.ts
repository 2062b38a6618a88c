import { randomBytes, randomUUID } from 'node:crypto';
import type { AppConfig } from '../../src/lib/domain/appConfig.js';
import type { AppStore } from '../../src/lib/tables/appStore.js';
import { EmailEmulator } from '../emulators/email.js';
import { EntraAuthority } from '../emulators/entraAuthority.js';
import { EventGridEmulator } from '../emulators/eventGrid.js';
import { GraphEmulator } from '../emulators/graph.js';
import { KeyVaultEmulator } from '../emulators/keyVault.js';
import type { loadOrCreateEmulatorTls } from '../emulators/tls.js';
import { managedConfig } from './storedAppFixture.js';

/**
 * The services a local host runs against in the benchmarks (bench/renewWorld.ts) and the chaos soak
 * (test/support/chaosWorld.ts): the authority with the rotator's managed identity, Graph, Key Vault,
 * email and Event Grid emulators; the host's environment pointed at them; the apps they renew.
 */
export type EmulatedServices = Awaited<ReturnType<typeof startEmulatedServices>>;

export async function startEmulatedServices(tls: ReturnType<typeof loadOrCreateEmulatorTls>) {
  const tenantId = randomUUID();
  const identity = { tenantId, clientId: randomUUID(), principalId: randomUUID(), roles: ['Application.ReadWrite.OwnedBy'] };
  const authority = new EntraAuthority({ tls });
  const graph = new GraphEmulator({ tls, authority });
  await Promise.all([authority.start(), graph.start()]);
  const verifyToken = (token: string, audiences: string[]) => authority.verifyAccessToken(token, audiences);
  const keyVault = new KeyVaultEmulator({ tls, tenantId, authorityHost: authority.url, verifyToken });
  // runningPolls 0: the operation has succeeded by the first status poll (how many polls the real
  // service needs depends on its delivery time; the adapter's share is not to poll more than that).
  const email = new EmailEmulator({ tls, accessKey: randomBytes(32).toString('base64'), verifyToken, runningPolls: 0 });
  const eventGrid = new EventGridEmulator({ tls, keys: [randomBytes(16).toString('hex')], verifyToken });
  await Promise.all([keyVault.start(), email.start(), eventGrid.start()]);
  const close = () => Promise.all([authority.close(), graph.close(), keyVault.close(), email.close(), eventGrid.close()]).then(() => {});
  const managedIdentity = authority.enableManagedIdentity(identity);
  return { tls, tenantId, identity, managedIdentity, authority, graph, keyVault, email, eventGrid, close };
}

/** A host's environment: nothing but what a Function App would have, pointed at the emulators. */
export function hostEnvironment(
  services: EmulatedServices,
  { appRoot, storageConnectionString, apiAudience }: { appRoot: string; storageConnectionString: string; apiAudience: string },
): NodeJS.ProcessEnv {
  const { tls, tenantId, managedIdentity, graph, authority, keyVault, email, eventGrid } = services;
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    FUNCTIONS_APP_ROOT: appRoot,
    NODE_EXTRA_CA_CERTS: tls.caPath,
    IDENTITY_ENDPOINT: managedIdentity.endpoint,
    IDENTITY_HEADER: managedIdentity.header,
    AzureWebJobsStorage: storageConnectionString,
    MANAGED_TENANT_ID: tenantId,
    GRAPH_BASE_URL: graph.url,
    AZURE_AUTHORITY_HOST: authority.url,
    DEFAULT_KEYVAULT_URL: keyVault.vaultUrl,
    EMAIL_ENDPOINT: email.server.url,
    EMAIL_SENDER: 'DoNotReply@rotator.example',
    EVENTGRID_TOPIC_ENDPOINT: eventGrid.topicEndpoint,
    API_AUDIENCE: apiAudience,
    API_TENANT_ID: tenantId,
  };
}

/**
 * `count` app registrations owned by the rotator's identity, their configs imported into the table
 * (Key Vault, notifications on, 30-day certificates renewed 20 days before); their app ids.
 */
export async function seedRenewalApps(
  store: AppStore,
  { tenantId, identity, graph, keyVault }: EmulatedServices,
  count: number,
  names: { displayName: string; certificateName: string },
): Promise<string[]> {
  const appIds: string[] = [];
  const configs: { config: AppConfig }[] = [];
  for (let n = 0; n < count; n++) {
    const displayName = `${names.displayName} ${n}`;
    const registration = graph.createApplication({ tenantId, displayName, owners: [identity.principalId] });
    appIds.push(registration.appId);
    const keyVaultSettings = { vaultUrl: keyVault.vaultUrl, certificateName: `${names.certificateName}-${n}` };
    const config = managedConfig(registration.appId, displayName, keyVaultSettings, {
      lifetimeDays: 30,
      renewBeforeDays: 20,
      notifications: { enabled: true, recipients: ['platform-admins@contoso.example'] },
    });
    configs.push({ config });
  }
  await store.importApps(configs);
  return appIds;
}
