// Container Apps environment ai-trader-env with the three jobs of deploy/aca/jobs/ and the
// scheduler (always-on app running `ai-trader schedule serve`, one replica).
param location string
param environmentName string
param logAnalyticsWorkspaceName string
param storageAccountName string
param sweepsShareName string
param registryServer string
param image string
param keyVaultUri string
param eventHubsNamespace string
@description('name -> {id, clientId} of the user-assigned identities.')
param identities object
@description('Environment variables per workload: sweepJob, orderConsumer, sweepConsumer, scheduler (arrays of {name, value}).')
param env object

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsWorkspaceName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource environment 'Microsoft.App/managedEnvironments@2025-01-01' = {
  name: environmentName
  location: location
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: workspace.properties.customerId
        sharedKey: workspace.listKeys().primarySharedKey
      }
    }
    workloadProfiles: [
      { name: 'Consumption', workloadProfileType: 'Consumption' }
    ]
  }
}

resource sweepsStorage 'Microsoft.App/managedEnvironments/storages@2025-01-01' = {
  parent: environment
  name: 'sweeps-share'
  properties: {
    azureFile: {
      accountName: storage.name
      accountKey: storage.listKeys().keys[0].value
      shareName: sweepsShareName
      accessMode: 'ReadWrite'
    }
  }
}


resource sweepJob 'Microsoft.App/jobs@2025-01-01' = {
  name: 'ai-trader-sweep'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identities.jobs.id}': {} }
  }
  dependsOn: [sweepsStorage]
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      triggerType: 'Manual'
      replicaTimeout: 7200
      replicaRetryLimit: 0
      manualTriggerConfig: { parallelism: 1, replicaCompletionCount: 1 }
      registries: [{ server: registryServer, identity: identities.jobs.id }]
      secrets: [{ name: 'database-url', keyVaultUrl: '${keyVaultUri}secrets/database-url', identity: identities.jobs.id }]
    }
    template: {
      containers: [
        {
          name: 'sweep-job'
          image: image
          command: ['python']
          args: ['scripts/sweep_job_entry.py']
          env: env.sweepJob
          resources: { cpu: json('2.0'), memory: '4Gi' }
          volumeMounts: [{ volumeName: 'sweeps', mountPath: '/mnt/sweeps' }]
        }
      ]
      volumes: [{ name: 'sweeps', storageType: 'AzureFile', storageName: 'sweeps-share' }]
    }
  }
}

resource orderConsumer 'Microsoft.App/jobs@2025-01-01' = {
  name: 'ai-trader-order-consumer'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identities.orderConsumer.id}': {} }
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      triggerType: 'Event'
      replicaTimeout: 3600
      replicaRetryLimit: 1
      eventTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
        scale: {
          pollingInterval: 15
          minExecutions: 0
          maxExecutions: 1
          rules: [
            {
              name: 'exec-orders-lag'
              type: 'azure-eventhub'
              identity: identities.orderConsumer.id
              metadata: {
                eventHubNamespace: eventHubsNamespace
                eventHubName: 'exec.orders'
                consumerGroup: 'orchestrator'
                storageAccountName: storageAccountName
                blobContainer: 'eh-checkpoints'
                checkpointStrategy: 'blobMetadata'
                unprocessedEventThreshold: '1'
                activationUnprocessedEventThreshold: '0'
              }
            }
          ]
        }
      }
      registries: [{ server: registryServer, identity: identities.orderConsumer.id }]
      secrets: [{ name: 'database-url', keyVaultUrl: '${keyVaultUri}secrets/database-url', identity: identities.orderConsumer.id }]
    }
    template: {
      containers: [
        {
          name: 'order-consumer'
          image: image
          command: ['python']
          args: ['scripts/order_consumer.py']
          env: env.orderConsumer
          resources: { cpu: json('0.5'), memory: '1Gi' }
        }
      ]
    }
  }
}

resource sweepConsumer 'Microsoft.App/jobs@2025-01-01' = {
  name: 'ai-trader-sweep-consumer'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identities.sweepConsumer.id}': {} }
  }
  dependsOn: [sweepJob]
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      triggerType: 'Event'
      replicaTimeout: 600
      replicaRetryLimit: 1
      eventTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
        scale: {
          pollingInterval: 30
          minExecutions: 0
          maxExecutions: 1
          rules: [
            {
              name: 'backtest-jobs-lag'
              type: 'azure-eventhub'
              identity: identities.sweepConsumer.id
              metadata: {
                eventHubNamespace: eventHubsNamespace
                eventHubName: 'backtest.jobs'
                consumerGroup: 'sweeper'
                storageAccountName: storageAccountName
                blobContainer: 'eh-checkpoints'
                checkpointStrategy: 'blobMetadata'
                unprocessedEventThreshold: '1'
                activationUnprocessedEventThreshold: '0'
              }
            }
          ]
        }
      }
      registries: [{ server: registryServer, identity: identities.sweepConsumer.id }]
      secrets: [{ name: 'database-url', keyVaultUrl: '${keyVaultUri}secrets/database-url', identity: identities.sweepConsumer.id }]
    }
    template: {
      containers: [
        {
          name: 'sweep-consumer'
          image: image
          command: ['python']
          args: ['scripts/sweep_job_consumer.py']
          env: env.sweepConsumer
          resources: { cpu: json('0.5'), memory: '1Gi' }
        }
      ]
    }
  }
}

resource scheduler 'Microsoft.App/containerApps@2025-01-01' = {
  name: 'ai-trader-scheduler'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identities.scheduler.id}': {} }
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      registries: [{ server: registryServer, identity: identities.scheduler.id }]
      secrets: [{ name: 'database-url', keyVaultUrl: '${keyVaultUri}secrets/database-url', identity: identities.scheduler.id }]
    }
    template: {
      containers: [
        {
          name: 'scheduler'
          image: image
          command: ['ai-trader']
          args: ['schedule', 'serve']
          env: env.scheduler
          resources: { cpu: json('1.0'), memory: '2Gi' }
        }
      ]
      // exactly one replica: two schedulers would run every row twice
      scale: { minReplicas: 1, maxReplicas: 1 }
    }
  }
}

output environmentId string = environment.id
output sweepJobId string = sweepJob.id
