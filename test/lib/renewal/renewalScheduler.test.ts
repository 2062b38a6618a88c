import { randomUUID } from 'node:crypto';
import { format } from 'node:util';
import functions from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../../src/lib/domain/appConfig.js';
import { AppService } from '../../../src/lib/apps/appService.js';
import type { AppRepository, StoredApp } from '../../../src/lib/domain/storedApp.js';
import { RetriableError } from '../../../src/lib/errors.js';
import { invocationLog } from '../../../src/lib/logging/invocationLog.js';
import type { RenewalQueue } from '../../../src/lib/domain/ports.js';
import { MAX_DEQUEUE_COUNT } from '../../../src/lib/domain/renewalMessage.js';
import { AppRegistrationDirectoryDouble } from '../../support/appRegistrationDirectoryDouble.js';
import { assertRenewalInvariants, credentialBaseline } from '../../support/renewalInvariants.js';
import { peekAll, startRenewalWorld, type RenewalWorld } from '../../support/renewalWorld.js';
import { managedConfig } from '../../support/storedAppFixture.js';

const DAY = 24 * 3600_000;
const admin = { oid: 'admin-oid', name: 'Ada Admin' };
let world: RenewalWorld;

beforeAll(async () => {
  world = await startRenewalWorld();
});
afterAll(() => world.close());

/** An app with a managed, verified certificate (generated and confirmed through the pipeline). */
async function managedApp(config?: Partial<Omit<AppConfig, 'appId' | 'displayName'>>): Promise<StoredApp> {
  const { app } = await world.createManagedApp({ config });
  const service = world.service();
  await service.generate(app.config.appId, admin);
  await world.drain(service);
  return (await world.store.getApp(app.config.appId))!;
}

/**
 * Moves the recorded validity (keeping its length) so that the app is `daysLeft` days from expiry;
 * the due index follows. Entra and Key Vault keep the real certificate: only the clock's view moves.
 */
async function expiresIn(appId: string, daysLeft: number, now = new Date()): Promise<StoredApp> {
  const app = (await world.store.getApp(appId))!;
  const shift = now.getTime() + daysLeft * DAY - Date.parse(app.state.notAfter!);
  const moved = (iso: string) => new Date(Date.parse(iso) + shift).toISOString();
  return world.store.updateApp(app, {
    state: { ...app.state, notAfter: moved(app.state.notAfter!), notBefore: moved(app.state.notBefore!) },
  });
}

/** Starts a new pass of the drift slice, whose first ticks read up to 100 apps each (this world holds fewer). */
async function restartDriftPass(): Promise<void> {
  const record = await world.store.getSchedulerRecord('drift-cursor');
  await world.store.putSchedulerRecord('drift-cursor', { seenInPass: 0 }, record?.etag);
}

type LogEntry = { line: string; properties: Record<string, unknown> | undefined };
const failuresIn = (log: LogEntry[]) => log.filter((e) => e.properties?.outcome === 'failed');
const daysLeftFor = (log: LogEntry[], appId: string) =>
  log.filter((e) => e.properties?.stage === 'expiry check' && e.properties.appId === appId).map((e) => e.properties);

/**
 * The traces an invocation's logger really writes: @azure/functions' InvocationContext joins a log
 * call's arguments with util.format into the trace's message (as its worker does), at the call's level.
 */
function invocationTraces(): { context: InstanceType<typeof functions.InvocationContext>; traces: { level: string; message: string }[] } {
  const traces: { level: string; message: string }[] = [];
  const context = new functions.InvocationContext({
    invocationId: randomUUID(),
    functionName: 'renewalScheduler',
    logHandler: (level, ...args) => void traces.push({ level, message: format(...args) }),
  });
  return { context, traces };
}

/** What the alert's KQL reads back from a trace: the JSON object after the message text. */
const fieldsOf = (message: string) => JSON.parse(message.slice(message.indexOf('{'))) as Record<string, unknown>;

const messagesFor = (appId: string) => world.enqueued.filter((e) => e.message.appId === appId && e.message.stage === 'deploy');

