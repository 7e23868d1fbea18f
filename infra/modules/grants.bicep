// Role assignments, one list per kind of scope. Each entry names an identity key of `principals`
// and a role of `roleIds`; main.bicep holds the lists (the tests compare them with the code).
param principals object
param eventHubsNamespace string = ''
param storageAccountName string = ''
param keyVaultName string = ''
param registryName string = ''
param namespaceGrants array = []
param hubGrants array = []
param containerGrants array = []
param vaultGrants array = []
param registryGrants array = []
param jobGrants array = []

// Built-in role definition ids (the same for every tenant).
var roleIds = {
  'Azure Event Hubs Data Sender': '2b629674-e913-4c01-ae53-ef4638d8f975'
  'Azure Event Hubs Data Receiver': 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
  'Storage Blob Data Contributor': 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  'Storage Blob Data Reader': '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  'Key Vault Secrets User': '4633458b-17de-408a-b874-0445c86b69e6'
  AcrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  Contributor: 'b24988ac-6180-42a0-ab88-20f7382d614e'
}

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = if (!empty(eventHubsNamespace)) {
  name: empty(eventHubsNamespace) ? 'unused' : eventHubsNamespace
}

resource hubs 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = [for grant in hubGrants: {
  name: '${eventHubsNamespace}/${grant.hub}'
}]

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for grant in containerGrants: {
  name: '${storageAccountName}/default/${grant.container}'
}]

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = if (!empty(keyVaultName)) {
  name: empty(keyVaultName) ? 'unused' : keyVaultName
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = if (!empty(registryName)) {
  name: empty(registryName) ? 'unused' : registryName
}

resource jobs 'Microsoft.App/jobs@2025-01-01' existing = [for grant in jobGrants: {
  name: grant.job
}]

resource namespaceAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for grant in namespaceGrants: {
  name: guid(eventHubsNamespace, grant.identity, grant.role)
  scope: namespace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds[grant.role])
    principalId: principals[grant.identity]
    principalType: 'ServicePrincipal'
  }
}]

resource hubAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (grant, i) in hubGrants: {
  name: guid(eventHubsNamespace, grant.hub, grant.identity, grant.role)
  scope: hubs[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds[grant.role])
    principalId: principals[grant.identity]
    principalType: 'ServicePrincipal'
  }
}]

resource containerAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (grant, i) in containerGrants: {
  name: guid(storageAccountName, grant.container, grant.identity, grant.role)
  scope: containers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds[grant.role])
    principalId: principals[grant.identity]
    principalType: 'ServicePrincipal'
  }
}]

resource vaultAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for grant in vaultGrants: {
  name: guid(keyVaultName, grant.identity, grant.role)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds[grant.role])
    principalId: principals[grant.identity]
    principalType: 'ServicePrincipal'
  }
}]

resource registryAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for grant in registryGrants: {
  name: guid(registryName, grant.identity, grant.role)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds[grant.role])
    principalId: principals[grant.identity]
    principalType: 'ServicePrincipal'
  }
}]

resource jobAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (grant, i) in jobGrants: {
  name: guid(grant.job, grant.identity, grant.role)
  scope: jobs[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds[grant.role])
    principalId: principals[grant.identity]
    principalType: 'ServicePrincipal'
  }
}]
