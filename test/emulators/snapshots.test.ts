import { randomUUID } from 'node:crypto';
import { ClientCertificateCredential, ClientSecretCredential, DefaultAzureCredential } from '@azure/identity';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { encodePemBundle } from '../../src/lib/certificates/encode.js';
import { generateCertificate, type GeneratedCertificate } from '../../src/lib/certificates/generateCertificate.js';
import { createCertificateVaultClient } from '../../src/lib/serviceClients.js';
import { EntraAuthority } from './entraAuthority.js';
import { GRAPH_RESOURCE, GraphEmulator } from './graph.js';
import { KeyVaultEmulator } from './keyVault.js';
import { loadOrCreateEmulatorTls, type EmulatorTls } from './tls.js';

/**
 * Snapshot and restore, what the sandbox relies on to keep its emulated tenant across a restart: the
 * state goes through JSON (as it does on disk) into fresh emulators on other ports, and the real
 * clients see the same tenant there.
 */

let tls: EmulatorTls;
let certificate: GeneratedCertificate;
const running: { close(): Promise<void> }[] = [];
const FAST = { retryOptions: { maxRetries: 1, retryDelayInMs: 5 } };

beforeAll(async () => {
  tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  certificate = await generateCertificate({ displayName: 'Snapshot App', lifetimeDays: 30 });
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.close()));
});

