import { randomUUID } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createSelfSignedCertificate,
  generateRsaKeyPair,
  type GeneratedCertificate,
  type RsaKeyPair,
} from '../../../src/lib/certificates/generateCertificate.js';
import { ConflictError, NotFoundError, PreconditionError, RetriableError } from '../../../src/lib/errors.js';
import { AppRegistrationClient, MANAGED_DISPLAY_NAME_PREFIX } from '../../../src/lib/graph/appRegistrationClient.js';
import { GraphAppRegistrationDirectory } from '../../../src/lib/graph/graphAppRegistrationDirectory.js';
import { createAppSignIn, createGraphClient, graphScopeFor } from '../../../src/lib/graph/graphClient.js';
import { EntraAuthority } from '../../emulators/entraAuthority.js';
import { GraphEmulator, type GraphApplication } from '../../emulators/graph.js';
import { loadOrCreateEmulatorTls } from '../../emulators/tls.js';

const tenantId = randomUUID();
const DAY = 24 * 3600 * 1000;
const retry = { delaySeconds: 0, maxRetries: 2 };

let authority: EntraAuthority;
let graph: GraphEmulator;
let keyPair: RsaKeyPair;
const rotator = { clientId: randomUUID(), oid: randomUUID() };
let client: AppRegistrationClient;
let directory: GraphAppRegistrationDirectory;
let credential: ClientSecretCredential;

const certificate = (displayName: string, lifetimeDays: number, offsetDays = 0) =>
  createSelfSignedCertificate(keyPair, { displayName, lifetimeDays, now: new Date(Date.now() + offsetDays * DAY) });

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  authority = new EntraAuthority({ tls });
  graph = new GraphEmulator({ tls, authority });
  await Promise.all([authority.start(), graph.start()]);
  keyPair = await generateRsaKeyPair(2048);
  authority.registerClientSecret(tenantId, rotator.clientId, 'rotator-secret', {
    roles: ['Application.ReadWrite.OwnedBy'],
    principalId: rotator.oid,
  });
  credential = new ClientSecretCredential(tenantId, rotator.clientId, 'rotator-secret', {
    authorityHost: authority.url,
    disableInstanceDiscovery: true,
  });
  const graphClient = createGraphClient({ credential, graphBaseUrl: graph.url, retry });
  client = new AppRegistrationClient({
    graph: graphClient,
    signInAsApp: createAppSignIn({
      tenantId,
      authorityHost: authority.url,
      disableInstanceDiscovery: true,
      graphBaseUrl: graph.url,
      retry,
    }),
  });
  directory = new GraphAppRegistrationDirectory({
    graph: graphClient,
    applications: client,
    credential,
    graphScope: graphScopeFor(graph.url),
  });
});

afterAll(async () => {
  await Promise.all([authority.close(), graph.close()]);
});

afterEach(() => {
  graph.server.clearFaults();
  graph.credentialLifetimePolicy = undefined;
  graph.maxKeyCredentials = 20;
  authority.grantAppRoles(tenantId, rotator.clientId, ['Application.ReadWrite.OwnedBy']);
});

/** A rotator signed in afresh with these app roles (a credential caches its token, and so its roles). */
function rotatorWith(roles: string[]) {
  authority.grantAppRoles(tenantId, rotator.clientId, roles);
  const cred = new ClientSecretCredential(tenantId, rotator.clientId, 'rotator-secret', {
    authorityHost: authority.url,
    disableInstanceDiscovery: true,
  });
  const g = createGraphClient({ credential: cred, graphBaseUrl: graph.url, retry });
  const applications = new AppRegistrationClient({
    graph: g,
    signInAsApp: createAppSignIn({
      tenantId,
      authorityHost: authority.url,
      disableInstanceDiscovery: true,
      graphBaseUrl: graph.url,
      retry,
    }),
  });
  return {
    client: applications,
    directory: new GraphAppRegistrationDirectory({ graph: g, applications, credential: cred, graphScope: graphScopeFor(graph.url) }),
  };
}

/** An app owned by the rotator with one certificate an admin uploaded (not managed) and one managed. */
function seededApp(): { app: GraphApplication; adminCert: GeneratedCertificate; managedCert: GeneratedCertificate } {
  const app = graph.createApplication({ tenantId, displayName: 'Payroll', owners: [rotator.oid] });
  const adminCert = certificate('admin', 365);
  const managedCert = certificate('managed', 365);
  graph.seedCertificate(app.id, adminCert.der, { displayName: 'uploaded by Ada' });
  graph.seedCertificate(app.id, managedCert.der, { displayName: `${MANAGED_DISPLAY_NAME_PREFIX} (expires soon)` });
  return { app, adminCert, managedCert };
}

