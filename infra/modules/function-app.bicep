// The Function App on the Flex Consumption plan (FC1, Linux), Node 22, with a system-assigned
// identity and, by default, a user-assigned one that the app uses for every Azure call (created,
// and granted its roles, before the site, so the first start and deploy never meet a 403).
// Flex takes the runtime and the package location from functionAppConfig, not from app settings:
// FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION, WEBSITE_RUN_FROM_PACKAGE,
// WEBSITE_NODE_DEFAULT_VERSION and WEBSITE_CONTENT* are not allowed there and are never set here.

@description('Required. Function App name (also its default host name).')
param name string

@description('Required. Flex Consumption plan name.')
param planName string

@description('Required. Azure region (one that offers Flex Consumption).')
param location string

@description('Optional. Tags for the plan and the app (the app also gets azd-service-name).')
param tags object = {}

@description('Optional. The azure.yaml service this app hosts (azd finds the app by this tag).')
param azdServiceName string = 'api'

@description('Required. Blob container URL the app package is deployed to and run from (https://{account}.blob.core.windows.net/{container}).')
param deploymentContainerUrl string

@description('Optional. Resource id of a user-assigned identity. When set, the app also carries it and reaches the deployment container with it; empty: system-assigned only.')
param userAssignedIdentityResourceId string = ''

@description('Optional. Subnet (delegated to Microsoft.App/environments) the app sends its outbound traffic through. Empty: no virtual network.')
param virtualNetworkSubnetId string = ''

@description('Required. App settings, name to value.')
param appSettings object

@description('Optional. Highest number of instances the app scales out to (40-1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Optional. Memory per instance in MB.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

var useUserAssigned = !empty(userAssignedIdentityResourceId)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    // Linux.
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': azdServiceName })
  kind: 'functionapp,linux'
  identity: useUserAssigned
    ? {
        type: 'SystemAssigned, UserAssigned'
        userAssignedIdentities: {
          '${userAssignedIdentityResourceId}': {}
        }
      }
    : {
        type: 'SystemAssigned'
      }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        for setting in items(appSettings): {
          name: setting.key
          value: setting.value
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: useUserAssigned
            ? {
                type: 'UserAssignedIdentity'
                userAssignedIdentityResourceId: userAssignedIdentityResourceId
              }
            : {
                type: 'SystemAssignedIdentity'
              }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

@description('The Function App name.')
output name string = site.name

@description('The Function App resource id.')
output resourceId string = site.id

@description('The object (principal) id of the app\'s system-assigned identity.')
output systemAssignedPrincipalId string = site.identity.principalId

@description('The app\'s base URL, https://{name}.azurewebsites.net.')
output url string = 'https://${site.properties.defaultHostName}'
