import { randomUUID } from 'node:crypto';
import { ClientSecretCredential, DefaultAzureCredential, type AccessToken, type TokenCredential } from '@azure/identity';
import { EntraAuthority } from '../emulators/entraAuthority.js';
import type { EmulatorTls } from '../emulators/tls.js';

/**
 * The identity side of an adapter contract test: the Entra authority emulator, a client-secret app
 * (what a developer runs with) and the App Service managed identity (what production runs with),
 * both reached through the real @azure/identity credentials.
 */
export interface TestIdentity {
  readonly authority: EntraAuthority;
  readonly tenantId: string;
  readonly clientId: string;
  /** The `oid` in the client-secret app's tokens. */
  readonly principalId: string;
  readonly clientSecretCredential: ClientSecretCredential;
  readonly managedIdentity: { readonly clientId: string; readonly principalId: string };
  /**
   * Runs `use` with a DefaultAzureCredential that resolves to the managed identity through
   * IDENTITY_ENDPOINT / IDENTITY_HEADER, set for the duration only (the credential may read them at
   * any token request), as in a Function App.
   */
  withManagedIdentity<T>(use: (credential: DefaultAzureCredential) => Promise<T>): Promise<T>;
  /** A credential whose tokens are valid but issued for another resource. */
  wrongAudienceCredential(audience?: string): TokenCredential;
  close(): Promise<void>;
}

export const FAST_RETRIES = { maxRetries: 3, retryDelayInMs: 10, maxRetryDelayInMs: 50 } as const;

export async function startTestIdentity(tls: EmulatorTls): Promise<TestIdentity> {
  const authority = new EntraAuthority({ tls });
  await authority.start();
  const tenantId = randomUUID();
  const clientId = randomUUID();
  const principalId = randomUUID();
  const secret = randomUUID();
  authority.registerClientSecret(tenantId, clientId, secret, { principalId });
  const managedIdentity = { clientId: randomUUID(), principalId: randomUUID() };
  const { endpoint, header } = authority.enableManagedIdentity({ tenantId, ...managedIdentity });
  const options = { authorityHost: authority.url, disableInstanceDiscovery: true };
  return {
    authority,
    tenantId,
    clientId,
    principalId,
    clientSecretCredential: new ClientSecretCredential(tenantId, clientId, secret, options),
    managedIdentity,
    async withManagedIdentity(use) {
      const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };
      process.env.IDENTITY_ENDPOINT = endpoint;
      process.env.IDENTITY_HEADER = header;
      try {
        return await use(new DefaultAzureCredential(options));
      } finally {
        restore('IDENTITY_ENDPOINT', saved.endpoint);
        restore('IDENTITY_HEADER', saved.header);
      }
    },
    wrongAudienceCredential(audience = 'https://management.azure.com') {
      return {
        async getToken(): Promise<AccessToken> {
          const token = await authority.issueAccessToken({ tenantId, audience, oid: principalId, appId: clientId, version: 1 });
          return { token, expiresOnTimestamp: Date.now() + 3600_000 };
        },
      };
    },
    close: () => authority.close(),
  };
}

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
