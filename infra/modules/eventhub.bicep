// One hub of the namespace with its partitions, retention and consumer groups.
param namespaceName string
param hub object
param consumerGroups array

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' existing = {
  name: namespaceName
}

resource eventHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: hub.name
  properties: {
    partitionCount: hub.partitions
    retentionDescription: {
      cleanupPolicy: 'Delete'
      retentionTimeInHours: hub.retentionHours
    }
  }
}

resource groups 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = [for group in consumerGroups: {
  parent: eventHub
  name: group
  properties: {}
}]

output id string = eventHub.id
