import { randomUUID } from 'node:crypto';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { SecretClient } from '@azure/keyvault-secrets';
import { ClientCertificateCredential } from '@azure/identity';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { VaultAccessService } from '../../../src/lib/access/vaultAccessService.js';
import { VaultRoleAssignmentClient } from '../../../src/lib/authorization/vaultRoleAssignmentClient.js';
import { encodePemBundle } from '../../../src/lib/certificates/encode.js';
import { createSelfSignedCertificate, generateRsaKeyPair } from '../../../src/lib/certificates/generateCertificate.js';
import { encodePfx } from '../../../src/lib/certificates/pfx.js';
import { createCertificateVaultClient } from '../../../src/lib/composition.js';
import type { AppConfig, RenewalState } from '../../../src/lib/domain/appConfig.js';
import { GraphEmulator, type GraphApplication } from '../../emulators/graph.js';
import { KeyVaultEmulator } from '../../emulators/keyVault.js';
import {
  BUILT_IN_ROLES,
  KEY_VAULT_GRANTS_CONDITION as CONDITION,
  ResourceManagerEmulator,
  type PrincipalType,
} from '../../emulators/resourceManager.js';
import { loadOrCreateEmulatorTls } from '../../emulators/tls.js';
import { FAST_RETRIES, startTestIdentity, type TestIdentity } from '../../support/identity.js';
import { storedAppFixture } from '../../support/storedAppFixture.js';

/**
 * Access grants (PRODUCT.md §9) end to end below the HTTP API: the VaultAccessService with the real
 * ARM adapter (@azure/arm-authorization) against the Resource Manager emulator, and the grant's
 * effect checked where it matters, a service principal reading its secret from the Key Vault
 * emulator with the real SecretClient. The emulator's own rules are checked first with the SDK.
 */

