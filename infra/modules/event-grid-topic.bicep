// The Event Grid topic the app publishes lifecycle events to, as CloudEvents 1.0. Local (key)
// authentication is off by default: the app publishes with its managed identity, so no topic key
// exists to leak. Set allowKeyAuthentication only if a publisher must use EVENTGRID_TOPIC_KEY.

@description('Required. Topic name.')
param name string

@description('Required. Azure region.')
param location string

@description('Optional. Tags for every resource.')
param tags object = {}

@description('Optional. Keep access keys enabled (needed only for EVENTGRID_TOPIC_KEY). Default false: Microsoft Entra ID only.')
param allowKeyAuthentication bool = false

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: !allowKeyAuthentication
    minimumTlsVersionAllowed: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

@description('The topic name.')
output name string = topic.name

@description('The topic resource id.')
output resourceId string = topic.id

@description('The publish endpoint EVENTGRID_TOPIC_ENDPOINT takes (https://{topic}.{region}-1.eventgrid.azure.net/api/events).')
output endpoint string = topic.properties.endpoint
