import { randomUUID } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppService } from '../../../src/lib/apps/appService.js';
import { ValidationError } from '../../../src/lib/errors.js';
import { AppManagementPolicyClient } from '../../../src/lib/graph/appManagementPolicyClient.js';
import { createGraphClient } from '../../../src/lib/graph/graphClient.js';
import { AppStore } from '../../../src/lib/tables/appStore.js';
import { AppRegistrationDirectoryDouble } from '../../support/appRegistrationDirectoryDouble.js';
import { credentialBaseline } from '../../support/renewalInvariants.js';
import { scheduleDueRenewal, startRenewalWorld, type RenewalWorld } from '../../support/renewalWorld.js';
import { createTestTableClient, snapshotTable } from '../../support/tables.js';

/**
 * Preflight against app management policies (issue 19.5), end to end: the Graph emulator serves the
 * tenant's and the app's policies and refuses what they refuse; the config API refuses a config a
 * policy would refuse (400 on lifetimeDays, or a precondition error) and stores nothing; a renewal
 * that a policy set since would refuse fails at once, naming the policy, with no credential added;
 * warnings (the object's size, policies the rotator may not read) land in the app's state.
 */

let world: RenewalWorld;
let policyReader: AppManagementPolicyClient;
let readPolicies: () => AppManagementPolicyClient;
const admin = { oid: randomUUID(), name: 'Ada Admin' };

beforeAll(async () => {
  world = await startRenewalWorld();
  // An identity that may read the policies (Policy.Read.All), as the rotator's should.
  const clientId = randomUUID();
  world.authority.registerClientSecret(world.tenantId, clientId, 'policy-secret', {
    roles: ['Application.Read.All', 'Policy.Read.All'],
    principalId: randomUUID(),
  });
  const credential = new ClientSecretCredential(world.tenantId, clientId, 'policy-secret', {
    authorityHost: world.authority.url,
    disableInstanceDiscovery: true,
  });
  const graph = createGraphClient({ credential, graphBaseUrl: world.graph.url, retry: { delaySeconds: 0, maxRetries: 1 } });
  // A reader per test: each keeps the tenant policy for five minutes, as the one per process does.
  readPolicies = () => new AppManagementPolicyClient({ graph });
});
afterAll(() => world.close());
beforeEach(() => {
  world.graph.policies.clear();
  policyReader = readPolicies();
});

const ninetyDays = { restrictionType: 'asymmetricKeyLifetime' as const, maxLifetime: 'P90D' };

function configApi(): {
  service: AppService;
  store: AppStore;
  table: ReturnType<typeof createTestTableClient>;
  directory: AppRegistrationDirectoryDouble;
} {
  const table = createTestTableClient('preflight');
  const store = new AppStore(table);
  const directory = new AppRegistrationDirectoryDouble();
  const service = new AppService({
    store,
    directory,
    defaultKeyVaultUrl: 'https://preflight-vault.vault.azure.net/',
    policies: policyReader,
  });
  return { service, store, table, directory };
}

