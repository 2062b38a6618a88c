import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../../src/lib/domain/appConfig.js';
import { generateCertificate } from '../../../src/lib/certificates/generateCertificate.js';
import { MAX_DEQUEUE_COUNT } from '../../../src/lib/domain/renewalMessage.js';
import type { RenewalStep } from '../../../src/lib/renewal/renewalContext.js';
import { assertRenewalInvariants, credentialBaseline, emailedPfxs } from '../../support/renewalInvariants.js';
import { scheduleDueRenewal, startRenewalWorld, type RenewalWorld } from '../../support/renewalWorld.js';

/**
 * The crash-after-every-step matrix of renewalFaults.test.ts, and a renewal Graph refuses, over the
 * configurations whose deploy differs from the Key Vault + owner one:
 *  - no Key Vault, the key delivered only by email as a PFX (it goes out BEFORE the certificate is
 *    added, and a retry adopts the credential under the renewal's keyId instead of making another);
 *  - graphMode "self" (addKey/removeKey signed with the current certificate from Key Vault; Graph
 *    picks the keyId, so a retry recognises its work by thumbprint).
 * After each, the invariants of test/support/renewalInvariants.ts, which check each configuration's
 * own rules (emailed PFXs; one Key Vault version per new certificate).
 */

const DAY = 24 * 3600_000;
const admin = { oid: 'admin-oid', name: 'Ada Admin' };

type Mode = 'no-key-vault' | 'self' | 'owner';

interface Configuration {
  readonly mode: Mode;
  /** The Graph route a certificate is added through, for the refusal. */
  readonly addRoute: 'update-application' | 'add-key';
  /** Whether emails may carry attachments (the PFX of a no-Key-Vault app). */
  readonly attachmentsAllowed: boolean;
}

const CONFIGURATIONS: Record<Mode, Configuration> = {
  'no-key-vault': { mode: 'no-key-vault', addRoute: 'update-application', attachmentsAllowed: true },
  self: { mode: 'self', addRoute: 'add-key', attachmentsAllowed: false },
  owner: { mode: 'owner', addRoute: 'update-application', attachmentsAllowed: false },
};

const STEPS: RenewalStep[] = ['leased', 'generated', 'imported', 'added', 'recorded', 'queued', 'verified', 'notified', 'cleaned'];

/** One world per configuration, so a no-Key-Vault app's PFX emails do not meet another's checks. */
function withWorld(): () => RenewalWorld {
  let world: RenewalWorld | undefined;
  beforeAll(async () => {
    world = await startRenewalWorld();
  });
  afterAll(() => world?.close());
  return () => world!;
}

/**
 * An app in the configuration with a verified managed certificate and an expired one of the
 * rotator's (so cleanup has work). Self mode needs a current certificate in Key Vault to sign with:
 * the first one is made in owner mode, as an admin would.
 */
async function managedApp(world: RenewalWorld, mode: Mode): Promise<string> {
  const config: Partial<Omit<AppConfig, 'appId' | 'displayName'>> =
    mode === 'no-key-vault'
      ? {
          keyVault: {
            enabled: false,
            vaultUrl: world.keyVault.vaultUrl,
            certificateName: `nokv-${randomBytes(4).toString('hex')}`,
            grantAppRead: true,
            readers: [],
          },
          notifications: {
            enabled: true,
            recipients: ['keys@contoso.example'],
            thresholdDays: 14,
            includeCertificate: true,
            attachmentFormat: 'pfx',
          },
        }
      : {};
  const { registration, app } = await world.createManagedApp({ config });
  const appId = app.config.appId;
  const service = world.service();
  await service.generate(appId, admin);
  await world.drain(service);
  if (mode === 'self') {
    const stored = (await world.store.getApp(appId))!;
    await world.store.updateApp(stored, { config: { ...stored.config, graphMode: 'self' } });
  }
  const old = await generateCertificate({ displayName: 'old', lifetimeDays: 30, now: new Date(Date.now() - 400 * DAY) });
  world.graph.seedCertificate(registration.appId, old.der, { displayName: 'entra-cert-rotator (expired)' });
  return appId;
}

