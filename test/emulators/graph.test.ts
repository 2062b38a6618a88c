import { randomUUID } from 'node:crypto';
import { ClientCertificateCredential } from '@azure/identity';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createSelfSignedCertificate,
  generateRsaKeyPair,
  type GeneratedCertificate,
  type RsaKeyPair,
} from '../../src/lib/certificates/generateCertificate.js';
import { encodePemBundle } from '../../src/lib/certificates/encode.js';
import { EntraAuthority } from './entraAuthority.js';
import { GRAPH_RESOURCE, GraphEmulator, type GraphApplication } from './graph.js';
import { PROOF_AUDIENCE } from './graphProof.js';
import { loadOrCreateEmulatorTls } from './tls.js';

const tenantId = randomUUID();
const DAY = 24 * 3600 * 1000;
const rotator = { oid: randomUUID(), appId: randomUUID() };

let authority: EntraAuthority;
let graph: GraphEmulator;
let keyPair: RsaKeyPair;
let current: GeneratedCertificate;
let next: GeneratedCertificate;
let expired: GeneratedCertificate;

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  authority = new EntraAuthority({ tls });
  graph = new GraphEmulator({ tls, authority });
  await Promise.all([authority.start(), graph.start()]);
  keyPair = await generateRsaKeyPair(2048);
  current = createSelfSignedCertificate(keyPair, { displayName: 'current', lifetimeDays: 365 });
  next = createSelfSignedCertificate(keyPair, { displayName: 'next', lifetimeDays: 365 });
  expired = createSelfSignedCertificate(keyPair, { displayName: 'expired', lifetimeDays: 30, now: new Date(Date.now() - 90 * DAY) });
});

afterAll(async () => {
  await Promise.all([authority.close(), graph.close()]);
});

afterEach(() => {
  graph.server.clearFaults();
  graph.credentialLifetimePolicy = undefined;
  graph.maxKeyCredentials = 20;
});

function token(roles: string[], caller: { oid: string; appId: string } = rotator) {
  return authority.issueAccessToken({ tenantId, audience: GRAPH_RESOURCE, version: 1, roles, ...caller });
}

interface KeyJson {
  key: string | null;
  keyId: string;
  customKeyIdentifier: string;
  [field: string]: unknown;
}
interface GraphJson {
  error: { code: string; message: string; details?: unknown[]; innerError: Record<string, string> };
  keyCredentials: KeyJson[];
  value: Array<{ keyCredentials: KeyJson[]; [field: string]: unknown }>;
  keyId: string;
  [field: string]: unknown;
}

async function call(method: string, path: string, options: { token?: string; body?: unknown } = {}) {
  const response = await fetch(`${graph.url}/v1.0${path}`, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      'client-request-id': 'test-request',
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as GraphJson };
}

function ownedApp(): GraphApplication {
  const app = graph.createApplication({ tenantId, displayName: 'Payroll', owners: [rotator.oid] });
  graph.seedCertificate(app.id, current.der);
  return app;
}

const asKeyCredential = (certificate: GeneratedCertificate, extra: Record<string, unknown> = {}) => ({
  type: 'AsymmetricX509Cert',
  usage: 'Verify',
  key: certificate.der.toString('base64'),
  displayName: 'entra-cert-rotator',
  startDateTime: certificate.notBefore.toISOString(),
  endDateTime: certificate.notAfter.toISOString(),
  ...extra,
});

function expectGraphError(result: { status: number; body: GraphJson }, status: number, code: string) {
  expect(result.status).toBe(status);
  expect(result.body.error.code).toBe(code);
  expect(typeof result.body.error.message).toBe('string');
  expect(result.body.error.innerError).toMatchObject({ 'client-request-id': 'test-request' });
  expect(typeof result.body.error.innerError['request-id']).toBe('string');
  expect(typeof result.body.error.innerError.date).toBe('string');
}

