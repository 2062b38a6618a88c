// Entra Cert Rotator: everything docs/deployment.md describes. `azd up` provisions this file with
// main.parameters.json, then deploys the app package (azure.yaml).
//
// Compiled by the real Bicep CLI in the tests (`npm run infra:build`, scripts/bicep.sh); the tests
// in test/infra/ read the compiled ARM template, not this text.
//
// One grant cannot be made here: the Microsoft Graph application permission for the app's identity
// (and its ownership of each managed app registration). scripts/grant-graph-permission.sh does it.

targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

@description('How the app identifies itself to Azure.')
type identityOptionsType = {
  @description('Optional. Run the app as its system-assigned identity instead of the user-assigned identity made for it. The user-assigned one exists, with every role, before the app does, so the first start and the first deploy never meet a 403; the system-assigned one only gets its roles after the app exists. Default false.')
  useSystemAssignedIdentity: bool?

  @description('Optional. Name of that user-assigned identity. Default id-{resourceToken}.')
  userAssignedIdentityName: string?
}

@description('Renewal timing (docs/renewal.md, docs/configuration.md).')
type renewalOptionsType = {
  @description('Optional. NCRONTAB (six fields, seconds first) of the scheduler. Default "0 */15 * * * *".')
  schedule: string?

  @description('Optional. Per-app lease while a renewal runs, in seconds (60-86400). Default 600.')
  @minValue(60)
  @maxValue(86400)
  leaseSeconds: int?

  @description('Optional. How long verification retries through Entra\'s propagation, in minutes (1-120). Default 10.')
  @minValue(1)
  @maxValue(120)
  verifyWindowMinutes: int?

  @description('Optional. Alert when no scheduler tick was logged for this long (ISO 8601; longer than the schedule\'s interval). Default PT1H.')
  alertWhenSilentFor: ('PT1H' | 'PT2H' | 'PT6H' | 'PT12H' | 'P1D' | 'P2D')?
}

