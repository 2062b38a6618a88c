import { randomUUID } from 'node:crypto';
import functions, { type HttpResponseInit } from '@azure/functions';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { ClientCertificateCredential } from '@azure/identity';
import { CertificateClient } from '@azure/keyvault-certificates';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createAppsHandlers } from '../../../src/functions/apps.js';
import { VaultAccessService } from '../../../src/lib/access/vaultAccessService.js';
import { AppService } from '../../../src/lib/apps/appService.js';
import { VaultRoleAssignmentClient } from '../../../src/lib/authorization/vaultRoleAssignmentClient.js';
import { encodePemBundle } from '../../../src/lib/certificates/encode.js';
import {
  createSelfSignedCertificate,
  generateRsaKeyPair,
  type GeneratedCertificate,
} from '../../../src/lib/certificates/generateCertificate.js';
import { encodePfx } from '../../../src/lib/certificates/pfx.js';
import { createCertificateVaultClient } from '../../../src/lib/serviceClients.js';
import type { AccessState, AppConfig, RenewalState } from '../../../src/lib/domain/appConfig.js';
import { AppRegistrationClient } from '../../../src/lib/graph/appRegistrationClient.js';
import { GraphAppRegistrationDirectory } from '../../../src/lib/graph/graphAppRegistrationDirectory.js';
import { createAppSignIn, createGraphClient, graphScopeFor } from '../../../src/lib/graph/graphClient.js';
import { BearerAuthenticator } from '../../../src/lib/http/bearerAuthenticator.js';
import type { CertificateVaultClient } from '../../../src/lib/keyvault/certificateVaultClient.js';
import { GraphEmulator, type GraphApplication } from '../../emulators/graph.js';
import { KeyVaultEmulator } from '../../emulators/keyVault.js';
import {
  BUILT_IN_ROLES,
  KEY_VAULT_GRANTS_CONDITION as CONDITION,
  ResourceManagerEmulator,
  type PrincipalType,
} from '../../emulators/resourceManager.js';
import { loadOrCreateEmulatorTls } from '../../emulators/tls.js';
import { API_AUDIENCE, API_CLIENT_ID, ApiHarness, DEFAULT_VAULT, DEFAULT_VAULT_RESOURCE_ID } from '../../support/apiHarness.js';
import { FAST_RETRIES, startTestIdentity, type TestIdentity } from '../../support/identity.js';
import { storedAppFixture } from '../../support/storedAppFixture.js';

/**
 * Access grants (docs/consumers.md) end to end below and through the HTTP API: the VaultAccessService
 * with the real ARM adapter (@azure/arm-authorization) against the Resource Manager emulator and
 * the real Graph adapter (the app's service principal) against the Graph emulator, and the grant's
 * effect checked where it matters: the app signing in with its certificate and reading its secret
 * from the Key Vault emulator with the real SecretClient. The emulators' own rules have their tests
 * in test/emulators/resourceManager.test.ts.
 */

const { HttpRequest, InvocationContext } = functions;

