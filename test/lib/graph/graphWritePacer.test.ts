import { randomUUID } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import { ResponseType, type Client } from '@microsoft/microsoft-graph-client';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createSelfSignedCertificate, generateRsaKeyPair } from '../../../src/lib/certificates/generateCertificate.js';
import { ThrottledError } from '../../../src/lib/errors.js';
import { AppRegistrationClient } from '../../../src/lib/graph/appRegistrationClient.js';
import { createGraphClient } from '../../../src/lib/graph/graphClient.js';
import { GraphWritePacer } from '../../../src/lib/graph/graphWritePacer.js';
import { writeIntervalMs } from '../../../src/lib/graph/writePacing.js';
import { EntraAuthority } from '../../emulators/entraAuthority.js';
import { GraphEmulator } from '../../emulators/graph.js';
import { GRAPH_WRITE_LIMITS } from '../../emulators/graphThrottle.js';
import { loadOrCreateEmulatorTls } from '../../emulators/tls.js';

/**
 * The write pacer in the product's Graph client against the Graph emulator's write limits: what
 * each test proves is read from the emulator's request log (when each write arrived, what it got).
 */

const tenantId = randomUUID();
const rotator = { clientId: randomUUID(), oid: randomUUID() };
const neighbour = { clientId: randomUUID(), oid: randomUUID() };
let authority: EntraAuthority;
let graph: GraphEmulator;

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  authority = new EntraAuthority({ tls });
  graph = new GraphEmulator({ tls, authority });
  await Promise.all([authority.start(), graph.start()]);
  for (const caller of [rotator, neighbour]) {
    authority.registerClientSecret(tenantId, caller.clientId, 'secret', {
      roles: ['Application.ReadWrite.OwnedBy'],
      principalId: caller.oid,
    });
  }
});

afterAll(async () => {
  await Promise.all([authority.close(), graph.close()]);
});

beforeEach(() => {
  graph.writeThrottle.configure(GRAPH_WRITE_LIMITS);
  graph.server.resetCounters();
});

/** The product's Graph client with the given pacer (false: none), no retries, so every answer shows. */
function clientFor(caller: { clientId: string }, writePacer: GraphWritePacer | false): Client {
  const credential = new ClientSecretCredential(tenantId, caller.clientId, 'secret', {
    authorityHost: authority.url,
    disableInstanceDiscovery: true,
  });
  return createGraphClient({ credential, graphBaseUrl: graph.url, retry: { maxRetries: 0 }, writePacer });
}

const appOf = (owner: { oid: string }) =>
  graph.createApplication({ tenantId, displayName: `Paced ${randomUUID().slice(0, 6)}`, owners: [owner.oid] });

/** A write (PATCH displayName); its answer raw, as the pacer saw it. */
async function write(client: Client, appId: string): Promise<Response> {
  return (await client.api(`/applications/${appId}`).responseType(ResponseType.RAW).patch({ displayName: randomUUID() })) as Response;
}

/** The emulator's log of writes: when each arrived (ms) and its status. */
const writesSeen = () => graph.server.requests('update-application').map((r) => ({ at: r.at.getTime(), status: r.status }));