async function completed(world: RenewalWorld, appId: string, renewalId: string): Promise<void> {
  const state = (await world.store.getApp(appId))!.state;
  expect(state.renewal).toMatchObject({ id: renewalId, stage: 'completed' });
  expect(state.verifiedAt).toBeDefined();
  expect(state.pendingNotifications).toEqual([]);
}

/** Graph's answer when the caller (the rotator, or the app itself) may not write the app registration. */
const denied = {
  status: 403,
  body: { error: { code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' } },
};

describe.each([CONFIGURATIONS['no-key-vault'], CONFIGURATIONS.self])('$mode: a crash after each step, then redelivery', (configuration) => {
  const world = withWorld();

  it.each(STEPS)('after %s', async (crashAfter) => {
    const w = world();
    const appId = await managedApp(w, configuration.mode);
    const before = credentialBaseline(w, appId);
    const message = await scheduleDueRenewal(w, appId);
    let crashed = 0;
    const service = w.service({
      afterStep: (step, m) => {
        if (step === crashAfter && m.renewalId === message.renewalId && crashed === 0) {
          crashed += 1;
          throw new Error(`process died after ${step}`);
        }
      },
    });
    const { poisoned } = await w.drain(service);
    expect(crashed).toBe(1);
    expect(poisoned).toBe(0);
    await completed(w, appId, message.renewalId);
    await assertRenewalInvariants(w, before, { newCertificates: 1, attachmentsAllowed: configuration.attachmentsAllowed });
    if (configuration.mode === 'no-key-vault') {
      // A crash after the key went out but before the certificate was added costs one more
      // certificate and email (its key was never trusted); any later crash is adopted, not repeated.
      const { displayName } = (await w.store.getApp(appId))!.config;
      const pfxs = emailedPfxs(w).filter((p) => p.subject.endsWith(` for ${displayName}`));
      expect(pfxs.length).toBe(1 + (crashAfter === 'imported' ? 2 : 1));
    }
  });
});

describe.each([CONFIGURATIONS.owner, CONFIGURATIONS['no-key-vault'], CONFIGURATIONS.self])(
  '$mode: Graph refuses to add the certificate',
  (configuration) => {
    const world = withWorld();

    it('on every delivery: the renewal fails, nothing changes on the app registration', async () => {
      const w = world();
      const appId = await managedApp(w, configuration.mode);
      const current = (await w.store.getApp(appId))!.state.currentThumbprint;
      const before = credentialBaseline(w, appId);
      const message = await scheduleDueRenewal(w, appId);
      const refusal = w.graph.inject(configuration.addRoute, denied);
      try {
        expect(await w.drain(w.service())).toEqual({ delivered: MAX_DEQUEUE_COUNT, poisoned: 1 });
        expect(refusal.served).toBe(MAX_DEQUEUE_COUNT); // once per delivery: a 403 is not retried in-process
      } finally {
        w.graph.server.clearFaults();
      }
      const state = (await w.store.getApp(appId))!.state;
      expect(state).toMatchObject({
        lastOutcome: 'failed',
        currentThumbprint: current,
        renewal: { id: message.renewalId, stage: 'failed' },
      });
      await w.poisonQueue.clearMessages();
      await assertRenewalInvariants(w, before, { newCertificates: 0, attachmentsAllowed: configuration.attachmentsAllowed });
    });

    it('until the last delivery, which succeeds: one new certificate', async () => {
      const w = world();
      const appId = await managedApp(w, configuration.mode);
      const before = credentialBaseline(w, appId);
      const message = await scheduleDueRenewal(w, appId);
      const refusal = w.graph.inject(configuration.addRoute, { ...denied, times: MAX_DEQUEUE_COUNT - 1 });
      try {
        expect(await w.drain(w.service())).toEqual({ delivered: MAX_DEQUEUE_COUNT + 1, poisoned: 0 });
        expect(refusal.served).toBe(MAX_DEQUEUE_COUNT - 1);
      } finally {
        w.graph.server.clearFaults();
      }
      await completed(w, appId, message.renewalId);
      await assertRenewalInvariants(w, before, { newCertificates: 1, attachmentsAllowed: configuration.attachmentsAllowed });
    });
  },
);
