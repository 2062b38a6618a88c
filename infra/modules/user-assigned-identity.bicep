// Optional user-assigned identity for the app: it outlives the app (so role assignments and the
// Graph grant survive a re-creation of the Function App) and can be pre-approved by a directory
// admin before the app exists.

@description('Required. Identity name.')
param name string

@description('Required. Azure region.')
param location string

@description('Optional. Tags.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('The identity resource id.')
output resourceId string = identity.id

@description('The identity\'s object (principal) id: the principal of its role assignments and of the Graph grant.')
output principalId string = identity.properties.principalId

@description('The identity\'s client id (AZURE_CLIENT_ID, AzureWebJobsStorage__clientId).')
output clientId string = identity.properties.clientId
