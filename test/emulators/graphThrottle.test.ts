import { randomUUID } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import { ResponseType, type Client } from '@microsoft/microsoft-graph-client';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createSelfSignedCertificate, generateRsaKeyPair } from '../../src/lib/certificates/generateCertificate.js';
import { AppRegistrationClient } from '../../src/lib/graph/appRegistrationClient.js';
import { createGraphClient } from '../../src/lib/graph/graphClient.js';
import { EntraAuthority } from './entraAuthority.js';
import { GraphEmulator } from './graph.js';
import { GRAPH_WRITE_LIMITS } from './graphThrottle.js';
import { loadOrCreateEmulatorTls } from './tls.js';

/**
 * The Graph emulator's write limits (graphThrottle.ts), spoken to by the Graph client the product
 * uses (createGraphClient), its retries and pacing off where a test reads the raw 429.
 */

const tenantId = randomUUID();
const otherTenantId = randomUUID();
const rotator = { clientId: randomUUID(), oid: randomUUID() };
const neighbour = { clientId: randomUUID(), oid: randomUUID() };
const stranger = { clientId: randomUUID(), oid: randomUUID() };
const LONG = 600_000;

let authority: EntraAuthority;
let graph: GraphEmulator;
let rotatorGraph: Client;
let neighbourGraph: Client;
let strangerGraph: Client;

/**
 * The product's Graph client: raw (no retries, no pacing), or as the product builds it (`product`),
 * save a fallback retry delay of 0, so that only Retry-After can explain a wait.
 */
function clientFor(tenant: string, caller: { clientId: string }, product = false): Client {
  const credential = new ClientSecretCredential(tenant, caller.clientId, 'secret', {
    authorityHost: authority.url,
    disableInstanceDiscovery: true,
  });
  return product
    ? createGraphClient({ credential, graphBaseUrl: graph.url, retry: { delaySeconds: 0 } })
    : createGraphClient({ credential, graphBaseUrl: graph.url, retry: { maxRetries: 0 }, writePacer: false });
}

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  authority = new EntraAuthority({ tls });
  graph = new GraphEmulator({ tls, authority });
  await Promise.all([authority.start(), graph.start()]);
  for (const [tenant, caller] of [
    [tenantId, rotator],
    [tenantId, neighbour],
    [otherTenantId, stranger],
  ] as const) {
    authority.registerClientSecret(tenant, caller.clientId, 'secret', {
      roles: ['Application.ReadWrite.OwnedBy'],
      principalId: caller.oid,
    });
  }
  rotatorGraph = clientFor(tenantId, rotator);
  neighbourGraph = clientFor(tenantId, neighbour);
  strangerGraph = clientFor(otherTenantId, stranger);
});

afterAll(async () => {
  await Promise.all([authority.close(), graph.close()]);
});

beforeEach(() => {
  graph.writeThrottle.configure(GRAPH_WRITE_LIMITS);
});

const appOf = (owner: { oid: string }, options: { tenant?: string; signInAudience?: string } = {}) =>
  graph.createApplication({
    tenantId: options.tenant ?? tenantId,
    displayName: `Throttled ${randomUUID().slice(0, 6)}`,
    owners: [owner.oid],
    signInAudience: options.signInAudience,
  });