async function proofFor(
  app: GraphApplication,
  signer: GeneratedCertificate,
  override: { aud?: string; iss?: string; lifetimeSeconds?: number } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', x5t: signer.thumbprints.x5t })
    .setAudience(override.aud ?? PROOF_AUDIENCE)
    .setIssuer(override.iss ?? app.id)
    .setNotBefore(now)
    .setExpirationTime(now + (override.lifetimeSeconds ?? 600))
    .sign(signer.privateKey);
}

describe('reading applications', () => {
  it('returns key only for a single application read with $select=keyCredentials', async () => {
    const app = ownedApp();
    const t = await token(['Application.Read.All']);
    const plain = await call('GET', `/applications/${app.id}`, { token: t });
    expect(plain.status).toBe(200);
    expect(plain.body).toMatchObject({ id: app.id, appId: app.appId, displayName: 'Payroll' });
    expect(plain.body.keyCredentials[0]).toMatchObject({ keyId: app.keyCredentials[0]!.keyId, key: null, type: 'AsymmetricX509Cert' });

    const selected = await call('GET', `/applications(appId='${app.appId}')?$select=id,keyCredentials`, { token: t });
    expect(Object.keys(selected.body).sort()).toEqual(['@odata.context', 'id', 'keyCredentials']);
    expect(Buffer.from(selected.body.keyCredentials[0]!.key!, 'base64').equals(current.der)).toBe(true);
    expect(selected.body.keyCredentials[0]!.customKeyIdentifier).toBe(Buffer.from(current.thumbprints.sha1, 'hex').toString('base64'));

    const list = await call('GET', `/applications?$filter=appId eq '${app.appId}'&$select=keyCredentials`, { token: t });
    expect(list.body.value).toHaveLength(1);
    expect(list.body.value[0]!.keyCredentials[0]!.key).toBeNull();
  });

  it('refuses a missing or foreign token, and an unknown application with Graph error bodies', async () => {
    const app = ownedApp();
    expectGraphError(await call('GET', `/applications/${app.id}`), 401, 'InvalidAuthenticationToken');
    const wrongAudience = await authority.issueAccessToken({
      tenantId,
      audience: 'https://vault.azure.net',
      roles: ['Application.Read.All'],
    });
    expectGraphError(await call('GET', `/applications/${app.id}`, { token: wrongAudience }), 401, 'InvalidAuthenticationToken');
    const forged = await authority.issueAccessToken({
      tenantId,
      audience: GRAPH_RESOURCE,
      roles: ['Application.Read.All'],
      signWith: 'foreign-key',
    });
    expectGraphError(await call('GET', `/applications/${app.id}`, { token: forged }), 401, 'InvalidAuthenticationToken');
    expectGraphError(
      await call('GET', `/applications/${randomUUID()}`, { token: await token(['Application.Read.All']) }),
      404,
      'Request_ResourceNotFound',
    );
    const otherTenant = await authority.issueAccessToken({
      tenantId: randomUUID(),
      audience: GRAPH_RESOURCE,
      roles: ['Application.Read.All'],
    });
    expectGraphError(await call('GET', `/applications/${app.id}`, { token: otherTenant }), 404, 'Request_ResourceNotFound');
  });

  it('lets an owner with OwnedBy read, refuses a non-owner without Read.All, and lists owners', async () => {
    const app = ownedApp();
    expect((await call('GET', `/applications/${app.id}`, { token: await token(['Application.ReadWrite.OwnedBy']) })).status).toBe(200);
    const stranger = { oid: randomUUID(), appId: randomUUID() };
    expectGraphError(
      await call('GET', `/applications/${app.id}`, { token: await token(['Application.ReadWrite.OwnedBy'], stranger) }),
      403,
      'Authorization_RequestDenied',
    );
    const owners = await call('GET', `/applications/${app.id}/owners`, { token: await token(['Application.Read.All'], stranger) });
    expect(owners.body.value).toEqual([expect.objectContaining({ '@odata.type': '#microsoft.graph.servicePrincipal', id: rotator.oid })]);
  });
});