describe('GraphWritePacer', () => {
  it('spaces writes once Graph reports 80 % of a limit, and so stays clear of 429s that the same writes get unpaced', async () => {
    // 10 writes in the bucket, refilled one each 400 ms; paced writes are 600 ms apart at 0.8.
    const limits = { applicationTenant: { writes: 10, windowMs: 4000 } };
    const options = { slowIntervalMs: 600, throttledWaitMs: 30_000 };
    const app = appOf(rotator);

    graph.writeThrottle.configure(limits);
    const unpaced = clientFor(rotator, false);
    for (let i = 0; i < 16; i += 1) await write(unpaced, app.id);
    expect(writesSeen().filter((w) => w.status === 429).length).toBeGreaterThan(0);

    graph.writeThrottle.configure(limits);
    graph.server.resetCounters();
    const pacer = new GraphWritePacer(options);
    const paced = clientFor(rotator, pacer);
    const reported: number[] = [];
    for (let i = 0; i < 16; i += 1) {
      const answer = await write(paced, app.id);
      reported.push(Number(answer.headers.get('x-ms-throttle-limit-percentage') ?? 0));
    }
    const seen = writesSeen();
    expect(seen.map((w) => w.status)).toEqual(Array(16).fill(204));
    // Each write after one that reported 0.8 or more came its interval later. The emulator logs when a
    // request arrives, not when the pacer let it go: on a loaded machine one request's arrival lags
    // (a CI run saw 108 ms), shortening the gap after it by as much as it lengthens the gap before.
    // So each gap keeps at least half its interval (unpaced writes arrive milliseconds apart), and
    // the slowed gaps together, where one lag cancels out, keep their intervals within 200 ms.
    const slowed = reported.slice(0, -1).flatMap((usage, i) => (usage >= 0.8 ? [{ gap: seen[i + 1]!.at - seen[i]!.at, usage }] : []));
    expect(slowed.length).toBeGreaterThan(0);
    for (const { gap, usage } of slowed) expect(gap).toBeGreaterThanOrEqual(0.5 * writeIntervalMs(usage, options));
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    expect(sum(slowed.map((s) => s.gap))).toBeGreaterThanOrEqual(sum(slowed.map((s) => writeIntervalMs(s.usage, options))) - 200);
  });

  it('holds every client sharing it until a 429’s Retry-After has passed', async () => {
    graph.writeThrottle.configure({ tenant: { writes: 1, windowMs: 1000 } });
    const pacer = new GraphWritePacer({ slowIntervalMs: 0 });
    const mine = clientFor(rotator, pacer);
    const theirs = clientFor(neighbour, pacer);
    const app = appOf(rotator);
    const other = appOf(neighbour);
    expect((await write(mine, app.id)).status).toBe(204);
    const throttled = await write(mine, app.id);
    expect(throttled.status).toBe(429);
    const retryAfterMs = Number(throttled.headers.get('retry-after')) * 1000;
    expect(retryAfterMs).toBeGreaterThan(1000);
    // The other client shares the pacer (and, in Graph, the tenant's bucket): it waits too.
    expect((await write(theirs, other.id)).status).toBe(204);
    const [, refused, next] = writesSeen();
    expect(refused!.status).toBe(429);
    expect(next!.at - refused!.at).toBeGreaterThanOrEqual(retryAfterMs - 20);
  });

  it('throws a wait beyond its bound as ThrottledError carrying it, without sending the write', async () => {
    const app = appOf(rotator);
    const certificate = createSelfSignedCertificate(await generateRsaKeyPair(2048), { displayName: 'held', lifetimeDays: 30 });
    const seeded = graph.seedCertificate(app.id, certificate.der);
    graph.writeThrottle.configure({ applicationTenant: { writes: 1, windowMs: 10_000 } });
    const client = clientFor(rotator, new GraphWritePacer({ maxWaitMs: 1000, slowIntervalMs: 0 }));
    expect((await write(client, app.id)).status).toBe(204);
    // Retry-After about 20 s: two writes' refill, the throttled one charged too.
    expect((await write(client, app.id)).status).toBe(429);
    const applications = new AppRegistrationClient({ graph: client });
    const error = await applications
      .removeCertificate(app.appId, seeded.keyId, { mode: { graphMode: 'owner' }, force: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ThrottledError);
    expect((error as ThrottledError).retryAfterSeconds).toBeGreaterThan(1);
    expect((error as ThrottledError).retryAfterSeconds).toBeLessThanOrEqual(20);
    expect(writesSeen().map((w) => w.status)).toEqual([204, 429]);
    expect(graph.application(app.id)!.keyCredentials.map((c) => c.keyId)).toContain(seeded.keyId);
  });
});
