// Storage account: the blob containers the code uses, soft delete and versioning as
// docs/howto/operations/azure-backup.md sets them, and the file share the sweep job mounts.
param location string
param name string
param containers array
param sweepsShareName string = 'sweeps'
@minValue(1)
@maxValue(365)
param deleteRetentionDays int = 14

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:The web apps and the Container Apps consumption environment reach the account over its public endpoint until VNet integration exists (runbook open item); data access needs Entra RBAC
  // checkov:skip=CKV_AZURE_59:Same reason; anonymous blob access is off (allowBlobPublicAccess false)
  name: name
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_GRS' }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices, Logging, Metrics'
      defaultAction: 'Allow'
    }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    isVersioningEnabled: true
    deleteRetentionPolicy: { enabled: true, days: deleteRetentionDays }
    containerDeleteRetentionPolicy: { enabled: true, days: deleteRetentionDays }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in containers: {
  parent: blobs
  name: container
  properties: { publicAccess: 'None' }
}]

resource files 'Microsoft.Storage/storageAccounts/fileServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    shareDeleteRetentionPolicy: { enabled: true, days: deleteRetentionDays }
  }
}

resource sweepsShare 'Microsoft.Storage/storageAccounts/fileServices/shares@2023-05-01' = {
  parent: files
  name: sweepsShareName
  properties: { shareQuota: 100 }
}

output id string = account.id
output name string = account.name
output sweepsShareName string = sweepsShare.name
