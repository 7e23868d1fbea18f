// Event Hubs namespace ai-trader-ehns. Standard: Basic allows one consumer group per hub and
// 24 h retention, and the runbook needs five groups and up to 72 h. Local (SAS) auth is off:
// every producer and consumer signs in with Entra ID and RBAC.
param location string
param name string
param hubs array
param consumerGroups array

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: name
  location: location
  sku: { name: 'Standard', tier: 'Standard', capacity: 1 }
  properties: {
    minimumTlsVersion: '1.2'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    isAutoInflateEnabled: false
  }
}

module eventHubs 'eventhub.bicep' = [for hub in hubs: {
  name: 'hub-${replace(hub.name, '.', '-')}'
  params: {
    namespaceName: namespace.name
    hub: hub
    consumerGroups: consumerGroups
  }
}]

output id string = namespace.id
output name string = namespace.name
output fqdn string = '${namespace.name}.servicebus.windows.net'
