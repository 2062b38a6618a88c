import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RENEWAL_SCHEDULE, loadSettings } from '../../src/lib/config.js';
import { ConfigurationError } from '../../src/lib/errors.js';

const TENANT = '11111111-2222-3333-4444-555555555555';
const AZURITE =
  'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;';

const minimal = {
  AzureWebJobsStorage: AZURITE,
  MANAGED_TENANT_ID: TENANT,
  DEFAULT_KEYVAULT_URL: 'https://my-vault.vault.azure.net',
  API_AUDIENCE: 'api://entra-cert-rotator, 99999999-8888-7777-6666-555555555555',
  API_TENANT_ID: TENANT,
};

/** The settings named in the error, and the message of each. */
function failures(env: Record<string, string | undefined>): Record<string, string> {
  try {
    loadSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    const issues = (error as ConfigurationError).issues;
    // Every issue is named in the message a person reads in the host log.
    for (const issue of issues) expect((error as Error).message).toContain(issue.path);
    return Object.fromEntries(issues.map((i) => [i.path, i.message]));
  }
  throw new Error('expected loadSettings to throw');
}

describe('loadSettings', () => {
  it('applies the defaults of docs/configuration.md to a minimal environment', () => {
    const settings = loadSettings(minimal);
    expect(settings).toMatchObject({
      renewalSchedule: DEFAULT_RENEWAL_SCHEDULE,
      renewalLeaseSeconds: 600,
      verifyWindowMinutes: 10,
      confirmDelaySeconds: 30,
      graphBaseUrl: 'https://graph.microsoft.com',
      authorityHost: 'https://login.microsoftonline.com',
      authorityIsPublicCloud: true,
      defaultKeyVaultUrl: 'https://my-vault.vault.azure.net/',
      email: undefined,
      eventGrid: undefined,
      apiAudiences: ['api://entra-cert-rotator', '99999999-8888-7777-6666-555555555555'],
      apiTenantId: TENANT,
      managedTenantId: TENANT,
    });
    expect(settings.webJobsStorage).toEqual({ kind: 'connectionString', connectionString: AZURITE });
    expect(settings.configStorage).toBe(settings.webJobsStorage);
  });

  it('loads local.settings.sample.json as shipped (empty optional settings count as unset)', () => {
    const sample = JSON.parse(readFileSync(new URL('../../local.settings.sample.json', import.meta.url), 'utf8')) as {
      Values: Record<string, string>;
    };
    const settings = loadSettings(sample.Values);
    expect(settings.email).toBeUndefined();
    expect(settings.eventGrid).toBeUndefined();
    expect(settings.graphBaseUrl).toBe('https://graph.microsoft.com');
  });

  it('treats an empty optional URL as unset', () => {
    expect(
      loadSettings({
        ...minimal,
        GRAPH_BASE_URL: '',
        ARM_BASE_URL: '',
        AZURE_AUTHORITY_HOST: ' ',
        EMAIL_ENDPOINT: '',
        EVENTGRID_TOPIC_ENDPOINT: '',
      }),
    ).toMatchObject({
      graphBaseUrl: 'https://graph.microsoft.com',
      armBaseUrl: 'https://management.azure.com',
      authorityHost: 'https://login.microsoftonline.com',
      email: undefined,
      eventGrid: undefined,
    });
  });

  it('reads every optional setting when given', () => {
    const settings = loadSettings({
      ...minimal,
      CONFIG_STORAGE__tableServiceUri: 'https://cfg.table.core.windows.net/',
      RENEWAL_SCHEDULE: '0 */5 * * * *',
      RENEWAL_LEASE_SECONDS: '900',
      VERIFY_WINDOW_MINUTES: '3',
      CONFIRM_DELAY_SECONDS: '0',
      GRAPH_BASE_URL: 'https://graph.microsoft.us/',
      ARM_BASE_URL: 'https://management.chinacloudapi.cn/',
      AZURE_AUTHORITY_HOST: 'https://127.0.0.1:8443',
      EMAIL_CONNECTION_STRING: 'endpoint=https://acs.communication.azure.com/;accesskey=c2VjcmV0',
      EMAIL_SENDER: 'DoNotReply@example.azurecomm.net',
      EVENTGRID_TOPIC_ENDPOINT: 'https://topic.westeurope-1.eventgrid.azure.net/api/events',
      EVENTGRID_TOPIC_KEY: 'key',
    });
    expect(settings).toMatchObject({
      configStorage: { kind: 'identity', tableServiceUri: 'https://cfg.table.core.windows.net' },
      renewalSchedule: '0 */5 * * * *',
      renewalLeaseSeconds: 900,
      verifyWindowMinutes: 3,
      confirmDelaySeconds: 0,
      graphBaseUrl: 'https://graph.microsoft.us',
      armBaseUrl: 'https://management.chinacloudapi.cn',
      authorityHost: 'https://127.0.0.1:8443',
      authorityIsPublicCloud: false,
      email: {
        endpoint: 'https://acs.communication.azure.com',
        connectionString: 'endpoint=https://acs.communication.azure.com/;accesskey=c2VjcmV0',
        sender: 'DoNotReply@example.azurecomm.net',
      },
      eventGrid: { topicEndpoint: 'https://topic.westeurope-1.eventgrid.azure.net/api/events', topicKey: 'key' },
    });
  });

  it('accepts identity-based storage and derives the service URIs from the account name', () => {
    const { AzureWebJobsStorage: _, ...rest } = minimal;
    const settings = loadSettings({ ...rest, AzureWebJobsStorage__accountName: 'rotatorstore', AzureWebJobsStorage__clientId: 'abc' });
    expect(settings.webJobsStorage).toEqual({
      kind: 'identity',
      queueServiceUri: 'https://rotatorstore.queue.core.windows.net',
      blobServiceUri: 'https://rotatorstore.blob.core.windows.net',
      tableServiceUri: 'https://rotatorstore.table.core.windows.net',
      clientId: 'abc',
    });
    expect(settings.configStorage).toBe(settings.webJobsStorage);
  });

  it('names every missing required setting at once', () => {
    expect(Object.keys(failures({})).sort()).toEqual([
      'API_AUDIENCE',
      'API_TENANT_ID',
      'AzureWebJobsStorage',
      'DEFAULT_KEYVAULT_URL',
      'MANAGED_TENANT_ID',
    ]);
  });

  it.each([
    ['MANAGED_TENANT_ID', 'contoso', /GUID/],
    ['API_TENANT_ID', '1234', /GUID/],
    ['RENEWAL_SCHEDULE', '*/15 * * * *', /six fields/],
    ['RENEWAL_SCHEDULE', '0 */15 * * * banana', /not a valid NCRONTAB/],
    ['RENEWAL_LEASE_SECONDS', 'ten', /whole number from 60/],
    ['RENEWAL_LEASE_SECONDS', '30', /whole number from 60/],
    ['VERIFY_WINDOW_MINUTES', '0', /whole number from 1/],
    ['VERIFY_WINDOW_MINUTES', '1.5', /whole number/],
    ['CONFIRM_DELAY_SECONDS', '601', /whole number from 0 to 600/],
    ['GRAPH_BASE_URL', 'graph.microsoft.com', /absolute URL/],
    ['GRAPH_BASE_URL', 'http://graph.microsoft.com', /https/],
    ['ARM_BASE_URL', 'http://management.azure.com', /https/],
    ['AZURE_AUTHORITY_HOST', 'http://login.microsoftonline.com', /https/],
    ['DEFAULT_KEYVAULT_URL', 'https://vault.example.com/', /vault-name/],
    ['DEFAULT_KEYVAULT_URL', 'http://my-vault.vault.azure.net/', /https/],
    ['DEFAULT_KEYVAULT_URL', 'https://my-vault.vault.azure.net/secrets/x', /origin only/],
    ['DEFAULT_KEYVAULT_URL', 'https://a.vault.azure.net/', /3-24/],
    ['DEFAULT_KEYVAULT_RESOURCE_ID', 'my-vault', /Key Vault resource id/],
    [
      'DEFAULT_KEYVAULT_RESOURCE_ID',
      '/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/my-vault',
      /Key Vault resource id/,
    ],
    [
      'DEFAULT_KEYVAULT_RESOURCE_ID',
      `/subscriptions/${TENANT}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/my-vault`,
      /Key Vault/,
    ],
    ['API_AUDIENCE', ' , ', /at least one audience/],
    ['API_AUDIENCE', 'not a uri', /GUID or a URI/],
    ['AzureWebJobsStorage', 'hello', /connection string/],
    ['EMAIL_CONNECTION_STRING', 'accesskey=abc', /Communication Services connection string/],
    ['EMAIL_ENDPOINT', 'http://acs.communication.azure.com', /https/],
    ['EVENTGRID_TOPIC_ENDPOINT', 'not a url', /absolute URL/],
  ])('rejects a malformed %s (%s)', (name, value, message) => {
    const result = failures({ ...minimal, [name]: value });
    expect(Object.keys(result)).toEqual([name]);
    expect(result[name]).toMatch(message);
  });

  it("takes the default vault's resource id when it names the same vault as DEFAULT_KEYVAULT_URL", () => {
    const id = `/subscriptions/${TENANT}/resourceGroups/rg-rotator/providers/Microsoft.KeyVault/vaults/my-vault`;
    expect(loadSettings(minimal).defaultKeyVaultResourceId).toBeUndefined();
    expect(loadSettings({ ...minimal, DEFAULT_KEYVAULT_RESOURCE_ID: ` ${id} ` }).defaultKeyVaultResourceId).toBe(id);
    expect(failures({ ...minimal, DEFAULT_KEYVAULT_RESOURCE_ID: id.replace('my-vault', 'other-vault') })).toEqual({
      DEFAULT_KEYVAULT_RESOURCE_ID: expect.stringMatching(/"other-vault".*"my-vault"/) as unknown,
    });
  });

  it('requires EMAIL_SENDER with an email endpoint, and an endpoint with a sender', () => {
    expect(failures({ ...minimal, EMAIL_ENDPOINT: 'https://acs.communication.azure.com' })).toHaveProperty('EMAIL_SENDER');
    expect(failures({ ...minimal, EMAIL_SENDER: 'x@example.com' })).toHaveProperty('EMAIL_ENDPOINT');
    expect(failures({ ...minimal, EMAIL_ENDPOINT: 'https://acs.communication.azure.com', EMAIL_SENDER: 'nope' })).toHaveProperty(
      'EMAIL_SENDER',
      'must be an email address',
    );
  });

  it('accepts a loopback Key Vault only with a loopback authority (emulators), never in a deployment', () => {
    expect(failures({ ...minimal, DEFAULT_KEYVAULT_URL: 'https://127.0.0.1:8443/' })).toHaveProperty(
      'DEFAULT_KEYVAULT_URL',
      expect.stringMatching(/loopback AZURE_AUTHORITY_HOST/),
    );
    const emulated = loadSettings({
      ...minimal,
      DEFAULT_KEYVAULT_URL: 'https://127.0.0.1:8443',
      AZURE_AUTHORITY_HOST: 'https://localhost:9443',
    });
    expect(emulated).toMatchObject({
      defaultKeyVaultUrl: 'https://127.0.0.1:8443/',
      authorityIsLoopback: true,
      authorityIsPublicCloud: false,
    });
    expect(loadSettings(minimal).authorityIsLoopback).toBe(false);
  });

  it('rejects a topic key without a topic endpoint', () => {
    expect(failures({ ...minimal, EVENTGRID_TOPIC_KEY: 'k' })).toHaveProperty('EVENTGRID_TOPIC_ENDPOINT');
  });

  it('needs a table endpoint when storage is identity-based without one', () => {
    const { AzureWebJobsStorage: _, ...rest } = minimal;
    const result = failures({
      ...rest,
      AzureWebJobsStorage__queueServiceUri: 'https://s.queue.core.windows.net',
      AzureWebJobsStorage__blobServiceUri: 'https://s.blob.core.windows.net',
    });
    expect(Object.keys(result)).toEqual(['CONFIG_STORAGE']);
  });

  it('rejects a malformed storage account name', () => {
    const { AzureWebJobsStorage: _, ...rest } = minimal;
    expect(failures({ ...rest, AzureWebJobsStorage__accountName: 'Bad_Name' })).toHaveProperty('AzureWebJobsStorage__accountName');
  });

  it('reports a bad value and a missing value together', () => {
    const { API_TENANT_ID: _, ...rest } = minimal;
    expect(Object.keys(failures({ ...rest, RENEWAL_LEASE_SECONDS: 'x' })).sort()).toEqual(['API_TENANT_ID', 'RENEWAL_LEASE_SECONDS']);
  });
});
