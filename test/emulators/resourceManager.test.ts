import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AuthorizationManagementClient, type RoleAssignment } from '@azure/arm-authorization';
import { ClientCertificateCredential, ClientSecretCredential, type TokenCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { encodePemBundle } from '../../src/lib/certificates/encode.js';
import { createSelfSignedCertificate, generateRsaKeyPair } from '../../src/lib/certificates/generateCertificate.js';
import { encodePfx } from '../../src/lib/certificates/pfx.js';
import { createCertificateVaultClient } from '../../src/lib/serviceClients.js';
import { FAST_RETRIES, startTestIdentity, type TestIdentity } from '../support/identity.js';
import { GraphEmulator } from './graph.js';
import { KeyVaultEmulator } from './keyVault.js';
import {
  BUILT_IN_ROLES,
  KEY_VAULT_GRANTS_CONDITION as CONDITION,
  parseCondition,
  ResourceManagerEmulator,
  type PrincipalType,
} from './resourceManager.js';
import { loadOrCreateEmulatorTls } from './tls.js';

/**
 * The Resource Manager emulator's role assignments, through the real @azure/arm-authorization
 * client, held to what Azure answers (the sources are cited in resourceManager.ts); and the Key
 * Vault emulator honouring those assignments at the vault's and one object's scope.
 */

const SUBSCRIPTION = '0b1f6471-1bf0-4dda-aec3-111122223333';
const RESOURCE_GROUP = `/subscriptions/${SUBSCRIPTION}/resourceGroups/rg-certs`;
const VAULT_ID = `${RESOURCE_GROUP}/providers/Microsoft.KeyVault/vaults/certs-vault`;
const ASSIGNMENTS = '/providers/Microsoft.Authorization/roleAssignments';

let identity: TestIdentity;
let graph: GraphEmulator;
let arm: ResourceManagerEmulator;
let vault: KeyVaultEmulator;
const principalTypes = new Map<string, PrincipalType>();
let sdk: AuthorizationManagementClient;

const clientWith = (credential: TokenCredential) =>
  new AuthorizationManagementClient(credential, SUBSCRIPTION, {
    endpoint: arm.url,
    credentialScopes: [`${arm.url}/.default`],
    retryOptions: FAST_RETRIES,
  });

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
  sdk = clientWith(identity.clientSecretCredential);
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
const statuses = (route: string) => arm.server.requests(route).map((r) => r.status);

describe('role assignments through @azure/arm-authorization', () => {
  it('makes an assignment once: 201, the same PUT again 200, another name for it 409, a change 400', async () => {
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
    expect(made).toMatchObject({
      id: `${scope}${ASSIGNMENTS}/${name}`,
      name,
      scope,
      principalId: reader,
      principalType: 'ServicePrincipal',
    });
    expect(await sdk.roleAssignments.create(scope, name, body)).toMatchObject({ name, scope });
    expect(await codeOf(sdk.roleAssignments.create(scope, randomUUID(), body))).toBe('RoleAssignmentExists');
    const changed = await failureOf(
      sdk.roleAssignments.create(scope, name, { ...body, roleDefinitionId: roleDefinition('Key Vault Certificate User') }),
    );
    expect(changed).toMatchObject({ statusCode: 400, code: 'RoleAssignmentUpdateNotPermitted' });
    expect(changed.message).toBe('Tenant ID, application ID, principal ID, and scope are not allowed to be updated.');
    expect(statuses('create-role-assignment')).toEqual([201, 200, 409, 400]);
    expect((await sdk.roleAssignments.get(scope, name)).principalId).toBe(reader);
    expect(arm.assignments().filter((a) => a.principalId === reader)).toHaveLength(1);
    await sdk.roleAssignments.delete(scope, name);
    expect(await codeOf(sdk.roleAssignments.get(scope, name))).toBe('RoleAssignmentNotFound');
    // Deleting what is not there: 204, nothing to tell apart.
    await sdk.roleAssignments.delete(scope, name);
    expect(statuses('delete-role-assignment')).toEqual([200, 204]);
  });

  it('a name is unique across scopes: the same name at another scope is an update, and refused', async () => {
    arm.assign(VAULT_ID, 'Role Based Access Control Administrator', identity.principalId);
    const reader = newPrincipal('ServicePrincipal');
    const name = randomUUID();
    const body = {
      roleDefinitionId: roleDefinition('Key Vault Secrets User'),
      principalId: reader,
      principalType: 'ServicePrincipal' as const,
    };
    await sdk.roleAssignments.create(scopeOf('one', 'secrets'), name, body);
    expect(await codeOf(sdk.roleAssignments.create(scopeOf('two', 'secrets'), name, body))).toBe('RoleAssignmentUpdateNotPermitted');
    expect(await codeOf(sdk.roleAssignments.get(scopeOf('two', 'secrets'), name))).toBe('RoleAssignmentNotFound');
    expect(await codeOf(sdk.roleAssignments.create(scopeOf('one', 'secrets'), 'not-a-guid', body))).toBe('InvalidRoleAssignmentId');
  });

  it('takes a role definition id with or without its subscription, and refuses one that does not exist', async () => {
    arm.assign(VAULT_ID, 'Owner', identity.principalId);
    const reader = newPrincipal('ServicePrincipal');
    const scope = scopeOf('app', 'secrets');
    const name = randomUUID();
    const tenantWide = `/providers/Microsoft.Authorization/roleDefinitions/${BUILT_IN_ROLES['Key Vault Secrets User']}`;
    await sdk.roleAssignments.create(scope, name, { roleDefinitionId: tenantWide, principalId: reader, principalType: 'ServicePrincipal' });
    // The same role spelled with the subscription: the same assignment, not a change.
    const again = await sdk.roleAssignments.create(scope, name, {
      roleDefinitionId: roleDefinition('Key Vault Secrets User'),
      principalId: reader,
      principalType: 'ServicePrincipal',
    });
    expect(again.roleDefinitionId).toBe(roleDefinition('Key Vault Secrets User'));
    expect(arm.assignments().filter((a) => a.principalId === reader)).toHaveLength(1);
    const unknown = randomUUID();
    const missing = await failureOf(
      sdk.roleAssignments.create(scope, randomUUID(), {
        roleDefinitionId: `/providers/Microsoft.Authorization/roleDefinitions/${unknown}`,
        principalId: reader,
      }),
    );
    expect(missing).toMatchObject({ statusCode: 400, code: 'RoleDefinitionDoesNotExist' });
    expect(missing.message).toBe(`The specified role definition with ID '${unknown.replace(/-/g, '')}' does not exist.`);
    expect(
      await codeOf(sdk.roleAssignments.create(scope, randomUUID(), { roleDefinitionId: 'Key Vault Secrets User', principalId: reader })),
    ).toBe('InvalidRoleDefinitionId');
  });

  it('checks the principal: unknown is PrincipalNotFound, a wrong type UnmatchedPrincipalType, each worded as Azure words it', async () => {
    arm.assign(VAULT_ID, 'Owner', identity.principalId);
    const group = newPrincipal('Group');
    const scope = scopeOf('app', 'secrets');
    const role = roleDefinition('Key Vault Secrets User');
    const nobody = randomUUID();
    const notFound = await failureOf(sdk.roleAssignments.create(scope, randomUUID(), { roleDefinitionId: role, principalId: nobody }));
    expect(notFound).toMatchObject({ statusCode: 400, code: 'PrincipalNotFound' });
    expect(notFound.message).toMatch(
      new RegExp(`^Principal ${nobody.replace(/-/g, '')} does not exist in the directory ${identity.tenantId}\\. .*principalType`),
    );
    const unmatched = await failureOf(
      sdk.roleAssignments.create(scope, randomUUID(), { roleDefinitionId: role, principalId: group, principalType: 'ServicePrincipal' }),
    );
    expect(unmatched).toMatchObject({ statusCode: 400, code: 'UnmatchedPrincipalType' });
    expect(unmatched.message).toBe(
      `The PrincipalId '${group}' has type 'Group' , which is different from specified PrinciaplType 'ServicePrincipal'.`,
    );
    expect(
      await codeOf(sdk.roleAssignments.create(scope, randomUUID(), { roleDefinitionId: role, principalId: group, principalType: 'Group' })),
    ).toBe('succeeded');
    // Without a principalType ARM looks the type up itself.
    expect(
      await sdk.roleAssignments.create(scopeOf('other', 'secrets'), randomUUID(), { roleDefinitionId: role, principalId: group }),
    ).toMatchObject({ principalType: 'Group' });
  });

  it('refuses a caller without a role administrator role at or above the scope (403 AuthorizationFailed)', async () => {
    // Below the scope, or a role that cannot assign roles: neither is enough.
    arm.assign(`${VAULT_ID}/secrets/other`, 'Role Based Access Control Administrator', identity.principalId);
    arm.assign(VAULT_ID, 'Key Vault Administrator', identity.principalId);
    const reader = newPrincipal('ServicePrincipal');
    const scope = scopeOf('app', 'secrets');
    const name = randomUUID();
    const body = {
      roleDefinitionId: roleDefinition('Key Vault Secrets User'),
      principalId: reader,
      principalType: 'ServicePrincipal' as const,
    };
    const error = await failureOf(sdk.roleAssignments.create(scope, name, body));
    expect(error).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    const oid = identity.principalId.toLowerCase();
    expect(error.message).toBe(
      `The client '${oid}' with object id '${oid}' does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/write' over scope '${scope}${ASSIGNMENTS}/${name}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
    );
    const deleteRefused = await failureOf(sdk.roleAssignments.delete(scope, name));
    expect(deleteRefused.message).toContain("perform action 'Microsoft.Authorization/roleAssignments/delete'");
    expect(arm.assignments().filter((a) => a.principalId === reader)).toEqual([]);

    // Each of the three role administrators, at the resource group above the vault, may.
    for (const role of ['Owner', 'User Access Administrator', 'Role Based Access Control Administrator'] as const) {
      arm.restore({ assignments: [] });
      arm.assign(RESOURCE_GROUP, role, identity.principalId);
      expect(await codeOf(sdk.roleAssignments.create(scope, randomUUID(), body))).toBe('succeeded');
    }
  });

  it('enforces the ABAC condition on writes: only the two read roles, only to service principals and groups', async () => {
    arm.assign(VAULT_ID, 'Role Based Access Control Administrator', identity.principalId, { condition: CONDITION });
    const scope = scopeOf('app', 'secrets');
    const app = newPrincipal('ServicePrincipal');
    const group = newPrincipal('Group');
    const user = newPrincipal('User');
    const make = (role: keyof typeof BUILT_IN_ROLES, principalId: string, principalType: PrincipalType) =>
      sdk.roleAssignments.create(scope, randomUUID(), { roleDefinitionId: roleDefinition(role), principalId, principalType });
    expect(await codeOf(make('Key Vault Secrets User', app, 'ServicePrincipal'))).toBe('succeeded');
    expect(await codeOf(make('Key Vault Certificate User', app, 'ServicePrincipal'))).toBe('succeeded');
    expect(await codeOf(make('Key Vault Secrets User', group, 'Group'))).toBe('succeeded');
    const refused = await failureOf(make('Key Vault Administrator', app, 'ServicePrincipal'));
    expect(refused).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    expect(refused.message).toMatch(
      /^The client '[^']+' with object id '[^']+' does not have authorization or an ABAC condition not fulfilled to perform action 'Microsoft\.Authorization\/roleAssignments\/write' over scope '[^']+' or the scope is invalid\./,
    );
    expect(await codeOf(make('Key Vault Secrets User', user, 'User'))).toBe('AuthorizationFailed');
    expect(await codeOf(make('Owner', group, 'Group'))).toBe('AuthorizationFailed');
    expect(arm.assignments()).toHaveLength(4);
  });

  it('enforces the ABAC condition on deletes, on the assignment being removed', async () => {
    arm.assign(VAULT_ID, 'Role Based Access Control Administrator', identity.principalId, { condition: CONDITION });
    const app = newPrincipal('ServicePrincipal');
    const user = newPrincipal('User');
    const readRole = arm.assign(scopeOf('app', 'secrets'), 'Key Vault Secrets User', app);
    const adminRole = arm.assign(scopeOf('app', 'secrets'), 'Key Vault Administrator', app);
    const usersRead = arm.assign(scopeOf('app', 'secrets'), 'Key Vault Secrets User', user, { principalType: 'User' });
    const deleteOf = (name: string) => sdk.roleAssignments.delete(scopeOf('app', 'secrets'), name);
    const refused = await failureOf(deleteOf(adminRole.name));
    expect(refused).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    expect(refused.message).toContain(
      "does not have authorization or an ABAC condition not fulfilled to perform action 'Microsoft.Authorization/roleAssignments/delete'",
    );
    expect(await codeOf(deleteOf(usersRead.name))).toBe('AuthorizationFailed');
    expect(await codeOf(deleteOf(readRole.name))).toBe('succeeded');
    const left = arm.assignments().map((a) => a.name);
    expect(left).not.toContain(readRole.name);
    expect(left).toEqual(expect.arrayContaining([adminRole.name, usersRead.name]));
  });

  it('evaluates the very condition infra/ deploys (the Bicep text, its role ids filled in) as the one it seeds', () => {
    const bicep = readFileSync(new URL('../../infra/modules/role-assignments.bicep', import.meta.url), 'utf8');
    const variable = (name: string) => new RegExp(`^var ${name} = '([^']*)'`, 'm').exec(bicep)?.[1];
    const roleIds = variable('grantableRoleIds')!.replace(/\$\{(\w+)\}/g, (_, name: string) => variable(name)!);
    const template = /var rbacAdministratorCondition = replace\(\s*'''([\s\S]*?)'''/.exec(bicep)?.[1];
    expect(template).toBeDefined();
    const deployed = template!.replaceAll('ROLE_IDS', roleIds);
    expect(parseCondition(deployed)).toEqual(parseCondition(CONDITION));
    expect([...parseCondition(deployed).roleIds].sort()).toEqual(
      [BUILT_IN_ROLES['Key Vault Secrets User'], BUILT_IN_ROLES['Key Vault Certificate User']].sort(),
    );
    expect([...parseCondition(deployed).principalTypes].sort()).toEqual(['group', 'serviceprincipal']);
    // Both the write and the delete half, each on its own attribute source, as Azure requires.
    expect(deployed).toMatch(/@Request\[Microsoft\.Authorization\/roleAssignments:RoleDefinitionId\]/);
    expect(deployed).toMatch(/@Resource\[Microsoft\.Authorization\/roleAssignments:RoleDefinitionId\]/);
    // A condition of any other shape is not silently taken for this one.
    expect(() => arm.assign(VAULT_ID, 'Owner', randomUUID(), { condition: "@Resource[x:y] StringEquals 'z'" })).toThrow(/only/);
  });

  it('lists as List For Scope documents it: atScope() at or above, principalId eq at, above or below', async () => {
    const a = newPrincipal('ServicePrincipal');
    const b = newPrincipal('ServicePrincipal');
    const atSubscription = arm.assign(`/subscriptions/${SUBSCRIPTION}`, 'Key Vault Reader', a);
    const atVault = arm.assign(VAULT_ID, 'Key Vault Secrets User', a);
    const atSecret = arm.assign(scopeOf('app', 'secrets'), 'Key Vault Secrets User', a);
    const othersAtVault = arm.assign(VAULT_ID, 'Key Vault Secrets User', b);
    const names = async (filter?: string) => {
      const found: string[] = [];
      for await (const assignment of sdk.roleAssignments.listForScope(VAULT_ID, filter === undefined ? {} : { filter })) {
        found.push(assignment.name!);
      }
      return found.sort();
    };
    expect(await names('atScope()')).toEqual([atSubscription.name, atVault.name, othersAtVault.name].sort());
    expect(await names(`principalId eq '${a}'`)).toEqual([atSubscription.name, atVault.name, atSecret.name].sort());
    expect(await names(`atScope() and principalId eq '${a}'`)).toEqual([atSubscription.name, atVault.name].sort());
    expect(await names(`assignedTo('${b}')`)).toEqual([othersAtVault.name]);
    // What the SDK puts on the wire: the filter as given, beside the api-version.
    const sent = arm.server.requests('list-role-assignments').map((r) => r.path);
    expect(sent.every((path) => path === `${VAULT_ID}${ASSIGNMENTS}`)).toBe(true);
    const listed = (await sdk.roleAssignments.listForScope(VAULT_ID, { filter: 'atScope()' }).next()).value as RoleAssignment;
    expect(listed.type).toBe('Microsoft.Authorization/roleAssignments');
    expect(listed.roleDefinitionId).toMatch(
      /^\/subscriptions\/[^/]+\/providers\/Microsoft\.Authorization\/roleDefinitions\/[0-9a-f-]{36}$/,
    );
  });

  it('signs callers in as ARM does: its own audiences only, the subscription tenant only, a header required', async () => {
    const list = () => sdk.roleAssignments.listForScope(VAULT_ID).next();
    await list();
    const withToken = (credential: TokenCredential) => clientWith(credential).roleAssignments.listForScope(VAULT_ID).next();
    // A token for https://management.azure.com (what the product asks for outside the sandbox) is fine.
    await withToken(identity.wrongAudienceCredential('https://management.azure.com'));
    await withToken(identity.wrongAudienceCredential('https://management.core.windows.net/'));
    const wrongAudience = await failureOf(withToken(identity.wrongAudienceCredential('https://vault.azure.net')));
    expect(wrongAudience).toMatchObject({ statusCode: 401, code: 'InvalidAuthenticationTokenAudience' });
    expect(wrongAudience.message).toBe(
      "The access token has been obtained for wrong audience or resource 'https://vault.azure.net'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.",
    );
    const otherTenant = randomUUID();
    const clientId = randomUUID();
    identity.authority.registerClientSecret(otherTenant, clientId, 'other-secret', { principalId: randomUUID() });
    const foreign = new ClientSecretCredential(otherTenant, clientId, 'other-secret', {
      authorityHost: identity.authority.url,
      disableInstanceDiscovery: true,
    });
    const wrongTenant = await failureOf(withToken(foreign));
    expect(wrongTenant).toMatchObject({ statusCode: 401, code: 'InvalidAuthenticationTokenTenant' });
    expect(wrongTenant.message).toContain(
      `It must match the tenant 'https://sts.windows.net/${identity.tenantId}/' associated with this subscription.`,
    );

    const url = `${arm.url}${VAULT_ID}${ASSIGNMENTS}`;
    const anonymous = await fetch(`${url}?api-version=2022-04-01`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toEqual({
      error: { code: 'AuthenticationFailed', message: "Authentication failed. The 'Authorization' header is missing." },
    });
    const token = (await identity.clientSecretCredential.getToken(`${arm.url}/.default`)).token;
    const noVersion = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(noVersion.status).toBe(400);
    expect(((await noVersion.json()) as { error: { code: string } }).error.code).toBe('MissingApiVersionParameter');
  });

  it('serves injected faults (the SDK retries a 503 and gets through) and keeps its assignments across a snapshot', async () => {
    arm.assign(VAULT_ID, 'Role Based Access Control Administrator', identity.principalId, { condition: CONDITION });
    const reader = newPrincipal('ServicePrincipal');
    const outage = arm.server.inject('create-role-assignment', { status: 503, times: 2 });
    const made = await sdk.roleAssignments.create(scopeOf('app', 'secrets'), randomUUID(), {
      roleDefinitionId: roleDefinition('Key Vault Secrets User'),
      principalId: reader,
      principalType: 'ServicePrincipal',
    });
    expect(outage.served).toBe(2);
    expect(statuses('create-role-assignment')).toEqual([503, 503, 201]);
    const saved = JSON.parse(JSON.stringify(arm.snapshot())) as ReturnType<ResourceManagerEmulator['snapshot']>;
    arm.restore({ assignments: [] });
    expect(await codeOf(sdk.roleAssignments.get(scopeOf('app', 'secrets'), made.name!))).toBe('RoleAssignmentNotFound');
    arm.restore(saved);
    expect(await sdk.roleAssignments.get(scopeOf('app', 'secrets'), made.name!)).toMatchObject({ principalId: reader });
    expect(arm.assignments().find((a) => a.roleId === BUILT_IN_ROLES['Role Based Access Control Administrator'])?.condition).toBe(
      CONDITION,
    );
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
    // A read role on the certificate object does not open its secret, which is another object.
    arm.assign(scopeOf('theirs', 'certificates'), 'Key Vault Secrets User', app.servicePrincipalId);
    expect(await read('theirs')).toBe('Forbidden');
    // A role without the getSecret data action, at the vault, opens nothing either.
    arm.assign(VAULT_ID, 'Key Vault Reader', app.servicePrincipalId);
    expect(await read('theirs')).toBe('Forbidden');
    arm.remove(grant.name);
    expect(await read('mine')).toBe('Forbidden');
    arm.assign(RESOURCE_GROUP, 'Key Vault Secrets User', app.servicePrincipalId);
    expect([await read('mine'), await read('theirs')]).toEqual(['succeeded', 'succeeded']);
    // The vault-wide roles of assignRole still apply beside Azure's assignments.
    arm.restore({ assignments: [] });
    vault.assignRole(app.servicePrincipalId, 'Key Vault Secrets User');
    expect(await read('theirs')).toBe('succeeded');
    vault.removeRole(app.servicePrincipalId, 'Key Vault Secrets User');
    expect(await read('theirs')).toBe('Forbidden');
  });
});