const asNew = (c: GeneratedCertificate) => ({ der: c.der, notBefore: c.notBefore, notAfter: c.notAfter });
const owner = { graphMode: 'owner' } as const;

describe('owner mode', () => {
  it('adds a certificate keeping every existing credential with its key, under the caller-chosen keyId', async () => {
    const { app, adminCert, managedCert } = seededApp();
    const fresh = certificate('fresh', 365);
    const keyId = randomUUID();
    const result = await client.addCertificate(app.appId, { certificate: asNew(fresh), keyId, mode: owner });
    expect(result).toEqual({ keyId, added: true, removedToMakeRoom: [] });
    const stored = graph.application(app.id)!.keyCredentials;
    expect(stored.map((c) => c.key)).toEqual([adminCert.der, managedCert.der, fresh.der]);
    expect(stored[0]!.displayName).toBe('uploaded by Ada');
    expect(stored[2]).toMatchObject({ keyId, startDateTime: fresh.notBefore, endDateTime: fresh.notAfter });
    expect(stored[2]!.displayName).toMatch(new RegExp(`^${MANAGED_DISPLAY_NAME_PREFIX}`));
  });

  it('is idempotent: a retry with the same keyId or the same certificate writes nothing', async () => {
    const { app } = seededApp();
    const fresh = certificate('fresh', 365);
    const keyId = randomUUID();
    await client.addCertificate(app.appId, { certificate: asNew(fresh), keyId, mode: owner });
    const patches = graph.server.count('update-application');
    expect(await client.addCertificate(app.appId, { certificate: asNew(fresh), keyId, mode: owner })).toMatchObject({
      keyId,
      added: false,
    });
    expect(await client.addCertificate(app.appId, { certificate: asNew(fresh), keyId: randomUUID(), mode: owner })).toMatchObject({
      keyId,
      added: false,
    });
    expect(graph.server.count('update-application')).toBe(patches);
    expect(graph.application(app.id)!.keyCredentials).toHaveLength(3);
  });

  it('lists certificates with status and managed flag', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'Statuses', owners: [rotator.oid] });
    const old = certificate('old', 30, -90);
    const older = certificate('older', 365, -10);
    const newer = certificate('newer', 365);
    const future = certificate('future', 365, 10);
    graph.seedCertificate(app.id, old.der, { displayName: `${MANAGED_DISPLAY_NAME_PREFIX} x` });
    graph.seedCertificate(app.id, older.der, { displayName: 'manual' });
    graph.seedCertificate(app.id, newer.der, { displayName: `${MANAGED_DISPLAY_NAME_PREFIX} y` });
    graph.seedCertificate(app.id, future.der, { displayName: 'manual' });
    const list = await client.listCertificates(app.appId);
    expect(list.map((c) => [c.thumbprint, c.status, c.managed])).toEqual([
      [old.thumbprints.sha1, 'expired', true],
      [older.thumbprints.sha1, 'valid', false],
      [newer.thumbprints.sha1, 'current', true],
      [future.thumbprints.sha1, 'not yet valid', false],
    ]);
    const named = await client.listCertificates(app.appId, { currentThumbprint: older.thumbprints.sha1 });
    expect(named.find((c) => c.status === 'current')!.thumbprint).toBe(older.thumbprints.sha1);
  });

  it('reads a credential whose key some tool uploaded as base64 of a PEM file: DER and thumbprint of the certificate', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'PEM key', owners: [rotator.oid] });
    const cert = certificate('pem', 365);
    const pem = `-----BEGIN CERTIFICATE-----\n${cert.der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
    // Seeded as stored, bypassing the emulator's write path (which would turn PEM into DER).
    graph.seedCertificate(app.id, Buffer.from(pem, 'latin1'), { displayName: 'uploaded by a tool' });
    const [listed] = await client.listCertificates(app.appId);
    expect(listed!.thumbprint).toBe(cert.thumbprints.sha1);
    expect(listed!.thumbprintSha256).toBe(cert.thumbprints.sha256);
    expect(listed!.der!.equals(cert.der)).toBe(true);
  });

  it('removes only expired managed certificates', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'Cleanup', owners: [rotator.oid] });
    const expiredManaged = graph.seedCertificate(app.id, certificate('a', 30, -90).der, {
      displayName: `${MANAGED_DISPLAY_NAME_PREFIX} a`,
    });
    const expiredManual = graph.seedCertificate(app.id, certificate('b', 30, -90).der, { displayName: 'manual' });
    const valid = graph.seedCertificate(app.id, certificate('c', 365).der, { displayName: `${MANAGED_DISPLAY_NAME_PREFIX} c` });
    expect((await client.removeExpiredManagedCertificates(app.appId, owner)).map((c) => c.keyId)).toEqual([expiredManaged.keyId]);
    expect(graph.application(app.id)!.keyCredentials.map((c) => c.keyId)).toEqual([expiredManual.keyId, valid.keyId]);
    expect(await client.removeExpiredManagedCertificates(app.appId, owner)).toEqual([]);
  });

  it('never removes the last valid certificate without force; any certificate with an explicit delete', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'Last', owners: [rotator.oid] });
    const expired = graph.seedCertificate(app.id, certificate('a', 30, -90).der, { displayName: 'manual' });
    const only = graph.seedCertificate(app.id, certificate('b', 365).der, { displayName: 'manual' });
    await expect(client.removeCertificate(app.appId, only.keyId, { mode: owner })).rejects.toThrow(ConflictError);
    await client.removeCertificate(app.appId, expired.keyId, { mode: owner });
    await expect(client.removeCertificate(app.appId, randomUUID(), { mode: owner })).rejects.toThrow(NotFoundError);
    await client.removeCertificate(app.appId, only.keyId, { mode: owner, force: true });
    expect(graph.application(app.id)!.keyCredentials).toEqual([]);
  });

  it('on Directory_ResourceSizeExceeded removes expired managed credentials first, then adds', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'Full', owners: [rotator.oid] });
    const expired = graph.seedCertificate(app.id, certificate('a', 30, -90).der, { displayName: `${MANAGED_DISPLAY_NAME_PREFIX} a` });
    const manual = graph.seedCertificate(app.id, certificate('b', 365).der, { displayName: 'manual' });
    graph.maxKeyCredentials = 2;
    const keyId = randomUUID();
    const result = await client.addCertificate(app.appId, { certificate: asNew(certificate('c', 365)), keyId, mode: owner });
    expect(result).toEqual({ keyId, added: true, removedToMakeRoom: [expired.keyId] });
    expect(graph.application(app.id)!.keyCredentials.map((c) => c.keyId)).toEqual([manual.keyId, keyId]);
    // Nothing of ours left to remove: the refusal is a precondition for a person to fix.
    await expect(
      client.addCertificate(app.appId, { certificate: asNew(certificate('d', 365)), keyId: randomUUID(), mode: owner }),
    ).rejects.toThrow(/too many credentials/);
  });

  it("reports the app-management policy's lifetime cap as a precondition naming the policy", async () => {
    const { app } = seededApp();
    graph.credentialLifetimePolicy = { maxLifetimeDays: 180, policyId: 'cap-policy' };
    const error = await client
      .addCertificate(app.appId, { certificate: asNew(certificate('long', 365)), keyId: randomUUID(), mode: owner })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreconditionError);
    expect((error as Error).message).toMatch(/app management policy.*cap-policy/);
  });

  it('maps not-an-owner to a precondition naming the grant script and the permission, and an unknown app to NotFoundError', async () => {
    const app = graph.createApplication({ tenantId, displayName: 'Not mine', owners: [randomUUID()] });
    graph.seedCertificate(app.id, certificate('a', 365).der);
    const error = await rotatorWith(['Application.ReadWrite.OwnedBy', 'Application.Read.All'])
      .client.addCertificate(app.appId, { certificate: asNew(certificate('b', 365)), keyId: randomUUID(), mode: owner })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreconditionError);
    expect((error as Error).message).toMatch(/scripts\/grant-graph-permission\.sh/);
    expect((error as Error).message).toMatch(/Application\.ReadWrite\.OwnedBy/);
    await expect(client.getApplication(randomUUID())).rejects.toThrow(NotFoundError);
  });
});

describe('faults', () => {
  it('honours Retry-After on 429 and then succeeds', async () => {
    const { app } = seededApp();
    const throttled = graph.throttle('get-application', { retryAfterSeconds: 1, times: 1 });
    const before = graph.server.count('get-application');
    expect((await client.getApplication(app.appId)).objectId).toBe(app.id);
    expect(throttled.served).toBe(1);
    expect(graph.server.count('get-application') - before).toBe(2);
    expect(graph.server.requests('get-application').at(-1)!.headers['retry-attempt']).toBe('1');
  });

  it('surfaces a Retry-After longer than the in-process bound at once as RetriableError carrying it', async () => {
    const { app } = seededApp();
    const throttled = graph.throttle('get-application', { retryAfterSeconds: 120 });
    const before = graph.server.count('get-application');
    const error = await client.getApplication(app.appId).catch((e: unknown) => e);
    expect(throttled.served).toBe(1);
    expect(error).toBeInstanceOf(RetriableError);
    expect((error as RetriableError).retryAfterSeconds).toBe(120);
    expect(graph.server.count('get-application') - before).toBe(1);
  });

  it('retries 503 a bounded number of times, then reports RetriableError', async () => {
    const { app } = seededApp();
    const once = graph.inject('update-application', { status: 503, retryAfterSeconds: 0, times: 1 });
    await client.addCertificate(app.appId, { certificate: asNew(certificate('x', 365)), keyId: randomUUID(), mode: owner });
    expect(once.served).toBe(1);
    const down = graph.inject('get-application', { status: 503, retryAfterSeconds: 0 });
    const before = graph.server.count('get-application');
    await expect(client.getApplication(app.appId)).rejects.toThrow(RetriableError);
    expect(down.served).toBe(1 + retry.maxRetries);
    expect(graph.server.count('get-application') - before).toBe(1 + retry.maxRetries);
  });

  it('reports a dropped connection as RetriableError', async () => {
    const { app } = seededApp();
    const dropped = graph.inject('get-application', { drop: true, times: 1 });
    await expect(client.listCertificates(app.appId)).rejects.toThrow(RetriableError);
    expect(dropped.served).toBe(1);
  });

  it('gives up on a call that hangs past its deadline, as a RetriableError', async () => {
    const { app } = seededApp();
    const impatient = new AppRegistrationClient({
      graph: createGraphClient({ credential, graphBaseUrl: graph.url, retry, timeoutInMs: 300 }),
    });
    await impatient.listCertificates(app.appId); // the token is fetched outside the hang
    const slow = graph.inject('get-application', { delayMs: 3000, times: 1 });
    await expect(impatient.listCertificates(app.appId)).rejects.toThrow(RetriableError);
    expect(slow.served).toBe(1);
    // The same client works again once the service answers.
    await expect(impatient.listCertificates(app.appId)).resolves.toBeDefined();
  });
});

describe('self mode', () => {
  function selfApp() {
    const app = graph.createApplication({ tenantId, displayName: 'Self', owners: [] });
    const current = certificate('current', 365);
    graph.seedCertificate(app.id, current.der, { displayName: `${MANAGED_DISPLAY_NAME_PREFIX} current` });
    return { app, signer: { der: current.der, privateKey: current.privateKey }, current };
  }

  it('adds with addKey signed in as the app, never PATCH, and is idempotent by thumbprint', async () => {
    const { client } = rotatorWith(['Application.Read.All']);
    const { app, signer } = selfApp();
    const fresh = certificate('fresh', 365);
    const patches = graph.server.count('update-application');
    const result = await client.addCertificate(app.appId, {
      certificate: asNew(fresh),
      keyId: randomUUID(),
      mode: { graphMode: 'self', signer },
    });
    expect(result.added).toBe(true);
    expect(graph.application(app.id)!.keyCredentials.map((c) => [c.keyId, c.key])).toContainEqual([result.keyId, fresh.der]);
    expect(graph.server.count('update-application')).toBe(patches);
    const adds = graph.server.count('add-key');
    expect(
      await client.addCertificate(app.appId, { certificate: asNew(fresh), keyId: randomUUID(), mode: { graphMode: 'self', signer } }),
    ).toMatchObject({
      keyId: result.keyId,
      added: false,
    });
    expect(graph.server.count('add-key')).toBe(adds);
    // The token that called addKey was the app's own.
    expect(authority.issued.at(-1)!.claims).toMatchObject({ appid: app.appId, oid: app.servicePrincipalId });
  });

  it('removes expired managed certificates with removeKey', async () => {
    const { client } = rotatorWith(['Application.Read.All']);
    const { app, signer } = selfApp();
    const expired = graph.seedCertificate(app.id, certificate('old', 30, -90).der, { displayName: `${MANAGED_DISPLAY_NAME_PREFIX} old` });
    expect((await client.removeExpiredManagedCertificates(app.appId, { graphMode: 'self', signer })).map((c) => c.keyId)).toEqual([
      expired.keyId,
    ]);
    expect(graph.server.requests('remove-key').at(-1)!.status).toBe(204);
    expect(graph.application(app.id)!.keyCredentials).toHaveLength(1);
  });

  it('refuses with a precondition, not a PATCH fallback, when the certificate from Key Vault is expired or not on the app', async () => {
    const { client } = rotatorWith(['Application.Read.All']);
    const app = graph.createApplication({ tenantId, displayName: 'Expired self', owners: [rotator.oid] });
    const expired = certificate('expired', 30, -90);
    graph.seedCertificate(app.id, expired.der, { displayName: `${MANAGED_DISPLAY_NAME_PREFIX} expired` });
    const before = {
      patch: graph.server.count('update-application'),
      add: graph.server.count('add-key'),
      appSignIns: authority.issued.filter((i) => i.via === 'client_assertion').length,
    };
    for (const signer of [expired, certificate('stranger', 365)]) {
      const error = await client
        .addCertificate(app.appId, {
          certificate: asNew(certificate('fresh', 365)),
          keyId: randomUUID(),
          mode: { graphMode: 'self', signer },
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PreconditionError);
      expect((error as Error).message).toMatch(/valid managed certificate in Key Vault/);
    }
    expect(graph.server.count('update-application')).toBe(before.patch);
    expect(graph.server.count('add-key')).toBe(before.add);
    expect(authority.issued.filter((i) => i.via === 'client_assertion')).toHaveLength(before.appSignIns);
  });

  it('reports a certificate Entra has not propagated yet as RetriableError', async () => {
    const { client } = rotatorWith(['Application.Read.All']);
    const { app } = selfApp();
    const recent = certificate('recent', 365);
    graph.seedCertificate(app.id, recent.der, { displayName: `${MANAGED_DISPLAY_NAME_PREFIX} recent`, addedAt: new Date() });
    authority.refuseNewCertificatesFor(3600);
    try {
      await expect(
        client.addCertificate(app.appId, {
          certificate: asNew(certificate('fresh', 365)),
          keyId: randomUUID(),
          mode: { graphMode: 'self', signer: recent },
        }),
      ).rejects.toThrow(RetriableError);
    } finally {
      authority.refuseNewCertificatesFor(0);
    }
  });
});

describe('directory preflight', () => {
  it('owner: passes for an owner with OwnedBy; names the grant script when not an owner or without the permission', async () => {
    const { app } = seededApp();
    await directory.assertManageable(app.appId, 'owner');
    const other = graph.createApplication({ tenantId, displayName: 'Other', owners: [randomUUID()] });
    const fresh = (roles: string[]) => rotatorWith(roles).directory;
    await expect(fresh(['Application.ReadWrite.OwnedBy', 'Application.Read.All']).assertManageable(other.appId, 'owner')).rejects.toThrow(
      /not an owner.*scripts\/grant-graph-permission\.sh/,
    );
    await expect(fresh(['Application.Read.All']).assertManageable(app.appId, 'owner')).rejects.toThrow(
      /lacks the Graph application permission Application\.ReadWrite\.OwnedBy.*grant-graph-permission\.sh/,
    );
    await expect(fresh(['Application.ReadWrite.OwnedBy']).assertManageable(other.appId, 'owner')).rejects.toThrow(PreconditionError);
    expect(await fresh(['Application.Read.All']).getAppRegistration(app.appId)).toEqual({
      appId: app.appId,
      objectId: app.id,
      displayName: 'Payroll',
    });
  });

  it('self: needs a readable app with a valid certificate, and says Key Vault must hold it', async () => {
    const empty = graph.createApplication({ tenantId, displayName: 'Empty' });
    const d = rotatorWith(['Application.Read.All']).directory;
    await expect(d.assertManageable(empty.appId, 'self')).rejects.toThrow(/valid managed certificate in Key Vault/);
    graph.seedCertificate(empty.id, certificate('a', 365).der);
    await d.assertManageable(empty.appId, 'self');
    await expect(d.assertManageable(randomUUID(), 'self')).rejects.toThrow(NotFoundError);
  });
});
