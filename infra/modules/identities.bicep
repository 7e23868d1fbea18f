// User-assigned identities of the Container Apps workloads. They exist before the jobs so their
// roles (AcrPull, Key Vault Secrets User, data roles) are in place when the jobs are created.
param location string
param names array

resource identities 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = [for name in names: {
  name: name
  location: location
}]

output ids array = [for (name, i) in names: identities[i].id]
output principalIds array = [for (name, i) in names: identities[i].properties.principalId]
output clientIds array = [for (name, i) in names: identities[i].properties.clientId]