describe('PATCH keyCredentials', () => {
  it('replaces the whole collection for an owner with Application.ReadWrite.OwnedBy', async () => {
    const app = ownedApp();
    const before = app.keyCredentials[0]!;
    const keyId = randomUUID();
    const result = await call('PATCH', `/applications/${app.id}`, {
      token: await token(['Application.ReadWrite.OwnedBy']),
      body: { keyCredentials: [asKeyCredential(current, { keyId: before.keyId }), asKeyCredential(next, { keyId })] },
    });
    expect(result.status).toBe(204);
    expect(graph.application(app.id)!.keyCredentials.map((c) => c.keyId)).toEqual([before.keyId, keyId]);
    // Leaving a credential out of the collection removes it.
    await call('PATCH', `/applications/${app.id}`, {
      token: await token(['Application.ReadWrite.All'], { oid: randomUUID(), appId: randomUUID() }),
      body: { keyCredentials: [asKeyCredential(next, { keyId })] },
    });
    expect(graph.application(app.id)!.keyCredentials.map((c) => c.keyId)).toEqual([keyId]);
    // The ledger saw each change, and the unexpired credential left out counts as lost.
    const changes = graph.ledger.changes().filter((c) => c.appId === app.appId);
    expect(changes.map((c) => `${c.change} ${c.keyId}`)).toEqual([`added ${before.keyId}`, `added ${keyId}`, `removed ${before.keyId}`]);
    expect(
      graph.ledger
        .lost()
        .filter((c) => c.appId === app.appId)
        .map((c) => c.keyId),
    ).toEqual([before.keyId]);
  });

  it('rejects a credential whose key is null (an existing one resent without its key) and changes nothing', async () => {
    const app = ownedApp();
    const before = app.keyCredentials[0]!;
    const result = await call('PATCH', `/applications/${app.id}`, {
      token: await token(['Application.ReadWrite.OwnedBy']),
      body: { keyCredentials: [{ ...asKeyCredential(current, { keyId: before.keyId }), key: null }, asKeyCredential(next)] },
    });
    expectGraphError(result, 400, 'Request_BadRequest');
    expect(result.body.error.message).toMatch(/'key'/);
    expect(graph.application(app.id)!.keyCredentials).toEqual([before]);
  });

  it.each([
    ['a wrong type', { type: 'Symmetric' }, /'type'/],
    ['a wrong usage', { usage: 'Sign' }, /'usage'/],
    ['a start before the certificate is valid', { startDateTime: new Date(Date.now() - 30 * DAY).toISOString() }, /start date/],
    ['an end after the certificate expires', { endDateTime: new Date(Date.now() + 400 * DAY).toISOString() }, /end date/],
    ['a key that is not a certificate', { key: Buffer.from('not a certificate').toString('base64') }, /X\.509/],
    ['an unknown property', { thumbprint: 'AB' }, /thumbprint/],
  ])('rejects %s', async (_name, override, message) => {
    const app = ownedApp();
    const result = await call('PATCH', `/applications/${app.id}`, {
      token: await token(['Application.ReadWrite.OwnedBy']),
      body: { keyCredentials: [asKeyCredential(next, override)] },
    });
    expectGraphError(result, 400, 'Request_BadRequest');
    expect(result.body.error.message).toMatch(message);
    expect(graph.application(app.id)!.keyCredentials).toHaveLength(1);
  });

  it('refuses a writer that is not an owner, or an owner without the role', async () => {
    const app = ownedApp();
    const body = { keyCredentials: [asKeyCredential(current, { keyId: app.keyCredentials[0]!.keyId }), asKeyCredential(next)] };
    expectGraphError(
      await call('PATCH', `/applications/${app.id}`, {
        token: await token(['Application.ReadWrite.OwnedBy'], { oid: randomUUID(), appId: randomUUID() }),
        body,
      }),
      403,
      'Authorization_RequestDenied',
    );
    expectGraphError(
      await call('PATCH', `/applications/${app.id}`, { token: await token(['Application.Read.All']), body }),
      403,
      'Authorization_RequestDenied',
    );
    expect(graph.application(app.id)!.keyCredentials).toHaveLength(1);
  });

  it('refuses a lifetime beyond the app-management policy with CredentialInvalidLifetimeAsPerAppPolicy, grandfathering existing ones', async () => {
    const app = ownedApp();
    graph.credentialLifetimePolicy = { maxLifetimeDays: 180, policyId: 'policy-1' };
    const t = await token(['Application.ReadWrite.OwnedBy']);
    const keep = asKeyCredential(current, { keyId: app.keyCredentials[0]!.keyId });
    const refused = await call('PATCH', `/applications/${app.id}`, { token: t, body: { keyCredentials: [keep, asKeyCredential(next)] } });
    expectGraphError(refused, 400, 'CredentialInvalidLifetimeAsPerAppPolicy');
    expect(refused.body.error.message).toContain("policy 'policy-1'");
    expect(refused.body.error.details).toEqual([expect.objectContaining({ code: 'InvalidKeyEndDate', target: 'EndDate' })]);
    const short = createSelfSignedCertificate(keyPair, { displayName: 'short', lifetimeDays: 90 });
    expect(
      (await call('PATCH', `/applications/${app.id}`, { token: t, body: { keyCredentials: [keep, asKeyCredential(short)] } })).status,
    ).toBe(204);
  });

  it('answers Directory_ResourceSizeExceeded past the credential limit', async () => {
    const app = ownedApp();
    graph.maxKeyCredentials = 1;
    const result = await call('PATCH', `/applications/${app.id}`, {
      token: await token(['Application.ReadWrite.OwnedBy']),
      body: { keyCredentials: [asKeyCredential(current, { keyId: app.keyCredentials[0]!.keyId }), asKeyCredential(next)] },
    });
    expectGraphError(result, 400, 'Directory_ResourceSizeExceeded');
  });

  it('throttles on demand with 429 and Retry-After, then serves', async () => {
    const app = ownedApp();
    const fault = graph.throttle('get-application', { retryAfterSeconds: 7, times: 1 });
    const t = await token(['Application.Read.All']);
    const throttled = await call('GET', `/applications/${app.id}`, { token: t });
    expect(throttled.status).toBe(429);
    expect(fault.served).toBe(1);
    expect(throttled.headers.get('retry-after')).toBe('7');
    expect(throttled.body.error.code).toBe('TooManyRequests');
    expect((await call('GET', `/applications/${app.id}`, { token: t })).status).toBe(200);
  });
});

