import { randomUUID } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { generateCertificate } from '../../../src/lib/certificates/generateCertificate.js';
import { NotFoundError } from '../../../src/lib/errors.js';
import { AppManagementPolicyClient } from '../../../src/lib/graph/appManagementPolicyClient.js';
import { createGraphClient } from '../../../src/lib/graph/graphClient.js';
import { EntraAuthority } from '../../emulators/entraAuthority.js';
import { GraphEmulator } from '../../emulators/graph.js';
import { DEFAULT_POLICY_ID } from '../../emulators/graphPolicies.js';
import { loadOrCreateEmulatorTls } from '../../emulators/tls.js';

/**
 * The Graph adapter of the preflight (AppManagementPolicyClient) against the Graph emulator: what it
 * reads of the policies and of the app object, the tenant default kept five minutes, the header that
 * lets Graph name newer restriction types, and what it makes of a missing Policy.Read.All.
 */

const tenantId = randomUUID();
let authority: EntraAuthority;
let graph: GraphEmulator;
let clock = Date.now();

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  authority = new EntraAuthority({ tls });
  graph = new GraphEmulator({ tls, authority });
  await Promise.all([authority.start(), graph.start()]);
});
afterAll(async () => {
  await Promise.all([authority.close(), graph.close()]);
});
beforeEach(() => {
  graph.policies.clear();
  graph.server.resetCounters();
});

function reader(roles: string[]): AppManagementPolicyClient {
  const clientId = randomUUID();
  authority.registerClientSecret(tenantId, clientId, 'secret', { roles, principalId: randomUUID() });
  const credential = new ClientSecretCredential(tenantId, clientId, 'secret', {
    authorityHost: authority.url,
    disableInstanceDiscovery: true,
  });
  const client = createGraphClient({ credential, graphBaseUrl: graph.url, retry: { delaySeconds: 0, maxRetries: 1 } });
  return new AppManagementPolicyClient({ graph: client, now: () => clock });
}

describe('AppManagementPolicyClient', () => {
  it("reads the tenant default, the app's own policies, its creation time and what its collections hold", async () => {
    const app = graph.createApplication({ tenantId, displayName: 'Collections' });
    app.collections = {
      identifierUris: ['api://collections', 'api://collections-2'],
      web: { redirectUris: ['https://a.example/', 'https://b.example/', 'https://c.example/'] },
      requiredResourceAccess: [
        {
          resourceAppId: randomUUID(),
          resourceAccess: [
            { id: randomUUID(), type: 'Role' },
            { id: randomUUID(), type: 'Scope' },
          ],
        },
      ],
    };
    const certificate = await generateCertificate({ displayName: 'one', lifetimeDays: 30 });
    graph.seedCertificate(app.id, certificate.der);
    graph.policies.tenant = {
      ...graph.policies.tenant,
      isEnabled: true,
      keyCredentials: [
        { restrictionType: 'asymmetricKeyLifetime', maxLifetime: 'P90D', restrictForAppsCreatedAfterDateTime: '2020-01-01T00:00:00Z' },
      ],
    };
    graph.policies.assign(app.id, {
      id: 'own',
      displayName: 'Own',
      isEnabled: false,
      keyCredentials: [{ restrictionType: 'trustedCertificateAuthority', state: 'disabled' }],
    });

    const facts = await reader(['Application.Read.All', 'Policy.Read.All']).policyFacts(app.appId);
    expect(facts).toEqual({
      tenant: {
        id: DEFAULT_POLICY_ID,
        displayName: 'Default app management tenant policy',
        isEnabled: true,
        keyCredentials: [
          { restrictionType: 'asymmetricKeyLifetime', maxLifetime: 'P90D', restrictForAppsCreatedAfterDateTime: '2020-01-01T00:00:00Z' },
        ],
      },
      app: [
        {
          id: 'own',
          displayName: 'Own',
          isEnabled: false,
          keyCredentials: [{ restrictionType: 'trustedCertificateAuthority', state: 'disabled' }],
        },
      ],
      appCreatedAt: new Date(app.createdDateTime.toISOString().replace(/\.\d+Z$/, 'Z')),
      keyCredentialCount: 1,
      // 1 certificate + 2 identifier URIs + 3 redirect URIs + 1 API with 2 permissions.
      collectionItems: 9,
    });
    // Both policy reads ask Graph to name restriction types newer than unknownFutureValue.
    for (const route of ['get-default-app-management-policy', 'list-app-management-policies']) {
      expect(graph.server.requests(route).map((r) => r.headers.prefer)).toEqual(['include-unknown-enum-members']);
    }
  });

  it('keeps the tenant default five minutes, then reads it again', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'Cached' });
    const client = reader(['Application.Read.All', 'Policy.Read.All']);
    const tenantEnabled = async () => {
      const facts = await client.policyFacts(app.appId);
      if ('unreadable' in facts) throw new Error(facts.unreadable);
      return facts.tenant?.isEnabled;
    };
    expect(await tenantEnabled()).toBe(false);
    graph.policies.tenant = { ...graph.policies.tenant, isEnabled: true };
    expect(await tenantEnabled()).toBe(false);
    expect(graph.server.count('get-default-app-management-policy')).toBe(1);
    clock += 5 * 60_000;
    expect(await tenantEnabled()).toBe(true);
    expect(graph.server.count('get-default-app-management-policy')).toBe(2);
    // The app's own policies are read every time: they are per app, and a renewal reads them once.
    expect(graph.server.count('list-app-management-policies')).toBe(3);
  });

  it('says which permission to grant when Graph refuses the policies (403), instead of failing', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'No policy read' });
    const facts = await reader(['Application.Read.All']).policyFacts(app.appId);
    expect(facts).toEqual({
      unreadable: expect.stringContaining('grant its identity the Graph application permission Policy.Read.All') as unknown,
    });
  });

  it('an app registration that does not exist is NotFound', async () => {
    await expect(reader(['Application.Read.All', 'Policy.Read.All']).policyFacts(randomUUID())).rejects.toBeInstanceOf(NotFoundError);
  });
});