describe('due renewals', () => {
  it('enqueues one message per due app, marks it queued, and a second tick in the same due period enqueues nothing', async () => {
    const due = [await managedApp(), await managedApp()];
    const notDue = await managedApp();
    const before = due.map((a) => credentialBaseline(world, a.config.appId));
    for (const app of due) await expiresIn(app.config.appId, 10);
    const service = world.service();
    const scheduler = world.scheduler(service);

    const first = await scheduler.tick();
    expect(first.enqueued).toBe(2);
    for (const app of due) {
      const state = (await world.store.getApp(app.config.appId))!.state;
      expect(state.queued).toMatchObject({ renewalId: messagesFor(app.config.appId)[0]!.message.renewalId });
      expect(messagesFor(app.config.appId).map((m) => m.message.trigger)).toEqual(['scheduled']);
    }
    expect(messagesFor(notDue.config.appId)).toHaveLength(0);

    const second = await scheduler.tick();
    expect(second.enqueued).toBe(0);
    for (const app of due) expect(messagesFor(app.config.appId)).toHaveLength(1);

    await world.drain(service);
    for (const [i, app] of due.entries()) {
      const state = (await world.store.getApp(app.config.appId))!.state;
      expect(state.renewal).toMatchObject({ id: messagesFor(app.config.appId)[0]!.message.renewalId, stage: 'completed' });
      expect(state.queued).toBeUndefined();
      await assertRenewalInvariants(world, before[i]!, { newCertificates: 1 });
    }
  });

  it("logs one app's failure through the invocation's logger, with the app and the cause, and goes on with the others", async () => {
    const [failing, fine] = [await managedApp(), await managedApp()];
    // Due (30-day window) but not yet at risk (more than half the window left): one line, the failure.
    for (const app of [failing, fine]) await expiresIn(app.config.appId, 20);
    const queue: RenewalQueue = {
      enqueue: (message, options) =>
        message.appId === failing.config.appId
          ? Promise.reject(new RetriableError('Queue Storage is unavailable (503)'))
          : world.renewalQueue.enqueue(message, options),
    };
    const log: LogEntry[] = [];

    const report = await world.scheduler(world.service(), { queue }).tick({ log: (line, properties) => log.push({ line, properties }) });

    expect(report).toMatchObject({ enqueued: 1, failures: 1 });
    expect(messagesFor(fine.config.appId)).toHaveLength(1);
    const { queued } = (await world.store.getApp(failing.config.appId))!.state;
    expect(failuresIn(log)).toEqual([
      {
        line: `scheduler: due renewal failed for app ${failing.config.appId}: Queue Storage is unavailable (503)`,
        properties: {
          appId: failing.config.appId,
          renewalId: queued!.renewalId,
          stage: 'due renewal',
          outcome: 'failed',
          cause: 'Queue Storage is unavailable (503)',
        },
      },
    ]);
    // Its queued mark was written before the send failed: once stale, the same renewal is sent.
    const later = new Date(Date.now() + 31 * 60_000);
    await world.scheduler(world.service(), { now: () => later }).tick();
    expect(messagesFor(failing.config.appId).map((m) => m.message.renewalId)).toEqual([queued!.renewalId]);
    await world.drain(world.service());
  });

  it("logs each due app's days left and share of its renewal window, a warning for one past half, and still enqueues it", async () => {
    const now = new Date();
    const [atRisk, merelyDue] = [await managedApp(), await managedApp()];
    await expiresIn(atRisk.config.appId, 14, now);
    await expiresIn(merelyDue.config.appId, 16, now);
    const { context, traces } = invocationTraces();

    const report = await world.scheduler(world.service(), { now: () => now }).tick({ log: invocationLog(context) });

    expect(report).toMatchObject({
      enqueued: 2,
      expiryAtRisk: 1,
      failures: 0,
      soonestExpiry: { appId: atRisk.config.appId, daysLeft: 14, windowRemainingFraction: 0.466 },
    });
    const lineOf = (appId: string) => traces.find((t) => t.message.startsWith(`certificate days left: app ${appId} `));
    expect(lineOf(atRisk.config.appId)!.level).toBe('warning');
    expect(lineOf(atRisk.config.appId)!.message).toMatch(
      /^certificate days left: .* has 14 of its 30-day renewal window, less than half: expiry at risk \{/,
    );
    expect(fieldsOf(lineOf(atRisk.config.appId)!.message)).toEqual({
      appId: atRisk.config.appId,
      renewalId: (await world.store.getApp(atRisk.config.appId))!.state.renewal!.id,
      stage: 'expiry check',
      outcome: 'at-risk',
      daysLeft: 14,
      renewBeforeDays: 30,
      windowRemainingFraction: 0.466,
      notAfter: new Date(now.getTime() + 14 * DAY).toISOString(),
    });
    expect(lineOf(merelyDue.config.appId)!.level).toBe('information');
    expect(fieldsOf(lineOf(merelyDue.config.appId)!.message)).toMatchObject({
      outcome: 'ok',
      daysLeft: 16,
      renewBeforeDays: 30,
      windowRemainingFraction: 0.533,
    });
    // One line per app per tick, though the slice read both apps too.
    expect(traces.filter((t) => t.message.includes(`app ${atRisk.config.appId} `))).toHaveLength(1);
    await world.drain(world.service());
  });

  it('goes on past an app whose checks fail, a Graph refusal or a stored row that does not read, logging each with its app, stage and cause', async () => {
    const [refused, corrupt, fine] = [await managedApp(), await managedApp(), await managedApp()];
    // An admin removes the rotator from the owners of one app: Graph refuses to read it (403).
    const registration = world.graph.application(refused.config.appId)!;
    const owners = registration.owners.splice(0);
    // Another app's row was hand-edited in the table: its state is no longer JSON.
    const row = await world.table.getEntity<Record<string, unknown>>('apps', `app_${corrupt.config.appId}`);
    await world.table.updateEntity({ partitionKey: 'apps', rowKey: `app_${corrupt.config.appId}`, state: '{"notAfter":' }, 'Merge');
    try {
      await restartDriftPass();
      const log: LogEntry[] = [];
      const report = await world.scheduler(world.service()).tick({ log: (line, properties) => log.push({ line, properties }) });

      const [unreadable, denied, ...others] = failuresIn(log).map((e) => e.properties!);
      expect(others).toEqual([]);
      expect(unreadable).toMatchObject({ appId: corrupt.config.appId, stage: 'read', outcome: 'failed' });
      expect(unreadable!.cause).toMatch(/JSON/);
      expect(denied).toMatchObject({
        appId: refused.config.appId,
        renewalId: refused.state.renewal!.id,
        stage: 'drift check',
        outcome: 'failed',
      });
      expect(denied!.cause).toMatch(/privileges/i);
      expect(report.failures).toBe(2);
      // The others were checked and measured; the cursor went past the unreadable row.
      const measured = daysLeftFor(log, fine.config.appId);
      expect(measured).toHaveLength(1);
      expect(measured[0]).toMatchObject({ outcome: 'ok', renewBeforeDays: 30 });
      expect(measured[0]!.windowRemainingFraction).toBeGreaterThan(2);
      expect(report.driftChecked + 1).toBe(
        ((await world.store.getSchedulerRecord('drift-cursor'))!.value as { lastPassCount: number }).lastPassCount,
      );
    } finally {
      registration.owners.push(...owners);
      await world.table.updateEntity({ partitionKey: 'apps', rowKey: `app_${corrupt.config.appId}`, state: row.state }, 'Merge');
    }
  });

  it('re-sends a lost message under the same renewal id once the queued mark is stale', async () => {
    const app = await managedApp();
    const before = credentialBaseline(world, app.config.appId);
    await expiresIn(app.config.appId, 10);
    const service = world.service();
    const now = Date.now();
    await world.scheduler(service, { now: () => new Date(now) }).tick();
    const [sent] = messagesFor(app.config.appId);
    await world.queue.clearMessages(); // the message is lost

    expect((await world.scheduler(service, { now: () => new Date(now + 10 * 60_000) }).tick()).enqueued).toBe(0);
    expect((await world.scheduler(service, { now: () => new Date(now + 31 * 60_000) }).tick()).enqueued).toBe(1);
    const resent = messagesFor(app.config.appId);
    expect(resent).toHaveLength(2);
    expect(resent[1]!.message.renewalId).toBe(sent!.message.renewalId);

    await world.drain(service);
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });

  it('retries a failed renewal after a backoff, under a new renewal id', async () => {
    const app = await managedApp();
    const before = credentialBaseline(world, app.config.appId);
    await expiresIn(app.config.appId, 10);
    const service = world.service();
    const now = Date.now();
    await world.scheduler(service, { now: () => new Date(now) }).tick();
    // The rotator lost its ownership: refused on every delivery (a role still applying could explain
    // one refusal), the renewal fails after the last.
    const refusal = world.graph.inject('update-application', {
      status: 403,
      body: { error: { code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' } },
    });
    await world.drain(service);
    world.graph.server.clearFaults();
    expect(refusal.served).toBe(MAX_DEQUEUE_COUNT);
    const failed = (await world.store.getApp(app.config.appId))!.state;
    expect(failed).toMatchObject({ lastOutcome: 'failed', consecutiveFailures: 1, renewal: { stage: 'failed' } });

    expect((await world.scheduler(service, { now: () => new Date(now + 30 * 60_000) }).tick()).enqueued).toBe(0);
    expect((await world.scheduler(service, { now: () => new Date(Date.parse(failed.lastOutcomeAt!) + 61 * 60_000) }).tick()).enqueued).toBe(
      1,
    );
    const [first, retry] = messagesFor(app.config.appId);
    expect(retry!.message.renewalId).not.toBe(first!.message.renewalId);

    await world.drain(service);
    expect((await world.store.getApp(app.config.appId))!.state).toMatchObject({ consecutiveFailures: 0, lastOutcome: 'verified' });
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });
});

describe('bootstrap', () => {
  it('queues the first certificate of an app created with bootstrap: true, and the worker deploys and confirms it', async () => {
    const registration = world.graph.createApplication({
      tenantId: world.tenantId,
      displayName: 'Bootstrapped',
      owners: [world.rotator.oid],
    });
    const apps = new AppService({
      store: world.store,
      directory: new AppRegistrationDirectoryDouble().add(registration.appId, 'Bootstrapped'),
      defaultKeyVaultUrl: world.keyVault.vaultUrl,
      requestBootstrap: (appId, renewalId) => world.renewalQueue.enqueue({ appId, renewalId, stage: 'deploy', trigger: 'bootstrap' }),
    });
    await apps.putApp(registration.appId, { bootstrap: true }, { caller: admin });
    expect(world.graph.application(registration.appId)!.keyCredentials).toHaveLength(0);

    await world.drain(world.service());
    const state = (await world.store.getApp(registration.appId))!.state;
    expect(state.renewal).toMatchObject({ trigger: 'bootstrap', stage: 'completed' });
    expect(state.verifiedAt).toBeDefined();
    await assertRenewalInvariants(world, { appId: registration.appId, credentials: [] }, { newCertificates: 1 });

    // A second bootstrap request (another renewal id) finds the first certificate made: nothing more.
    await world.renewalQueue.enqueue({ appId: registration.appId, renewalId: randomUUID(), stage: 'deploy', trigger: 'bootstrap' });
    await world.drain(world.service());
    await assertRenewalInvariants(world, { appId: registration.appId, credentials: [] }, { newCertificates: 1 });
  });

  it('recovers a bootstrap whose queue message was lost: the scheduler re-sends the same renewal once the mark is stale', async () => {
    const registration = world.graph.createApplication({
      tenantId: world.tenantId,
      displayName: 'Lost bootstrap',
      owners: [world.rotator.oid],
    });
    const requested: string[] = [];
    const apps = new AppService({
      store: world.store,
      directory: new AppRegistrationDirectoryDouble().add(registration.appId, 'Lost bootstrap'),
      defaultKeyVaultUrl: world.keyVault.vaultUrl,
      // The create commits, then queueing fails: the caller gets an error, the app exists.
      requestBootstrap: (_appId, renewalId) => {
        requested.push(renewalId);
        return Promise.reject(new RetriableError('queue unavailable'));
      },
    });
    await expect(apps.putApp(registration.appId, { bootstrap: true }, { caller: admin })).rejects.toThrow(RetriableError);
    expect((await world.store.getApp(registration.appId))!.state.queued?.renewalId).toBe(requested[0]);

    const service = world.service();
    // Right away the mark is fresh: a tick does not send a second first certificate.
    expect((await world.scheduler(service).tick()).enqueued).toBe(0);
    // Once stale, the same renewal id is sent, and the worker makes the one first certificate.
    const later = new Date(Date.now() + 31 * 60_000);
    expect((await world.scheduler(service, { now: () => later }).tick()).enqueued).toBe(1);
    expect(await peekAll(world.queue)).toEqual([expect.stringContaining(`"renewalId":"${requested[0]}"`)]);
    await world.drain(service);
    const state = (await world.store.getApp(registration.appId))!.state;
    expect(state.renewal).toMatchObject({ id: requested[0], trigger: 'bootstrap', stage: 'completed' });
    await assertRenewalInvariants(world, { appId: registration.appId, credentials: [] }, { newCertificates: 1 });
    // With its certificate made, the app leaves the head of the due index.
    expect((await world.store.listDueApps(new Date())).apps.map((a) => a.appId)).not.toContain(registration.appId);
  });
});

describe('a confirm stage that was never queued', () => {
  it('is queued again by the slice once the renewal has stayed deployed too long, under its own id, and completes', async () => {
    const app = await managedApp();
    const before = credentialBaseline(world, app.config.appId);
    // The manual generation deploys, then cannot queue its confirm stage (the caller got an error).
    const confirmLost: RenewalQueue = {
      enqueue: (message, options) =>
        message.stage === 'confirm'
          ? Promise.reject(new RetriableError('queue unavailable'))
          : world.renewalQueue.enqueue(message, options),
    };
    await expect(world.service({ queue: confirmLost }).generate(app.config.appId, admin)).rejects.toThrow(RetriableError);
    const deployed = (await world.store.getApp(app.config.appId))!.state.renewal!;
    expect(deployed.stage).toBe('deployed');
    const confirms = () => world.enqueued.filter((e) => e.message.renewalId === deployed.id && e.message.stage === 'confirm');
    const service = world.service();

    await restartDriftPass();
    await world.scheduler(service).tick();
    expect(confirms()).toEqual([]);

    await restartDriftPass();
    await world.scheduler(service, { now: () => new Date(Date.now() + 4 * 3600_000) }).tick();
    expect(confirms().map((e) => e.message.renewalId)).toEqual([deployed.id]);
    await world.drain(service);
    const state = (await world.store.getApp(app.config.appId))!.state;
    expect(state.renewal).toMatchObject({ id: deployed.id, stage: 'completed' });
    expect(state.verifiedAt).toBeDefined();
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });

  it("keeps a rotation's id and reason on the confirm it queues again, so the rest of that renewal's history names the rotation", async () => {
    const app = await managedApp();
    const confirmLost: RenewalQueue = {
      enqueue: (message, options) =>
        message.stage === 'confirm'
          ? Promise.reject(new RetriableError('queue unavailable'))
          : world.renewalQueue.enqueue(message, options),
    };
    const rotationId = randomUUID();
    const reason = 'Key compromise drill';
    const deploy = { appId: app.config.appId, renewalId: randomUUID(), stage: 'deploy', trigger: 'rotation', rotationId, reason } as const;
    await expect(world.service({ queue: confirmLost }).processQueueMessage(deploy, { dequeueCount: 1 })).rejects.toThrow();
    expect((await world.store.getApp(app.config.appId))!.state.renewal).toMatchObject({ id: deploy.renewalId, stage: 'deployed' });

    const service = world.service();
    await restartDriftPass();
    await world.scheduler(service, { now: () => new Date(Date.now() + 4 * 3600_000) }).tick();
    const requeued = world.enqueued.filter((e) => e.message.renewalId === deploy.renewalId && e.message.stage === 'confirm');
    expect(requeued.map((e) => e.message)).toEqual([expect.objectContaining({ trigger: 'rotation', rotationId, reason })]);
    await world.drain(service);
    expect((await world.store.getApp(app.config.appId))!.state.renewal).toMatchObject({ id: deploy.renewalId, stage: 'completed' });
    // Newest first: the confirm stage's row of this renewal.
    const history = (await world.store.listHistory(app.config.appId, { maxPageSize: 100 })).items;
    expect(history.find((h) => h.action === 'renewal.confirm')).toMatchObject({ outcome: 'succeeded', rotationId, reason });
  });
});

describe('notifications on the timer', () => {
  it('warns once per certificate per threshold, by email and NearExpiry event', async () => {
    const app = await managedApp({ renewBeforeDays: 5 });
    await expiresIn(app.config.appId, 10);
    world.email.clearMessages();
    const service = world.service();
    const warnings = () =>
      world.eventGrid
        .events()
        .filter((e) => e.event.type === 'EntraCertRotator.CertificateNearExpiry' && e.event.source.endsWith(app.config.appId));

    await restartDriftPass();
    await world.scheduler(service).tick();
    await restartDriftPass();
    await world.scheduler(service).tick();
    expect(warnings()).toHaveLength(1);
    expect(world.email.messages().map((m) => m.message.content.subject)).toEqual([expect.stringContaining('expires soon')]);
    expect((await world.store.getApp(app.config.appId))!.state.nearExpiryWarned).toEqual([
      `${app.state.currentThumbprint}:${app.config.notifications.thresholdDays}`,
    ]);

    // A new threshold is a new warning for the same certificate.
    const current = (await world.store.getApp(app.config.appId))!;
    await world.store.updateApp(current, {
      config: { ...current.config, notifications: { ...current.config.notifications, thresholdDays: 12 } },
    });
    await restartDriftPass();
    await world.scheduler(service).tick();
    await restartDriftPass();
    await world.scheduler(service).tick();
    expect(warnings()).toHaveLength(2);
    expect(messagesFor(app.config.appId)).toHaveLength(0);
  });

  it('retries a pending notification on a later tick and clears it', async () => {
    const { app } = await world.createManagedApp();
    const service = world.service();
    await service.generate(app.config.appId, admin);
    const eventsDown = world.eventGrid.server.inject('publish', { status: 503 });
    const emailDown = world.email.server.inject('send', { status: 503 });
    await world.drain(service);
    world.eventGrid.server.clearFaults();
    world.email.server.clearFaults();
    expect(eventsDown.served).toBeGreaterThan(0);
    expect(emailDown.served).toBeGreaterThan(0);
    const pending = (await world.store.getApp(app.config.appId))!.state;
    expect(pending.renewal?.stage).toBe('completed');
    expect(pending.pendingNotifications.map((p) => p.channel).sort()).toEqual(['email', 'event']);
    expect(await world.store.listAppsWithPendingNotifications()).toContain(app.config.appId);

    const report = await world.scheduler(service).tick();
    expect(report.notificationAppsRetried).toBeGreaterThanOrEqual(1);
    expect((await world.store.getApp(app.config.appId))!.state.pendingNotifications).toEqual([]);
    expect(await world.store.listAppsWithPendingNotifications()).not.toContain(app.config.appId);
    const generated = world.eventGrid.events().filter((e) => e.event.source.endsWith(app.config.appId));
    expect(generated.map((e) => e.event.type)).toEqual(['EntraCertRotator.CertificateGenerated']);
    expect(world.email.messages().filter((m) => (m.message.content.plainText ?? '').includes(app.config.appId))).toHaveLength(1);
  });

  it('tells about a pending certificate notification from its own facts once a newer renewal replaced its certificate', async () => {
    const { app } = await world.createManagedApp({
      config: {
        notifications: {
          enabled: true,
          recipients: ['admins@contoso.example'],
          thresholdDays: 14,
          includeCertificate: true,
          attachmentFormat: 'cer',
        },
      },
    });
    const appId = app.config.appId;
    const service = world.service();
    const first = await service.generate(appId, admin);
    const eventsDown = world.eventGrid.server.inject('publish', { status: 503 });
    const emailDown = world.email.server.inject('send', { status: 503 });
    await world.drain(service);
    world.eventGrid.server.clearFaults();
    world.email.server.clearFaults();
    expect(eventsDown.served).toBeGreaterThan(0);
    expect(emailDown.served).toBeGreaterThan(0);
    expect((await world.store.getApp(appId))!.state.pendingNotifications.map((p) => p.id)).toContain(`generated:${first.renewalId}`);

    // A second generation is told about at once; the first one's notifications are still pending.
    const second = await service.generate(appId, admin);
    await world.drain(service);
    const sentBefore = world.email.messages().length;
    const secondEmail = world.email.messages().find((m) => (m.message.content.plainText ?? '').includes(second.thumbprint));
    expect(secondEmail?.message.attachments ?? []).toHaveLength(1);
    await world.scheduler(service).tick();

    const events = world.eventGrid.events().filter((e) => e.event.source.endsWith(appId));
    const late = events.filter((e) => e.event.id === `generated:${first.renewalId}`);
    expect(late.map((e) => (e.event.data as { thumbprint: string }).thumbprint)).toEqual([first.thumbprint]);
    expect(events.filter((e) => e.event.id === `generated:${second.renewalId}`)).toHaveLength(1);
    const lateEmails = world.email.messages().slice(sentBefore);
    expect(lateEmails).toHaveLength(1);
    expect(lateEmails[0]!.message.content.plainText).toContain(first.thumbprint);
    expect(lateEmails[0]!.message.content.plainText).not.toContain(second.thumbprint);
    // The attachment would be the current certificate, the second one: none goes with the first's email.
    expect(lateEmails[0]!.message.attachments ?? []).toEqual([]);
    expect((await world.store.getApp(appId))!.state.pendingNotifications).toEqual([]);
    // The shared world's later invariants allow attachments only for apps that ask; this one did.
    world.email.clearMessages();
  });
});

describe('drift slice', () => {
  it('reads a bounded slice of apps per tick: the first pass 100 at a time, then ceil(apps / firings per day)', async () => {
    const slicing = await startRenewalWorld();
    try {
      await slicing.store.importApps(
        Array.from({ length: 300 }, (_, i) => ({
          config: managedConfig(
            randomUUID(),
            `Slice ${i}`,
            { vaultUrl: slicing.keyVault.vaultUrl, certificateName: `slice-${i}`, grantAppRead: true },
            { enabled: false, lifetimeDays: 365 },
          ),
        })),
      );
      let read = 0;
      // The store itself, with its scanApps counted: what the scheduler read is what it paid for.
      const counted = new Proxy(slicing.store, {
        get(target, property) {
          if (property === 'scanApps') {
            return async (options?: { maxPageSize?: number; continuationToken?: string }) => {
              const page = await target.scanApps(options);
              read += page.items.length;
              return page;
            };
          }
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      }) as AppRepository;
      const scheduler = slicing.scheduler(slicing.service(), { store: counted });
      const perTick: number[] = [];
      for (let i = 0; i < 8; i++) {
        read = 0;
        await scheduler.tick();
        perTick.push(read);
      }
      // The first pass (no count known yet) reads 100 per tick; then each tick reads its share.
      expect(perTick).toEqual([100, 100, 100, ...Array<number>(5).fill(Math.ceil(300 / 96))]);
    } finally {
      await slicing.close();
    }
  });

  it.each([
    ['certificate missing from Entra', 'certificate-missing-from-entra'],
    ['Key Vault version missing', 'key-vault-version-missing'],
    ['key size changed', 'key-size-changed'],
    ['lifetime changed', 'lifetime-changed'],
  ])('renews an app whose %s', async (_name, reason) => {
    const app = await managedApp();
    const appId = app.config.appId;
    expect(app.config).toMatchObject({ keySize: 2048, lifetimeDays: 90 });
    // The reason the message and the history give: this case's drift, not any other.
    let expected: string;
    if (reason === 'certificate-missing-from-entra') {
      const registration = world.graph.application(appId)!;
      registration.keyCredentials = registration.keyCredentials.filter((c) => c.keyId !== app.state.keyId);
      expected = `the current certificate ${app.state.currentThumbprint} (keyId ${app.state.keyId}) is no longer on the app registration`;
    } else if (reason === 'key-vault-version-missing') {
      await world.store.updateApp(app, { state: { ...app.state, keyVaultVersion: 'ffffffffffffffffffffffffffffffff' } });
      expected = 'Key Vault version ffffffffffffffffffffffffffffffff of the current certificate is missing';
    } else if (reason === 'key-size-changed') {
      await world.store.updateApp(app, { config: { ...app.config, keySize: 3072 } });
      expected = 'key size changed from 2048 to 3072 bits';
    } else {
      await world.store.updateApp(app, { config: { ...app.config, lifetimeDays: 120 } });
      expected = 'lifetime changed from 90 to 120 days';
    }
    const before = credentialBaseline(world, appId);
    const service = world.service();
    await restartDriftPass();
    await world.scheduler(service).tick();
    expect(messagesFor(appId).map((m) => [m.message.trigger, m.message.reason])).toEqual([['drift', expected]]);
    const history = await world.store.listHistory(appId);
    expect(history.items.filter((h) => h.action === 'drift.detected').map((h) => h.error)).toEqual([expected]);

    await world.drain(service);
    const state = (await world.store.getApp(appId))!.state;
    expect(state.renewal).toMatchObject({ trigger: 'drift', stage: 'completed' });
    if (reason === 'key-size-changed') expect(state.keySize).toBe(3072);
    if (reason === 'lifetime-changed') expect(Date.parse(state.notAfter!) - Date.parse(state.notBefore!)).toBe(120 * DAY);
    await assertRenewalInvariants(world, before, { newCertificates: 1 });
  });
});
