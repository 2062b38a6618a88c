import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bicepDeclarations, bicepFiles, readRepoFile, repoRoot, BUILT_IN_ROLES } from './infraSources.js';

/**
 * What can be proved about infra/ without a Bicep compiler (none is available to this project's
 * CI): every module path resolves, every role is a built-in role id assigned under the documented
 * naming rule, parameters follow the Azure Verified Modules description convention, and the
 * settings that make the deployment identity-only are in place.
 */

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const files = bicepFiles();
const mainBicep = readRepoFile('infra/main.bicep');

describe('infra/ files', () => {
  it('include main.bicep and its modules', () => {
    expect(files).toContain('infra/main.bicep');
    expect(files.filter((f) => f.startsWith('infra/modules/')).length).toBeGreaterThanOrEqual(7);
  });

  it.each(files)('%s: every local module path exists', (file) => {
    const text = readRepoFile(file);
    const paths = [...text.matchAll(/^module \w+ '([^']+)'/gm)].map((m) => m[1]!);
    for (const path of paths) {
      expect(
        path.startsWith('br:') || path.startsWith('br/') || path.startsWith('ts:'),
        `${path}: registry modules cannot be checked offline`,
      ).toBe(false);
      expect(existsSync(join(repoRoot, dirname(file), path)), `${file} references missing module ${path}`).toBe(true);
    }
  });

  it('main.bicep uses every module under infra/modules', () => {
    const used = [...mainBicep.matchAll(/^module \w+ '([^']+)'/gm)].map((m) => `infra/${m[1]!}`);
    expect(files.filter((f) => f.startsWith('infra/modules/')).sort()).toEqual([...new Set(used)].sort());
  });

  it.each(files)('%s: every resource pins a GA API version', (file) => {
    const types = [...readRepoFile(file).matchAll(/^resource \w+ '([^']+)'/gm)].map((m) => m[1]!);
    for (const type of types) expect(type).toMatch(/^Microsoft\.[A-Za-z]+\/[A-Za-z/]+@\d{4}-\d{2}-\d{2}$/);
  });

  it.each(files)('%s: parameters and outputs carry AVM descriptions ("Required." only when there is no default)', (file) => {
    for (const declaration of bicepDeclarations(readRepoFile(file))) {
      const description = /@description\('((?:[^'\\]|\\.)*)'\)/.exec(declaration.decorators)?.[1];
      expect(description, `${file}: ${declaration.kind} ${declaration.name} has no @description`).toBeDefined();
      if (declaration.kind === 'output') continue;
      const optional = declaration.line.includes(' = ') || /\?$/.test(declaration.line.trim());
      expect(description!, `${file}: param ${declaration.name}`).toMatch(optional ? /^Optional\. / : /^Required\. /);
    }
  });

  it('main.parameters.json supplies every required parameter of main.bicep and nothing unknown', () => {
    const parameters = Object.keys(
      (JSON.parse(readRepoFile('infra/main.parameters.json')) as { parameters: Record<string, unknown> }).parameters,
    );
    const declared = bicepDeclarations(mainBicep).filter((d) => d.kind === 'param');
    const required = declared.filter((d) => !d.line.includes(' = ')).map((d) => d.name);
    expect(parameters.filter((p) => !declared.some((d) => d.name === p))).toEqual([]);
    expect(required.filter((r) => !parameters.includes(r))).toEqual([]);
  });
});

