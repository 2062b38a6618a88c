import { describe, expect, it } from 'vitest';
import { skipAllWhen } from '../support/skipWithReason.js';
import { APPS_TABLE_NAME } from '../../src/lib/composition.js';
import { RENEWAL_CONFIRM_QUEUE_NAME, RENEWAL_QUEUE_NAME } from '../../src/lib/domain/renewalQueueName.js';
import { deploy, type Deployment, type DeployedResource } from './armDeployment.js';
import { parseArmExpression, skipWithoutBicep, type Json } from './armTemplate.js';
import { deployMain, representativeOutputs } from './deployedInfra.js';
import { BUILT_IN_ROLES, readRepoFile } from './infraSources.js';

/**
 * The resources the compiled template deploys, evaluated: who the app runs as and when it gets its
 * roles, which role each assignment grants on which scope, the table and queues, the vault's name.
 */

const skip = skipWithoutBicep();
const outputs = representativeOutputs();
const USER_ASSIGNED_PRINCIPAL = outputs.userAssignedIdentity!.principalId as string;
const SYSTEM_ASSIGNED_PRINCIPAL = outputs.functionApp!.systemAssignedPrincipalId as string;
const QUEUES = [RENEWAL_QUEUE_NAME, `${RENEWAL_QUEUE_NAME}-poison`, RENEWAL_CONFIRM_QUEUE_NAME, `${RENEWAL_CONFIRM_QUEUE_NAME}-poison`];

/** The built-in role each assignment (by its symbolic name in role-assignments.bicep) must grant. */
const ROLE_OF: Readonly<Record<string, string>> = {
  blobDataOwner: 'Storage Blob Data Owner',
  queueDataContributor: 'Storage Queue Data Contributor',
  tableDataContributor: 'Storage Table Data Contributor',
  certificatesOfficer: 'Key Vault Certificates Officer',
  secretsUser: 'Key Vault Secrets User',
  rbacAdministrator: 'Role Based Access Control Administrator',
  eventGridDataSender: 'EventGrid Data Sender',
  emailSender: 'Communication and Email Service Owner',
  metricsPublisher: 'Monitoring Metrics Publisher',
};

const roleAssignmentsOf = (roles: Deployment) => roles.resources().filter((r) => r.type === 'Microsoft.Authorization/roleAssignments');
const roleIdOf = (assignment: DeployedResource) => String(assignment.properties().roleDefinitionId).split('/').pop();

describe('the identity the app runs as', () => {
  skipAllWhen(skip);
  it('is by default a user-assigned identity that holds every role before the app exists', () => {
    const deployment = deployMain();
    expect(deployment.deploys('userAssignedIdentity')).toBe(true);
    expect(deployment.deploys('systemAssignedRoleAssignments')).toBe(false);
    const roles = deployment.resource('userAssignedRoleAssignments');
    expect(roles.module().parameters.principalId).toBe(USER_ASSIGNED_PRINCIPAL);
    // The app waits for its roles: its first start and first deploy never meet a 403.
    expect(deployment.resource('functionApp').dependsOn).toContain('userAssignedRoleAssignments');
    const siteResource = deployment.resource('functionApp').module().resource('Microsoft.Web/sites');
    expect(siteResource.field('identity')).toEqual({
      type: 'SystemAssigned, UserAssigned',
      userAssignedIdentities: { [outputs.userAssignedIdentity!.resourceId as string]: {} },
    });
    const site = siteResource.properties();
    const storage = ((site.functionAppConfig as Json).deployment as Json).storage as Json;
    expect(storage.authentication).toEqual({
      type: 'UserAssignedIdentity',
      userAssignedIdentityResourceId: outputs.userAssignedIdentity!.resourceId,
    });
    expect(deployment.output('APP_PRINCIPAL_ID')).toBe(USER_ASSIGNED_PRINCIPAL);
  });

  it('can be the system-assigned identity instead, whose roles then follow the app', () => {
    const deployment = deployMain({ identity: { useSystemAssignedIdentity: true } });
    expect(deployment.deploys('userAssignedIdentity')).toBe(false);
    expect(deployment.deploys('userAssignedRoleAssignments')).toBe(false);
    expect(deployment.resource('systemAssignedRoleAssignments').module().parameters.principalId).toBe(SYSTEM_ASSIGNED_PRINCIPAL);
    const site = deployment.resource('functionApp').module().resource('Microsoft.Web/sites');
    expect(site.field('identity')).toEqual({ type: 'SystemAssigned' });
    const storage = (((site.properties().functionAppConfig as Json).deployment as Json).storage as Json).authentication;
    expect(storage).toEqual({ type: 'SystemAssignedIdentity' });
    expect(deployment.output('APP_PRINCIPAL_ID')).toBe(SYSTEM_ASSIGNED_PRINCIPAL);
  });
});

