import { randomUUID } from 'node:crypto';
import { ClientSecretCredential, type AccessToken, type GetTokenOptions, type TokenCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createGraphClient } from '../../../src/lib/graph/graphClient.js';
import { EntraAuthority } from '../../emulators/entraAuthority.js';
import { GraphEmulator } from '../../emulators/graph.js';
import { loadOrCreateEmulatorTls } from '../../emulators/tls.js';

const tenantId = randomUUID();
const rotator = { clientId: randomUUID(), oid: randomUUID() };
let authority: EntraAuthority;
let graph: GraphEmulator;

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  authority = new EntraAuthority({ tls });
  graph = new GraphEmulator({ tls, authority });
  await Promise.all([authority.start(), graph.start()]);
  authority.registerClientSecret(tenantId, rotator.clientId, 'rotator-secret', {
    roles: ['Application.ReadWrite.OwnedBy'],
    principalId: rotator.oid,
  });
});

afterAll(async () => {
  await Promise.all([authority.close(), graph.close()]);
});

/** The rotator's credential, counting what the Graph client asks of it; `lifetimeMs` shortens its tokens. */
function countingCredential(lifetimeMs?: number): TokenCredential & { calls: number } {
  const inner = new ClientSecretCredential(tenantId, rotator.clientId, 'rotator-secret', {
    authorityHost: authority.url,
    disableInstanceDiscovery: true,
  });
  const counting = {
    calls: 0,
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      counting.calls += 1;
      const token = await inner.getToken(scopes, options);
      return lifetimeMs === undefined ? token : { ...token, expiresOnTimestamp: Date.now() + lifetimeMs };
    },
  };
  return counting;
}

describe('createGraphClient', () => {
  it('asks its credential once for many requests, concurrent ones included, while the token is fresh', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'Token cache', owners: [rotator.oid] });
    const credential = countingCredential();
    const client = createGraphClient({ credential, graphBaseUrl: graph.url });
    await Promise.all([1, 2, 3].map(() => client.api(`/applications/${app.id}`).get()));
    await client.api(`/applications/${app.id}`).get();
    expect(credential.calls).toBe(1);
  });

  it('asks again for a token within five minutes of its expiry', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'Token refresh', owners: [rotator.oid] });
    const credential = countingCredential(4 * 60 * 1000);
    const client = createGraphClient({ credential, graphBaseUrl: graph.url });
    await client.api(`/applications/${app.id}`).get();
    await client.api(`/applications/${app.id}`).get();
    expect(credential.calls).toBe(2);
  });
});