describe('addKey and removeKey', () => {
  it('lets the app roll its own key with a valid proof, without any Graph permission', async () => {
    const app = ownedApp();
    const first = app.keyCredentials[0]!.keyId;
    const self = await token([], { oid: app.servicePrincipalId, appId: app.appId });
    const added = await call('POST', `/applications/${app.id}/addKey`, {
      token: self,
      body: { keyCredential: asKeyCredential(next), passwordCredential: null, proof: await proofFor(app, current) },
    });
    expect(added.status).toBe(200);
    expect(added.body).toMatchObject({ key: null, type: 'AsymmetricX509Cert', usage: 'Verify', displayName: 'entra-cert-rotator' });
    expect(graph.application(app.id)!.keyCredentials).toHaveLength(2);

    const removed = await call('POST', `/applications(appId='${app.appId}')/removeKey`, {
      token: self,
      body: { keyId: app.keyCredentials[0]!.keyId, proof: await proofFor(app, next) },
    });
    expect(removed.status).toBe(204);
    expect(graph.application(app.id)!.keyCredentials.map((c) => c.keyId)).toEqual([added.body.keyId]);
    expect(
      graph.ledger
        .changes()
        .filter((c) => c.appId === app.appId)
        .map((c) => `${c.change} ${c.keyId}`),
    ).toEqual([`added ${first}`, `added ${added.body.keyId}`, `removed ${first}`]);
  });

  it.each<[string, { aud?: string; iss?: string; lifetimeSeconds?: number }]>([
    ['a wrong audience', { aud: '00000003-0000-0000-c000-000000000000' }],
    ['a wrong issuer (the appId instead of the object id)', { iss: 'appId' }],
    ['a window over 10 minutes', { lifetimeSeconds: 3600 }],
  ])('rejects a proof with %s', async (_name, override) => {
    const app = ownedApp();
    const self = await token([], { oid: app.servicePrincipalId, appId: app.appId });
    const proof = await proofFor(app, current, { ...override, iss: override.iss === 'appId' ? app.appId : override.iss });
    const result = await call('POST', `/applications/${app.id}/addKey`, {
      token: self,
      body: { keyCredential: asKeyCredential(next), passwordCredential: null, proof },
    });
    expectGraphError(result, 401, 'Authentication_MissingOrMalformed');
    expect(graph.application(app.id)!.keyCredentials).toHaveLength(1);
  });

  it('rejects a proof signed by an expired certificate, and one signed by a certificate not on the app', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'Expired' });
    graph.seedCertificate(app.id, expired.der);
    const self = await token([], { oid: app.servicePrincipalId, appId: app.appId });
    const result = await call('POST', `/applications/${app.id}/addKey`, {
      token: self,
      body: { keyCredential: asKeyCredential(next), passwordCredential: null, proof: await proofFor(app, expired) },
    });
    expectGraphError(result, 400, 'Request_BadRequest');
    graph.seedCertificate(app.id, current.der);
    const foreign = await call('POST', `/applications/${app.id}/addKey`, {
      token: self,
      body: { keyCredential: asKeyCredential(next), passwordCredential: null, proof: await proofFor(app, next) },
    });
    expectGraphError(foreign, 401, 'Authentication_MissingOrMalformed');
  });

  it('refuses another caller without permission, and a caller-chosen keyId', async () => {
    const app = ownedApp();
    const stranger = await token([], { oid: randomUUID(), appId: randomUUID() });
    const body = { keyCredential: asKeyCredential(next), passwordCredential: null, proof: await proofFor(app, current) };
    expectGraphError(await call('POST', `/applications/${app.id}/addKey`, { token: stranger, body }), 403, 'Authorization_RequestDenied');
    const self = await token([], { oid: app.servicePrincipalId, appId: app.appId });
    const withKeyId = { ...body, keyCredential: asKeyCredential(next, { keyId: randomUUID() }) };
    expectGraphError(await call('POST', `/applications/${app.id}/addKey`, { token: self, body: withKeyId }), 400, 'Request_BadRequest');
  });
});

describe('as the authority certificate directory', () => {
  it('lets an app sign in with a certificate once it is on the application, and not before', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'Signs in', owners: [rotator.oid] });
    const credential = new ClientCertificateCredential(
      tenantId,
      app.appId,
      { certificate: encodePemBundle(next.der, next.privateKey) },
      { authorityHost: authority.url, disableInstanceDiscovery: true },
    );
    await expect(credential.getToken(`${GRAPH_RESOURCE}/.default`)).rejects.toThrow(/AADSTS700027/);
    await call('PATCH', `/applications/${app.id}`, {
      token: await token(['Application.ReadWrite.OwnedBy']),
      body: { keyCredentials: [asKeyCredential(next)] },
    });
    const result = await credential.getToken(`${GRAPH_RESOURCE}/.default`);
    expect(await authority.verifyAccessToken(result.token, GRAPH_RESOURCE)).toMatchObject({
      appid: app.appId,
      oid: app.servicePrincipalId,
    });
  });
});
