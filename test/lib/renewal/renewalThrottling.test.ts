import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_DEQUEUE_COUNT } from '../../../src/lib/domain/renewalMessage.js';
import { GraphWritePacer } from '../../../src/lib/graph/graphWritePacer.js';
import { GRAPH_WRITE_LIMITS } from '../../emulators/graphThrottle.js';
import { assertRenewalInvariants, credentialBaseline } from '../../support/renewalInvariants.js';
import { makeDue, peekAll, scheduleDueRenewal, startRenewalWorld, type RenewalWorld } from '../../support/renewalWorld.js';

/**
 * Issue 19: renewals inside Microsoft Graph's write limits. Throttling is waited out, never spent as
 * a delivery: a fleet due at once against a tight write budget, and a 429 storm longer than the
 * queue's deliveries, both end with every renewal verified, nothing in the poison queue and no
 * failure recorded. The world's Graph clients share one write pacer, as the composition root's do.
 */

const admin = { oid: 'admin-oid', name: 'Ada Admin' };
let world: RenewalWorld;

beforeAll(async () => {
  world = await startRenewalWorld({ graphWritePacer: new GraphWritePacer({ slowIntervalMs: 100, maxWaitMs: 1000 }) });
});
afterAll(() => world.close());
afterEach(() => {
  world.graph.writeThrottle.configure(GRAPH_WRITE_LIMITS);
  world.graph.server.clearFaults();
});

/** An app with a verified managed certificate. */
async function managedApp(): Promise<string> {
  const { app } = await world.createManagedApp();
  const service = world.service();
  await service.generate(app.config.appId, admin);
  await world.drain(service);
  return app.config.appId;
}

/** The renewal ended verified, and nothing on the way was recorded as a failure. */
async function verifiedWithoutFailure(appId: string, renewalId: string): Promise<void> {
  const state = (await world.store.getApp(appId))!.state;
  expect(state.renewal).toMatchObject({ id: renewalId, stage: 'completed' });
  expect(state.verifiedAt).toBeDefined();
  expect(state.consecutiveFailures).toBe(0);
  const history = (await world.store.listHistory(appId, { maxPageSize: 100 })).items;
  expect(history.filter((h) => h.outcome === 'failed')).toEqual([]);
}

async function poisoned(): Promise<string[]> {
  return (await world.poisonQueue.exists()) ? peekAll(world.poisonQueue) : [];
}

/** Deploy messages put back because they were throttled. */
const throttledPutBacks = (renewalIds: ReadonlySet<string>) =>
  world.enqueued.filter((e) => renewalIds.has(e.message.renewalId) && e.message.stage === 'deploy' && e.message.throttled !== undefined);

describe('throttled renewals', () => {
  it('a fleet due at once against a tight write budget: throttled and paced, every renewal verified, none poisoned', async () => {
    const appIds = [];
    for (let i = 0; i < 5; i += 1) appIds.push(await managedApp());
    const before = appIds.map((appId) => credentialBaseline(world, appId));
    for (const appId of appIds) await makeDue(world, appId);
    const queued = world.enqueued.length;
    await world.scheduler(world.service()).tick();
    const messages = world.enqueued.slice(queued).map((e) => e.message);
    expect(messages.map((m) => m.appId).sort()).toEqual([...appIds].sort());

    // Two writes in the bucket, one more every 3 s: five renewals cannot all write at once.
    world.graph.writeThrottle.configure({ applicationTenant: { writes: 2, windowMs: 6000 } });
    world.graph.server.resetCounters();
    const service = world.service();
    // The five deploy messages delivered together, as the host runs a batch; then the queue drained
    // (what was put back, and the confirm stages) as the host would.
    await world.queue.clearMessages();
    const outcomes = await Promise.all(messages.map((m) => service.processQueueMessage(m, { dequeueCount: 1 })));
    expect(outcomes).toContain('postponed');
    const drained = await world.drain(service, { waitForDelayedMs: 120_000 });

    expect(drained.poisoned).toBe(0);
    expect(await poisoned()).toEqual([]);
    // Graph did throttle, and a renewal held back (by the 429 or the pacer) went back to the queue.
    expect(world.graph.server.requests('update-application').filter((r) => r.status === 429).length).toBeGreaterThan(0);
    expect(throttledPutBacks(new Set(messages.map((m) => m.renewalId))).length).toBeGreaterThan(0);
    for (const message of messages) await verifiedWithoutFailure(message.appId, message.renewalId);
    for (const baseline of before) await assertRenewalInvariants(world, baseline, { newCertificates: 1 });
  });

  it('a 429 storm longer than every delivery the queue allows: put back each time, never poisoned, verified', async () => {
    const appId = await managedApp();
    const before = credentialBaseline(world, appId);
    const message = await scheduleDueRenewal(world, appId);
    // Each delivery's Graph client tries three times; eighteen 429s outlast six deliveries, one more
    // than maxDequeueCount, where a counted delivery would have gone to the poison queue.
    const storm = world.graph.throttle('update-application', { retryAfterSeconds: 0, times: 18 });
    const { poisoned: moved } = await world.drain(world.service(), { waitForDelayedMs: 60_000 });

    expect(storm.served).toBe(18);
    expect(moved).toBe(0);
    expect(await poisoned()).toEqual([]);
    const putBack = throttledPutBacks(new Set([message.renewalId])).map((e) => e.message.throttled);
    expect(putBack).toEqual([1, 2, 3, 4, 5, 6]);
    expect(putBack.length).toBeGreaterThan(MAX_DEQUEUE_COUNT);
    await verifiedWithoutFailure(appId, message.renewalId);
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });
});
