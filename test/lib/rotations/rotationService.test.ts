import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdempotencyKeyReusedError, ValidationError } from '../../../src/lib/errors.js';
import type { RenewalService } from '../../../src/lib/renewal/renewalService.js';
import { ROTATION_COMPLETED_EVENT, RotationService, rotationRenewalId } from '../../../src/lib/rotations/rotationService.js';
import { RotationStore } from '../../../src/lib/tables/rotationStore.js';
import { assertRenewalInvariants, credentialBaseline, type CredentialBaseline } from '../../support/renewalInvariants.js';
import { makeDue, startRenewalWorld, type RenewalWorld } from '../../support/renewalWorld.js';
import { createTestTableClient, snapshotTable } from '../../support/tables.js';

/**
 * Bulk rotation (issue 19.1, docs/http-api.md) over the real renewal pipeline: Azurite for the store,
 * the rotation table and the queue, the Graph, Key Vault, email and Event Grid emulators.
 */

const admin = { oid: 'c0ffee00-0000-4000-8000-000000000001', name: 'Ada Admin' };
let world: RenewalWorld;

beforeAll(async () => {
  world = await startRenewalWorld();
});
afterAll(() => world.close());

interface Rig {
  readonly rotations: RotationService;
  readonly store: RotationStore;
  readonly service: RenewalService;
  readonly table: ReturnType<typeof createTestTableClient>;
}

function rig(options: { tracked?: boolean } = {}): Rig {
  const table = createTestTableClient('rotations');
  const store = new RotationStore(table);
  const rotations = new RotationService({ store: world.store, rotations: store, queue: world.renewalQueue, events: world.publisher });
  const service = world.service(options.tracked === false ? {} : { rotations });
  return { rotations, store, service, table };
}

/** A managed app with a verified certificate of its own, and its credentials before the rotation. */
async function appWithCertificate(config: { enabled?: boolean } = {}): Promise<{ appId: string; before: CredentialBaseline }> {
  const { app } = await world.createManagedApp();
  const service = world.service();
  await service.generate(app.config.appId, admin);
  await world.drain(service);
  if (config.enabled === false) {
    const current = (await world.store.getApp(app.config.appId))!;
    await world.store.updateApp(current, { config: { ...current.config, enabled: false } });
  }
  return { appId: app.config.appId, before: credentialBaseline(world, app.config.appId) };
}

const completedEvents = (rotationId: string) =>
  world.eventGrid
    .events()
    .filter((e) => e.event.type === ROTATION_COMPLETED_EVENT && (e.event.data as { rotationId?: string }).rotationId === rotationId);

