import { randomUUID } from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readHostJson, timeSpanMs } from '../../../tools/local-host/hostSettings.js';
import type { AppStore } from '../../../src/lib/tables/appStore.js';
import { generateCertificate } from '../../../src/lib/certificates/generateCertificate.js';
import { IMPORT_PFX_ITERATIONS } from '../../../src/lib/certificates/pfx.js';
import { ConflictError, RetriableError } from '../../../src/lib/errors.js';
import { graphScopeFor } from '../../../src/lib/graph/graphClient.js';
import { AppSignInVerifier } from '../../../src/lib/graph/signInVerifier.js';
import type { RenewalMessage, SignInVerifier } from '../../../src/lib/domain/ports.js';
import { FUNCTION_TIMEOUT_SECONDS, MAX_DEQUEUE_COUNT, QUEUE_VISIBILITY_TIMEOUT_SECONDS } from '../../../src/lib/domain/renewalMessage.js';
import { keyIdForRenewal } from '../../../src/lib/renewal/deployStage.js';
import { assertRenewalInvariants, credentialBaseline } from '../../support/renewalInvariants.js';
import { peekAll, scheduleDueRenewal, startRenewalWorld, type RenewalWorld } from '../../support/renewalWorld.js';
import type { InjectedFault } from '../../emulators/emulatorServer.js';

let world: RenewalWorld;
const admin = { oid: 'admin-oid', name: 'Ada Admin' };

beforeAll(async () => {
  world = await startRenewalWorld();
});
afterAll(() => world.close());

describe('manual generation then confirmation', () => {
  it('deploys inline, then the confirm stage verifies by sign-in, emails, emits the event and completes', async () => {
    const { registration, app } = await world.createManagedApp();
    const service = world.service();

    const deployed = await service.generate(app.config.appId, admin);
    expect(deployed.keyId).toBe(keyIdForRenewal(deployed.renewalId));
    expect(new X509Certificate(deployed.certificate!.der).checkPrivateKey(deployed.certificate!.privateKey!)).toBe(true);

    // On the app registration, in Key Vault, and in the state, all naming the same certificate.
    const onGraph = world.graph.application(registration.appId)!.keyCredentials;
    expect(onGraph.map((c) => c.keyId)).toContain(deployed.keyId);
    const latest = world.keyVault.latest(app.config.keyVault.certificateName)!;
    expect(latest.thumbprint).toBe(deployed.thumbprint);
    expect(latest.tags).toMatchObject({ renewalId: deployed.renewalId, appId: app.config.appId });
    // The PFX that carried the key to Key Vault spent one KDF iteration (its password travels beside it).
    const importBody = JSON.parse(world.keyVault.server.requests('importCertificate').at(-1)!.body) as { value: string };
    const pfxRoot = forge.asn1.fromDer(Buffer.from(importBody.value, 'base64').toString('binary'));
    const macData = (pfxRoot.value as forge.asn1.Asn1[])[2]!;
    expect(forge.asn1.derToInteger((macData.value as forge.asn1.Asn1[])[2]!.value as string)).toBe(IMPORT_PFX_ITERATIONS);
    const deployedState = (await world.store.getApp(app.config.appId))!.state;
    expect(deployedState).toMatchObject({ currentThumbprint: deployed.thumbprint, keyId: deployed.keyId, lastOutcome: 'deployed' });
    expect(deployedState.verifiedAt).toBeUndefined();
    expect(deployedState.lease).toBeUndefined();

    const { delivered, poisoned } = await world.drain(service);
    expect(delivered).toBe(1);
    expect(poisoned).toBe(0);

    const state = (await world.store.getApp(app.config.appId))!.state;
    expect(state.verifiedAt).toBeDefined();
    expect(state.renewal).toMatchObject({ id: deployed.renewalId, stage: 'completed', trigger: 'manual', requestedBy: admin });
    expect(state.pendingNotifications).toEqual([]);
    expect(world.email.messages().map((m) => m.message.content.subject)).toEqual([expect.stringContaining('New certificate generated')]);
    const events = world.eventGrid
      .events()
      .map((e) => e.event)
      .filter((e) => e.source === `/entra-cert-rotator/apps/${app.config.appId}`);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'EntraCertRotator.CertificateGenerated', id: `generated:${deployed.renewalId}` });
    expect(events[0]!.data).toMatchObject({ thumbprint: deployed.thumbprint, keyId: deployed.keyId, trigger: 'manual' });
  });
});

// --- shared helpers for the stage, idempotency, concurrency and failure tests -------------------

const DAY = 24 * 3600_000;

