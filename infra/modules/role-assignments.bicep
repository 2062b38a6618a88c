// Every Azure RBAC grant the app needs, each on the narrowest scope (the one resource, and for
// queues and tables the one queue or table), each named guid(scope.id, principalId, roleId) so that
// a redeployment finds the same assignment. Role ids are the built-in role definitions listed in
// "Azure built-in roles" (Microsoft Learn).

@description('Required. Object (principal) id of the identity the app runs as.')
param principalId string

@description('Required. Storage account holding the runtime\'s blobs and queues and the config tables.')
param storageAccountName string

@description('Required. Queues the app reads and writes (the deploy and confirm queues and their poison queues).')
param queueNames string[]

@description('Required. Tables the app reads and writes.')
param tableNames string[]

@description('Required. Key Vault the certificates are imported into.')
param keyVaultName string

@description('Required. Event Grid topic the app publishes to.')
param eventGridTopicName string

@description('Required. Communication Services resource the app sends email through.')
param communicationServiceName string

@description('Required. Application Insights component the app sends telemetry to.')
param applicationInsightsName string

@description('Optional. Grant a custom role made here (read the Communication Services resource, write email) for sending email instead of the built-in Communication and Email Service Owner, which can also list the resource\'s access keys. Default false.')
param useCustomEmailSenderRole bool = false

// Storage Blob Data Owner: the Functions host's blob leases (timer singleton) and the Flex
// deployment container; Owner (not Contributor) is what the host documents for AzureWebJobsStorage.
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
// Storage Queue Data Contributor: the queue trigger reads, deletes and moves poison messages; the
// scheduler enqueues renewal requests.
var storageQueueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
// Storage Table Data Contributor: configs, renewal state and history.
var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
// Key Vault Certificates Officer: import certificates (new versions) and read their metadata.
var keyVaultCertificatesOfficerRoleId = 'a4417e6f-fecd-4de8-b567-7b0420556985' // Key Vault Certificates Officer
// Key Vault Secrets User: read a certificate's backing secret (its private key) for PEM/PFX
// downloads and for self mode's sign-in as the managed app.
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
// Key Vault Certificate User: with Secrets User, the only roles the app may grant to the services
// that use a certificate (docs/consumers.md); never held by the app itself.
var keyVaultCertificateUserRoleId = 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba' // Key Vault Certificate User
// Role Based Access Control Administrator: lets the app make those grants, held only under the
// condition below.
var rbacAdministratorRoleId = 'f58310d9-a9f6-439a-9e8d-f62e7b41a168' // Role Based Access Control Administrator
// Communication and Email Service Owner: what Microsoft documents for sending email with a Microsoft
// Entra identity; no narrower built-in role exists. It can also list the resource's access keys;
// useCustomEmailSenderRole grants instead a custom role with only the actions Microsoft lists for an
// Entra application sending email ("Create credentials for SMTP authentication", Microsoft Learn).
var emailServiceOwnerRoleId = '09976791-48a7-449e-bb21-39d1a415f350' // Communication and Email Service Owner

// The ABAC condition of "Delegate Azure role assignment management using conditions" (Microsoft
// Learn, "Constrain roles and principal types"): the app may create and delete role assignments
// only for the two read roles, and only for service principals (apps, managed identities) and
// groups, never users; any other assignment is refused by Azure, whatever the app asks.
var grantableRoleIds = '${keyVaultSecretsUserRoleId}, ${keyVaultCertificateUserRoleId}'
var rbacAdministratorCondition = replace(
  '''
(
 (
  !(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})
 )
 OR
 (
  @Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {ROLE_IDS}
  AND
  @Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'ServicePrincipal', 'Group'}
 )
)
AND
(
 (
  !(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})
 )
 OR
 (
  @Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {ROLE_IDS}
  AND
  @Resource[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'ServicePrincipal', 'Group'}
 )
)
''',
  'ROLE_IDS',
  grantableRoleIds
)
// EventGrid Data Sender: publish CloudEvents to the topic.
var eventGridDataSenderRoleId = 'd5a91429-5739-47e2-a06b-3470a27159e7' // EventGrid Data Sender
// Monitoring Metrics Publisher: Application Insights has local auth off, so the app's telemetry
// needs this role on the component.
var monitoringMetricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName

  resource queueService 'queueServices' existing = {
    name: 'default'

    resource queue 'queues' existing = [
      for queueName in queueNames: {
        name: queueName
      }
    ]
  }

  resource tableService 'tableServices' existing = {
    name: 'default'

    resource table 'tables' existing = [
      for tableName in tableNames: {
        name: tableName
      }
    ]
  }
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource eventGridTopic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: eventGridTopicName
}

resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' existing = {
  name: communicationServiceName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource blobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, principalId, storageBlobDataOwnerRoleId)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource queueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (queueName, i) in queueNames: {
    name: guid(storageAccount::queueService::queue[i].id, principalId, storageQueueDataContributorRoleId)
    scope: storageAccount::queueService::queue[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource tableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (tableName, i) in tableNames: {
    name: guid(storageAccount::tableService::table[i].id, principalId, storageTableDataContributorRoleId)
    scope: storageAccount::tableService::table[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource certificatesOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, principalId, keyVaultCertificatesOfficerRoleId)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCertificatesOfficerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, principalId, keyVaultSecretsUserRoleId)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource rbacAdministrator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, principalId, rbacAdministratorRoleId)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', rbacAdministratorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    condition: rbacAdministratorCondition
    conditionVersion: '2.0'
  }
}

resource eventGridDataSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(eventGridTopic.id, principalId, eventGridDataSenderRoleId)
  scope: eventGridTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSenderRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource emailSenderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (useCustomEmailSenderRole) {
  name: guid(resourceGroup().id, 'entra-cert-rotator-email-sender')
  properties: {
    roleName: 'Entra Cert Rotator Email Sender (${resourceGroup().name})'
    description: 'Send email through the Communication Services resources of this resource group with a Microsoft Entra identity; cannot list their keys.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Communication/CommunicationServices/Read'
          'Microsoft.Communication/CommunicationServices/Write'
          'Microsoft.Communication/EmailServices/write'
        ]
      }
    ]
    assignableScopes: [
      resourceGroup().id
    ]
  }
}

var emailSenderRoleDefinitionId = useCustomEmailSenderRole
  ? emailSenderRole.id
  : subscriptionResourceId('Microsoft.Authorization/roleDefinitions', emailServiceOwnerRoleId)

resource emailSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communicationService.id, principalId, useCustomEmailSenderRole ? 'custom-email-sender' : emailServiceOwnerRoleId)
  scope: communicationService
  properties: {
    roleDefinitionId: emailSenderRoleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, monitoringMetricsPublisherRoleId)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