describe('the config API', () => {
  it('refuses a lifetime above the tenant policy, naming the policy, and stores nothing', async () => {
    world.graph.policies.tenant = { ...world.graph.policies.tenant, isEnabled: true, keyCredentials: [ninetyDays] };
    const { service, table, directory } = configApi();
    const registration = world.graph.createApplication({ tenantId: world.tenantId, displayName: 'Capped' });
    directory.add(registration.appId, 'Capped');
    await table.createTable();
    const before = await snapshotTable(table);
    const error = await service.putApp(registration.appId, { lifetimeDays: 365 }, { caller: admin }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    const issues = (error as ValidationError).issues;
    expect(issues.map((i) => i.path)).toEqual(['lifetimeDays']);
    expect(issues[0]!.message).toContain(
      `the tenant's default app management policy "Default app management tenant policy" (00000000-0000-0000-0000-000000000000) allows certificates valid at most 90 days`,
    );
    expect(await snapshotTable(table)).toBe(before);
    // Within the cap: stored, no warning.
    const { app } = await service.putApp(registration.appId, { lifetimeDays: 90, renewBeforeDays: 20 }, { caller: admin });
    expect(app.state.preflight).toMatchObject({ warnings: [] });
  });

  it('refuses a trusted-CA rule on the app itself with a precondition error naming it', async () => {
    const { service, directory } = configApi();
    const registration = world.graph.createApplication({ tenantId: world.tenantId, displayName: 'CA only' });
    directory.add(registration.appId, 'CA only');
    world.graph.policies.assign(registration.id, {
      id: 'own-policy',
      displayName: 'Trusted CAs only',
      isEnabled: true,
      keyCredentials: [{ restrictionType: 'trustedCertificateAuthority' }],
    });
    await expect(service.putApp(registration.appId, { lifetimeDays: 90 }, { caller: admin })).rejects.toThrow(
      /the app's app management policy "Trusted CAs only" \(own-policy\) accepts only certificates issued by the tenant's trusted certificate authorities/,
    );
  });

  it('keeps a warning in the state for an app near the object size limit', async () => {
    const { service, directory } = configApi();
    const { registration, app } = await world.createManagedApp();
    const { generateCertificate } = await import('../../../src/lib/certificates/generateCertificate.js');
    for (let i = 0; i < 15; i++) {
      const old = await generateCertificate({ displayName: `old ${i}`, lifetimeDays: 30 });
      world.graph.seedCertificate(registration.appId, old.der, { displayName: `someone else's ${i}` });
    }
    directory.add(app.config.appId, app.config.displayName);
    const { app: stored } = await service.putApp(app.config.appId, { lifetimeDays: 90 }, { caller: admin });
    expect(stored.state.preflight?.warnings).toEqual([expect.stringContaining('holds 15 certificates, which weigh on')]);
  });
});

describe('before each renewal', () => {
  it('a policy set since the config was written fails the renewal at once, naming it, and adds nothing', async () => {
    const { app } = await world.createManagedApp();
    const service = world.service({ policies: policyReader });
    await service.generate(app.config.appId, admin);
    await world.drain(service);
    const before = credentialBaseline(world, app.config.appId);
    // The app's lifetime is 90 days; the tenant now allows 30.
    world.graph.policies.tenant = {
      ...world.graph.policies.tenant,
      isEnabled: true,
      keyCredentials: [{ restrictionType: 'asymmetricKeyLifetime', maxLifetime: 'P30D' }],
    };
    const message = await scheduleDueRenewal(world, app.config.appId);
    // A process started after the change (one older than five minutes would also have read it again;
    // within them, Graph's own refusal, CredentialInvalidLifetimeAsPerAppPolicy, fails the write).
    await world.drain(world.service({ policies: readPolicies() }));
    const state = (await world.store.getApp(app.config.appId))!.state;
    expect(state.renewal).toMatchObject({ id: message.renewalId, stage: 'failed' });
    expect(state.lastError).toMatch(/allows certificates valid at most 30 days, and lifetimeDays is 90/);
    expect(credentialBaseline(world, app.config.appId)).toEqual(before);
    expect(world.keyVault.versions(app.config.keyVault.certificateName)).toHaveLength(1);
    const failed = world.eventGrid
      .events()
      .filter(
        (e) =>
          e.event.type === 'EntraCertRotator.CertificateRenewalFailed' && (e.event.data as { appId: string }).appId === app.config.appId,
      );
    expect(failed).toHaveLength(1);
  });

  it('a redelivery finishes the certificate its first attempt added, though a policy set in between would refuse a new one', async () => {
    const { registration, app } = await world.createManagedApp();
    const first = world.service({ policies: policyReader });
    await first.generate(app.config.appId, admin);
    await world.drain(first);
    const message = await scheduleDueRenewal(world, app.config.appId);
    let crashed = false;
    // The first attempt's certificate is on the app registration when the process dies; a policy
    // capping lifetimes below the app's 90 days is then assigned to the app (read on every preflight).
    const service = world.service({
      policies: policyReader,
      afterStep: (step) => {
        if (step !== 'added' || crashed) return;
        crashed = true;
        world.graph.policies.assign(registration.id, {
          id: 'cap-30',
          displayName: 'Thirty days',
          isEnabled: true,
          keyCredentials: [{ restrictionType: 'asymmetricKeyLifetime', maxLifetime: 'P30D' }],
        });
        throw new Error('the host died after adding the certificate');
      },
    });
    await world.drain(service);
    const { state } = (await world.store.getApp(app.config.appId))!;
    expect(crashed).toBe(true);
    // Finished, not refused: Entra, Key Vault and the state agree on the certificate the first attempt made.
    expect(state.renewal).toMatchObject({ id: message.renewalId });
    expect(state.renewal?.stage).not.toBe('failed');
    const onEntra = world.graph.application(app.config.appId)!.keyCredentials.map((c) => c.customKeyIdentifier);
    expect(onEntra).toHaveLength(2);
    const latest = world.keyVault.latest(app.config.keyVault.certificateName);
    expect(latest?.thumbprint).toBe(state.currentThumbprint);
  });

  it("a renewal without the preflight meets Graph's own refusal under a trusted-CA rule, and fails naming the policy", async () => {
    const { registration, app } = await world.createManagedApp();
    // No policy reader: only Graph stands between the renewal and the rule.
    const service = world.service();
    await service.generate(app.config.appId, admin);
    await world.drain(service);
    const before = credentialBaseline(world, app.config.appId);
    world.graph.policies.assign(registration.id, {
      id: 'ca-only',
      displayName: 'Trusted CAs only',
      isEnabled: true,
      keyCredentials: [{ restrictionType: 'trustedCertificateAuthority' }],
    });
    const message = await scheduleDueRenewal(world, app.config.appId);
    await world.drain(service);
    const state = (await world.store.getApp(app.config.appId))!.state;
    expect(state.renewal).toMatchObject({ id: message.renewalId, stage: 'failed' });
    expect(state.lastError).toMatch(/app management policy.*AsPerAppPolicy.*'ca-only'/);
    expect(credentialBaseline(world, app.config.appId)).toEqual(before);
  });

  it('goes on when the policies cannot be read, and says what to grant', async () => {
    const { app } = await world.createManagedApp();
    // The world's own rotator holds Application.ReadWrite.OwnedBy only: no Policy.Read.All.
    const service = world.service({ policies: new AppManagementPolicyClient({ graph: createRotatorGraph() }) });
    await service.generate(app.config.appId, admin);
    await world.drain(service);
    const state = (await world.store.getApp(app.config.appId))!.state;
    expect(state.verifiedAt).toBeDefined();
    expect(state.preflight?.warnings).toEqual([
      expect.stringContaining('grant its identity the Graph application permission Policy.Read.All'),
    ]);
  });
});

function createRotatorGraph() {
  const credential = new ClientSecretCredential(world.tenantId, world.rotator.clientId, 'rotator-secret', {
    authorityHost: world.authority.url,
    disableInstanceDiscovery: true,
  });
  return createGraphClient({ credential, graphBaseUrl: world.graph.url, retry: { delaySeconds: 0, maxRetries: 1 } });
}
