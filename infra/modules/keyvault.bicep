// Key Vault with RBAC authorisation. Web apps read it through @Microsoft.KeyVault(...) app settings,
// Container Apps through keyVaultUrl secrets; both need Key Vault Secrets User (grants.bicep).
param location string
param name string
param tenantId string = subscription().tenantId
@secure()
param databaseUrl string
@secure()
param apiBearerToken string
@secure()
param uiOperatorPasswordHash string
@description('Unix time after which the secrets expire; rotate before then (docs/howto/operations/deploy.md).')
param secretExpiry int

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:App Service Key Vault references and Container Apps secrets are fetched over the public endpoint until private endpoints exist (runbook open item: Private Link/VNet); access is Entra RBAC only
  // checkov:skip=CKV_AZURE_189:Same reason: no private endpoint yet, so public network access stays on, limited by RBAC
  name: name
  location: location
  properties: {
    tenantId: tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource databaseUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'database-url'
  properties: {
    value: databaseUrl
    contentType: 'text/uri'
    attributes: { enabled: true, exp: secretExpiry }
  }
}

resource apiTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'api-bearer-token'
  properties: {
    value: apiBearerToken
    contentType: 'text/plain'
    attributes: { enabled: true, exp: secretExpiry }
  }
}

resource uiPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'ui-operator-password-hash'
  properties: {
    value: uiOperatorPasswordHash
    contentType: 'text/plain'
    attributes: { enabled: true, exp: secretExpiry }
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