/** An app with a verified managed certificate, plus an expired one of the rotator's and a foreign one. */
async function managedAppWithHistory(config?: Parameters<RenewalWorld['createManagedApp']>[0]) {
  const { registration, app } = await world.createManagedApp(config);
  const service = world.service();
  await service.generate(app.config.appId, admin);
  await world.drain(service);
  const expiredCert = await generateCertificate({ displayName: 'old', lifetimeDays: 30, now: new Date(Date.now() - 400 * DAY) });
  const expired = world.graph.seedCertificate(registration.appId, expiredCert.der, { displayName: 'entra-cert-rotator (expired)' });
  const foreignCert = await generateCertificate({ displayName: 'foreign', lifetimeDays: 30, now: new Date(Date.now() - 400 * DAY) });
  const foreign = world.graph.seedCertificate(registration.appId, foreignCert.der, { displayName: 'CN=foreign' });
  return { appId: app.config.appId, expired, foreign, stored: (await world.store.getApp(app.config.appId))! };
}

/** The world's store, running `before` ahead of each updateApp: where a test lets another writer in. */
function storeInterleaving(before: (...args: Parameters<AppStore['updateApp']>) => Promise<void>): AppStore {
  return new Proxy(world.store, {
    get(target, property) {
      if (property === 'updateApp') {
        return async (...args: Parameters<AppStore['updateApp']>) => {
          await before(...args);
          return target.updateApp(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const keyCredentialIds = (appId: string) => world.graph.application(appId)!.keyCredentials.map((c) => c.keyId);

describe('the two stages', () => {
  it('queues the confirm stage with a visibility delay and does not confirm before it is delivered', async () => {
    const { app } = await world.createManagedApp();
    const service = world.service({ settings: { leaseSeconds: 600, verifyWindowMinutes: 1, confirmDelaySeconds: 45 } });
    const deployed = await service.generate(app.config.appId, admin);
    const confirm = world.enqueued.find((e) => e.message.renewalId === deployed.renewalId && e.message.stage === 'confirm');
    expect(confirm?.visibilityDelaySeconds).toBe(45);
    const { delivered } = await world.drain(service);
    expect(delivered).toBe(0); // still invisible
    expect((await world.store.getApp(app.config.appId))!.state).toMatchObject({ lastOutcome: 'deployed', renewal: { stage: 'deployed' } });
    expect((await world.store.getApp(app.config.appId))!.state.verifiedAt).toBeUndefined();
    await world.queue.clearMessages();
  });

  it('waits out Entra’s propagation before trusting the new certificate; nothing older is removed meanwhile', async () => {
    const { appId, expired, foreign } = await managedAppWithHistory();
    const before = credentialBaseline(world, appId);
    const real = new AppSignInVerifier({
      tenantId: world.tenantId,
      authorityHost: world.authority.url,
      scope: graphScopeFor(world.graph.url),
    });
    const seen: { refused: boolean; credentials: string[] }[] = [];
    // Our port, decorated to watch the app registration at every sign-in attempt.
    const verifier: SignInVerifier = {
      async verify(id, signer) {
        const credentials = keyCredentialIds(id);
        try {
          await real.verify(id, signer);
          seen.push({ refused: false, credentials });
        } catch (error) {
          seen.push({ refused: true, credentials });
          throw error;
        }
      },
    };
    const service = world.service({ verifier });
    world.authority.refuseNewCertificatesFor(0.6);
    try {
      await service.generate(appId, admin);
      await world.drain(service);
    } finally {
      world.authority.refuseNewCertificatesFor(0);
    }
    expect(seen.filter((s) => s.refused).length).toBeGreaterThan(0);
    expect(seen.at(-1)!.refused).toBe(false);
    for (const s of seen) expect(s.credentials).toContain(expired.keyId);
    const after = keyCredentialIds(appId);
    expect(after).not.toContain(expired.keyId); // removed once the new one was verified
    expect(after).toContain(foreign.keyId); // never the rotator's to remove
    expect((await world.store.getApp(appId))!.state.verifiedAt).toBeDefined();
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });

  it('fails a renewal whose certificate never signs in, after the last delivery, removing nothing', async () => {
    const { appId, expired } = await managedAppWithHistory();
    const before = credentialBaseline(world, appId);
    world.email.clearMessages();
    const service = world.service({
      settings: { leaseSeconds: 600, verifyWindowMinutes: 0.005, confirmDelaySeconds: 0, verifyRetryMaxDelayMs: 50 },
    });
    world.authority.refuseNewCertificatesFor(3600);
    let drained;
    try {
      const deployed = await service.generate(appId, admin);
      drained = await world.drain(service);
      expect(drained).toEqual({ delivered: MAX_DEQUEUE_COUNT, poisoned: 1 });
      const state = (await world.store.getApp(appId))!.state;
      expect(state).toMatchObject({ lastOutcome: 'failed', renewal: { id: deployed.renewalId, stage: 'failed' }, consecutiveFailures: 1 });
      expect(state.verifiedAt).toBeUndefined();
      expect(state.lastError).toMatch(/did not sign in within/);
      expect(keyCredentialIds(appId)).toContain(expired.keyId);
      const history = (await world.store.listHistory(appId)).items;
      expect(history[0]).toMatchObject({ action: 'renewal.confirm', outcome: 'failed' });
      const poisoned = await peekAll(world.poisonQueue);
      expect(poisoned.map((m) => JSON.parse(m) as RenewalMessage)).toContainEqual(
        expect.objectContaining({ renewalId: deployed.renewalId, stage: 'confirm' }),
      );
      expect(world.email.messages().map((m) => m.message.content.subject)).toEqual([expect.stringContaining('renewal FAILED')]);
      const failedEvents = world.eventGrid.events().filter((e) => e.event.id === `failed:${deployed.renewalId}`);
      expect(failedEvents.map((e) => e.event.type)).toEqual(['EntraCertRotator.CertificateRenewalFailed']);
      expect(world.logs.filter((l) => l.startsWith('renewal failed') && l.includes(deployed.renewalId))).toHaveLength(1);
      // The unverified certificate does not push the app's renewal months out: it is due again
      // after the failure backoff, and the scheduler then starts a new renewal.
      const retryAt = Date.parse(state.lastOutcomeAt!) + 3600_000;
      expect((await world.store.listDueApps(new Date(retryAt - 1000))).apps.map((a) => a.appId)).not.toContain(appId);
      expect((await world.store.listDueApps(new Date(retryAt))).apps.map((a) => a.appId)).toContain(appId);
      const tick = await world.scheduler(service, { now: () => new Date(retryAt) }).tick();
      expect(tick.enqueued).toBeGreaterThanOrEqual(1);
      const queued = (await world.store.getApp(appId))!.state.queued;
      expect(queued?.renewalId).toBeDefined();
      expect(queued?.renewalId).not.toBe(deployed.renewalId);
      await world.queue.clearMessages();
    } finally {
      world.authority.refuseNewCertificatesFor(0);
      await world.poisonQueue.clearMessages();
    }
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });
});

describe('an app disabled after its renewal was queued', () => {
  it.each(['drift', 'bootstrap'] as const)('is not renewed by a %s message delivered later', async (trigger) => {
    const { registration, app } = await world.createManagedApp();
    const appId = app.config.appId;
    const before = credentialBaseline(world, appId);
    const requestedAt = new Date().toISOString();
    await world.renewalQueue.enqueue({ appId, renewalId: randomUUID(), stage: 'deploy', trigger, requestedAt });
    const stored = (await world.store.getApp(appId))!;
    await world.store.updateApp(stored, { config: { ...stored.config, enabled: false } });
    const events = world.eventGrid.events().length;
    await world.drain(world.service());
    expect(world.graph.application(registration.appId)!.keyCredentials.map((c) => c.keyId)).toEqual(before.credentials.map((c) => c.keyId));
    expect(world.eventGrid.events().length).toBe(events);
    expect(world.logs.some((l) => l.includes('deploy skipped') && l.includes('management is off'))).toBe(true);
    expect((await world.store.getApp(appId))!.state.currentThumbprint).toBeUndefined();
  });
});

describe('one delivery’s time', () => {
  it('stops waiting for Entra a minute before the host would end the invocation, even with a longer lease and window', async () => {
    const { appId } = await managedAppWithHistory();
    let clock = Date.now();
    const service = world.service({
      settings: { leaseSeconds: 3600, verifyWindowMinutes: 60, confirmDelaySeconds: 0, verifyRetryMaxDelayMs: 20_000 },
      now: () => new Date(clock),
      sleep: (ms) => {
        clock += ms;
        return Promise.resolve();
      },
    });
    world.authority.refuseNewCertificatesFor(3600);
    try {
      const deployed = await service.generate(appId, admin);
      const started = clock;
      await expect(service.confirm({ appId, renewalId: deployed.renewalId, stage: 'confirm', trigger: 'manual' })).rejects.toThrow(
        /does not sign in yet/,
      );
      const waited = clock - started;
      expect(waited).toBeGreaterThanOrEqual((FUNCTION_TIMEOUT_SECONDS - 60) * 1000 - 20_000);
      expect(waited).toBeLessThanOrEqual((FUNCTION_TIMEOUT_SECONDS - 60) * 1000);
      // The lease is released for the next delivery, which goes on with what is left of the window.
      expect((await world.store.getApp(appId))!.state.lease).toBeUndefined();
    } finally {
      world.authority.refuseNewCertificatesFor(0);
      await world.queue.clearMessages();
    }
  });
});

describe('idempotency and concurrency', () => {
  it('a retry of the same renewal id reuses its Key Vault version and its keyId', async () => {
    const { appId, stored } = await managedAppWithHistory();
    const before = credentialBaseline(world, appId);
    const message = await scheduleDueRenewal(world, appId);
    const name = stored.config.keyVault.certificateName;
    const importsBefore = world.keyVault.versions(name).length;
    let crashed = false;
    const service = world.service({
      afterStep: (step, m) => {
        if (step === 'added' && m.renewalId === message.renewalId && !crashed) {
          crashed = true;
          throw new Error('crash after the credential was added');
        }
      },
    });
    await world.drain(service);
    expect(crashed).toBe(true);
    expect(world.keyVault.versions(name).length).toBe(importsBefore + 1);
    expect(world.keyVault.latest(name)!.tags.renewalId).toBe(message.renewalId);
    expect(keyCredentialIds(appId)).toContain(keyIdForRenewal(message.renewalId));
    expect((await world.store.getApp(appId))!.state.renewal).toMatchObject({ id: message.renewalId, stage: 'completed' });
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });

  it('a manual and a scheduled renewal at the same moment serialize on the lease: the second gets a conflict or is postponed', async () => {
    const { appId } = await managedAppWithHistory();
    const before = credentialBaseline(world, appId);
    const message = await scheduleDueRenewal(world, appId);
    const service = world.service();
    const [manual, scheduled] = await Promise.allSettled([
      service.generate(appId, admin),
      service.processQueueMessage(message, { dequeueCount: 1 }),
    ]);
    const outcomes = [
      // LeaseHeldError is the ConflictError (409) of a held lease.
      manual.status === 'fulfilled' ? 'deployed' : manual.reason instanceof ConflictError ? 'ConflictError' : (manual.reason as Error).name,
      scheduled.status === 'fulfilled' ? scheduled.value : 'threw',
    ];
    // Exactly one took the lease; the other is refused (409 for the route) or postponed.
    expect([
      ['deployed', 'postponed'],
      ['ConflictError', 'done'],
    ]).toContainEqual(outcomes);
    await world.drain(service);
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });
});

describe('failures', () => {
  it('retries a Graph 429 storm inside the attempt when Retry-After is short, and surfaces a long one at once', async () => {
    const { appId } = await managedAppWithHistory();
    const before = credentialBaseline(world, appId);
    const service = world.service();
    world.graph.server.resetCounters();
    const storm = world.graph.throttle('update-application', { retryAfterSeconds: 0.2, times: 2 });
    await service.generate(appId, admin);
    expect(storm.served).toBe(2);
    expect(world.graph.server.requests('update-application').map((r) => r.status)).toEqual([429, 429, 204]);
    await world.drain(service);
    await assertRenewalInvariants(world, before, { newCertificates: 1 });

    world.graph.server.resetCounters();
    const long = world.graph.throttle('update-application', { retryAfterSeconds: 120, times: 1 });
    const failure = await service.generate(appId, admin).catch((error: unknown) => error);
    expect(long.served).toBe(1);
    expect(failure).toBeInstanceOf(RetriableError);
    expect((failure as RetriableError).retryAfterSeconds).toBe(120);
    expect(world.graph.server.requests('update-application').map((r) => r.status)).toEqual([429]);
    world.graph.server.clearFaults();
  });

  it('honours a long Retry-After by putting the message back: a 503’s a bounded number of times, a 429’s however often', async () => {
    const { appId } = await managedAppWithHistory();
    const message = await scheduleDueRenewal(world, appId);
    const service = world.service();
    const putBack = () => world.enqueued.filter((e) => e.message.renewalId === message.renewalId && e.message.stage === 'deploy');
    let seen = putBack().length;
    const nextPutBack = () => {
      const [again, ...more] = putBack().slice(seen);
      seen += 1 + more.length;
      expect(more).toEqual([]);
      return again!;
    };
    // A 503 asking for 120 s: the delivery is not used up, the message comes back in 120 s.
    const unavailable = world.graph.inject('update-application', { status: 503, retryAfterSeconds: 120, times: 1 });
    expect(await service.processQueueMessage(message, { dequeueCount: 1 })).toBe('postponed');
    expect(unavailable.served).toBe(1);
    const deferred = nextPutBack();
    expect(deferred.visibilityDelaySeconds).toBe(120);
    expect(deferred.message).toMatchObject({ renewalId: message.renewalId, deferrals: 1 });
    // A 429, even on the last delivery: back after its Retry-After and up to a minute more (spread),
    // counted apart from deliveries and deferrals (issue 19).
    const throttled = world.graph.throttle('update-application', { retryAfterSeconds: 120, times: 1 });
    expect(await service.processQueueMessage(message, { dequeueCount: MAX_DEQUEUE_COUNT })).toBe('postponed');
    expect(throttled.served).toBe(1);
    const again = nextPutBack();
    expect(again.visibilityDelaySeconds).toBeGreaterThanOrEqual(120);
    expect(again.visibilityDelaySeconds).toBeLessThanOrEqual(180);
    expect(again.message).toMatchObject({ renewalId: message.renewalId, throttled: 1 });
    expect(again.message.deferrals).toBeUndefined();
    await world.queue.clearMessages();
    // Deferred as often as there are deliveries, a 503's wait ends like any failure instead of lasting forever.
    const exhausted = world.graph.inject('update-application', { status: 503, retryAfterSeconds: 120, times: 1 });
    await expect(service.processQueueMessage({ ...message, deferrals: MAX_DEQUEUE_COUNT }, { dequeueCount: 1 })).rejects.toThrow(
      RetriableError,
    );
    expect(exhausted.served).toBe(1);
    expect((await world.store.getApp(appId))!.state.renewal).toMatchObject({ id: message.renewalId, stage: 'failed' });
    world.graph.server.clearFaults();
  });

  it('retries Key Vault 503s inside the attempt, then across deliveries, without a second version', async () => {
    const { appId, stored } = await managedAppWithHistory();
    const before = credentialBaseline(world, appId);
    const name = stored.config.keyVault.certificateName;
    const versions = world.keyVault.versions(name).length;
    const service = world.service();
    const brief = world.keyVault.server.inject('importCertificate', { status: 503, times: 2, headers: { 'retry-after-ms': '20' } });
    await service.generate(appId, admin);
    expect(brief.served).toBe(2);
    await world.drain(service);
    expect(world.keyVault.versions(name).length).toBe(versions + 1);

    await scheduleDueRenewal(world, appId);
    const longer = world.keyVault.server.inject('importCertificate', { status: 503, times: 5 }); // more than one attempt's retries
    const { delivered, poisoned } = await world.drain(service);
    expect(longer.served).toBe(5);
    expect(poisoned).toBe(0);
    expect(delivered).toBeGreaterThan(2); // deploy failed once, then deploy and confirm
    expect(world.keyVault.versions(name).length).toBe(versions + 2);
    await assertRenewalInvariants(world, before, { newCertificates: 2 });
  });

  it('records the last failed attempt: state, history, email, failure event, poison queue and the alert’s log line', async () => {
    const { appId } = await managedAppWithHistory();
    const before = credentialBaseline(world, appId);
    const message = await scheduleDueRenewal(world, appId);
    world.email.clearMessages();
    const down = world.keyVault.server.inject('importCertificate', { status: 503 });
    try {
      const service = world.service();
      expect(await world.drain(service)).toEqual({ delivered: MAX_DEQUEUE_COUNT, poisoned: 1 });
      expect(down.served).toBeGreaterThanOrEqual(MAX_DEQUEUE_COUNT);
    } finally {
      world.keyVault.server.clearFaults();
    }
    const state = (await world.store.getApp(appId))!.state;
    expect(state).toMatchObject({ lastOutcome: 'failed', consecutiveFailures: 1, renewal: { id: message.renewalId, stage: 'failed' } });
    expect((await world.store.listHistory(appId)).items[0]).toMatchObject({ action: 'renewal.deploy', outcome: 'failed' });
    expect(world.email.messages().map((m) => m.message.content.subject)).toEqual([expect.stringContaining('renewal FAILED')]);
    expect(world.eventGrid.events().filter((e) => e.event.id === `failed:${message.renewalId}`)).toHaveLength(1);
    expect((await peekAll(world.poisonQueue)).map((m) => (JSON.parse(m) as RenewalMessage).renewalId)).toContain(message.renewalId);
    expect(world.logs.filter((l) => l.startsWith('renewal failed') && l.includes(message.renewalId))).toHaveLength(1);
    await world.poisonQueue.clearMessages();
    await assertRenewalInvariants(world, before, { newCertificates: 0 });
  });

  it('a process dying right after it recorded a failure for good leaves the email and event pending, and the next tick sends them once', async () => {
    const { appId } = await managedAppWithHistory();
    const message = await scheduleDueRenewal(world, appId);
    world.email.clearMessages();
    const down = world.keyVault.server.inject('importCertificate', { status: 503 });
    let crashed = 0;
    const service = world.service({
      afterStep: (step, m) => {
        if (step === 'failure-recorded' && m.renewalId === message.renewalId && crashed++ === 0) throw new Error('process killed');
      },
    });
    try {
      expect(await world.drain(service)).toEqual({ delivered: MAX_DEQUEUE_COUNT, poisoned: 1 });
    } finally {
      world.keyVault.server.clearFaults();
    }
    expect(down.served).toBeGreaterThanOrEqual(MAX_DEQUEUE_COUNT);
    expect(crashed).toBe(1);
    const failedEvents = () => world.eventGrid.events().filter((e) => e.event.id === `failed:${message.renewalId}`);
    const failedEmails = () => world.email.messages().filter((m) => m.message.content.subject.includes('renewal FAILED'));
    expect(failedEvents()).toHaveLength(0);
    expect((await world.store.getApp(appId))!.state.pendingNotifications.map((p) => [p.channel, p.kind]).sort()).toEqual([
      ['email', 'failed'],
      ['event', 'failed'],
    ]);

    await world.scheduler(service).tick();
    expect(failedEvents()).toHaveLength(1);
    expect(failedEvents()[0]!.event.data).toMatchObject({ appId, trigger: message.trigger });
    expect(failedEmails()).toHaveLength(1);
    expect((await world.store.getApp(appId))!.state.pendingNotifications).toEqual([]);
    await world.poisonQueue.clearMessages();
  });

  it('a renewal the app registration keeps refusing fails without leaving Key Vault’s latest version on a certificate Entra does not have', async () => {
    const { appId } = await managedAppWithHistory();
    const before = credentialBaseline(world, appId);
    const message = await scheduleDueRenewal(world, appId);
    const refusal = world.graph.inject('update-application', {
      status: 403,
      body: { error: { code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' } },
    });
    try {
      expect(await world.drain(world.service())).toEqual({ delivered: MAX_DEQUEUE_COUNT, poisoned: 1 });
      expect(refusal.served).toBeGreaterThanOrEqual(MAX_DEQUEUE_COUNT);
    } finally {
      world.graph.server.clearFaults();
    }
    const stored = (await world.store.getApp(appId))!;
    expect(stored.state).toMatchObject({ lastOutcome: 'failed', renewal: { id: message.renewalId, stage: 'failed' } });
    // The failed renewal's certificate was imported, then refused by Entra: it is in Key Vault, but
    // not as the latest version, which is the certificate in use again.
    const versions = world.keyVault.versions(stored.config.keyVault.certificateName);
    expect(versions.some((v) => v.tags.renewalId === message.renewalId)).toBe(true);
    expect(versions.at(-1)).toMatchObject({ thumbprint: stored.state.currentThumbprint, tags: { restoredAfter: message.renewalId } });
    await world.poisonQueue.clearMessages();
    await assertRenewalInvariants(world, before, { newCertificates: 0 });
  });

  it.each([
    ['Key Vault refuses the confirm stage’s secret read once (403)', 'keyVault', 'getSecret'],
    ['Graph refuses the deploy stage’s add once (403)', 'graph', 'update-application'],
  ] as const)(
    'a refusal a role assignment still applying explains is retried by the queue, not recorded as a failure: %s',
    async (_what, service, route) => {
      const { appId } = await managedAppWithHistory();
      const before = credentialBaseline(world, appId);
      const message = await scheduleDueRenewal(world, appId);
      world.email.clearMessages();
      const refusal = { status: 403, times: 1, body: { error: { code: 'Forbidden', message: 'Caller is not authorized' } } };
      const injected = service === 'keyVault' ? world.keyVault.server.inject(route, refusal) : world.graph.inject(route, refusal);
      const drained = await world.drain(world.service());
      expect(injected.served).toBe(1);
      expect(drained.poisoned).toBe(0);
      const state = (await world.store.getApp(appId))!.state;
      expect(state).toMatchObject({
        lastOutcome: 'verified',
        consecutiveFailures: 0,
        renewal: { id: message.renewalId, stage: 'completed' },
      });
      expect(state.verifiedAt).toBeDefined();
      const subjects = world.email.messages().map((m) => m.message.content.subject);
      expect(subjects.filter((s) => s.includes('FAILED'))).toEqual([]);
      expect(world.eventGrid.events().filter((e) => e.event.id === `failed:${message.renewalId}`)).toEqual([]);
      const outcomes = (await world.store.listHistory(appId)).items.filter((h) => h.outcome === 'failed');
      expect(outcomes).toEqual([]);
      await assertRenewalInvariants(world, before, { newCertificates: 1 });
    },
  );

  it('a verified renewal stays verified when removing the expired certificates keeps failing; the next renewal removes them', async () => {
    const { appId, expired } = await managedAppWithHistory();
    const before = credentialBaseline(world, appId);
    const message = await scheduleDueRenewal(world, appId);
    world.email.clearMessages();
    // From the moment the admins were told, every PATCH of the app registration is refused.
    const refusals: InjectedFault[] = [];
    const refuse = () =>
      refusals.push(
        world.graph.inject('update-application', {
          status: 403,
          body: { error: { code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' } },
        }),
      );
    try {
      const drained = await world.drain(world.service({ afterStep: (step) => void (step === 'notified' && refuse()) }));
      expect(drained.poisoned).toBe(0);
      expect(refusals.reduce((served, r) => served + r.served, 0)).toBeGreaterThan(0);
    } finally {
      world.graph.server.clearFaults();
    }
    const stored = (await world.store.getApp(appId))!;
    expect(stored.state).toMatchObject({
      lastOutcome: 'verified',
      consecutiveFailures: 0,
      renewal: { id: message.renewalId, stage: 'completed' },
    });
    expect(stored.state.verifiedAt).toBeDefined();
    expect(keyCredentialIds(appId)).toContain(expired.keyId);
    const subjects = world.email.messages().map((m) => m.message.content.subject);
    expect(subjects.filter((s) => s.includes('FAILED'))).toEqual([]);
    expect(subjects.filter((s) => /renewed/i.test(s))).toHaveLength(1);
    expect(world.eventGrid.events().filter((e) => e.event.id === `failed:${message.renewalId}`)).toEqual([]);
    const history = (await world.store.listHistory(appId)).items;
    expect(history.find((h) => h.action === 'renewal.confirm')).toMatchObject({
      outcome: 'succeeded',
      thumbprint: stored.state.currentThumbprint,
    });
    const cleanup = history.find((h) => h.action === 'renewal.cleanup');
    expect(cleanup?.outcome).toBe('failed');
    expect(cleanup?.error).toContain('Authorization_RequestDenied');
    // Due again only when its new certificate is; then the cleanup runs again and the expired one goes.
    expect(Date.parse(stored.state.nextRenewalDueAt!)).toBeGreaterThan(Date.now() + DAY);
    await scheduleDueRenewal(world, appId);
    await world.drain(world.service());
    expect(keyCredentialIds(appId)).not.toContain(expired.keyId);
    await assertRenewalInvariants(world, before, { newCertificates: 2 });
  });

  it('a manual generation the app registration refuses leaves Key Vault’s latest version on the certificate in use', async () => {
    const { appId, stored: before } = await managedAppWithHistory();
    const baseline = credentialBaseline(world, appId);
    const name = before.config.keyVault.certificateName;
    const versionsBefore = world.keyVault.versions(name).length;
    const refusal = world.graph.inject('update-application', {
      status: 403,
      body: { error: { code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' } },
    });
    try {
      await expect(world.service().generate(appId, admin)).rejects.toThrow(/denied/);
      expect(refusal.served).toBeGreaterThan(0);
    } finally {
      world.graph.server.clearFaults();
    }
    const stored = (await world.store.getApp(appId))!;
    expect(stored.state.currentThumbprint).toBe(before.state.currentThumbprint);
    const versions = world.keyVault.versions(name);
    // The refused certificate was imported, then the one in use imported again on top of it.
    expect(versions).toHaveLength(versionsBefore + 2);
    expect(versions.at(-1)?.thumbprint).toBe(stored.state.currentThumbprint);
    expect(versions.at(-1)?.tags.restoredAfter).toBeDefined();
    expect(stored.state.keyVaultVersion).toBe(versions.at(-1)!.version);
    await assertRenewalInvariants(world, baseline, { newCertificates: 0 });
  });

  it('a failed manual generation puts Key Vault back only under the lease, never over a renewal that recorded meanwhile', async () => {
    const { appId, stored: before } = await managedAppWithHistory();
    const baseline = credentialBaseline(world, appId);
    const name = before.config.keyVault.certificateName;
    const scheduled = await scheduleDueRenewal(world, appId);
    const other = world.service();
    // The manual generation's store: its second write that starts from a free lease (the first is
    // its own lease) lets the scheduled renewal deploy and record first.
    let freeLeaseWrites = 0;
    const store = storeInterleaving(async (app) => {
      if (app.state.lease === undefined && ++freeLeaseWrites === 2) {
        expect(await other.processQueueMessage(scheduled, { dequeueCount: 1 })).toBe('done');
      }
    });
    const refusal = world.graph.inject('update-application', {
      status: 403,
      times: 1,
      body: { error: { code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' } },
    });
    await expect(world.service({ store }).generate(appId, admin)).rejects.toThrow(/denied/);
    expect(refusal.served).toBe(1);
    expect(freeLeaseWrites).toBeGreaterThanOrEqual(2);
    await world.drain(other);

    const stored = (await world.store.getApp(appId))!;
    expect(stored.state.renewal).toMatchObject({ id: scheduled.renewalId, stage: 'completed' });
    // Entra, Key Vault's latest version and the state agree on the scheduled renewal's certificate.
    const latest = world.keyVault.latest(name)!;
    expect(latest.thumbprint).toBe(stored.state.currentThumbprint);
    expect(world.keyVault.versions(name).find((v) => v.version === stored.state.keyVaultVersion)?.thumbprint).toBe(
      stored.state.currentThumbprint,
    );
    await assertRenewalInvariants(world, baseline, { newCertificates: 1 });
  });

  it('a manual generation that lost its lease before recording puts Key Vault back on the certificate in use', async () => {
    const { appId, stored: before } = await managedAppWithHistory();
    const name = before.config.keyVault.certificateName;
    let taken = false;
    // Just before the generation records its certificate, its lease is gone (it outlived it, and
    // another holder took and released it).
    const store = storeInterleaving(async (_app, change) => {
      if (!taken && change.state?.renewal?.stage === 'deployed') {
        taken = true;
        const fresh = (await world.store.getApp(appId))!;
        await world.store.updateApp(fresh, { state: { ...fresh.state, lease: undefined } });
      }
    });
    await expect(world.service({ store }).generate(appId, admin)).rejects.toThrow(/lease .* was lost/);
    expect(taken).toBe(true);
    const stored = (await world.store.getApp(appId))!;
    expect(stored.state.currentThumbprint).toBe(before.state.currentThumbprint);
    expect(world.keyVault.latest(name)?.thumbprint).toBe(stored.state.currentThumbprint);
    expect(stored.state.keyVaultVersion).toBe(world.keyVault.latest(name)?.version);
  });

  it('a renewal skipped on a later delivery (the app disabled after a failed first one) puts Key Vault back on the certificate in use', async () => {
    const { appId, stored: before } = await managedAppWithHistory();
    const baseline = credentialBaseline(world, appId);
    const name = before.config.keyVault.certificateName;
    const requestedAt = new Date().toISOString();
    const message: RenewalMessage = { appId, renewalId: randomUUID(), stage: 'deploy', trigger: 'drift', requestedAt };
    const refusal = world.graph.inject('update-application', {
      status: 403,
      times: 1,
      body: { error: { code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' } },
    });
    const service = world.service();
    await expect(service.processQueueMessage(message, { dequeueCount: 1 })).rejects.toThrow(/denied/);
    expect(refusal.served).toBe(1);
    expect(world.keyVault.latest(name)?.tags.renewalId).toBe(message.renewalId);
    const app = (await world.store.getApp(appId))!;
    await world.store.updateApp(app, { config: { ...app.config, enabled: false } });
    expect(await service.processQueueMessage(message, { dequeueCount: 2 })).toBe('done');
    const stored = (await world.store.getApp(appId))!;
    expect(world.keyVault.latest(name)?.thumbprint).toBe(stored.state.currentThumbprint);
    expect(world.keyVault.latest(name)?.tags.restoredAfter).toBe(message.renewalId);
    expect(stored.state.keyVaultVersion).toBe(world.keyVault.latest(name)?.version);
    expect(stored.state.lease).toBeUndefined();
    await assertRenewalInvariants(world, baseline, { newCertificates: 0 });
  });

  it('host.json sets the queue rules, and the last attempt the code counts is host.json’s maxDequeueCount', () => {
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const raw = JSON.parse(readFileSync(`${root}host.json`, 'utf8')) as { extensions: { queues: Record<string, unknown> } };
    const { maxDequeueCount, visibilityTimeout, batchSize } = raw.extensions.queues;
    expect(typeof maxDequeueCount).toBe('number');
    expect(visibilityTimeout).toMatch(/^\d{2}:\d{2}:\d{2}$/);
    expect(typeof batchSize).toBe('number');
    expect(MAX_DEQUEUE_COUNT).toBe(raw.extensions.queues.maxDequeueCount);
    expect(readHostJson(root).queues.visibilityTimeoutMs).toBe(QUEUE_VISIBILITY_TIMEOUT_SECONDS * 1000);
    // The lease must outlast one attempt (docs/renewal.md): the function timeout is shorter than the default lease.
    expect(timeSpanMs((raw as { functionTimeout?: string }).functionTimeout, Infinity)).toBeLessThan(600_000);
    expect(timeSpanMs((raw as { functionTimeout?: string }).functionTimeout, Infinity)).toBe(FUNCTION_TIMEOUT_SECONDS * 1000);
    expect(readHostJson(root).queues.maxDequeueCount).toBe(MAX_DEQUEUE_COUNT);
  });
});

describe('round trips', () => {
  it('a steady-state renewal (both stages, one expired certificate removed) stays within its budget of service calls', async () => {
    const { appId } = await managedAppWithHistory();
    await scheduleDueRenewal(world, appId);
    const service = world.service();
    world.resetRoundTrips();
    const sends = world.email.server.count('send');
    const publishes = world.eventGrid.server.count('publish');
    await world.drain(service);
    const counts = world.roundTrips();
    // Measured for issue 9's budget; the comments say what each call is.
    console.log(`round trips per renewal: ${JSON.stringify(counts)}`);
    expect(counts.table).toBeLessThanOrEqual(6); // per stage: read, lease, one write that also releases it
    expect(counts.token).toBe(1); // the sign-in as the app with its new certificate
    expect(counts.keyVault).toBeLessThanOrEqual(2); // import; the confirm stage's secret read (it holds certificate and key)
    expect(counts.graph).toBeLessThanOrEqual(4); // read + PATCH to add; read + PATCH to remove the expired one
    expect(world.email.server.count('send') - sends).toBe(2); // renewed, removed
    expect(world.eventGrid.server.count('publish') - publishes).toBe(2);
  });
});
