// The vault every new certificate (with its private key) is imported into. RBAC only (no access
// policies), and purge protection on: a deleted certificate version stays recoverable for the
// retention period, which is what makes "never lose an existing credential" hold for the key too.
// The same protection keeps a deleted vault's name taken for that period: main.bicep's
// keyVaultNameSuffix gives a redeployment after `azd down` a fresh name.

@description('Required. Key Vault name: 3-24 letters, digits and hyphens, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Required. Azure region.')
param location string

@description('Optional. Tags for every resource.')
param tags object = {}

@description('Optional. Days a deleted vault or certificate stays recoverable (7-90).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Optional. Refuse traffic from public networks; the app reaches the vault through a private endpoint. Default false.')
param privateNetworking bool = false

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // Cannot be turned off again once on; deliberate.
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: privateNetworking ? 'Deny' : 'Allow'
    }
  }
}

@description('The vault name.')
output name string = vault.name

@description('The vault resource id.')
output resourceId string = vault.id

@description('The vault URI, https://{name}.vault.azure.net/ (with a trailing slash, as DEFAULT_KEYVAULT_URL takes it).')
output vaultUri string = vault.properties.vaultUri
