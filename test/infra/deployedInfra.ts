import { compiledTemplate, type Json } from './armTemplate.js';
import { deploy, PUBLIC_CLOUD, SUBSCRIPTION_ID, type CloudEnvironment, type Deployment } from './armDeployment.js';

/**
 * infra/main.bicep as compiled, deployed (evaluated) with the parameters azd passes and
 * representative module outputs: what each resource and the Function App's settings would be.
 */

export const API_AUDIENCE = 'api://3f0e1c2d-1111-4222-8333-444455556666,3f0e1c2d-1111-4222-8333-444455556666';

/** The outputs each module reports after deployment, as Azure writes them (trailing slashes included). */
export function representativeOutputs(cloud: CloudEnvironment = PUBLIC_CLOUD): Record<string, Record<string, unknown>> {
  const group = `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/rg-test/providers`;
  const storage = 'stabcdefghijklm';
  const vault = 'kv-abcdefghijklm';
  const china = cloud.name === 'AzureChinaCloud';
  return {
    storage: {
      name: storage,
      resourceId: `${group}/Microsoft.Storage/storageAccounts/${storage}`,
      blobEndpoint: `https://${storage}.blob.${cloud.suffixes.storage}/`,
      queueEndpoint: `https://${storage}.queue.${cloud.suffixes.storage}/`,
      tableEndpoint: `https://${storage}.table.${cloud.suffixes.storage}/`,
      queueNames: ['renewal-requests', 'renewal-requests-poison', 'renewal-confirmations', 'renewal-confirmations-poison'],
      tableNames: ['CertRotatorApps'],
    },
    keyVault: {
      name: vault,
      resourceId: `${group}/Microsoft.KeyVault/vaults/${vault}`,
      vaultUri: `https://${vault}${cloud.suffixes.keyvaultDns}/`,
    },
    communication: {
      communicationServiceName: 'acs-abcdefghijklm',
      endpoint: `https://acs-abcdefghijklm.${china ? 'china' : 'unitedstates'}.communication.azure.${china ? 'cn' : 'com'}`,
      senderAddress: 'DoNotReply@0a1b2c3d-4e5f-6789-abcd-ef0123456789.azurecomm.net',
    },
    eventGridTopic: {
      name: 'evgt-abcdefghijklm',
      endpoint: `https://evgt-abcdefghijklm.westeurope-1.eventgrid.azure.${china ? 'cn' : 'net'}/api/events`,
    },
    monitoring: {
      applicationInsightsName: 'appi-abcdefghijklm',
      connectionString: 'InstrumentationKey=00000000-0000-0000-0000-000000000000',
    },
    userAssignedIdentity: {
      resourceId: `${group}/Microsoft.ManagedIdentity/userAssignedIdentities/id-abcdefghijklm`,
      principalId: '1e8d7c6b-5a49-4837-a625-1b0c9d8e7f6a',
      clientId: '9e8d7c6b-5a49-4837-a625-1b0c9d8e7f6a',
    },
    functionApp: {
      name: 'func-abcdefghijklm',
      systemAssignedPrincipalId: '2e8d7c6b-5a49-4837-a625-1b0c9d8e7f6a',
      url: 'https://func-abcdefghijklm.azurewebsites.net',
    },
    network: {
      appSubnetId: `${group}/Microsoft.Network/virtualNetworks/vnet-abcdefghijklm/subnets/app`,
      privateEndpointSubnetId: `${group}/Microsoft.Network/virtualNetworks/vnet-abcdefghijklm/subnets/private-endpoints`,
      zoneIds: Object.fromEntries(
        ['blob', 'queue', 'table', 'vault'].map((g) => [g, `${group}/Microsoft.Network/privateDnsZones/zone-${g}`]),
      ),
    },
  };
}

let template: Json | undefined;

/** The compiled main template (callers skip when there is none; see armTemplate.ts). */
export function mainTemplate(): Json {
  template ??= compiledTemplate().template;
  if (!template) throw new Error(compiledTemplate().why);
  return template;
}

/** main.bicep deployed as `azd up` would, with `parameters` on top of azd's. */
export function deployMain(parameters: Record<string, unknown> = {}, cloud: CloudEnvironment = PUBLIC_CLOUD): Deployment {
  return deploy(
    mainTemplate(),
    { environmentName: 'test', location: 'westeurope', apiAudience: API_AUDIENCE, ...parameters },
    { environment: cloud, outputs: representativeOutputs(cloud) },
  );
}

/** The Function App's app settings in that deployment, name to value. */
export function appSettingsOf(deployment: Deployment): Record<string, string> {
  const functionApp = deployment.resource('functionApp').module();
  const site = functionApp.resource('Microsoft.Web/sites').properties();
  const settings = (site.siteConfig as { appSettings: { name: string; value: unknown }[] }).appSettings;
  return Object.fromEntries(settings.map(({ name, value }) => [name, String(value)]));
}