const SUBSCRIPTION = '0b1f6471-1bf0-4dda-aec3-111122223333';
const VAULT_ID = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-certs/providers/Microsoft.KeyVault/vaults/certs-vault`;

let identity: TestIdentity;
let graph: GraphEmulator;
let arm: ResourceManagerEmulator;
let vault: KeyVaultEmulator;
const principalTypes = new Map<string, PrincipalType>();
let sdk: AuthorizationManagementClient;
let service: VaultAccessService;

beforeAll(async () => {
  const tls = loadOrCreateEmulatorTls(inject('emulatorTlsDir'));
  identity = await startTestIdentity(tls);
  const verifyToken = (token: string, audiences: string[]) => identity.authority.verifyAccessToken(token, audiences);
  graph = new GraphEmulator({ tls, authority: identity.authority });
  arm = new ResourceManagerEmulator({
    tls,
    tenantId: identity.tenantId,
    verifyToken,
    principalTypeOf: (id) => principalTypes.get(id.toLowerCase()),
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
  sdk = new AuthorizationManagementClient(identity.clientSecretCredential, SUBSCRIPTION, {
    endpoint: arm.url,
    credentialScopes: [`${arm.url}/.default`],
    retryOptions: FAST_RETRIES,
  });
  service = new VaultAccessService({
    grants: new VaultRoleAssignmentClient({ clientFor: () => sdk }),
    // The Graph lookup has its own tests (test/lib/graph); here the directory is the emulator's.
    principals: { servicePrincipalIdOf: (appId) => Promise.resolve(graph.application(appId)?.servicePrincipalId) },
    now: () => new Date(),
  });
}, 60_000);

afterAll(async () => {
  await Promise.all([graph?.close(), arm?.close(), vault?.close()]);
  await identity?.close();
});

beforeEach(() => {
  arm.server.clearFaults();
  arm.restore({ assignments: [] });
});

const scopeOf = (name: string, kind: 'secrets' | 'certificates') => `${VAULT_ID}/${kind}/${name}`;
const roleDefinition = (role: keyof typeof BUILT_IN_ROLES) =>
  `/subscriptions/${SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${BUILT_IN_ROLES[role]}`;
const newPrincipal = (type: PrincipalType) => {
  const id = randomUUID();
  principalTypes.set(id, type);
  return id;
};
interface Failure {
  readonly code?: string;
  readonly statusCode?: number;
  readonly message: string;
}
const failureOf = async (call: Promise<unknown>): Promise<Failure> => {
  try {
    await call;
  } catch (error) {
    return error as Failure;
  }
  throw new Error('expected a failure');
};
const codeOf = async (call: Promise<unknown>) => {
  try {
    await call;
    return 'succeeded';
  } catch (error) {
    return (error as { code?: string }).code;
  }
};

describe('the Resource Manager emulator, through @azure/arm-authorization', () => {
  it('makes an assignment once: the same PUT again is fine, another name for it is 409, a change is 400', async () => {
    arm.assign(VAULT_ID, 'Role Based Access Control Administrator', identity.principalId);
    const reader = newPrincipal('ServicePrincipal');
    const scope = scopeOf('app', 'secrets');
    const name = randomUUID();
    const body = {
      roleDefinitionId: roleDefinition('Key Vault Secrets User'),
      principalId: reader,
      principalType: 'ServicePrincipal' as const,
    };
    const made = await sdk.roleAssignments.create(scope, name, body);
    expect(made).toMatchObject({ name, scope, principalId: reader, principalType: 'ServicePrincipal' });
    await sdk.roleAssignments.create(scope, name, body);
    expect(await codeOf(sdk.roleAssignments.create(scope, randomUUID(), body))).toBe('RoleAssignmentExists');
    expect(
      await codeOf(sdk.roleAssignments.create(scope, name, { ...body, roleDefinitionId: roleDefinition('Key Vault Certificate User') })),
    ).toBe('RoleAssignmentUpdateNotPermitted');
    expect((await sdk.roleAssignments.get(scope, name)).principalId).toBe(reader);
    expect(arm.assignments().filter((a) => a.principalId === reader)).toHaveLength(1);
    await sdk.roleAssignments.delete(scope, name);
    expect(await codeOf(sdk.roleAssignments.get(scope, name))).toBe('RoleAssignmentNotFound');
  });

  it('checks the principal: unknown is PrincipalNotFound, a wrong type UnmatchedPrincipalType', async () => {
    arm.assign(VAULT_ID, 'Owner', identity.principalId);
    const group = newPrincipal('Group');
    const scope = scopeOf('app', 'secrets');
    const role = roleDefinition('Key Vault Secrets User');
    expect(await codeOf(sdk.roleAssignments.create(scope, randomUUID(), { roleDefinitionId: role, principalId: randomUUID() }))).toBe(
      'PrincipalNotFound',
    );
    expect(
      await codeOf(
        sdk.roleAssignments.create(scope, randomUUID(), { roleDefinitionId: role, principalId: group, principalType: 'ServicePrincipal' }),
      ),
    ).toBe('UnmatchedPrincipalType');
    expect(
      await codeOf(sdk.roleAssignments.create(scope, randomUUID(), { roleDefinitionId: role, principalId: group, principalType: 'Group' })),
    ).toBe('succeeded');
  });

  it('refuses a caller without a role administrator role at or above the scope (403 AuthorizationFailed)', async () => {
    arm.assign(`${VAULT_ID}/secrets/other`, 'Role Based Access Control Administrator', identity.principalId);
    arm.assign(VAULT_ID, 'Key Vault Administrator', identity.principalId);
    const reader = newPrincipal('ServicePrincipal');
    const error = await failureOf(
      sdk.roleAssignments.create(scopeOf('app', 'secrets'), randomUUID(), {
        roleDefinitionId: roleDefinition('Key Vault Secrets User'),
        principalId: reader,
      }),
    );
    expect(error).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    expect(error.message).toMatch(/does not have authorization to perform action 'Microsoft\.Authorization\/roleAssignments\/write'/);
  });

  it('enforces the ABAC condition: only the two read roles, only to service principals and groups', async () => {
    arm.assign(VAULT_ID, 'Role Based Access Control Administrator', identity.principalId, { condition: CONDITION });
    const scope = scopeOf('app', 'secrets');
    const app = newPrincipal('ServicePrincipal');
    const user = newPrincipal('User');
    const make = (role: keyof typeof BUILT_IN_ROLES, principalId: string, principalType: PrincipalType) =>
      sdk.roleAssignments.create(scope, randomUUID(), { roleDefinitionId: roleDefinition(role), principalId, principalType });
    expect(await codeOf(make('Key Vault Secrets User', app, 'ServicePrincipal'))).toBe('succeeded');
    expect(await codeOf(make('Key Vault Certificate User', app, 'ServicePrincipal'))).toBe('succeeded');
    const refused = await failureOf(make('Key Vault Administrator', app, 'ServicePrincipal'));
    expect(refused.code).toBe('AuthorizationFailed');
    expect(refused.message).toContain('does not have authorization or an ABAC condition not fulfilled');
    expect(await codeOf(make('Key Vault Secrets User', user, 'User'))).toBe('AuthorizationFailed');
  });
});

describe('Key Vault data-plane RBAC by scope', () => {
  it('a service principal reads the secret it was granted at that secret, and not another; a vault-scope grant reads all', async () => {
    const officer = createCertificateVaultClient(vault.vaultUrl, identity.clientSecretCredential, { retryOptions: FAST_RETRIES });
    const app = graph.createApplication({ tenantId: identity.tenantId, displayName: 'reader' });
    const certificate = createSelfSignedCertificate(await generateRsaKeyPair(2048), { displayName: 'reader', lifetimeDays: 30 });
    app.keyCredentials.push({
      keyId: randomUUID(),
      type: 'AsymmetricX509Cert',
      usage: 'Verify',
      key: certificate.der,
      displayName: null,
      startDateTime: certificate.notBefore,
      endDateTime: certificate.notAfter,
      customKeyIdentifier: '',
      addedAt: new Date(0),
    });
    for (const name of ['mine', 'theirs']) await officer.importCertificate(name, await encodePfx(certificate.der, certificate.privateKey));
    const asApp = new SecretClient(
      vault.vaultUrl,
      new ClientCertificateCredential(
        identity.tenantId,
        app.appId,
        { certificate: encodePemBundle(certificate.der, certificate.privateKey) },
        { authorityHost: identity.authority.url, disableInstanceDiscovery: true },
      ),
      { disableChallengeResourceVerification: true, retryOptions: FAST_RETRIES },
    );
    const read = (name: string) => codeOf(asApp.getSecret(name));

    expect(await read('mine')).toBe('Forbidden');
    const grant = arm.assign(scopeOf('mine', 'secrets'), 'Key Vault Secrets User', app.servicePrincipalId);
    expect(await read('mine')).toBe('succeeded');
    expect(await read('theirs')).toBe('Forbidden');
    // Certificate User on the certificate object does not open another object's secret either.
    arm.assign(scopeOf('theirs', 'certificates'), 'Key Vault Certificate User', app.servicePrincipalId);
    expect(await read('theirs')).toBe('Forbidden');
    arm.remove(grant.name);
    expect(await read('mine')).toBe('Forbidden');
    arm.assign(VAULT_ID, 'Key Vault Secrets User', app.servicePrincipalId);
    expect([await read('mine'), await read('theirs')]).toEqual(['succeeded', 'succeeded']);
  });
});

describe('VaultAccessService with the ARM adapter', () => {
  let app: GraphApplication;
  let state: RenewalState;

  const configWith = (keyVault: Record<string, unknown> = {}): AppConfig =>
    storedAppFixture({
      config: {
        appId: app.appId,
        keyVault: {
          enabled: true,
          vaultUrl: 'https://certs-vault.vault.azure.net/',
          certificateName: 'app-cert',
          resourceId: VAULT_ID,
          ...keyVault,
        },
      },
    }).config;

  beforeEach(() => {
    app = graph.createApplication({ tenantId: identity.tenantId, displayName: 'consumer' });
    principalTypes.set(app.servicePrincipalId.toLowerCase(), 'ServicePrincipal');
    state = storedAppFixture({ state: { keyVaultId: 'https://certs-vault.vault.azure.net/certificates/app-cert/v1' } }).state;
  });

  const mine = (principalId: string) => arm.assignments().filter((a) => a.principalId === principalId.toLowerCase());

  it('grants the app and each reader the two roles at the object scopes only; a second review changes nothing', async () => {
    arm.assign(VAULT_ID, 'Role Based Access Control Administrator', identity.principalId, { condition: CONDITION });
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
          [scopeOf('app-cert', 'certificates'), BUILT_IN_ROLES['Key Vault Certificate User']],
          [scopeOf('app-cert', 'secrets'), BUILT_IN_ROLES['Key Vault Secrets User']],
        ].sort(),
      );
    }
    expect(mine(group)[0]!.principalType).toBe('Group');
    const second = await service.review(config, { ...state, access: first.access });
    expect(second.access?.grants).toEqual(first.access?.grants);
    // The rotator's own RBAC Administrator assignment and the four grants: no second copy of any.
    expect(arm.assignments()).toHaveLength(5);
  });

  it('a reader leaving the config loses the grants the rotator made, and only those', async () => {
    arm.assign(VAULT_ID, 'Role Based Access Control Administrator', identity.principalId, { condition: CONDITION });
    const leaving = newPrincipal('ServicePrincipal');
    const staying = newPrincipal('ServicePrincipal');
    const granted = await service.review(configWith({ readers: [leaving, staying] }), state);
    // Someone else's assignment for the leaving reader, made by hand at the vault.
    const foreign = arm.assign(VAULT_ID, 'Key Vault Secrets User', leaving);
    const after = await service.review(configWith({ readers: [staying] }), { ...state, access: granted.access });
    expect(after.access?.status).toBe('granted');
    expect(mine(leaving)).toEqual([foreign]);
    expect(mine(staying)).toHaveLength(2);
    expect(mine(app.servicePrincipalId)).toHaveLength(2);
  });

  it('an assignment someone else made for the same role and scope counts as granted and is never removed', async () => {
    arm.assign(VAULT_ID, 'Role Based Access Control Administrator', identity.principalId, { condition: CONDITION });
    const theirs = arm.assign(scopeOf('app-cert', 'secrets'), 'Key Vault Secrets User', app.servicePrincipalId);
    const review = await service.review(configWith(), state);
    expect(review.access?.status).toBe('granted');
    const removed = await service.review(configWith({ grantAppRead: false }), { ...state, access: review.access });
    expect(removed.access?.grants ?? []).toEqual([]);
    expect(mine(app.servicePrincipalId)).toEqual([theirs]);
  });

  it('without the permission (403) or with a role the condition refuses: missing-permission, told once, nothing thrown', async () => {
    const first = await service.review(configWith(), state);
    expect(first.access?.status).toBe('missing-permission');
    expect(first.access?.message).toMatch(/Role Based Access Control Administrator/);
    expect(first.notify).toBe(true);
    const again = await service.review(configWith(), { ...state, access: first.access });
    expect(again.access?.status).toBe('missing-permission');
    expect(again.notify).toBe(false);
    expect(arm.assignments()).toEqual([]);
  });

  it('Resource Manager down past the retries: pending, and granted at the next review', async () => {
    arm.assign(VAULT_ID, 'Role Based Access Control Administrator', identity.principalId, { condition: CONDITION });
    arm.server.inject('create-role-assignment', { status: 503 });
    const down = await service.review(configWith(), state);
    expect(down.access?.status).toBe('pending');
    expect(down.notify).toBe(false);
    expect(arm.server.count('create-role-assignment')).toBeGreaterThan(1);
    arm.server.clearFaults();
    expect((await service.review(configWith(), { ...state, access: down.access })).access?.status).toBe('granted');
  });

  it('before the certificate is in the vault: pending, without a call to Resource Manager', async () => {
    arm.assign(VAULT_ID, 'Role Based Access Control Administrator', identity.principalId, { condition: CONDITION });
    const before = arm.server.counters();
    const review = await service.review(configWith(), { ...state, keyVaultId: undefined });
    expect(review.access?.status).toBe('pending');
    expect(arm.server.counters()).toEqual(before);
  });

  it('a reader that is a user: not-configured, told once', async () => {
    arm.assign(VAULT_ID, 'Role Based Access Control Administrator', identity.principalId, { condition: CONDITION });
    const user = newPrincipal('User');
    const review = await service.review(configWith({ readers: [user] }), state);
    expect(review.access?.status).toBe('not-configured');
    expect(review.notify).toBe(true);
    expect(mine(user)).toEqual([]);
  });
});
