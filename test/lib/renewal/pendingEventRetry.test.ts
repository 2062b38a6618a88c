import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RotationService } from '../../../src/lib/rotations/rotationService.js';
import { RotationStore } from '../../../src/lib/tables/rotationStore.js';
import { startRenewalWorld, type RenewalWorld } from '../../support/renewalWorld.js';
import { createTestTableClient } from '../../support/tables.js';

/**
 * An event that could not be published is resent by the scheduler's tick (the app's pending
 * notifications): the resent event must say what the first attempt would have said, the bulk
 * rotation and its reason and the trigger included, even after a later renewal replaced state.renewal.
 */

const admin = { oid: 'c0ffee00-0000-4000-8000-000000000002', name: 'Ada Admin' };
let world: RenewalWorld;

beforeAll(async () => {
  world = await startRenewalWorld();
});
afterAll(() => world.close());

function rotationRig() {
  const rotations = new RotationService({
    store: world.store,
    rotations: new RotationStore(createTestTableClient('rotations')),
    queue: world.renewalQueue,
    events: world.publisher,
  });
  return { rotations, service: world.service({ rotations }) };
}

async function appWithCertificate(): Promise<string> {
  const { app } = await world.createManagedApp();
  const service = world.service();
  await service.generate(app.config.appId, admin);
  await world.drain(service);
  return app.config.appId;
}

const eventsOf = (type: string, appId: string) =>
  world.eventGrid
    .events()
    .filter((e) => e.event.type === `EntraCertRotator.${type}` && (e.event.data as { appId?: string }).appId === appId)
    .map((e) => e.event.data);

/** Drains with Event Grid down, so every event of the drain is left pending. */
async function drainWithEventGridDown(service: ReturnType<typeof rotationRig>['service']): Promise<void> {
  const outage = world.eventGrid.server.inject('*', { status: 503 });
  try {
    await world.drain(service);
    expect(outage.served).toBeGreaterThan(0);
  } finally {
    world.eventGrid.server.clearFaults();
  }
}

describe('an event resent by the scheduler', () => {
  it('CertificateRenewalFailed of a rotation keeps rotationId, reason and trigger', async () => {
    const { rotations, service } = rotationRig();
    const appId = await appWithCertificate();
    // The rotator is no longer an owner: Graph refuses every write, the renewal fails for good.
    world.graph.application(appId)!.owners.length = 0;
    const reason = 'resent failure (INC-7)';
    const { view } = await rotations.start({ selector: { appIds: [appId] }, reason }, { idempotencyKey: 'failed-resend', caller: admin });
    await drainWithEventGridDown(service);
    expect(eventsOf('CertificateRenewalFailed', appId)).toEqual([]);
    expect((await world.store.getApp(appId))!.state.pendingNotifications).toContainEqual(
      expect.objectContaining({ kind: 'failed', channel: 'event' }),
    );

    await world.scheduler(service).tick();

    const resent = eventsOf('CertificateRenewalFailed', appId);
    expect(resent).toEqual([expect.objectContaining({ rotationId: view.id, reason, trigger: 'rotation' })]);
    expect((resent[0] as { error?: string }).error).toMatch(/denied|owner|403/i);
    expect((await world.store.getApp(appId))!.state.pendingNotifications).toEqual([]);
  });

  it('CertificateRenewed of a rotation keeps them after a later renewal of the app failed', async () => {
    const { rotations, service } = rotationRig();
    const appId = await appWithCertificate();
    const reason = 'resent renewal (INC-8)';
    const { view } = await rotations.start({ selector: { appIds: [appId] }, reason }, { idempotencyKey: 'renewed-resend', caller: admin });
    await drainWithEventGridDown(service);
    expect(eventsOf('CertificateRenewed', appId)).toEqual([]);
    const renewedThumbprint = (await world.store.getApp(appId))!.state.currentThumbprint;

    // A manual renewal fails before the resend: state.renewal is now that one's, the certificate unchanged.
    world.graph.application(appId)!.owners.length = 0;
    await world.renewalQueue.enqueue({ appId, renewalId: randomUUID(), stage: 'deploy', trigger: 'manual' });
    expect((await world.drain(service)).poisoned).toBe(1);
    const state = (await world.store.getApp(appId))!.state;
    expect(state.renewal).toMatchObject({ trigger: 'manual', stage: 'failed' });
    expect(state.currentThumbprint).toBe(renewedThumbprint);

    await world.scheduler(service).tick();

    expect(eventsOf('CertificateRenewed', appId)).toEqual([
      expect.objectContaining({ rotationId: view.id, reason, trigger: 'rotation', thumbprint: renewedThumbprint }),
    ]);
  });
});
