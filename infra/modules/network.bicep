// Private networking (main.bicep's privateNetworking): a virtual network whose `app` subnet is
// delegated to the Flex Consumption plan (Microsoft.App/environments, the delegation Flex requires)
// and whose `private-endpoints` subnet holds the endpoints of storage and Key Vault, with the
// private DNS zones that make their public host names resolve to those endpoints inside it.

@description('Required. Virtual network name.')
param name string

@description('Required. Azure region.')
param location string

@description('Optional. Tags for every resource.')
param tags object = {}

@description('Optional. Address space of the virtual network. Default 10.0.0.0/16.')
param addressPrefix string = '10.0.0.0/16'

@description('Optional. Subnet the Function App is integrated with. Default 10.0.1.0/24.')
param appSubnetPrefix string = '10.0.1.0/24'

@description('Optional. Subnet of the private endpoints. Default 10.0.2.0/24.')
param privateEndpointSubnetPrefix string = '10.0.2.0/24'

// The zone names of "Azure Private Endpoint private DNS zone values" (Microsoft Learn), built from
// the cloud's own suffixes so that sovereign clouds get theirs: storage's is core.windows.net in
// the public cloud; Key Vault's zone is privatelink.vaultcore.* for the vault.* host names.
var zoneNames = {
  blob: 'privatelink.blob.${environment().suffixes.storage}'
  queue: 'privatelink.queue.${environment().suffixes.storage}'
  table: 'privatelink.table.${environment().suffixes.storage}'
  vault: replace(environment().suffixes.keyvaultDns, '.vault.', 'privatelink.vaultcore.')
}

resource virtualNetwork 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for zone in items(zoneNames): {
    name: zone.value
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (zone, i) in items(zoneNames): {
    parent: zones[i]
    name: '${name}-link'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: virtualNetwork.id
      }
    }
  }
]

@description('The virtual network resource id.')
output resourceId string = virtualNetwork.id

@description('The subnet the Function App is integrated with.')
output appSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', virtualNetwork.name, 'app')

@description('The subnet of the private endpoints.')
output privateEndpointSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', virtualNetwork.name, 'private-endpoints')

@description('Private DNS zone resource ids by service: blob, queue, table, vault (the zones exist once this module has run).')
output zoneIds object = toObject(items(zoneNames), zone => zone.key, zone => resourceId('Microsoft.Network/privateDnsZones', zone.value))
