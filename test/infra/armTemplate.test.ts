import { describe, expect, it } from 'vitest';
import { skipAllWhen } from '../support/skipWithReason.js';
import { RENEWAL_CONFIRM_QUEUE_NAME, RENEWAL_QUEUE_NAME } from '../../src/lib/domain/renewalQueueName.js';
import { calledFunctions, objectKeys, parseArmExpression, resourcesOf, skipWithoutBicep, type Json } from './armTemplate.js';
import { deployMain, mainTemplate } from './deployedInfra.js';
import { readRepoFile } from './infraSources.js';

/**
 * The compiled ARM template (scripts/bicep.sh build infra/main.bicep), not the .bicep text: its
 * shape (Flex Consumption, Node 22, identity-only storage), its alerts, its parameters' and outputs'
 * documentation, and what azd passes to it. Under CI=true the Bicep CLI must be there; elsewhere the
 * tests skip, saying how to get it.
 */

const skip = skipWithoutBicep();

/** The main template and every module's nested template, with a label for messages. */
function allTemplates(): [string, Json][] {
  const found: [string, Json][] = [];
  const walk = (label: string, template: Json) => {
    found.push([label, template]);
    for (const resource of resourcesOf(template)) {
      if (resource.type === 'Microsoft.Resources/deployments')
        walk(`module ${String(resource.name)}`, (resource.properties as Json).template as Json);
    }
  };
  walk('main', mainTemplate());
  return found;
}

describe('ARM expressions as Bicep writes them', () => {
  it('parse', () => {
    expect(
      parseArmExpression(
        "[createObject('a', 'it''s', 'b', union(createObject('c', 1), createObject('d', reference('x').outputs.y.value)))]",
      ),
    ).toMatchObject({ kind: 'call', name: 'createObject' });
    expect(
      [...objectKeys(parseArmExpression("[union(createObject('a', 1), if(true(), createObject('b', 2), createObject('c', 3)))]"))].sort(),
    ).toEqual(['a', 'b', 'c']);
    expect(parseArmExpression("[parameters('names')[copyIndex()]]")).toMatchObject({ kind: 'access', path: '*', index: { kind: 'call' } });
    expect(() => parseArmExpression("[createObject('a', ]")).toThrow(/ARM expression/);
  });
});