/** A write (PATCH displayName) answered raw, as the SDK hands a raw response over: a 429 too. */
async function write(
  client: Client,
  appId: string,
  name: string = randomUUID(),
): Promise<{ status: number; headers: Headers; code?: string }> {
  const response = (await client.api(`/applications/${appId}`).responseType(ResponseType.RAW).patch({ displayName: name })) as Response;
  const body = response.ok ? undefined : ((await response.json()) as { error?: { code?: string } });
  return { status: response.status, headers: response.headers, code: body?.error?.code };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Graph write limits', () => {
  it('are Graph’s published numbers by default', () => {
    expect(graph.writeThrottle.limits).toEqual({
      applicationTenant: { writes: 3000, windowMs: 150_000 },
      tenant: { writes: 18_000, windowMs: 300_000 },
      personalAccountApplication: { writes: 60, windowMs: 60_000 },
    });
  });

  it('answer a write past an application+tenant bucket with 429, Retry-After and the throttle headers; reads go on', async () => {
    graph.writeThrottle.configure({ applicationTenant: { writes: 10, windowMs: LONG } });
    const app = appOf(rotator);
    const answers = [];
    for (let i = 0; i < 10; i += 1) answers.push(await write(rotatorGraph, app.id, `write ${i}`));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(204));
    expect(answers.map((a) => a.headers.get('x-ms-resource-unit'))).toEqual(Array(10).fill('1'));
    // Only past 0.8 of the limit, as a fraction of it.
    expect(answers.slice(0, 7).map((a) => a.headers.get('x-ms-throttle-limit-percentage'))).toEqual(Array(7).fill(null));
    expect(answers.slice(8).map((a) => a.headers.get('x-ms-throttle-limit-percentage'))).toEqual(['0.90', '1.00']);

    const throttled = await write(rotatorGraph, app.id, 'too many');
    expect(throttled.status).toBe(429);
    expect(throttled.code).toBe('TooManyRequests');
    expect(throttled.headers.get('x-ms-throttle-scope')).toBe(`Tenant_Application/Write/${rotator.clientId}/${tenantId}`);
    expect(throttled.headers.get('x-ms-throttle-information')).toBe('WriteLimitExceeded');
    // Seconds until the bucket holds a write again, the throttled write charged too: 2 × 60 s.
    const retryAfter = Number(throttled.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(119);
    expect(retryAfter).toBeLessThanOrEqual(120);
    expect(graph.application(app.id)!.displayName).toBe('write 9');

    // Reads cost no write: still served, unmarked.
    const read = (await rotatorGraph.api(`/applications/${app.id}`).responseType(ResponseType.RAW).get()) as Response;
    expect(read.status).toBe(200);
    expect(read.headers.get('x-ms-resource-unit')).toBeNull();
  });

  it('charge every write route, refused requests included: PATCH, addKey, removeKey', async () => {
    graph.writeThrottle.configure({ applicationTenant: { writes: 3, windowMs: LONG } });
    const app = appOf(rotator);
    expect((await write(rotatorGraph, app.id)).status).toBe(204);
    const refused = async (action: string) =>
      ((await rotatorGraph.api(`/applications/${app.id}/${action}`).responseType(ResponseType.RAW).post({})) as Response).status;
    expect(await refused('addKey')).toBe(400);
    expect(await refused('removeKey')).toBe(400);
    expect((await write(rotatorGraph, app.id)).status).toBe(429);
  });

  it('serve a write again once Retry-After has passed; a retry before it digs deeper', async () => {
    graph.writeThrottle.configure({ applicationTenant: { writes: 2, windowMs: 1000 } });
    const app = appOf(rotator);
    expect((await write(rotatorGraph, app.id)).status).toBe(204);
    expect((await write(rotatorGraph, app.id)).status).toBe(204);
    const first = await write(rotatorGraph, app.id);
    expect(first.status).toBe(429);
    const early = await write(rotatorGraph, app.id);
    expect(early.status).toBe(429);
    const wait = Number(early.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(Number(first.headers.get('retry-after')));
    await sleep(wait * 1000);
    expect((await write(rotatorGraph, app.id)).status).toBe(204);
  });

  it('share the tenant’s bucket between every application in it, not with another tenant', async () => {
    graph.writeThrottle.configure({ applicationTenant: { writes: 100, windowMs: LONG }, tenant: { writes: 4, windowMs: LONG } });
    const mine = appOf(rotator);
    const theirs = appOf(neighbour);
    for (let i = 0; i < 4; i += 1) expect((await write(rotatorGraph, mine.id)).status).toBe(204);
    const squeezed = await write(neighbourGraph, theirs.id);
    expect(squeezed.status).toBe(429);
    expect(squeezed.headers.get('x-ms-throttle-scope')).toBe(`Tenant/Write/${neighbour.clientId}/${tenantId}`);
    expect((await write(strangerGraph, appOf(stranger, { tenant: otherTenantId }).id)).status).toBe(204);
  });

  it('limit an application whose audience includes personal accounts to its own 60 writes a minute, by default', async () => {
    const personal = appOf(rotator, { signInAudience: 'AzureADandPersonalMicrosoftAccount' });
    const organisational = appOf(rotator);
    // 60 in the bucket, refilled at one a second: the writes that get through before the first 429
    // are the 60 and what the time they took refilled.
    const started = Date.now();
    let served = 0;
    while ((await write(rotatorGraph, personal.id)).status === 204) served += 1;
    expect(served).toBeGreaterThanOrEqual(60);
    expect(served).toBeLessThanOrEqual(60 + Math.ceil((Date.now() - started) / 1000));
    const throttled = await write(rotatorGraph, personal.id);
    expect(throttled.headers.get('x-ms-throttle-scope')).toBe(`Tenant_Application/Write/${rotator.clientId}/${personal.id}`);
    expect((await rotatorGraph.api(`/applications/${personal.id}`).select('signInAudience').get()) as unknown).toMatchObject({
      signInAudience: 'AzureADandPersonalMicrosoftAccount',
    });
    // Another application of the same caller is not held back.
    expect((await write(rotatorGraph, organisational.id)).status).toBe(204);
  });

  it('is honoured by the product’s client: the SDK waits the fractional Retry-After and the write goes through', async () => {
    graph.writeThrottle.configure({ applicationTenant: { writes: 1, windowMs: 1500 } });
    const app = appOf(rotator);
    const applications = new AppRegistrationClient({ graph: clientFor(tenantId, rotator, true) });
    const keyPair = await generateRsaKeyPair(2048);
    const certificate = createSelfSignedCertificate(keyPair, { displayName: 'paced', lifetimeDays: 30 });
    graph.server.resetCounters();
    expect((await write(rotatorGraph, app.id)).status).toBe(204);
    const added = await applications.addCertificate(app.appId, {
      certificate: { der: certificate.der, notBefore: certificate.notBefore, notAfter: certificate.notAfter },
      keyId: randomUUID(),
      mode: { graphMode: 'owner' },
    });
    expect(added.added).toBe(true);
    const writes = graph.server.requests('update-application');
    expect(writes.map((r) => r.status)).toEqual([204, 429, 204]);
    const [, throttledAt, retriedAt] = writes.map((r) => r.at.getTime());
    // The retry came no sooner than the 429 asked: the throttled write is charged too, so more than
    // one write's refill (1.5 s), where the SDK's own backoff without Retry-After is under a second.
    expect(retriedAt! - throttledAt!).toBeGreaterThanOrEqual(1500);
  });
});