@description('Flex Consumption scale settings.')
type scaleOptionsType = {
  @description('Optional. Highest instance count (40-1000). Default 40.')
  @minValue(40)
  @maxValue(1000)
  maximumInstanceCount: int?

  @description('Optional. Memory per instance in MB: 2048 or 4096. Default 2048.')
  instanceMemoryMB: (2048 | 4096)?
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('Required. Name of the azd environment; seeds the unique suffix of every resource name and the resource group name.')
param environmentName string

@minLength(1)
@description('Required. Azure region for every regional resource. It must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Optional. Resource group name. Default rg-{environmentName}.')
param resourceGroupName string = ''

@minLength(1)
@description('Required. API_AUDIENCE: the audiences accepted on API tokens, comma-separated: the API app registration\'s App ID URI and its client id (scripts/register-api-app.sh prints them).')
param apiAudience string

@description('Optional. API_TENANT_ID: tenant (GUID) whose tokens the API accepts. Default: the deployment\'s tenant.')
param apiTenantId string = ''

@description('Optional. MANAGED_TENANT_ID: tenant (GUID) of the managed app registrations. Default: the deployment\'s tenant.')
param managedTenantId string = ''

@description('Optional. Renewal timing. Default: every 15 minutes, 600 s lease, 10 min verify window.')
param renewal renewalOptionsType = {}

@description('Optional. GRAPH_BASE_URL: Microsoft Graph root for the cloud you deploy to. Default https://graph.microsoft.com.')
param graphBaseUrl string = 'https://graph.microsoft.com'

@description('Optional. AZURE_AUTHORITY_HOST: Microsoft Entra authority. Default: the deployment cloud\'s login endpoint.')
param authorityHost string = environment().authentication.loginEndpoint

@description('Optional. Where Communication Services stores email data at rest ("United States", "Europe", "UK", ...).')
param emailDataLocation string = 'United States'

@description('Optional. Let the app send email with a custom role made for it (read the Communication Services resource, write email) instead of the built-in Communication and Email Service Owner, which can also list the resource\'s keys. Creating the role needs Owner or User Access Administrator on the resource group. Default false.')
param useCustomEmailSenderRole bool = false

@description('Optional. Identity options. Default: a user-assigned identity created before the app.')
param identity identityOptionsType = {}

@description('Optional. Key Vault keeps a deleted vault\'s name for 90 days (purge protection), so `azd down` then `azd up` in the same environment needs a new name: set any 1-7 lower-case letters or digits (azd env set KEY_VAULT_NAME_SUFFIX 2). Default: none.')
@maxLength(7)
param keyVaultNameSuffix string = ''

@description('Optional. Put storage and Key Vault behind private endpoints in a new virtual network that the app is integrated with, and refuse their public network access. Default false.')
param privateNetworking bool = false

@description('Optional. Comma-separated email addresses the poison-queue and renewal-failure alerts notify. Empty: alerts fire in Azure Monitor only.')
param alertEmailAddresses string = ''

@description('Optional. Flex Consumption scale settings.')
param scale scaleOptionsType = {}

@description('Optional. Tags added to every resource.')
param tags object = {}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var allTags = union(tags, { 'azd-env-name': environmentName })
var functionAppName = 'func-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
var useUserAssigned = !(identity.?useSystemAssignedIdentity ?? false)
var keyVaultName = empty(keyVaultNameSuffix) ? 'kv-${resourceToken}' : 'kv-${resourceToken}-${toLower(keyVaultNameSuffix)}'
// The names the code uses (src/lib/domain/renewalQueueName.ts, src/lib/composition.ts); the tests
// compare them with the code's own constants.
var renewalQueueName = 'renewal-requests'
var renewalConfirmQueueName = 'renewal-confirmations'
var appsTableName = 'CertRotatorApps'
var effectiveApiTenantId = empty(apiTenantId) ? tenant().tenantId : apiTenantId
var effectiveManagedTenantId = empty(managedTenantId) ? tenant().tenantId : managedTenantId
var alertEmails = filter(map(split(alertEmailAddresses, ','), address => trim(address)), address => !empty(address))

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: allTags
}

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

module userAssignedIdentity 'modules/user-assigned-identity.bicep' = if (useUserAssigned) {
  name: 'user-assigned-identity'
  scope: rg
  params: {
    name: identity.?userAssignedIdentityName ?? 'id-${resourceToken}'
    location: location
    tags: allTags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: allTags
    deploymentContainerName: deploymentContainerName
    queueNames: [
      renewalQueueName
      '${renewalQueueName}-poison'
      renewalConfirmQueueName
      '${renewalConfirmQueueName}-poison'
    ]
    tableNames: [
      appsTableName
    ]
    privateNetworking: privateNetworking
  }
}

module keyVault 'modules/key-vault.bicep' = {
  name: 'key-vault'
  scope: rg
  params: {
    name: keyVaultName
    location: location
    tags: allTags
    privateNetworking: privateNetworking
  }
}

module network 'modules/network.bicep' = if (privateNetworking) {
  name: 'network'
  scope: rg
  params: {
    name: 'vnet-${resourceToken}'
    location: location
    tags: allTags
  }
}

// One endpoint per service the app reaches privately: the storage services it uses and the vault.
module privateEndpoint 'modules/private-endpoint.bicep' = [
  for groupId in (privateNetworking ? ['blob', 'queue', 'table', 'vault'] : []): {
    name: 'private-endpoint-${groupId}'
    scope: rg
    params: {
      name: 'pe-${resourceToken}-${groupId}'
      location: location
      tags: allTags
      subnetId: network!.outputs.privateEndpointSubnetId
      targetResourceId: groupId == 'vault' ? keyVault.outputs.resourceId : storage.outputs.resourceId
      groupId: groupId
      privateDnsZoneId: network!.outputs.zoneIds[groupId]
    }
  }
]