const SUBSCRIPTION = '0b1f6471-1bf0-4dda-aec3-111122223333';
const VAULT_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-certs/providers/Microsoft.KeyVault/vaults/certs-vault`;
const RBAC_ADMIN = 'Role Based Access Control Administrator';
/** One grant's attempts when Resource Manager keeps failing: the first and the SDK's retries. */
const ATTEMPTS = 1 + FAST_RETRIES.maxRetries;

let identity: TestIdentity;
let graph: GraphEmulator;
let arm: ResourceManagerEmulator;
let vault: KeyVaultEmulator;
let officer: CertificateVaultClient;
let signer: GeneratedCertificate;
const principalTypes = new Map<string, PrincipalType>();
let service: VaultAccessService;

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  identity = await startTestIdentity(tls);
  // The rotator reads service principals in Graph (Application.Read.All, as infra/ grants it).
  identity.authority.grantAppRoles(identity.tenantId, identity.clientId, ['Application.Read.All']);
  const verifyToken = (token: string, audiences: string[]) => identity.authority.verifyAccessToken(token, audiences);
  graph = new GraphEmulator({ tls, authority: identity.authority });
  arm = new ResourceManagerEmulator({
    tls,
    tenantId: identity.tenantId,
    verifyToken,
    principalTypeOf: (id) =>
      graph.allApplications().some((a) => a.servicePrincipalId.toLowerCase() === id) ? 'ServicePrincipal' : principalTypes.get(id),
  });
  vault = new KeyVaultEmulator({
    tls,
    tenantId: identity.tenantId,
    authorityHost: identity.authority.url,
    verifyToken,
    rbac: true,
    roleAssignments: { vaultResourceId: VAULT_ID, list: () => arm.assignments() },
  });
  await Promise.all([graph.start(), arm.start(), vault.start()]);
  principalTypes.set(identity.principalId.toLowerCase(), 'ServicePrincipal');
  vault.assignRole(identity.principalId, 'Key Vault Certificates Officer');
  officer = createCertificateVaultClient(vault.vaultUrl, identity.clientSecretCredential, { retryOptions: FAST_RETRIES });
  signer = createSelfSignedCertificate(await generateRsaKeyPair(2048), { displayName: 'consumer', lifetimeDays: 30 });

  const retry = { delaySeconds: 0, maxRetries: 2 };
  const graphClient = createGraphClient({ credential: identity.clientSecretCredential, graphBaseUrl: graph.url, retry });
  const applications = new AppRegistrationClient({
    graph: graphClient,
    signInAsApp: createAppSignIn({
      tenantId: identity.tenantId,
      authorityHost: identity.authority.url,
      disableInstanceDiscovery: true,
      graphBaseUrl: graph.url,
      retry,
    }),
  });
  // As the composition root builds it: one ARM client per subscription, for the rotator's identity.
  const clients = new Map<string, AuthorizationManagementClient>();
  service = new VaultAccessService({
    grants: new VaultRoleAssignmentClient({
      clientFor: (subscriptionId) => {
        let client = clients.get(subscriptionId);
        if (!client) {
          client = new AuthorizationManagementClient(identity.clientSecretCredential, subscriptionId, {
            endpoint: arm.url,
            credentialScopes: [`${arm.url}/.default`],
            retryOptions: FAST_RETRIES,
          });
          clients.set(subscriptionId, client);
        }
        return client;
      },
    }),
    principals: new GraphAppRegistrationDirectory({
      graph: graphClient,
      applications,
      credential: identity.clientSecretCredential,
      graphScope: graphScopeFor(graph.url),
    }),
    now: () => new Date(),
  });
}, 60_000);

afterAll(async () => {
  await Promise.all([graph?.close(), arm?.close(), vault?.close()]);
  await identity?.close();
});

beforeEach(() => {
  arm.server.clearFaults();
  arm.server.resetCounters();
  arm.restore({ assignments: [] });
});

const scopeOf = (name: string, kind: 'secrets' | 'certificates', vaultId = VAULT_ID) => `${vaultId}/${kind}/${name}`;
const newPrincipal = (type: PrincipalType) => {
  const id = randomUUID();
  principalTypes.set(id, type);
  return id;
};
const mine = (principalId: string) => arm.assignments().filter((a) => a.principalId === principalId.toLowerCase());
/** What the rotator holds when infra/ deployed it: RBAC Administrator on the vault, under the condition. */
const deployedRotator = (condition = CONDITION, scope = VAULT_ID) => arm.assign(scope, RBAC_ADMIN, identity.principalId, { condition });
const armCalls = () => arm.server.requests().length;

/** An app registration that signs in with `signer`, as a service using its certificate does. */
function consumerApp(displayName = 'consumer'): GraphApplication {
  const app = graph.createApplication({ tenantId: identity.tenantId, displayName });
  app.keyCredentials.push({
    keyId: randomUUID(),
    type: 'AsymmetricX509Cert',
    usage: 'Verify',
    key: signer.der,
    displayName: null,
    startDateTime: signer.notBefore,
    endDateTime: signer.notAfter,
    customKeyIdentifier: '',
    addedAt: new Date(0),
  });
  return app;
}

describe('VaultAccessService with the ARM and Graph adapters', () => {
  let app: GraphApplication;
  let certificateName: string;
  let state: RenewalState;

  const configWith = (keyVault: Record<string, unknown> = {}): AppConfig =>
    storedAppFixture({
      config: {
        appId: app.appId,
        keyVault: { enabled: true, vaultUrl: vault.vaultUrl, certificateName, resourceId: VAULT_ID, ...keyVault },
      },
    }).config;
  const again = (access: AccessState | undefined) => ({ ...state, access });

  beforeEach(async () => {
    app = consumerApp();
    certificateName = `app-${randomUUID().slice(0, 8)}`;
    // The certificate is in the vault, as after the app's first renewal.
    const imported = await officer.importCertificate(certificateName, await encodePfx(signer.der, signer.privateKey));
    state = storedAppFixture({ state: { keyVaultId: imported.id } }).state;
  });

  it("granted: the app's service principal then reads its certificate and its secret, and no other app's", async () => {
    deployedRotator();
    const other = `other-${randomUUID().slice(0, 8)}`;
    await officer.importCertificate(other, await encodePfx(signer.der, signer.privateKey));
    const asApp = new ClientCertificateCredential(
      identity.tenantId,
      app.appId,
      { certificate: encodePemBundle(signer.der, signer.privateKey) },
      { authorityHost: identity.authority.url, disableInstanceDiscovery: true },
    );
    const clientOptions = { disableChallengeResourceVerification: true, retryOptions: FAST_RETRIES };
    const secrets = new SecretClient(vault.vaultUrl, asApp, clientOptions);
    const certificates = new CertificateClient(vault.vaultUrl, asApp, clientOptions);
    const outcome = (call: Promise<unknown>) =>
      call.then(
        () => 'read',
        (error: { code?: string }) => error.code,
      );
    expect(await outcome(secrets.getSecret(certificateName))).toBe('Forbidden');

    const review = await service.review(configWith(), state);
    expect(review).toMatchObject({ access: { status: 'granted' }, notify: false });
    expect(review.access?.message).toBeUndefined();
    expect(review.access?.grants.map((g) => [g.scope, g.role]).sort(), 'exactly the two roles, on this certificate only').toEqual(
      [
        [scopeOf(certificateName, 'certificates'), 'Key Vault Certificate User'],
        [scopeOf(certificateName, 'secrets'), 'Key Vault Secrets User'],
      ].sort(),
    );
    expect(review.access?.grants.every((g) => g.principalId === app.servicePrincipalId)).toBe(true);
    const secret = await secrets.getSecret(certificateName);
    expect(secret.properties.contentType).toBe('application/x-pkcs12');
    expect((await certificates.getCertificate(certificateName)).properties.x509Thumbprint).toBeDefined();
    expect(await outcome(secrets.getSecret(other))).toBe('Forbidden');
    expect(await outcome(certificates.getCertificate(other))).toBe('Forbidden');
  });

  it('grants the app and each reader the two roles at the object scopes only; a second review makes nothing new', async () => {
    deployedRotator();
    const group = newPrincipal('Group');
    const config = configWith({ readers: [group] });
    const first = await service.review(config, state);
    expect(first.access).toMatchObject({ status: 'granted' });
    expect(first.notify).toBe(false);
    for (const principal of [app.servicePrincipalId, group]) {
      expect(
        mine(principal)
          .map((a) => [a.scope, a.roleId])
          .sort(),
      ).toEqual(
        [
          [scopeOf(certificateName, 'certificates'), BUILT_IN_ROLES['Key Vault Certificate User']],
          [scopeOf(certificateName, 'secrets'), BUILT_IN_ROLES['Key Vault Secrets User']],
        ].sort(),
      );
    }
    expect(mine(group).map((a) => a.principalType)).toEqual(['Group', 'Group']);
    const before = arm.assignments().map((a) => `${a.name} ${a.createdOn}`);
    arm.server.resetCounters();

    const second = await service.review(config, again(first.access));
    expect(second).toMatchObject({ access: { status: 'granted', grants: first.access!.grants }, notify: false });
    // The same deterministic names sent again: ARM's idempotent 200, never a new assignment.
    expect(arm.server.requests('create-role-assignment').filter((r) => r.status !== 200 && r.status !== 400)).toEqual([]);
    expect(arm.server.requests('create-role-assignment').some((r) => r.status === 200)).toBe(true);
    expect(arm.server.count('delete-role-assignment')).toBe(0);
    expect(arm.assignments().map((a) => `${a.name} ${a.createdOn}`)).toEqual(before);
    // The rotator's own RBAC Administrator assignment and the four grants.
    expect(arm.assignments()).toHaveLength(5);
  });

  it('a reader leaving the config loses the grants the rotator made, and only those', async () => {
    deployedRotator();
    const leaving = newPrincipal('ServicePrincipal');
    const staying = newPrincipal('Group');
    const granted = await service.review(configWith({ readers: [leaving, staying] }), state);
    expect(granted.access?.grants).toHaveLength(6);
    // Someone else's assignment for the leaving reader, made by hand at the vault.
    const foreign = arm.assign(VAULT_ID, 'Key Vault Secrets User', leaving);
    const stayingBefore = mine(staying);
    const after = await service.review(configWith({ readers: [staying] }), again(granted.access));
    expect(after).toMatchObject({ access: { status: 'granted' }, notify: false });
    expect(after.access?.grants.map((g) => g.principalId)).not.toContain(leaving);
    expect(after.access?.grants).toHaveLength(4);
    expect(mine(leaving)).toEqual([foreign]);
    expect(mine(staying)).toEqual(stayingBefore);
    expect(mine(app.servicePrincipalId)).toHaveLength(2);
    expect(arm.server.requests('delete-role-assignment').map((r) => r.status)).toEqual([200, 200]);
  });

  it('an assignment someone else made for the same role and scope counts as granted and is never removed', async () => {
    deployedRotator();
    const theirs = arm.assign(scopeOf(certificateName, 'secrets'), 'Key Vault Secrets User', app.servicePrincipalId);
    const review = await service.review(configWith(), state);
    expect(review.access?.status).toBe('granted');
    // Only the assignment the rotator made is recorded as its own.
    expect(review.access?.grants.map((g) => g.role)).toEqual(['Key Vault Certificate User']);
    const removed = await service.review(configWith({ grantAppRead: false }), again(review.access));
    expect(removed.access?.grants ?? []).toEqual([]);
    expect(mine(app.servicePrincipalId)).toEqual([theirs]);
  });

  it('without the permission (ARM 403): missing-permission naming what to grant, told once, the next review not again', async () => {
    const first = await service.review(configWith(), state);
    expect(first).toMatchObject({ access: { status: 'missing-permission', grants: [] }, notify: true });
    expect(first.access?.message).toMatch(/Role Based Access Control Administrator/);
    expect(first.access?.message).toContain(VAULT_ID);
    expect(arm.server.requests('create-role-assignment').map((r) => r.status)).toEqual([403, 403]);
    const second = await service.review(configWith(), again(first.access));
    expect(second).toMatchObject({ access: { status: 'missing-permission' }, notify: false });
    expect(arm.assignments()).toEqual([]);
    // Once an admin grants the role, the next review gets through, and says nothing to anyone.
    deployedRotator();
    expect(await service.review(configWith(), again(second.access))).toMatchObject({ access: { status: 'granted' }, notify: false });
  });

  it('a role the ABAC condition refuses: missing-permission with the ABAC answer, the allowed grant kept, told once', async () => {
    // An admin narrowed the rotator's condition to Secrets User only: Certificate User is refused.
    deployedRotator(CONDITION.replaceAll(`, ${BUILT_IN_ROLES['Key Vault Certificate User']}`, ''));
    const first = await service.review(configWith(), state);
    expect(first).toMatchObject({ access: { status: 'missing-permission' }, notify: true });
    expect(first.access?.message).toContain('does not have authorization or an ABAC condition not fulfilled');
    expect(first.access?.message).toMatch(/Role Based Access Control Administrator/);
    expect(first.access?.grants.map((g) => g.role)).toEqual(['Key Vault Secrets User']);
    expect(mine(app.servicePrincipalId).map((a) => a.roleId)).toEqual([BUILT_IN_ROLES['Key Vault Secrets User']]);
    const second = await service.review(configWith(), again(first.access));
    expect(second).toMatchObject({ access: { status: 'missing-permission', grants: first.access!.grants }, notify: false });
  });

  it('Resource Manager down past the SDK retries (503): pending, nothing told, granted at the next review', async () => {
    deployedRotator();
    const outage = arm.server.inject('create-role-assignment', { status: 503 });
    const down = await service.review(configWith(), state);
    expect(down).toMatchObject({ access: { status: 'pending', grants: [] }, notify: false });
    expect(down.access?.message).toMatch(/503/);
    // Both grants tried, each as often as the SDK retries: the outage outlasted them all.
    expect(outage.served).toBe(2 * ATTEMPTS);
    arm.server.clearFaults();
    const up = await service.review(configWith(), again(down.access));
    expect(up).toMatchObject({ access: { status: 'granted' }, notify: false });
    expect(up.access?.grants).toHaveLength(2);
  });

  it('no resource id for a vault that is not the default: not-configured, told, without a call to Resource Manager', async () => {
    deployedRotator();
    const before = armCalls();
    const review = await service.review(configWith({ resourceId: undefined }), state);
    expect(review).toMatchObject({ access: { status: 'not-configured', grants: [] }, notify: true });
    expect(review.access?.message).toMatch(/keyVault\.resourceId is not set/);
    expect(armCalls()).toBe(before);
  });

  it('before the certificate is in the vault: pending, without a call to Resource Manager', async () => {
    deployedRotator();
    const before = armCalls();
    const review = await service.review(configWith({ readers: [newPrincipal('Group')] }), { ...state, keyVaultId: undefined });
    expect(review).toMatchObject({ access: { status: 'pending', grants: [] }, notify: false });
    expect(review.access?.message).toContain(`once certificate "${certificateName}" is in the vault`);
    expect(armCalls()).toBe(before);
  });

  it('a reader that is a user (ARM: UnmatchedPrincipalType for both kinds tried): not-configured, told once', async () => {
    deployedRotator();
    const user = newPrincipal('User');
    const review = await service.review(configWith({ readers: [user] }), state);
    expect(review).toMatchObject({ access: { status: 'not-configured' }, notify: true });
    expect(review.access?.message).toMatch(/neither a service principal nor a group/);
    expect(mine(user)).toEqual([]);
    // The app itself is still granted.
    expect(mine(app.servicePrincipalId)).toHaveLength(2);
  });

  it('an app with no service principal in the directory (Graph 404): not-configured, naming how to create it', async () => {
    deployedRotator();
    const review = await service.review({ ...configWith(), appId: randomUUID() }, state);
    expect(review).toMatchObject({ access: { status: 'not-configured', grants: [] }, notify: true });
    expect(review.access?.message).toMatch(/no service principal in the tenant.*az ad sp create/);
    expect(arm.server.count('create-role-assignment')).toBe(0);
  });
});

describe('access grants through the HTTP API', () => {
  let api: ApiHarness;
  let handlers: ReturnType<typeof createAppsHandlers>;
  const notified: string[] = [];
  let adminToken: string;

  beforeAll(async () => {
    api = await ApiHarness.start();
    const apps = new AppService({
      store: api.store,
      directory: api.directory,
      defaultKeyVaultUrl: DEFAULT_VAULT,
      defaultKeyVaultResourceId: DEFAULT_VAULT_RESOURCE_ID,
      access: service,
      notifyAccess: (app) => {
        notified.push(app.config.appId);
        return Promise.resolve(app);
      },
    });
    const authenticator = new BearerAuthenticator({
      authorityHost: api.authority.url,
      tenantId: api.tenantId,
      audiences: [API_AUDIENCE, API_CLIENT_ID],
    });
    handlers = createAppsHandlers({ apps, authenticator });
    adminToken = await api.token('CertRotator.Admin', { oid: randomUUID(), name: 'Ada Admin' });
  });
  afterAll(() => api?.close());

  /** One call of the /api/apps/{appId} handler, as the Functions host makes it. */
  async function call(
    method: string,
    appId: string,
    body?: unknown,
  ): Promise<{ status: number; json: { state: { access?: AccessState } } }> {
    const request = new HttpRequest({
      method,
      url: `https://rotator.example/api/apps/${appId}`,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: { string: JSON.stringify(body) } }),
      params: { appId },
    });
    const response: HttpResponseInit = await handlers.appItem(
      request,
      new InvocationContext({ invocationId: randomUUID(), functionName: 'apps' }),
    );
    return { status: response.status ?? 200, json: response.jsonBody as { state: { access?: AccessState } } };
  }

  it('a config write succeeds while ARM refuses (403): state.access says missing-permission, the admins are told once', async () => {
    const app = consumerApp('Payroll');
    api.directory.add(app.appId, 'Payroll');
    const group = newPrincipal('Group');

    const created = await call('PUT', app.appId, {});
    expect(created.status).toBe(201);
    // No certificate in the vault yet: nothing to grant, nothing asked of ARM.
    expect(created.json.state.access?.status).toBe('pending');
    expect(arm.server.count('create-role-assignment')).toBe(0);

    // The first renewal put the certificate in the (default) vault.
    const stored = (await api.store.getApp(app.appId))!;
    const keyVaultId = `${DEFAULT_VAULT}certificates/${stored.config.keyVault.certificateName}/0123456789abcdef0123456789abcdef`;
    await api.store.updateApp(stored, { state: { ...stored.state, keyVaultId } });

    const refused = await call('PATCH', app.appId, { keyVault: { readers: [group] } });
    expect(refused.status).toBe(200);
    expect(refused.json.state.access).toMatchObject({ status: 'missing-permission', grants: [] });
    expect(refused.json.state.access?.message).toContain(DEFAULT_VAULT_RESOURCE_ID);
    expect(arm.server.requests('create-role-assignment').map((r) => r.status)).toEqual([403, 403, 403, 403]);
    expect(notified).toEqual([app.appId]);
    expect((await call('GET', app.appId)).json.state.access?.status).toBe('missing-permission');
    const stillRefused = await call('PATCH', app.appId, { lifetimeDays: 200 });
    expect(stillRefused.status).toBe(200);
    expect(stillRefused.json.state.access?.status).toBe('missing-permission');
    expect(notified).toEqual([app.appId]);

    // An admin gives the rotator what infra/ would have; the next config write grants.
    deployedRotator(CONDITION, DEFAULT_VAULT_RESOURCE_ID);
    const granted = await call('PATCH', app.appId, { lifetimeDays: 180 });
    expect(granted.status).toBe(200);
    expect(granted.json.state.access).toMatchObject({ status: 'granted' });
    expect(granted.json.state.access?.grants).toHaveLength(4);
    expect(arm.assignments().filter((a) => a.scope.startsWith(`${DEFAULT_VAULT_RESOURCE_ID}/`))).toHaveLength(4);
    expect(notified).toEqual([app.appId]);
  });
});
