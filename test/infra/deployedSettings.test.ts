import { describe, expect, it } from 'vitest';
import { skipAllWhen } from '../support/skipWithReason.js';
import { loadSettings } from '../../src/lib/config.js';
import { CHINA_CLOUD } from './armDeployment.js';
import { skipWithoutBicep } from './armTemplate.js';
import { appSettingsOf, deployMain, representativeOutputs } from './deployedInfra.js';
import { readmeSettingsTable, readRepoFile, settingBase, settingsReadByConfig } from './infraSources.js';

/**
 * Deployment and code must not drift: the Function App's settings as the compiled template deploys
 * them (in each identity mode and cloud) are the ones src/lib/config.ts reads, load with it, and
 * every setting it reads is documented in docs/configuration.md and listed in local.settings.sample.json.
 */

const skip = skipWithoutBicep();
const configSettings = settingsReadByConfig();
const readme = readmeSettingsTable();
const readmeRowFor = (name: string) =>
  readme.find((row) => row.names.includes(name)) ?? readme.find((row) => row.names.includes(settingBase(name)));

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

describe('settings read by src/lib/config.ts', () => {
  it('are found (the parser sees the schema)', () => {
    expect(configSettings).toContain('DEFAULT_KEYVAULT_URL');
    expect(configSettings).toContain('AzureWebJobsStorage__accountName');
    expect(configSettings.length).toBeGreaterThan(15);
  });

  it.each(configSettings)('%s is documented in docs/configuration.md (directly or as a form of its base setting)', (name) => {
    expect(readmeRowFor(name), `docs/configuration.md ## Settings has no row for ${name}`).toBeDefined();
  });

  it.each(configSettings)('%s appears in local.settings.sample.json', (name) => {
    const sample = JSON.parse(readRepoFile('local.settings.sample.json')) as { Values: Record<string, string> };
    expect(Object.keys(sample.Values)).toContain(name);
  });
});

const MODES = [
  ['user-assigned identity (the default)', {}],
  ['system-assigned identity', { identity: { useSystemAssignedIdentity: true } }],
] as const;