module communication 'modules/communication.bicep' = {
  name: 'communication'
  scope: rg
  params: {
    communicationServiceName: 'acs-${resourceToken}'
    emailServiceName: 'ecs-${resourceToken}'
    dataLocation: emailDataLocation
    tags: allTags
  }
}

module eventGridTopic 'modules/event-grid-topic.bicep' = {
  name: 'event-grid-topic'
  scope: rg
  params: {
    name: 'evgt-${resourceToken}'
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: allTags
    alertEmailAddresses: alertEmails
    poisonQueueNames: [
      '${renewalQueueName}-poison'
      '${renewalConfirmQueueName}-poison'
    ]
    schedulerSilenceWindow: renewal.?alertWhenSilentFor ?? 'PT1H'
  }
}

// The settings src/lib/config.ts reads, plus the Functions host's own. Settings config.ts reads that
// are absent here are optional by design: EMAIL_CONNECTION_STRING and EVENTGRID_TOPIC_KEY (identity
// is used instead), CONFIG_STORAGE (the __tableServiceUri form is used), the other storage forms.
// Storage is named by its service URIs as the account reports them, not by its name: in a sovereign
// cloud the host names end in that cloud's suffix, not core.windows.net.
var appSettings = {
  AzureWebJobsStorage__blobServiceUri: storage.outputs.blobEndpoint
  AzureWebJobsStorage__queueServiceUri: storage.outputs.queueEndpoint
  AzureWebJobsStorage__tableServiceUri: storage.outputs.tableEndpoint
  CONFIG_STORAGE__tableServiceUri: storage.outputs.tableEndpoint
  MANAGED_TENANT_ID: effectiveManagedTenantId
  RENEWAL_SCHEDULE: renewal.?schedule ?? '0 */15 * * * *'
  RENEWAL_LEASE_SECONDS: string(renewal.?leaseSeconds ?? 600)
  VERIFY_WINDOW_MINUTES: string(renewal.?verifyWindowMinutes ?? 10)
  GRAPH_BASE_URL: graphBaseUrl
  // The deployment cloud's Resource Manager: the Key Vault read grants of docs/consumers.md go there.
  ARM_BASE_URL: environment().resourceManager
  AZURE_AUTHORITY_HOST: authorityHost
  DEFAULT_KEYVAULT_URL: keyVault.outputs.vaultUri
  DEFAULT_KEYVAULT_RESOURCE_ID: keyVault.outputs.resourceId
  EMAIL_ENDPOINT: communication.outputs.endpoint
  EMAIL_SENDER: communication.outputs.senderAddress
  EVENTGRID_TOPIC_ENDPOINT: eventGridTopic.outputs.endpoint
  API_AUDIENCE: apiAudience
  API_TENANT_ID: effectiveApiTenantId
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
  AzureFunctionsJobHost__logging__applicationInsights__samplingSettings__excludedTypes: 'Request;Exception;Event;Trace'
}

// Added when the app runs as a user-assigned identity: every identity-based connection and
// DefaultAzureCredential must be told which identity, or they would use the system-assigned one.
var userAssignedIdentityAppSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: useUserAssigned ? userAssignedIdentity!.outputs.clientId : ''
  CONFIG_STORAGE__clientId: useUserAssigned ? userAssignedIdentity!.outputs.clientId : ''
  AZURE_CLIENT_ID: useUserAssigned ? userAssignedIdentity!.outputs.clientId : ''
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: useUserAssigned ? 'ClientId=${userAssignedIdentity!.outputs.clientId};Authorization=AAD' : ''
}