const throughJson = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** Ports of a stopped pair are given to the next one: the issuer (and so a token's `iss`) names the authority's port. */
async function startPair(ports: { authority?: number; graph?: number } = {}): Promise<{ authority: EntraAuthority; graph: GraphEmulator }> {
  const authority = new EntraAuthority({ tls });
  const graph = new GraphEmulator({ tls, authority });
  await Promise.all([authority.start(ports.authority), graph.start(ports.graph)]);
  running.push(authority, graph);
  return { authority, graph };
}

async function withManagedIdentity<T>(endpoint: string, header: string, use: () => Promise<T>): Promise<T> {
  const saved = { endpoint: process.env.IDENTITY_ENDPOINT, header: process.env.IDENTITY_HEADER };
  process.env.IDENTITY_ENDPOINT = endpoint;
  process.env.IDENTITY_HEADER = header;
  try {
    return await use();
  } finally {
    for (const [name, value] of [
      ['IDENTITY_ENDPOINT', saved.endpoint],
      ['IDENTITY_HEADER', saved.header],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

describe('emulator snapshots', () => {
  it('the authority keeps its signing key, client secrets and managed identity; Graph keeps apps, owners and certificates', async () => {
    const tenantId = randomUUID();
    const before = await startPair();
    before.authority.registerClientSecret(tenantId, 'f0f0f0f0-0000-4000-8000-000000000001', 'secret', { roles: ['Application.Read.All'] });
    const identity = { tenantId, clientId: randomUUID(), principalId: randomUUID(), roles: ['Application.ReadWrite.OwnedBy'] };
    const { header } = before.authority.enableManagedIdentity(identity);
    const app = before.graph.createApplication({ tenantId, displayName: 'Snapshot App', owners: [identity.principalId] });
    const seeded = before.graph.seedCertificate(app.appId, certificate.der);
    const issuedBefore = await before.authority.issueAccessToken({ tenantId, audience: 'api://sandbox' });

    const saved = { authority: throughJson(before.authority.snapshot()), graph: throughJson(before.graph.snapshot()) };
    const ports = { authority: Number(new URL(before.authority.url).port), graph: Number(new URL(before.graph.url).port) };
    await Promise.all([before.authority.close(), before.graph.close()]);
    const after = await startPair(ports);
    after.authority.restore(saved.authority);
    after.graph.restore(saved.graph);

    // A token signed before the restart still verifies: the key set is the same.
    expect(await after.authority.verifyAccessToken(issuedBefore, 'api://sandbox')).toMatchObject({ tid: tenantId });
    const secretToken = await fetch(after.authority.tokenEndpointFor(tenantId), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: 'f0f0f0f0-0000-4000-8000-000000000001',
        client_secret: 'secret',
        scope: `${GRAPH_RESOURCE}/.default`,
      }),
    });
    expect(secretToken.status).toBe(200);

    // The managed identity answers under its old header, and Graph still lets it read its app with the key.
    const body = await withManagedIdentity(`${after.authority.url}/msi/token`, header, async () => {
      const credential = new DefaultAzureCredential({ authorityHost: after.authority.url, disableInstanceDiscovery: true });
      const token = await credential.getToken(`${GRAPH_RESOURCE}/.default`);
      const response = await fetch(`${after.graph.url}/v1.0/applications(appId='${app.appId}')?$select=keyCredentials`, {
        headers: { authorization: `Bearer ${token.token}` },
      });
      return (await response.json()) as { keyCredentials: { keyId: string; key: string }[] };
    });
    expect(body.keyCredentials).toEqual([expect.objectContaining({ keyId: seeded.keyId, key: certificate.der.toString('base64') })]);

    // And Entra still knows the certificate: the app signs in with it.
    const pem = encodePemBundle(certificate.der, certificate.privateKey);
    const appCredential = new ClientCertificateCredential(
      tenantId,
      app.appId,
      { certificate: pem },
      { authorityHost: after.authority.url, disableInstanceDiscovery: true },
    );
    const appToken = await appCredential.getToken(`${GRAPH_RESOURCE}/.default`);
    expect(await after.authority.verifyAccessToken(appToken.token, GRAPH_RESOURCE)).toMatchObject({ appid: app.appId });
  });

  it('Key Vault keeps every version with its private key, tags and role assignments', async () => {
    const tenantId = randomUUID();
    const { authority } = await startPair();
    const principalId = randomUUID();
    const secret = randomUUID();
    const clientId = randomUUID();
    authority.registerClientSecret(tenantId, clientId, secret, { principalId });
    const vaultOptions = {
      tls,
      tenantId,
      authorityHost: authority.url,
      verifyToken: (token: string, audiences: string[]) => authority.verifyAccessToken(token, audiences),
      rbac: true,
    };
    const before = new KeyVaultEmulator(vaultOptions);
    await before.start();
    running.push(before);
    before.assignRole(principalId, 'Key Vault Certificate User');
    const tags = { appId: randomUUID(), renewalId: randomUUID() };
    const version = before.seedCertificate('snapshot-cert', {
      der: certificate.der,
      privateKey: certificate.privateKey,
      tags,
    });

    const after = new KeyVaultEmulator(vaultOptions);
    await after.start();
    running.push(after);
    after.restore(throughJson(before.snapshot()));

    const credential = new ClientSecretCredential(tenantId, clientId, secret, {
      authorityHost: authority.url,
      disableInstanceDiscovery: true,
    });
    const client = createCertificateVaultClient(after.vaultUrl, credential, FAST);
    // The role assignment survived: the principal reads with Certificate User's rights alone.
    expect((await client.listVersions('snapshot-cert')).map((v) => [v.version, v.tags])).toEqual([[version.version, tags]]);
    // The tags, as the certificate's version and its secret carry them after the restore.
    expect((await client.getVersion('snapshot-cert', version.version))?.tags).toEqual(tags);
    expect((await client.getLatest('snapshot-cert'))?.tags).toEqual(tags);
    const withKey = await client.getCertificateWithPrivateKey('snapshot-cert', { version: version.version });
    expect(withKey.certificate.tags).toEqual(tags);
    expect(withKey.der.equals(certificate.der)).toBe(true);
    expect(
      withKey.privateKey.export({ type: 'pkcs8', format: 'der' }).equals(certificate.privateKey.export({ type: 'pkcs8', format: 'der' })),
    ).toBe(true);
  });
});
