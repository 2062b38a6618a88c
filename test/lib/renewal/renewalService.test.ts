import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyIdForRenewal } from '../../../src/lib/renewal/RenewalService.js';
import { startRenewalWorld, type RenewalWorld } from '../../support/renewalWorld.js';

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