describe('the role assignments', () => {
  skipAllWhen(skip);
  const roles = deployMain().resource('userAssignedRoleAssignments').module();
  const assignments = roleAssignmentsOf(roles);

  it('each grant the built-in role its name says (Azure\'s GUIDs, "Azure built-in roles"), to the app, as a service principal', () => {
    expect(assignments.map((a) => a.symbolicName).filter((name) => !(name in ROLE_OF))).toEqual([]);
    expect(new Set(assignments.map((a) => a.symbolicName))).toEqual(new Set(Object.keys(ROLE_OF)));
    for (const assignment of assignments) {
      expect(roleIdOf(assignment), assignment.symbolicName).toBe(BUILT_IN_ROLES[ROLE_OF[assignment.symbolicName]!]);
      expect(assignment.properties()).toMatchObject({ principalId: USER_ASSIGNED_PRINCIPAL, principalType: 'ServicePrincipal' });
    }
  });

  it('are each named guid(scope, principal, role), so that a redeployment finds the same one', () => {
    for (const assignment of assignments) {
      const name = parseArmExpression(assignment.raw.name as string);
      expect(name, assignment.symbolicName).toMatchObject({ kind: 'call', name: 'guid' });
      expect(JSON.stringify(name)).toContain('"principalId"');
    }
    const again = roleAssignmentsOf(deployMain().resource('userAssignedRoleAssignments').module()).map((a) => a.name);
    expect(again).toEqual(assignments.map((a) => a.name));
    expect(new Set(again).size).toBe(again.length);
  });

  it('scope the queue and table roles to the queues and the table the code uses, which storage creates', () => {
    const scopes = (symbolicName: string) => assignments.filter((a) => a.symbolicName === symbolicName).map((a) => String(a.scope));
    const account = outputs.storage!.resourceId as string;
    expect(scopes('queueDataContributor')).toEqual(QUEUES.map((queue) => `${account}/queueServices/default/queues/${queue}`));
    expect(scopes('tableDataContributor')).toEqual([`${account}/tableServices/default/tables/${APPS_TABLE_NAME}`]);
    // Blob data stays account-wide: the host makes its own containers (leases, timers) at run time.
    expect(scopes('blobDataOwner')).toEqual([account]);
    const storage = deployMain().resource('storage').module();
    const names = (type: string) =>
      storage
        .resources()
        .filter((r) => r.type === type)
        .map((r) => String(r.name).split('/').pop());
    expect(names('Microsoft.Storage/storageAccounts/queueServices/queues')).toEqual(QUEUES);
    expect(names('Microsoft.Storage/storageAccounts/tableServices/tables')).toEqual([APPS_TABLE_NAME]);
    expect(storage.resource('storageAccount').properties()).toMatchObject({ allowSharedKeyAccess: false });
  });

  it('let the app assign only Key Vault Secrets User and Certificate User on the vault, to service principals and groups (docs/consumers.md)', () => {
    const admin = assignments.find((a) => a.symbolicName === 'rbacAdministrator')!;
    expect(admin.scope).toBe(outputs.keyVault!.resourceId);
    const { condition, conditionVersion } = admin.properties() as { condition: string; conditionVersion: string };
    expect(conditionVersion).toBe('2.0');
    const squeezed = condition.replace(/\s+/g, ' ');
    const allowed = new Set([BUILT_IN_ROLES['Key Vault Secrets User'], BUILT_IN_ROLES['Key Vault Certificate User']]);
    // Both the write and the delete branch: each lets the action through only for the two roles and the two principal types.
    for (const [action, source] of [
      ['write', 'Request'],
      ['delete', 'Resource'],
    ] as const) {
      expect(squeezed).toContain(`!(ActionMatches{'Microsoft.Authorization/roleAssignments/${action}'})`);
      const roles = new RegExp(
        `@${source}\\[Microsoft\\.Authorization/roleAssignments:RoleDefinitionId\\] ForAnyOfAnyValues:GuidEquals \\{([^}]*)\\}`,
      ).exec(squeezed);
      expect(new Set(roles?.[1]?.split(',').map((id) => id.trim())), `${action}: roles`).toEqual(allowed);
      const types = new RegExp(
        `@${source}\\[Microsoft\\.Authorization/roleAssignments:PrincipalType\\] ForAnyOfAnyValues:StringEqualsIgnoreCase \\{([^}]*)\\}`,
      ).exec(squeezed);
      expect(
        types?.[1]
          ?.replace(/'/g, '')
          .split(',')
          .map((t) => t.trim()),
        `${action}: principal types`,
      ).toEqual(['ServicePrincipal', 'Group']);
    }
    // Balanced: the two branches are ANDed at the top level, nothing outside them.
    expect(squeezed.trim()).toMatch(
      /^\( \( !\(ActionMatches\{'Microsoft\.Authorization\/roleAssignments\/write'\}\) \) OR \(.*\) \) AND \( \( !\(ActionMatches\{'Microsoft\.Authorization\/roleAssignments\/delete'\}\) \) OR \(.*\) \)$/,
    );
  });

  it('send email with the built-in role by default, or with a custom role that cannot list keys', () => {
    expect(roles.deploys('emailSenderRole')).toBe(false);
    const custom = deployMain({ useCustomEmailSenderRole: true }).resource('userAssignedRoleAssignments').module();
    const role = custom.resource('emailSenderRole');
    const permissions = (role.properties().permissions as { actions: string[]; dataActions?: string[] }[])[0]!;
    expect(permissions.actions.sort()).toEqual([
      'Microsoft.Communication/CommunicationServices/Read',
      'Microsoft.Communication/CommunicationServices/Write',
      'Microsoft.Communication/EmailServices/write',
    ]);
    expect(JSON.stringify(permissions)).not.toMatch(/ListKeys|\*/i);
    expect(role.properties().assignableScopes).toEqual(['/subscriptions/5f2a7c1e-3b4d-4e6f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-test']);
    const sender = roleAssignmentsOf(custom).find((a) => a.symbolicName === 'emailSender')!;
    expect(sender.properties().roleDefinitionId).toContain(`/roleDefinitions/${String(role.name)}`);
  });
});

describe('the vault', () => {
  skipAllWhen(skip);
  it("keeps purge protection and RBAC, and takes a fresh name from KEY_VAULT_NAME_SUFFIX after `azd down` (a deleted vault's name stays taken)", () => {
    const name = (parameters: Record<string, unknown>) =>
      String(deployMain(parameters).resource('keyVault').module().resource('Microsoft.KeyVault/vaults').name);
    const usual = name({});
    expect(usual).toMatch(/^kv-[a-z0-9]{13}$/);
    expect(name({ keyVaultNameSuffix: '2' })).toBe(`${usual}-2`);
    expect(name({ keyVaultNameSuffix: 'abc1234' })).toHaveLength(24);
    const parameters = JSON.parse(readRepoFile('infra/main.parameters.json')) as { parameters: Record<string, { value: string }> };
    expect(parameters.parameters.keyVaultNameSuffix?.value).toBe('${KEY_VAULT_NAME_SUFFIX=}');
    const vault = deployMain().resource('keyVault').module().resource('Microsoft.KeyVault/vaults').properties();
    expect(vault).toMatchObject({ enableRbacAuthorization: true, enablePurgeProtection: true, enableSoftDelete: true });
    expect(deployMain().output('KEY_VAULT_NAME')).toBe(outputs.keyVault!.name);
  });
});

describe('the evaluator these tests stand on', () => {
  skipAllWhen(skip);
  it('follows conditions, copies and parameters as ARM does', () => {
    const template = {
      parameters: { on: { type: 'bool', defaultValue: false }, names: { type: 'array', defaultValue: ['a', 'b'] } },
      variables: { prefix: "[format('x-{0}', if(parameters('on'), 'on', 'off'))]" },
      resources: {
        maybe: { type: 'T/one', condition: "[parameters('on')]", name: 'maybe', properties: {} },
        each: {
          type: 'T/many',
          copy: { name: 'each', count: "[length(parameters('names'))]" },
          name: "[format('{0}-{1}', variables('prefix'), parameters('names')[copyIndex()])]",
          properties: {},
        },
      },
    };
    expect(
      deploy(template, {})
        .resources()
        .map((r) => r.name),
    ).toEqual(['x-off-a', 'x-off-b']);
    expect(
      deploy(template, { on: true, names: ['c'] })
        .resources()
        .map((r) => r.name),
    ).toEqual(['maybe', 'x-on-c']);
    expect(() => deploy(template, { unknown: 1 })).toThrow(/does not declare/);
  });
});
