// Entra Cert Rotator: everything PRODUCT.md §8 deploys. `azd up` provisions this file with
// main.parameters.json, then deploys the app package (azure.yaml).
//
// Not compiled in this project's CI: no Bicep compiler is available there. It is written against
// the documented API versions named on each resource; run `az bicep build --file infra/main.bicep`
// (or `azd provision --preview`) before the first deployment. test/infra/settings.test.ts checks what
// can be checked without a compiler (settings, module paths, role ids, parameter descriptions).
//
// One grant cannot be made here: the Microsoft Graph application permission for the app's identity
// (and its ownership of each managed app registration). scripts/grant-graph-permission.sh does it.

targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

@description('How the app identifies itself to Azure.')
type identityOptionsType = {
  @description('Optional. Create a user-assigned identity and run the app as it (storage, Key Vault, Event Grid, email, telemetry, and the principal the Graph grant goes to) instead of its system-assigned identity, which stays enabled. Default false.')
  useUserAssignedIdentity: bool?

  @description('Optional. Name of that user-assigned identity. Default id-{resourceToken}.')
  userAssignedIdentityName: string?
}

@description('Renewal timing (PRODUCT.md §4, §7).')
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

@description('Optional. Role definition (GUID) that lets the app send email on the Communication Services resource. Default: the built-in Communication and Email Service Owner; pass a custom role\'s id to narrow it.')
param emailSenderRoleDefinitionId string = '09976791-48a7-449e-bb21-39d1a415f350'

@description('Optional. Identity options. Default: system-assigned identity only.')
param identity identityOptionsType = {}

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
var useUserAssigned = identity.?useUserAssignedIdentity ?? false
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
  }
}

module keyVault 'modules/key-vault.bicep' = {
  name: 'key-vault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: allTags
  }
}

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
  }
}

// The settings src/lib/config.ts reads, plus the Functions host's own. test/infra/settings.test.ts
// parses this block (one `NAME: value` per line): keep it flat. Settings config.ts reads that are
// absent here are optional by design: EMAIL_CONNECTION_STRING and EVENTGRID_TOPIC_KEY (identity is
// used instead), CONFIG_STORAGE (the __tableServiceUri form is used), the other storage forms.
var appSettings = {
  AzureWebJobsStorage__accountName: storage.outputs.name
  CONFIG_STORAGE__tableServiceUri: storage.outputs.tableEndpoint
  MANAGED_TENANT_ID: effectiveManagedTenantId
  RENEWAL_SCHEDULE: renewal.?schedule ?? '0 */15 * * * *'
  RENEWAL_LEASE_SECONDS: string(renewal.?leaseSeconds ?? 600)
  VERIFY_WINDOW_MINUTES: string(renewal.?verifyWindowMinutes ?? 10)
  GRAPH_BASE_URL: graphBaseUrl
  AZURE_AUTHORITY_HOST: authorityHost
  DEFAULT_KEYVAULT_URL: keyVault.outputs.vaultUri
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

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: allTags
    azdServiceName: 'api'
    deploymentContainerUrl: '${storage.outputs.blobEndpoint}${deploymentContainerName}'
    userAssignedIdentityResourceId: useUserAssigned ? userAssignedIdentity!.outputs.resourceId : ''
    appSettings: useUserAssigned ? union(appSettings, userAssignedIdentityAppSettings) : appSettings
    maximumInstanceCount: scale.?maximumInstanceCount ?? 40
    instanceMemoryMB: scale.?instanceMemoryMB ?? 2048
  }
}

var appPrincipalId = useUserAssigned ? userAssignedIdentity!.outputs.principalId : functionApp.outputs.systemAssignedPrincipalId

module roleAssignments 'modules/role-assignments.bicep' = {
  name: 'role-assignments'
  scope: rg
  params: {
    principalId: appPrincipalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    eventGridTopicName: eventGridTopic.outputs.name
    communicationServiceName: communication.outputs.communicationServiceName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    emailSenderRoleDefinitionId: emailSenderRoleDefinitionId
  }
}

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
