import { describe, expect, it } from 'vitest';
import { RENEWAL_QUEUE_NAME } from '../../src/lib/domain/renewalQueueName.js';
import {
  calledFunctions,
  compiledTemplate,
  moduleDeployment,
  objectKeys,
  parseArmExpression,
  resourcesOf,
  type ArmNode,
  type Json,
} from './armTemplate.js';
import { BUILT_IN_ROLES, readmeSettingsTable, settingBase, settingsReadByConfig } from './infraSources.js';

/**
 * The compiled ARM template (scripts/bicep.sh build infra/main.bicep), not the .bicep text: the app
 * settings the Function App really gets, identity-based storage, the Flex Consumption plan. Under
 * CI=true the Bicep CLI must be there; elsewhere the tests skip, saying how to get it.
 */

const { template, why } = compiledTemplate();
if (!template && process.env.CI !== 'true') console.warn(`Skipping the ARM template tests: ${why}`);

/** The app settings of each identity mode: the two branches of `if(useUserAssigned, {value: …}, {value: …})`. */
function appSettingsByMode(compiled: Json): { userAssigned: Set<string>; systemAssigned: Set<string> } {
  const parameters = (moduleDeployment(compiled, 'function-app').properties as Json).parameters as Json;
  const root = parseArmExpression(parameters.appSettings as string);
  if (root.kind !== 'call' || root.name !== 'if' || root.args.length !== 3) throw new Error('appSettings is no if(useUserAssigned, …)');
  const valueOf = (branch: ArmNode) => {
    if (branch.kind !== 'call' || branch.name !== 'createObject' || branch.args[1] === undefined)
      throw new Error('a branch is no {value: …}');
    return objectKeys(branch.args[1]);
  };
  return { userAssigned: valueOf(root.args[1]!), systemAssigned: valueOf(root.args[2]!) };
}