describe('role assignments', () => {
  const roleModule = readRepoFile('infra/modules/role-assignments.bicep');
  const roleVariables = new Map(
    [...roleModule.matchAll(/^var (\w+RoleId) = '([^']+)' \/\/ (.+)$/gm)].map((m) => [m[1]!, { id: m[2]!, role: m[3]!.trim() }]),
  );
  const assignments = [
    ...roleModule.matchAll(/^resource (\w+) 'Microsoft\.Authorization\/roleAssignments@[^']+' = \{\n([\s\S]*?)^\}/gm),
  ].map((m) => ({ symbol: m[1]!, body: m[2]! }));

  it('declare each role id as a GUID named after its built-in role, with the id Microsoft documents', () => {
    expect(roleVariables.size).toBeGreaterThanOrEqual(7);
    for (const { id, role } of roleVariables.values()) {
      expect(id).toMatch(GUID);
      expect(BUILT_IN_ROLES[role], `unknown built-in role name ${role}`).toBe(id);
    }
  });

  it('cover every data plane the app uses', () => {
    const roles = [...roleVariables.values()].map((v) => v.role);
    for (const role of Object.keys(BUILT_IN_ROLES).filter((r) => r !== 'Communication and Email Service Owner')) {
      expect(roles).toContain(role);
    }
    const emailDefault = / emailSenderRoleDefinitionId string = '([^']+)'/;
    expect(emailDefault.exec(roleModule)?.[1]).toBe(BUILT_IN_ROLES['Communication and Email Service Owner']);
    expect(emailDefault.exec(mainBicep)?.[1]).toBe(BUILT_IN_ROLES['Communication and Email Service Owner']);
  });

  it('are each named guid(scope.id, principalId, roleId) on the resource they grant', () => {
    expect(assignments.length).toBe(roleVariables.size + 1);
    const used = new Set<string>();
    for (const { symbol, body } of assignments) {
      const scope = /^ {2}scope: (\w+)$/m.exec(body)?.[1];
      const name = /^ {2}name: guid\((\w+)\.id, principalId, (\w+)\)$/m.exec(body);
      expect(scope, `${symbol} has no scope`).toBeDefined();
      expect(name, `${symbol} is not named guid(scope.id, principalId, roleId)`).not.toBeNull();
      expect(name![1], `${symbol}: the name's scope differs from its scope`).toBe(scope);
      const roleId = name![2]!;
      expect(roleVariables.has(roleId) || roleId === 'emailSenderRoleDefinitionId', `${symbol}: ${roleId}`).toBe(true);
      expect(body).toContain(`roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', ${roleId})`);
      expect(body).toMatch(/principalType: 'ServicePrincipal'/);
      used.add(roleId);
    }
    expect([...roleVariables.keys()].filter((v) => !used.has(v))).toEqual([]);
  });
});

describe('what makes the deployment identity-only and Flex-shaped', () => {
  const all = files.map((f) => readRepoFile(f)).join('\n');

  it('never lists a key or a connection string', () => {
    expect(all).not.toMatch(/listKeys\(|listConnectionStrings\(|AccountKey=/);
  });

  it('turns shared keys, Key Vault access policies and topic keys off', () => {
    expect(readRepoFile('infra/modules/storage.bicep')).toMatch(/^ {4}allowSharedKeyAccess: false$/m);
    const vault = readRepoFile('infra/modules/key-vault.bicep');
    expect(vault).toMatch(/^ {4}enableRbacAuthorization: true$/m);
    expect(vault).toMatch(/^ {4}enablePurgeProtection: true$/m);
    const topic = readRepoFile('infra/modules/event-grid-topic.bicep');
    expect(topic).toMatch(/^ {4}inputSchema: 'CloudEventSchemaV1_0'$/m);
    expect(topic).toMatch(/^param allowKeyAuthentication bool = false$/m);
  });

  it('runs on Flex Consumption with Node 22', () => {
    const app = readRepoFile('infra/modules/function-app.bicep');
    expect(app).toMatch(/tier: 'FlexConsumption'\s+name: 'FC1'/);
    expect(app).toMatch(/runtime: \{\s+name: 'node'\s+version: '22'\s+\}/);
    expect(app).toMatch(/type: 'blobContainer'/);
  });

  it('alerts on the poison queue and on failed renewals with the log lines the app and host write', () => {
    const monitoring = readRepoFile('infra/modules/monitoring.bicep');
    expect(monitoring).toMatch(/param poisonQueueName string = 'renewal-requests-poison'/);
    // The Functions host's warning when it moves a message to the poison queue.
    expect(monitoring).toContain(`Moving message to queue '{queue}'`);
    expect(monitoring).toContain('startswith "renewal failed"');
    expect(monitoring).toContain('outcome == "failed"');
    expect(monitoring.match(/'Microsoft\.Insights\/scheduledQueryRules@/g)).toHaveLength(2);
  });
});

describe('azure.yaml', () => {
  const yaml = readRepoFile('azure.yaml');

  it('deploys the repository root as a TypeScript Function App built from a local package', () => {
    expect(yaml).toMatch(/^ {2}api:\n {4}project: \.\n {4}language: ts\n {4}host: function\n/m);
    expect(yaml).toMatch(/^ {4}dist: \.deploy$/m);
    expect(yaml).toMatch(/^ {4}remoteBuild: false$/m);
    expect(yaml).toContain('run: ./scripts/package-function.sh .deploy');
    expect(existsSync(join(repoRoot, 'scripts/package-function.sh'))).toBe(true);
  });

  it("matches the azd-service-name tag main.bicep puts on the Function App and package.json's main", () => {
    expect(mainBicep).toMatch(/azdServiceName: 'api'/);
    expect((JSON.parse(readRepoFile('package.json')) as { main: string }).main).toBe('dist/index.js');
  });
});