// The user-assigned identity gets every role before the app exists (the app depends on this), as
// Microsoft's Flex Consumption quickstart does: its first start and first deploy find them granted.
module userAssignedRoleAssignments 'modules/role-assignments.bicep' = if (useUserAssigned) {
  name: 'role-assignments'
  scope: rg
  params: {
    principalId: userAssignedIdentity!.outputs.principalId
    storageAccountName: storage.outputs.name
    queueNames: storage.outputs.queueNames
    tableNames: storage.outputs.tableNames
    keyVaultName: keyVault.outputs.name
    eventGridTopicName: eventGridTopic.outputs.name
    communicationServiceName: communication.outputs.communicationServiceName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    useCustomEmailSenderRole: useCustomEmailSenderRole
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  dependsOn: [
    userAssignedRoleAssignments
    privateEndpoint
  ]
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: allTags
    azdServiceName: 'api'
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}${deploymentContainerName}'
    userAssignedIdentityResourceId: useUserAssigned ? userAssignedIdentity!.outputs.resourceId : ''
    virtualNetworkSubnetId: privateNetworking ? network!.outputs.appSubnetId : ''
    appSettings: useUserAssigned ? union(appSettings, userAssignedIdentityAppSettings) : appSettings
    maximumInstanceCount: scale.?maximumInstanceCount ?? 40
    instanceMemoryMB: scale.?instanceMemoryMB ?? 2048
  }
}

// The system-assigned identity exists only with the app, so its roles can only follow it.
module systemAssignedRoleAssignments 'modules/role-assignments.bicep' = if (!useUserAssigned) {
  name: 'role-assignments-system-assigned'
  scope: rg
  params: {
    principalId: functionApp.outputs.systemAssignedPrincipalId
    storageAccountName: storage.outputs.name
    queueNames: storage.outputs.queueNames
    tableNames: storage.outputs.tableNames
    keyVaultName: keyVault.outputs.name
    eventGridTopicName: eventGridTopic.outputs.name
    communicationServiceName: communication.outputs.communicationServiceName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    useCustomEmailSenderRole: useCustomEmailSenderRole
  }
}

var appPrincipalId = useUserAssigned ? userAssignedIdentity!.outputs.principalId : functionApp.outputs.systemAssignedPrincipalId

// ---------------------------------------------------------------------------------------------
// Outputs (azd stores them in the environment: `azd env get-value NAME`)
// ---------------------------------------------------------------------------------------------

@description('The deployment\'s tenant.')
output AZURE_TENANT_ID string = tenant().tenantId

@description('The region.')
output AZURE_LOCATION string = location

@description('The resource group.')
output AZURE_RESOURCE_GROUP string = rg.name

@description('The Function App name (scripts/grant-graph-permission.sh --function-app).')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name

@description('The HTTP API base URL.')
output API_BASE_URL string = '${functionApp.outputs.url}/api'

@description('Object (principal) id of the identity the app runs as: the principal of every role assignment and of the Graph grant.')
output APP_PRINCIPAL_ID string = appPrincipalId

@description('Object (principal) id of the Function App\'s system-assigned identity.')
output APP_SYSTEM_ASSIGNED_PRINCIPAL_ID string = functionApp.outputs.systemAssignedPrincipalId

@description('The Key Vault URL (DEFAULT_KEYVAULT_URL).')
output KEY_VAULT_URL string = keyVault.outputs.vaultUri

@description('The Key Vault name (a deleted vault keeps it for 90 days: see keyVaultNameSuffix).')
output KEY_VAULT_NAME string = keyVault.outputs.name

@description('The Key Vault resource id (DEFAULT_KEYVAULT_RESOURCE_ID).')
output KEY_VAULT_RESOURCE_ID string = keyVault.outputs.resourceId

@description('The Event Grid topic endpoint (EVENTGRID_TOPIC_ENDPOINT).')
output EVENTGRID_TOPIC_ENDPOINT string = eventGridTopic.outputs.endpoint

@description('The Communication Services endpoint (EMAIL_ENDPOINT).')
output EMAIL_ENDPOINT string = communication.outputs.endpoint

@description('The email sender address (EMAIL_SENDER).')
output EMAIL_SENDER string = communication.outputs.senderAddress

@description('The Application Insights component name (for the KQL queries in README).')
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName

@description('The storage account name.')
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
