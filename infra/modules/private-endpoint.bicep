// One private endpoint for one sub-resource (blob, queue, table, vault) of one resource, registered
// in the private DNS zone that resolves that sub-resource's host name inside the virtual network.

@description('Required. Private endpoint name.')
param name string

@description('Required. Azure region (the virtual network\'s).')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Required. Subnet the endpoint\'s network interface is placed in.')
param subnetId string

@description('Required. Resource id of the storage account or vault the endpoint reaches.')
param targetResourceId string

@description('Required. The sub-resource (group id): blob, queue, table or vault.')
param groupId string

@description('Required. Resource id of the private DNS zone for that sub-resource.')
param privateDnsZoneId string

resource privateEndpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: targetResourceId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: privateEndpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: groupId
        properties: {
          privateDnsZoneId: privateDnsZoneId
        }
      }
    ]
  }
}

@description('The private endpoint resource id.')
output resourceId string = privateEndpoint.id
