import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/lib/config.js';
import {
  bicepDeclarations,
  bicepObjectVariable,
  readmeSettingsTable,
  readRepoFile,
  settingBase,
  settingsReadByConfig,
} from './infraSources.js';

/**
 * Deployment and code must not drift: every setting src/lib/config.ts reads is either set by
 * infra/main.bicep's app settings or documented as optional in README's settings table, and is
 * listed in local.settings.sample.json. And what main.bicep sets must actually load.
 */

const mainBicep = readRepoFile('infra/main.bicep');
const appSettings = bicepObjectVariable(mainBicep, 'appSettings');
const userAssignedSettings = bicepObjectVariable(mainBicep, 'userAssignedIdentityAppSettings');
const configSettings = settingsReadByConfig();
const readme = readmeSettingsTable();

/** Settings that main.bicep sets for the Functions host or the Azure SDKs, not for config.ts. */
const RUNTIME_SETTINGS = new Set([
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
  'AzureFunctionsJobHost__logging__applicationInsights__samplingSettings__excludedTypes',
  'AzureWebJobsStorage__credential',
  // DefaultAzureCredential's choice of user-assigned identity.
  'AZURE_CLIENT_ID',
]);

/** App settings the Flex Consumption plan rejects or ignores (its runtime and package come from functionAppConfig). */
const NOT_ON_FLEX = [
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_WORKER_RUNTIME_VERSION',
  'FUNCTIONS_EXTENSION_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_NODE_DEFAULT_VERSION',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'WEBSITE_CONTENTSHARE',
  'WEBSITE_CONTENTOVERVNET',
  'SCM_DO_BUILD_DURING_DEPLOYMENT',
  'ENABLE_ORYX_BUILD',
  'FUNCTIONS_MAX_HTTP_CONCURRENCY',
  'FUNCTIONS_WORKER_PROCESS_COUNT',
];

function readmeRowFor(name: string) {
  return readme.find((row) => row.names.includes(name));
}

describe('settings read by src/lib/config.ts', () => {
  it('are found (the parser sees the schema)', () => {
    expect(configSettings).toContain('DEFAULT_KEYVAULT_URL');
    expect(configSettings).toContain('AzureWebJobsStorage__accountName');
    expect(configSettings.length).toBeGreaterThan(15);
  });

  it.each(configSettings)('%s is documented in README (directly or as a form of its base setting)', (name) => {
    expect(readmeRowFor(name) ?? readmeRowFor(settingBase(name)), `README ## Settings has no row for ${name}`).toBeDefined();
  });

  it.each(configSettings)('%s is set by main.bicep or documented as optional', (name) => {
    const row = (readmeRowFor(name) ?? readmeRowFor(settingBase(name)))!;
    if (!row.required) return;
    // A required setting may be set in any of its documented forms (AzureWebJobsStorage as
    // AzureWebJobsStorage__accountName, for instance).
    const base = settingBase(name);
    const setForms = [...appSettings.keys()].filter((key) => key === base || key.startsWith(`${base}__`));
    expect(setForms, `${name} is required (README) but main.bicep's appSettings sets no form of ${base}`).not.toEqual([]);
  });

  it.each(configSettings)('%s appears in local.settings.sample.json', (name) => {
    const sample = JSON.parse(readRepoFile('local.settings.sample.json')) as { Values: Record<string, string> };
    expect(Object.keys(sample.Values)).toContain(name);
  });
});

