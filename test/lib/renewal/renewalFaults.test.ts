import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError } from '../../../src/lib/errors.js';
import type { RenewalStep } from '../../../src/lib/renewal/renewalContext.js';
import { assertRenewalInvariants, credentialBaseline, renewalViolations } from '../../support/renewalInvariants.js';
import { makeDue, scheduleDueRenewal, startRenewalWorld, type RenewalWorld } from '../../support/renewalWorld.js';

/**
 * Fault injection (issue 5, point 7): a crash after every step, duplicate and concurrent deliveries,
 * a doubled timer, manual and scheduled renewals racing, and outages of every service; after each,
 * the shared invariants of test/support/renewalInvariants.ts.
 */

const DAY = 24 * 3600_000;
const admin = { oid: 'admin-oid', name: 'Ada Admin' };
let world: RenewalWorld;

beforeAll(async () => {
  world = await startRenewalWorld();
});
afterAll(() => world.close());

/** An app with a verified managed certificate and an expired one of the rotator's (so cleanup has work). */
async function managedApp(): Promise<string> {
  const { registration, app } = await world.createManagedApp();
  const service = world.service();
  await service.generate(app.config.appId, admin);
  await world.drain(service);
  const { generateCertificate } = await import('../../../src/lib/certificates/generateCertificate.js');
  const old = await generateCertificate({ displayName: 'old', lifetimeDays: 30, now: new Date(Date.now() - 400 * DAY) });
  world.graph.seedCertificate(registration.appId, old.der, { displayName: 'entra-cert-rotator (expired)' });
  return app.config.appId;
}

async function completed(appId: string, renewalId: string): Promise<void> {
  const state = (await world.store.getApp(appId))!.state;
  expect(state.renewal).toMatchObject({ id: renewalId, stage: 'completed' });
  expect(state.verifiedAt).toBeDefined();
  expect(state.pendingNotifications).toEqual([]);
}

const STEPS: RenewalStep[] = ['leased', 'generated', 'imported', 'added', 'recorded', 'queued', 'verified', 'notified', 'cleaned'];

describe('a crash after each step, then redelivery', () => {
  it.each(STEPS)('after %s', async (crashAfter) => {
    const appId = await managedApp();
    const before = credentialBaseline(world, appId);
    const message = await scheduleDueRenewal(world, appId);
    let crashed = 0;
    const service = world.service({
      afterStep: (step, m) => {
        if (step === crashAfter && m.renewalId === message.renewalId && crashed === 0) {
          crashed += 1;
          throw new Error(`process died after ${step}`);
        }
      },
    });
    const { poisoned } = await world.drain(service);
    expect(crashed).toBe(1);
    expect(poisoned).toBe(0);
    await completed(appId, message.renewalId);
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });
});

describe('duplicates and races', () => {
  it('one message delivered twice in a row', async () => {
    const appId = await managedApp();
    const before = credentialBaseline(world, appId);
    const message = await scheduleDueRenewal(world, appId);
    const service = world.service();
    expect(await service.processQueueMessage(message, { dequeueCount: 1 })).toBe('done');
    expect(await service.processQueueMessage(message, { dequeueCount: 1 })).toBe('done');
    await world.drain(service); // the queued copy and the confirm stages
    await completed(appId, message.renewalId);
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });

  it('one message delivered twice at once', async () => {
    const appId = await managedApp();
    const before = credentialBaseline(world, appId);
    const message = await scheduleDueRenewal(world, appId);
    const service = world.service();
    const outcomes = await Promise.all([
      service.processQueueMessage(message, { dequeueCount: 1 }),
      service.processQueueMessage(message, { dequeueCount: 1 }),
    ]);
    expect(outcomes.filter((o) => o === 'done').length).toBeGreaterThanOrEqual(1);
    await world.drain(service);
    await completed(appId, message.renewalId);
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });

  it('the timer firing twice at once in one due period', async () => {
    const appId = await managedApp();
    const before = credentialBaseline(world, appId);
    await makeDue(world, appId);
    const service = world.service();
    const count = world.enqueued.length;
    await Promise.all([world.scheduler(service).tick(), world.scheduler(service).tick()]);
    await world.scheduler(service).tick();
    const sent = world.enqueued.slice(count).filter((e) => e.message.appId === appId);
    expect(sent).toHaveLength(1);
    await world.drain(service);
    await completed(appId, sent[0]!.message.renewalId);
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });

  it('a manual and a scheduled renewal at once, 20 times', async () => {
    const appId = await managedApp();
    const before = credentialBaseline(world, appId);
    const service = world.service();
    // Twenty renewals' valid certificates stay on the app (none has expired): room for them.
    world.graph.maxKeyCredentials = 64;
    let renewals = 0;
    for (let i = 0; i < 20; i++) {
      await scheduleDueRenewal(world, appId);
      const [manual] = await Promise.allSettled([service.generate(appId, admin), world.drain(service)]);
      if (manual.status === 'rejected') expect(manual.reason, String(manual.reason)).toBeInstanceOf(ConflictError);
      await world.drain(service);
      // Whichever won, the app's need was met once: one renewal, completed.
      renewals += 1;
      const state = (await world.store.getApp(appId))!.state;
      expect(state.renewal?.stage).toBe('completed');
      expect(world.graph.application(appId)!.keyCredentials.length).toBe(before.credentials.length - 1 + renewals);
    }
    world.graph.maxKeyCredentials = 20;
    await assertRenewalInvariants(world, before, { newCertificates: renewals });
  });
});

