// Storage for the Functions runtime (blobs for the Flex deployment package and timer locks, queues
// for renewal requests) and Table Storage for configs, state and history. Shared keys are off:
// every caller, the Functions host included, authenticates with Microsoft Entra ID. The table and
// queues the app uses are created here, so that its data roles can be scoped to them.

@description('Required. Storage account name: 3-24 lower-case letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Required. Azure region.')
param location string

@description('Optional. Tags for every resource.')
param tags object = {}

@description('Required. Blob container that Flex Consumption deploys the app package from.')
param deploymentContainerName string

@description('Required. Queues the app uses (the deploy and confirm queues and their poison queues).')
param queueNames string[]

@description('Required. Tables the app uses.')
param tableNames string[]

@description('Optional. Refuse traffic from public networks; the app reaches the account through private endpoints. Default false.')
param privateNetworking bool = false

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    // Identity only: no account key can be listed into an app setting or leak from one.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storageAccount
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storageAccount
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queueName in queueNames: {
    parent: queueService
    name: queueName
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storageAccount
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

@description('The storage account name.')
output name string = storageAccount.name

@description('The storage account resource id.')
output resourceId string = storageAccount.id

@description('Blob endpoint, with a trailing slash.')
output blobEndpoint string = storageAccount.properties.primaryEndpoints.blob

@description('Queue endpoint, with a trailing slash.')
output queueEndpoint string = storageAccount.properties.primaryEndpoints.queue

@description('Table endpoint, with a trailing slash.')
output tableEndpoint string = storageAccount.properties.primaryEndpoints.table

@description('The queues created here (names), once they exist.')
output queueNames string[] = [for (queueName, i) in queueNames: queues[i].name]

@description('The tables created here (names), once they exist.')
output tableNames string[] = [for (tableName, i) in tableNames: tables[i].name]
