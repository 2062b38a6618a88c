// Azure Communication Services Email with an Azure-managed sender domain
// ({guid}.azurecomm.net, verified by Azure, no DNS work), linked to a Communication Services
// resource whose endpoint the app calls with its managed identity.

@description('Required. Name of the Communication Services resource (its endpoint is https://{name}.{geo}.communication.azure.com).')
param communicationServiceName string

@description('Required. Name of the Email Communication Service resource.')
param emailServiceName string

@description('Optional. Where email data is stored at rest, for example "United States", "Europe", "UK", "Australia".')
param dataLocation string = 'United States'

@description('Optional. Tags for every resource.')
param tags object = {}

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: emailServiceName
  // Communication resources are global; their data location is dataLocation.
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

resource azureManagedDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  // The name Azure requires for the Azure-managed domain.
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    // Tracking rewrites links in the mail; certificate notices need none of that.
    userEngagementTracking: 'Disabled'
  }
}

resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: communicationServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: [
      azureManagedDomain.id
    ]
  }
}

@description('The Communication Services resource name.')
output communicationServiceName string = communicationService.name

@description('The Communication Services resource id (the scope of the app\'s email role assignment).')
output communicationServiceResourceId string = communicationService.id

@description('The endpoint EMAIL_ENDPOINT takes, without a trailing slash.')
output endpoint string = 'https://${communicationService.properties.hostName}'

@description('The sender address EMAIL_SENDER takes: the DoNotReply user that every Azure-managed domain has.')
output senderAddress string = 'DoNotReply@${azureManagedDomain.properties.mailFromSenderDomain}'