describe('outages', () => {
  it('a deploy refused for good (no room on the app registration): recorded at once, and Key Vault names the current certificate again at once', async () => {
    // Found by the chaos soak (issue 20.6): the failure was recorded and emailed on the first
    // delivery while Key Vault's latest version stayed the certificate Entra refused until the
    // queue's last delivery, minutes later, for whatever reads the latest version.
    const appId = await managedApp();
    const { createSelfSignedCertificate, generateRsaKeyPair } = await import('../../../src/lib/certificates/generateCertificate.js');
    const keyPair = await generateRsaKeyPair(2048);
    // Full even once the rotator's expired certificate is removed.
    while (world.graph.application(appId)!.keyCredentials.length <= world.graph.maxKeyCredentials) {
      const foreign = createSelfSignedCertificate(keyPair, { displayName: 'Uploaded by an admin', lifetimeDays: 365 });
      world.graph.seedCertificate(appId, foreign.der, { displayName: 'Uploaded by an admin' });
    }
    const before = credentialBaseline(world, appId);
    const message = await scheduleDueRenewal(world, appId);
    const service = world.service();
    // One delivery (the queue would retry it).
    await expect(world.drain(service, { maxDeliveries: 1 })).rejects.toThrow(/did not drain within 1 deliveries/);
    const stored = (await world.store.getApp(appId))!;
    expect(stored.state.renewal).toMatchObject({ id: message.renewalId, stage: 'failed' });
    expect(stored.state.lastError).toMatch(/too many credentials/);
    const versions = world.keyVault.versions(stored.config.keyVault.certificateName);
    expect(
      versions.some((v) => v.tags.renewalId === message.renewalId),
      'the refused certificate went to Key Vault',
    ).toBe(true);
    expect(versions.at(-1)?.thumbprint, 'Key Vault’s latest version after the first delivery').toBe(stored.state.currentThumbprint);
    expect(await renewalViolations(world, before)).toEqual([]);
    // The queue's remaining deliveries change nothing.
    await world.drain(service);
    expect(await renewalViolations(world, before)).toEqual([]);
  });

  it('a Graph 429 storm longer than one attempt’s retries', async () => {
    const appId = await managedApp();
    const before = credentialBaseline(world, appId);
    const message = await scheduleDueRenewal(world, appId);
    const storm = world.graph.throttle('update-application', { retryAfterSeconds: 0, times: 4 });
    const { delivered } = await world.drain(world.service());
    expect(storm.served).toBe(4);
    expect(delivered).toBeGreaterThan(2); // one attempt gave up and the message came back (deploy and confirm alone are 2)
    await completed(appId, message.renewalId);
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });

  it('Key Vault down for N attempts', async () => {
    const appId = await managedApp();
    const before = credentialBaseline(world, appId);
    const message = await scheduleDueRenewal(world, appId);
    const outage = world.keyVault.server.inject('*', { status: 503, times: 7 });
    const { delivered } = await world.drain(world.service());
    expect(outage.served).toBe(7);
    expect(delivered).toBeGreaterThan(2); // the outage outlasted one attempt: the message came back
    await completed(appId, message.renewalId);
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });

  it.each([
    ['email', () => world.email.server.inject('*', { status: 503 })],
    ['Event Grid', () => world.eventGrid.server.inject('*', { status: 503 })],
  ])('%s down: the renewal completes once, the notification waits for the next tick', async (_name, fault) => {
    const appId = await managedApp();
    const before = credentialBaseline(world, appId);
    const message = await scheduleDueRenewal(world, appId);
    const outage = fault();
    try {
      const { delivered } = await world.drain(world.service());
      expect(delivered).toBe(2); // deploy and confirm, each once: nothing repeated
      expect(outage.served).toBeGreaterThan(0);
    } finally {
      world.email.server.clearFaults();
      world.eventGrid.server.clearFaults();
    }
    const state = (await world.store.getApp(appId))!.state;
    expect(state.renewal).toMatchObject({ id: message.renewalId, stage: 'completed' });
    expect(state.pendingNotifications.length).toBeGreaterThan(0);
    await assertRenewalInvariants(world, before, { newCertificates: 1 });

    await world.scheduler(world.service()).tick();
    await completed(appId, message.renewalId);
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });
});