describe("main.bicep's app settings", () => {
  it('name only settings that config.ts reads or that the runtime itself uses (catches typos)', () => {
    const unknown = [...appSettings.keys(), ...userAssignedSettings.keys()].filter(
      (key) => !configSettings.includes(key) && !RUNTIME_SETTINGS.has(key),
    );
    expect(unknown).toEqual([]);
  });

  it('set nothing the Flex Consumption plan rejects, and no secret', () => {
    const keys = [...appSettings.keys(), ...userAssignedSettings.keys()];
    for (const name of NOT_ON_FLEX) expect(keys).not.toContain(name);
    // Identity everywhere: no connection string or key is deployed.
    for (const name of ['AzureWebJobsStorage', 'CONFIG_STORAGE', 'EMAIL_CONNECTION_STRING', 'EVENTGRID_TOPIC_KEY']) {
      expect(keys).not.toContain(name);
    }
  });

  it('tell every identity-based connection which identity to use when the app runs as a user-assigned one', () => {
    expect(userAssignedSettings.get('AzureWebJobsStorage__credential')).toBe("'managedidentity'");
    for (const name of ['AzureWebJobsStorage__clientId', 'CONFIG_STORAGE__clientId', 'AZURE_CLIENT_ID']) {
      expect(userAssignedSettings.get(name)).toMatch(/userAssignedIdentity!\.outputs\.clientId/);
    }
  });

  // What the Bicep expressions evaluate to in a public-cloud deployment, so that the deployed
  // settings can be fed to the real loadSettings. An expression missing here fails the test, so a
  // new setting in main.bicep gets a representative value (and a load check) too.
  const deployedValues: Record<string, string> = {
    'storage.outputs.name': 'stabcdefghijklm',
    'storage.outputs.tableEndpoint': 'https://stabcdefghijklm.table.core.windows.net/',
    effectiveManagedTenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    effectiveApiTenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    'keyVault.outputs.vaultUri': 'https://kv-abcdefghijklm.vault.azure.net/',
    'communication.outputs.endpoint': 'https://acs-abcdefghijklm.unitedstates.communication.azure.com',
    'communication.outputs.senderAddress': 'DoNotReply@0a1b2c3d-4e5f-6789-abcd-ef0123456789.azurecomm.net',
    'eventGridTopic.outputs.endpoint': 'https://evgt-abcdefghijklm.westeurope-1.eventgrid.azure.net/api/events',
    apiAudience: 'api://3f0e1c2d-1111-4222-8333-444455556666,3f0e1c2d-1111-4222-8333-444455556666',
    'monitoring.outputs.connectionString': 'InstrumentationKey=00000000-0000-0000-0000-000000000000',
    "useUserAssigned ? userAssignedIdentity!.outputs.clientId : ''": '9e8d7c6b-5a49-4837-a625-1b0c9d8e7f6a',
    "useUserAssigned ? 'ClientId=${userAssignedIdentity!.outputs.clientId};Authorization=AAD' : ''":
      'ClientId=9e8d7c6b-5a49-4837-a625-1b0c9d8e7f6a;Authorization=AAD',
  };

  /** A parameter's default as main.bicep declares it (`param NAME type = 'default'`). */
  function paramDefault(name: string): string | undefined {
    const declaration = bicepDeclarations(mainBicep).find((d) => d.kind === 'param' && d.name === name);
    const literal = declaration && / = '([^']*)'$/.exec(declaration.line);
    if (literal) return literal[1];
    if (declaration?.line.endsWith('= environment().authentication.loginEndpoint')) return 'https://login.microsoftonline.com/';
    return undefined;
  }

  function evaluate(expression: string): string {
    const literal = /^'([^']*)'$/.exec(expression);
    if (literal) return literal[1]!;
    const withDefault = /\?\? '?([^')]*)'?\)?$/.exec(expression);
    if (withDefault) return withDefault[1]!;
    const known = deployedValues[expression] ?? paramDefault(expression);
    if (known === undefined) throw new Error(`add a representative deployed value for \`${expression}\` to this test`);
    return known;
  }

  function deployedEnvironment(settings: Map<string, string>): Record<string, string> {
    return Object.fromEntries([...settings].map(([name, expression]) => [name, evaluate(expression)]));
  }

  it('load with config.ts as deployed (system-assigned identity)', () => {
    const settings = loadSettings(deployedEnvironment(appSettings));
    expect(settings.webJobsStorage).toMatchObject({ kind: 'identity', queueServiceUri: 'https://stabcdefghijklm.queue.core.windows.net' });
    expect(settings.configStorage).toMatchObject({ kind: 'identity', tableServiceUri: 'https://stabcdefghijklm.table.core.windows.net' });
    expect(settings.defaultKeyVaultUrl).toBe('https://kv-abcdefghijklm.vault.azure.net/');
    expect(settings.email).toMatchObject({ sender: expect.stringMatching(/^DoNotReply@/) as unknown, connectionString: undefined });
    expect(settings.eventGrid).toMatchObject({ topicKey: undefined });
    expect(settings.renewalSchedule).toBe('0 */15 * * * *');
    expect(settings.renewalLeaseSeconds).toBe(600);
    expect(settings.verifyWindowMinutes).toBe(10);
    expect(settings.authorityHost).toBe('https://login.microsoftonline.com');
    expect(settings.authorityIsPublicCloud).toBe(true);
    expect(settings.apiAudiences).toHaveLength(2);
  });

  it('load with config.ts as deployed (user-assigned identity)', () => {
    const merged = new Map([...appSettings, ...userAssignedSettings]);
    const settings = loadSettings(deployedEnvironment(merged));
    expect(settings.webJobsStorage).toMatchObject({ kind: 'identity', clientId: '9e8d7c6b-5a49-4837-a625-1b0c9d8e7f6a' });
    expect(settings.configStorage).toMatchObject({ kind: 'identity', clientId: '9e8d7c6b-5a49-4837-a625-1b0c9d8e7f6a' });
  });
});