describe("the Function App's settings as the compiled template deploys them", () => {
  skipAllWhen(skip);
  it.each(MODES)(
    '%s: every setting config.ts requires (docs/configuration.md says which) is set, in one of its forms',
    (_mode, parameters) => {
      const settings = Object.keys(appSettingsOf(deployMain(parameters)));
      const required = [...new Set(configSettings.filter((name) => readmeRowFor(name)?.required).map(settingBase))];
      expect(required).toEqual(expect.arrayContaining(['API_AUDIENCE', 'AzureWebJobsStorage', 'DEFAULT_KEYVAULT_URL']));
      const missing = required.filter((base) => !settings.some((key) => key === base || key.startsWith(`${base}__`)));
      expect(missing).toEqual([]);
    },
  );

  it.each(MODES)('%s: names only settings config.ts reads or the runtime uses, nothing Flex rejects, no secret', (_mode, parameters) => {
    const settings = Object.keys(appSettingsOf(deployMain(parameters)));
    expect(settings.filter((key) => !configSettings.includes(key) && !RUNTIME_SETTINGS.has(key))).toEqual([]);
    for (const name of NOT_ON_FLEX) expect(settings).not.toContain(name);
    // Identity everywhere: no connection string or key is deployed.
    for (const name of ['AzureWebJobsStorage', 'CONFIG_STORAGE', 'EMAIL_CONNECTION_STRING', 'EVENTGRID_TOPIC_KEY']) {
      expect(settings).not.toContain(name);
    }
  });

  it.each(MODES)('%s: load with config.ts', (mode, parameters) => {
    const outputs = representativeOutputs();
    const settings = loadSettings(appSettingsOf(deployMain(parameters)));
    const clientId = mode.startsWith('user') ? (outputs.userAssignedIdentity!.clientId as string) : undefined;
    expect(settings.webJobsStorage).toEqual({
      kind: 'identity',
      blobServiceUri: 'https://stabcdefghijklm.blob.core.windows.net',
      queueServiceUri: 'https://stabcdefghijklm.queue.core.windows.net',
      tableServiceUri: 'https://stabcdefghijklm.table.core.windows.net',
      clientId,
    });
    expect(settings.configStorage).toEqual({
      kind: 'identity',
      tableServiceUri: 'https://stabcdefghijklm.table.core.windows.net',
      clientId,
    });
    expect(settings.defaultKeyVaultUrl).toBe(outputs.keyVault!.vaultUri);
    expect(settings.defaultKeyVaultResourceId).toBe(outputs.keyVault!.resourceId);
    expect(settings.email).toMatchObject({ sender: outputs.communication!.senderAddress, connectionString: undefined });
    expect(settings.eventGrid).toMatchObject({ topicKey: undefined });
    expect(settings).toMatchObject({ renewalSchedule: '0 */15 * * * *', renewalLeaseSeconds: 600, verifyWindowMinutes: 10 });
    expect(settings.authorityHost).toBe('https://login.microsoftonline.com');
    expect(settings.apiAudiences).toHaveLength(2);
  });

  it('tells every identity-based connection which identity to use in the user-assigned mode, and none in the other', () => {
    const clientId = representativeOutputs().userAssignedIdentity!.clientId as string;
    const userAssigned = appSettingsOf(deployMain());
    expect(userAssigned).toMatchObject({
      AzureWebJobsStorage__credential: 'managedidentity',
      AzureWebJobsStorage__clientId: clientId,
      CONFIG_STORAGE__clientId: clientId,
      AZURE_CLIENT_ID: clientId,
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: `ClientId=${clientId};Authorization=AAD`,
    });
    const systemAssigned = appSettingsOf(deployMain({ identity: { useSystemAssignedIdentity: true } }));
    expect(Object.keys(systemAssigned).filter((name) => /clientId|CLIENT_ID/.test(name))).toEqual([]);
    expect(systemAssigned.APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toBe('Authorization=AAD');
  });

  it("names storage by the account's own service URIs, so a sovereign cloud gets its suffix, never core.windows.net", () => {
    const deployed = appSettingsOf(deployMain({}, CHINA_CLOUD));
    expect(JSON.stringify(deployed)).not.toContain('core.windows.net');
    const settings = loadSettings(deployed);
    expect(settings.webJobsStorage).toMatchObject({
      blobServiceUri: 'https://stabcdefghijklm.blob.core.chinacloudapi.cn',
      queueServiceUri: 'https://stabcdefghijklm.queue.core.chinacloudapi.cn',
      tableServiceUri: 'https://stabcdefghijklm.table.core.chinacloudapi.cn',
    });
    expect(settings.configStorage).toMatchObject({ tableServiceUri: 'https://stabcdefghijklm.table.core.chinacloudapi.cn' });
    expect(settings.defaultKeyVaultUrl).toBe('https://kv-abcdefghijklm.vault.azure.cn/');
    expect(settings.authorityHost).toBe('https://login.chinacloudapi.cn');
    // The access grants of docs/consumers.md go to the cloud's own Resource Manager.
    expect(settings.armBaseUrl).toBe('https://management.chinacloudapi.cn');
    expect(loadSettings(appSettingsOf(deployMain({}))).armBaseUrl).toBe('https://management.azure.com');
  });

  it('passes the renewal options through', () => {
    const settings = loadSettings(
      appSettingsOf(deployMain({ renewal: { schedule: '0 0 */2 * * *', leaseSeconds: 900, verifyWindowMinutes: 20 } })),
    );
    expect(settings).toMatchObject({ renewalSchedule: '0 0 */2 * * *', renewalLeaseSeconds: 900, verifyWindowMinutes: 20 });
  });
});