describe('the compiled ARM template', () => {
  skipAllWhen(skip);
  it('was compiled (CI must have a Bicep CLI)', () => {
    expect(mainTemplate().$schema).toMatch(/deploymentTemplate\.json#$/i);
  });

  it('uses identity-based storage only: no account key, no listKeys, no connection string anywhere', () => {
    for (const [label, template] of allTemplates()) {
      expect(calledFunctions(template), label).not.toContain('listkeys');
      expect(calledFunctions(template), label).not.toContain('listconnectionstrings');
      expect(JSON.stringify(template), label).not.toMatch(/AccountKey=|"AzureWebJobsStorage"/);
    }
    expect(deployMain().resource('storage').module().resource('storageAccount').properties()).toMatchObject({
      allowSharedKeyAccess: false,
      defaultToOAuthAuthentication: true,
    });
  });

  it('runs on Flex Consumption with Node 22, deploying from a blob container of its storage account', () => {
    const functionApp = deployMain().resource('functionApp').module();
    expect(functionApp.resource('Microsoft.Web/serverfarms').raw.sku).toEqual({ tier: 'FlexConsumption', name: 'FC1' });
    const site = functionApp.resource('Microsoft.Web/sites');
    expect(site.raw.kind).toBe('functionapp,linux');
    const config = site.properties().functionAppConfig as Json;
    expect(config.runtime).toEqual({ name: 'node', version: '22' });
    const storage = (config.deployment as Json).storage as Json;
    expect(storage.type).toBe('blobContainer');
    expect(storage.value).toMatch(/^https:\/\/stabcdefghijklm\.blob\.core\.windows\.net\/app-package-/);
    expect(site.properties()).toMatchObject({ httpsOnly: true, siteConfig: { minTlsVersion: '1.2', ftpsState: 'Disabled' } });
  });

  it('pins a GA API version on every resource', () => {
    for (const [label, template] of allTemplates()) {
      for (const resource of resourcesOf(template)) {
        expect(String(resource.apiVersion), `${label}: ${String(resource.type)}`).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      }
    }
  });

  it('documents every parameter and output the Azure Verified Modules way ("Required." only when there is no default)', () => {
    for (const [label, template] of allTemplates()) {
      const parameters = (template.parameters ?? {}) as Record<string, Json>;
      for (const [name, parameter] of Object.entries(parameters)) {
        const description = (parameter.metadata as { description?: string } | undefined)?.description;
        expect(description, `${label}: param ${name}`).toBeDefined();
        const optional = 'defaultValue' in parameter || parameter.nullable === true;
        expect(description!, `${label}: param ${name}`).toMatch(optional ? /^Optional\. / : /^Required\. /);
      }
      for (const [name, output] of Object.entries((template.outputs ?? {}) as Record<string, Json>)) {
        expect((output.metadata as { description?: string } | undefined)?.description, `${label}: output ${name}`).toBeDefined();
      }
    }
  });

  it('gets every required parameter from main.parameters.json, and nothing it does not declare', () => {
    const given = Object.keys(
      (JSON.parse(readRepoFile('infra/main.parameters.json')) as { parameters: Record<string, unknown> }).parameters,
    );
    const declared = mainTemplate().parameters as Record<string, Json>;
    const required = Object.keys(declared).filter((name) => !('defaultValue' in declared[name]!) && declared[name]!.nullable !== true);
    expect(given.filter((name) => !(name in declared))).toEqual([]);
    expect(required.filter((name) => !given.includes(name))).toEqual([]);
  });
});

describe('the alerts (docs/deployment.md, docs/operations.md)', () => {
  skipAllWhen(skip);
  const monitoring = () => deployMain().resource('monitoring').module();
  const rule = (suffix: string) =>
    monitoring()
      .resources()
      .find((r) => r.type === 'Microsoft.Insights/scheduledQueryRules' && String(r.name).endsWith(`-${suffix}`));
  const queryOf = (suffix: string) => ((rule(suffix)!.properties().criteria as Json).allOf as Json[])[0]!;

  it.each(['poison-queue', 'renewal-failed', 'expiry-at-risk', 'scheduler-silent'])(
    '%s: exists, enabled, severity 1, notifying the action group when addresses are given',
    (suffix) => {
      expect(rule(suffix), suffix).toBeDefined();
      expect(rule(suffix)!.properties()).toMatchObject({ enabled: true, severity: 1, actions: {} });
      const notified = deployMain({ alertEmailAddresses: 'a@example.com, b@example.com' }).resource('monitoring').module();
      const withGroup = notified.resources().find((r) => String(r.name).endsWith(`-${suffix}`))!;
      expect((withGroup.properties().actions as { actionGroups: string[] }).actionGroups).toEqual([
        expect.stringMatching(/\/providers\/Microsoft\.Insights\/actionGroups\/ag-appi-/),
      ]);
      const group = notified.resources().find((r) => r.type === 'Microsoft.Insights/actionGroups')!;
      expect((group.properties().emailReceivers as { emailAddress: string }[]).map((r) => r.emailAddress)).toEqual([
        'a@example.com',
        'b@example.com',
      ]);
    },
  );

  it('watch the poison queue the worker really uses, and the log lines the app really writes', () => {
    // The host's warning names the poison queue of whichever stage gave up (src/index.ts registers both).
    const poison = queryOf('poison-queue').query as string;
    expect(poison).toContain(`extract("Moving message to queue '([^']+)'", 1, message)`);
    expect(poison).toContain(`where queue in ("${RENEWAL_QUEUE_NAME}-poison", "${RENEWAL_CONFIRM_QUEUE_NAME}-poison")`);
    expect(queryOf('renewal-failed').query).toMatch(/startswith "renewal failed"/);
    // The scheduler's days-left line and its per-tick summary line start with these words.
    expect(queryOf('expiry-at-risk').query).toMatch(/startswith "certificate days left"/);
    expect(readRepoFile('src/lib/renewal/renewalScheduler.ts')).toContain('`certificate days left: app ${appId}');
    expect(queryOf('scheduler-silent').query).toMatch(/startswith "scheduler tick"/);
    expect(readRepoFile('src/functions/renewalScheduler.ts')).toContain('context.log(`scheduler tick');
  });

  it('fire the expiry alert, one per app, on a days-left line of an enabled app below half its renewal window', () => {
    const { query } = queryOf('expiry-at-risk') as { query: string };
    // The fields the scheduler writes as JSON after the text, read back with parse_json.
    expect(query).toContain('parse_json(substring(message, indexof(message, "{")))');
    for (const field of ['appId', 'outcome', 'daysLeft', 'renewBeforeDays', 'windowRemainingFraction'])
      expect(query, field).toContain(`fields.${field})`);
    expect(query).toMatch(/\| where outcome != "disabled" and windowRemainingFraction < 0\.5\n/);
    expect(query).toMatch(/\| summarize .* by appId\s*$/);
    expect(queryOf('expiry-at-risk')).toMatchObject({
      timeAggregation: 'Count',
      operator: 'GreaterThan',
      threshold: 0,
      dimensions: [{ name: 'appId', operator: 'Include', values: ['*'] }],
    });
    // Over the window in which a tick must have run, so a sparse schedule does not resolve it between ticks.
    expect(rule('expiry-at-risk')!.properties()).toMatchObject({ windowSize: 'PT1H', evaluationFrequency: 'PT15M', autoMitigate: true });
    const daily = deployMain({ renewal: { alertWhenSilentFor: 'P1D' } })
      .resource('monitoring')
      .module();
    expect(
      daily
        .resources()
        .find((r) => String(r.name).endsWith('-expiry-at-risk'))!
        .properties().windowSize,
    ).toBe('P1D');
  });

  it('fire the silence alert when no tick was logged for the window', () => {
    expect(queryOf('scheduler-silent')).toMatchObject({ timeAggregation: 'Count', operator: 'LessThan', threshold: 1 });
    expect(rule('scheduler-silent')!.properties().windowSize).toBe('PT1H');
    const daily = deployMain({ renewal: { alertWhenSilentFor: 'P1D' } })
      .resource('monitoring')
      .module();
    const silent = daily.resources().find((r) => String(r.name).endsWith('-scheduler-silent'))!;
    expect(silent.properties().windowSize).toBe('P1D');
  });
});

describe('azure.yaml', () => {
  skipAllWhen(skip);
  const yaml = readRepoFile('azure.yaml');

  it('deploys the repository root as a TypeScript Function App built from a local package', () => {
    expect(yaml).toMatch(/^ {2}api:\n {4}project: \.\n {4}language: ts\n {4}host: function\n/m);
    expect(yaml).toMatch(/^ {4}dist: \.deploy$/m);
    expect(yaml).toMatch(/^ {4}remoteBuild: false$/m);
    expect(yaml).toContain('run: ./scripts/package-function.sh .deploy');
  });

  it("names the service the azd-service-name tag the template puts on the Function App, and package.json's main", () => {
    const site = deployMain().resource('functionApp').module().resource('Microsoft.Web/sites');
    expect(site.field('tags')).toMatchObject({ 'azd-service-name': 'api', 'azd-env-name': 'test' });
    expect((JSON.parse(readRepoFile('package.json')) as { main: string }).main).toBe('dist/index.js');
  });
});