describe.skipIf(!template && process.env.CI !== 'true')('the compiled ARM template', () => {
  it('was compiled (CI must have a Bicep CLI)', () => {
    expect(template, why).toBeDefined();
  });

  it('parses ARM expressions as Bicep writes them', () => {
    expect(
      parseArmExpression(
        "[createObject('a', 'it''s', 'b', union(createObject('c', 1), createObject('d', reference('x').outputs.y.value)))]",
      ),
    ).toMatchObject({
      kind: 'call',
      name: 'createObject',
    });
    expect(
      [...objectKeys(parseArmExpression("[union(createObject('a', 1), if(true(), createObject('b', 2), createObject('c', 3)))]"))].sort(),
    ).toEqual(['a', 'b', 'c']);
    expect(() => parseArmExpression("[createObject('a', ]")).toThrow(/ARM expression/);
  });

  it('sets every setting src/lib/config.ts reads that README does not list as optional, in both identity modes', () => {
    const { userAssigned, systemAssigned } = appSettingsByMode(template!);
    // A required setting may be set in any of its documented forms (AzureWebJobsStorage as
    // AzureWebJobsStorage__accountName, for instance): its base name or base__anything.
    const readme = readmeSettingsTable();
    const rowFor = (name: string) =>
      readme.find((row) => row.names.includes(name)) ?? readme.find((row) => row.names.includes(settingBase(name)));
    const required = [
      ...new Set(
        settingsReadByConfig()
          .filter((name) => rowFor(name)?.required)
          .map(settingBase),
      ),
    ];
    expect(required).toEqual(expect.arrayContaining(['API_AUDIENCE', 'AzureWebJobsStorage']));
    for (const [mode, settings] of [
      ['user-assigned', userAssigned],
      ['system-assigned', systemAssigned],
    ] as const) {
      const missing = required.filter((base) => ![...settings].some((key) => key === base || key.startsWith(`${base}__`)));
      expect(missing, mode).toEqual([]);
    }
    // The user-assigned mode names its identity to every identity-based connection.
    for (const name of ['AzureWebJobsStorage__clientId', 'CONFIG_STORAGE__clientId', 'AZURE_CLIENT_ID'])
      expect(userAssigned.has(name), name).toBe(true);
  });

  it('uses identity-based storage only: no account key, no listKeys anywhere', () => {
    const text = JSON.stringify(template);
    expect(calledFunctions(template)).not.toContain('listkeys');
    expect(text).not.toMatch(/AccountKey=|listKeys|AzureWebJobsStorage"\s*:/);
    const { userAssigned, systemAssigned } = appSettingsByMode(template!);
    for (const settings of [userAssigned, systemAssigned]) {
      expect(settings.has('AzureWebJobsStorage')).toBe(false);
      expect(settings.has('AzureWebJobsStorage__accountName')).toBe(true);
    }
  });

  it('runs on Flex Consumption with Node 22, deploying from a blob container with the app identity', () => {
    const inner = (moduleDeployment(template!, 'function-app').properties as Json).template as Json;
    const resources = resourcesOf(inner);
    const plan = resources.find((r) => r.type === 'Microsoft.Web/serverfarms')!;
    expect(plan.sku).toMatchObject({ tier: 'FlexConsumption', name: 'FC1' });
    const site = resources.find((r) => r.type === 'Microsoft.Web/sites')!;
    const config = (site.properties as Json).functionAppConfig as Json;
    expect(config.runtime).toEqual({ name: 'node', version: '22' });
    expect((config.deployment as Json).storage).toMatchObject({ type: 'blobContainer' });
    expect(JSON.stringify((config.deployment as Json).storage)).toMatch(/UserAssignedIdentity|SystemAssignedIdentity/);
  });
});

const squeeze = (name: string) => name.replace(/[^a-z]/gi, '').toLowerCase();

describe.skipIf(!template && process.env.CI !== 'true')('the role assignments in the compiled template', () => {
  it('each grant the built-in role its variable names (or, for email, its parameter documents)', () => {
    const deployment = moduleDeployment(template!, 'role-assignments').properties as Json;
    const inner = deployment.template as Json;
    const variables = inner.variables as Record<string, string>;
    const parameters = inner.parameters as Record<string, { defaultValue?: string; metadata?: { description?: string } }>;
    const assignments = resourcesOf(inner).filter((r) => r.type === 'Microsoft.Authorization/roleAssignments');
    expect(assignments.length).toBeGreaterThanOrEqual(8);
    for (const assignment of assignments) {
      const expression = parseArmExpression((assignment.properties as Json).roleDefinitionId as string);
      if (expression.kind !== 'call' || expression.name !== 'subscriptionResourceId')
        throw new Error('a role definition that is no subscriptionResourceId(…)');
      const [type, id] = expression.args;
      expect(type).toEqual({ kind: 'string', value: 'Microsoft.Authorization/roleDefinitions' });
      if (id?.kind !== 'call' || id.args[0]?.kind !== 'string') throw new Error('a role definition id that is no variable or parameter');
      const name = id.args[0].value;
      if (id.name === 'variables') {
        const role = Object.keys(BUILT_IN_ROLES).find((candidate) => squeeze(`${candidate}RoleId`) === squeeze(name));
        expect(role, `${name} names no built-in role of the table`).toBeDefined();
        expect(variables[name], name).toBe(BUILT_IN_ROLES[role!]);
      } else {
        const parameter = parameters[name]!;
        const role = Object.keys(BUILT_IN_ROLES).find((candidate) => parameter.metadata?.description?.includes(candidate));
        expect(role, `${name}'s description names no built-in role`).toBeDefined();
        expect(parameter.defaultValue, name).toBe(BUILT_IN_ROLES[role!]);
      }
    }
  });
});

describe.skipIf(!template && process.env.CI !== 'true')('the alerts in the compiled template', () => {
  it('alert on the poison queue the worker really uses and on renewal failures, enabled, severity 1, to the action group', () => {
    const deployment = moduleDeployment(template!, 'monitoring').properties as Json;
    const inner = deployment.template as Json;
    const rules = resourcesOf(inner).filter((r) => r.type === 'Microsoft.Insights/scheduledQueryRules');
    const named = (suffix: string) => rules.find((r) => String(r.name).includes(`-${suffix}'`))!;
    for (const rule of [named('poison-queue'), named('renewal-failed')]) {
      expect(rule, 'both alerts exist').toBeDefined();
      expect(rule.properties).toMatchObject({ enabled: true, severity: 1 });
      expect((rule.properties as Json).actions).toBe("[variables('alertActions')]");
    }
    // Whoever is named to receive alerts gets them through the action group.
    expect((inner.variables as Record<string, string>).alertActions).toMatch(
      /createObject\('actionGroups', createArray\(resourceId\('Microsoft\.Insights\/actionGroups'/,
    );
    // The queue's name comes from the code's own constant: the alert watches the queue that fills.
    const poisonQueue = (inner.parameters as Record<string, { defaultValue?: string }>).poisonQueueName!;
    const passed = ((deployment.parameters as Json).poisonQueueName as Json | undefined)?.value;
    expect(passed ?? poisonQueue.defaultValue).toBe(`${RENEWAL_QUEUE_NAME}-poison`);
    const variables = inner.variables as Record<string, string>;
    expect(variables.renewalFailedQuery).toMatch(/renewal failed/);
  });
});