describe('a bulk rotation', () => {
  it('renews each selected app once, skips what it cannot renew, and announces RotationCompleted once', async () => {
    const { rotations, service, table } = rig();
    const a = await appWithCertificate();
    const b = await appWithCertificate();
    const c = await appWithCertificate();
    const off = await appWithCertificate({ enabled: false });
    const { app: fresh } = await world.createManagedApp();
    const selected = [a, b, c, off].map((x) => x.appId).concat(fresh.config.appId);
    const reason = 'private key may be compromised (INC-42)';
    const sent = world.enqueued.length;

    const { view, created } = await rotations.start({ selector: { appIds: selected }, reason }, { idempotencyKey: 'k-1', caller: admin });
    expect(created).toBe(true);
    expect(view).toMatchObject({ status: 'running', total: 5, reason, counts: { queued: 3, skipped: 2, verified: 0 } });
    expect(view.openApps.map((x) => x.appId).sort()).toEqual([a, b, c].map((x) => x.appId).sort());
    const skipped = new Map(view.skippedApps.map((x) => [x.appId, x.detail]));
    expect([...skipped.keys()].sort()).toEqual([off.appId, fresh.config.appId].sort());
    expect(skipped.get(off.appId)).toMatch(/enabled: false/);
    expect(skipped.get(fresh.config.appId)).toMatch(/no managed certificate/);
    const messages = world.enqueued.slice(sent).map((e) => e.message);
    expect(messages).toHaveLength(3);
    for (const message of messages) {
      expect(message).toMatchObject({ trigger: 'rotation', rotationId: view.id, reason, requestedAt: view.createdAt, stage: 'deploy' });
      expect(message.renewalId).toBe(rotationRenewalId(view.id, message.appId));
    }

    // The client retries (its answer was lost): the same rotation, nothing sent again.
    const retried = await rotations.start({ selector: { appIds: selected }, reason }, { idempotencyKey: 'k-1', caller: admin });
    expect(retried).toMatchObject({ created: false, view: { id: view.id, total: 5 } });
    expect(world.enqueued.length - sent).toBe(3);
    // The same key for another request is refused, and changes nothing.
    await expect(rotations.start({ selector: { all: true }, reason }, { idempotencyKey: 'k-1', caller: admin })).rejects.toBeInstanceOf(
      IdempotencyKeyReusedError,
    );

    const { poisoned } = await world.drain(service);
    expect(poisoned).toBe(0);

    const done = await rotations.get(view.id);
    expect(done).toMatchObject({ status: 'completed', total: 5, counts: { queued: 0, deployed: 0, verified: 3, failed: 0, skipped: 2 } });
    expect(done.completedAt).toBeDefined();
    expect(done.openApps).toEqual([]);
    for (const { appId, before } of [a, b, c]) {
      await assertRenewalInvariants(world, before, { newCertificates: 1 });
      const state = (await world.store.getApp(appId))!.state;
      expect(state.renewal).toMatchObject({
        id: rotationRenewalId(view.id, appId),
        trigger: 'rotation',
        rotationId: view.id,
        stage: 'completed',
      });
      const history = (await world.store.listHistory(appId)).items.filter((h) => h.action.startsWith('renewal.'));
      expect(history.map((h) => [h.action, h.rotationId, h.reason])).toEqual([
        ['renewal.confirm', view.id, reason],
        ['renewal.deploy', view.id, reason],
        ...history.slice(2).map((h) => [h.action, undefined, undefined]),
      ]);
      const renewed = world.eventGrid
        .events()
        .filter((e) => e.event.type === 'EntraCertRotator.CertificateRenewed' && (e.event.data as { appId: string }).appId === appId);
      expect(renewed.map((e) => e.event.data)).toEqual([expect.objectContaining({ rotationId: view.id, reason, trigger: 'rotation' })]);
    }
    // The apps it could not renew are untouched, and say why.
    expect(credentialBaseline(world, off.appId)).toEqual(off.before);

    const events = completedEvents(view.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.event).toMatchObject({ id: `rotation-completed:${view.id}`, source: `/entra-cert-rotator/rotations/${view.id}` });
    expect(events[0]!.event.data).toMatchObject({
      rotationId: view.id,
      reason,
      total: 5,
      counts: { verified: 3, skipped: 2 },
      failedAppIds: [],
    });
    // Once: a later pass of the scheduler sends nothing more.
    await rotations.reconcile();
    expect(completedEvents(view.id)).toHaveLength(1);
    // Nothing but ids, stages and the reason in the rotation's rows.
    const rows = await snapshotTable(table);
    expect(rows).not.toMatch(/PRIVATE KEY|MII[A-Za-z0-9+/]{40}/);
  });

  it('a scheduled renewal at the same moment makes no second certificate, in either order', async () => {
    const { rotations, service } = rig();
    const first = await appWithCertificate();
    const second = await appWithCertificate();
    // `first`: the scheduler queues its renewal just before the rotation's; `second`: just after.
    await makeDue(world, first.appId);
    await world.scheduler(service).tick();
    const { view } = await rotations.start(
      { selector: { appIds: [first.appId, second.appId] }, reason: 'policy change' },
      { idempotencyKey: 'same-moment', caller: admin },
    );
    await makeDue(world, second.appId);
    await world.scheduler(service).tick();
    await world.drain(service);

    for (const { before } of [first, second]) {
      // makeDue moved the stored dates only; Entra's credentials are the baseline's plus one.
      await assertRenewalInvariants(world, before, { newCertificates: 1 });
    }
    const done = await rotations.get(view.id);
    expect(done).toMatchObject({ status: 'completed', counts: { verified: 2 } });
    // `first` was answered by the scheduled renewal that deployed after the rotation was asked for.
    const firstState = (await world.store.getApp(first.appId))!.state;
    expect(firstState.renewal?.trigger).toBe('scheduled');
    expect(completedEvents(view.id)).toHaveLength(1);
  });

  it('a renewal that fails for good is a failed app, and the rotation still completes', async () => {
    const { rotations, service } = rig();
    const ok = await appWithCertificate();
    const broken = await appWithCertificate();
    // The rotator is no longer an owner: Graph refuses every write (403), on every delivery.
    world.graph.application(broken.appId)!.owners.length = 0;
    const { view } = await rotations.start(
      { selector: { appIds: [ok.appId, broken.appId] }, reason: 'drill' },
      { idempotencyKey: 'with-failure', caller: admin },
    );
    const { poisoned } = await world.drain(service);
    expect(poisoned).toBe(1);
    const done = await rotations.get(view.id);
    expect(done).toMatchObject({ status: 'completed', counts: { verified: 1, failed: 1 } });
    expect(done.failedApps).toHaveLength(1);
    expect(done.failedApps[0]).toMatchObject({ appId: broken.appId, stage: 'failed' });
    expect(done.failedApps[0]!.detail).toMatch(/owner|permission|403|Forbidden/i);
    expect(credentialBaseline(world, broken.appId)).toEqual(broken.before);
    expect(completedEvents(view.id)[0]!.event.data).toMatchObject({ failedAppIds: [broken.appId], counts: { failed: 1 } });
    const failedEvent = world.eventGrid
      .events()
      .find(
        (e) => e.event.type === 'EntraCertRotator.CertificateRenewalFailed' && (e.event.data as { appId: string }).appId === broken.appId,
      );
    expect(failedEvent?.event.data).toMatchObject({ rotationId: view.id, reason: 'drill' });
  });

  it('progress the worker could not report is found by the scheduler, which then completes the rotation', async () => {
    // The worker reports nothing (as if each delivery died right after its renewal's last write).
    const { rotations, store, service } = rig({ tracked: false });
    const a = await appWithCertificate();
    const { view } = await rotations.start(
      { selector: { appIds: [a.appId] }, reason: 'lost reports' },
      { idempotencyKey: 'lost', caller: admin },
    );
    await world.drain(service);
    expect(await rotations.get(view.id)).toMatchObject({ status: 'running', counts: { queued: 1 } });
    expect(completedEvents(view.id)).toHaveLength(0);

    await world.scheduler(service, { rotations }).tick();
    expect(await rotations.get(view.id)).toMatchObject({ status: 'completed', counts: { verified: 1 } });
    expect(completedEvents(view.id)).toHaveLength(1);
    expect((await store.getRotation(view.id))!.record.completionPublished).toBe(true);
  });

  it('a start that died after recording its apps is finished by a retry, with each app queued once per renewal id', async () => {
    const { rotations, store, service } = rig();
    const a = await appWithCertificate();
    const b = await appWithCertificate();
    let now = Date.now();
    // A start whose queue is down after its rows are written: the request fails part-way.
    const failing = new RotationService({
      store: world.store,
      rotations: store,
      queue: {
        enqueue: () => Promise.reject(new Error('queue unavailable')),
      },
      now: () => new Date(now),
    });
    const request = { selector: { appIds: [a.appId, b.appId] }, reason: 'resume' };
    await expect(failing.start(request, { idempotencyKey: 'resume', caller: admin })).rejects.toThrow('queue unavailable');
    const id = (await store.listRotations()).find((r) => r.reason === 'resume')!.id;
    expect((await store.getRotation(id))!.record.status).toBe('starting');
    // A retry while the first start still holds it: 409 to retry later.
    const retrying = new RotationService({ store: world.store, rotations: store, queue: world.renewalQueue, now: () => new Date(now) });
    await expect(retrying.start(request, { idempotencyKey: 'resume', caller: admin })).rejects.toThrow(/still being started/);
    // After the hold: the retry takes the start over and finishes it.
    now += 10 * 60_000;
    const { view } = await retrying.start(request, { idempotencyKey: 'resume', caller: admin });
    expect(view).toMatchObject({ id, status: 'running', counts: { queued: 2 } });
    await world.drain(service);
    // `rotations` (the tracker) shares the store: it completes the rotation as the renewals report.
    expect(await rotations.get(id)).toMatchObject({ status: 'completed', counts: { verified: 2 } });
    for (const x of [a, b]) await assertRenewalInvariants(world, x.before, { newCertificates: 1 });
  });

  it('refuses appIds the rotator does not manage, naming each, and stores nothing', async () => {
    const { rotations, store } = rig();
    const a = await appWithCertificate();
    const unknown = '00000000-0000-4000-8000-00000000abcd';
    const error = await rotations
      .start({ selector: { appIds: [a.appId, unknown] }, reason: 'typo' }, { idempotencyKey: 'typo', caller: admin })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { path: 'selector.appIds.1', message: `app ${unknown} is not managed by the rotator` },
    ]);
    expect(await store.listRotations()).toEqual([]);
  });
});
