// ai-trader on Azure: every resource the operations runbook names, in one resource group.
//   az deployment group create -g ai-trader-rg -f infra/main.bicep -p infra/env/<env>.parameters.json ...
// (or `ai-trader azure deploy`; docs/howto/operations/deploy.md). The hub list, the consumer
// groups, the containers and the grant lists below are checked against the code by
// tests/unit/deploy/test_infra_templates.py.
targetScope = 'resourceGroup'

param location string = resourceGroup().location
@description('Short environment name used in resource names (dev, prod).')
param environmentName string
param eventHubsNamespaceName string = 'ai-trader-ehns'
param storageAccountName string = 'aitraderblobstore'
param keyVaultName string
param postgresServerName string
param registryName string
param logAnalyticsName string = 'ai-trader-logs-${environmentName}'
param planName string = 'ai-trader-plan-${environmentName}'
param apiAppName string
param uiAppName string
param planSku string = 'P0v3'
param frontDoorProfileName string = 'fd-ai-trader'
param frontDoorEndpointName string = 'fd-ai-trader-endpoint'
param containerAppsEnvironmentName string = 'ai-trader-env'
@description('Image tag in the registry (ai-trader:<tag>), pushed by `ai-trader azure deploy`.')
param imageTag string
param postgresAdminLogin string = 'aitrader'
@secure()
param postgresAdminPassword string
@secure()
param apiBearerToken string
@secure()
@description('Hash of the operator password in front of the dashboard (python -m app.ui.auth makes one).')
param uiOperatorPasswordHash string
@description('Unix time at which the Key Vault secrets expire.')
param secretExpiry int
@description('Optional office CIDR allowed into the web apps at priority 110; empty for none.')
param officeIpRange string = ''
@description('PostgreSQL networking: firewallRules ([{name, startIpAddress, endIpAddress}]) for public access, or delegatedSubnetId + privateDnsZoneId for VNet integration.')
param postgresNetwork object = {
  delegatedSubnetId: ''
  privateDnsZoneId: ''
  firewallRules: []
}
@minValue(7)
@maxValue(35)
param postgresBackupRetentionDays int = 14

// app/bus/topology.py: hubs, partitions, retention (hours) and the consumer groups on each hub.
var hubs = [
  { name: 'bars.raw', partitions: 6, retentionHours: 24 }
  { name: 'signals.enriched', partitions: 4, retentionHours: 48 }
  { name: 'regimes.snapshot', partitions: 4, retentionHours: 48 }
  { name: 'backtest.jobs', partitions: 2, retentionHours: 72 }
  { name: 'exec.orders', partitions: 2, retentionHours: 24 }
]
var consumerGroups = ['api', 'ui', 'orchestrator', 'sweeper', 'diagnostics']
// Settings.BLOB_CONTAINER_DATA, BLOB_CONTAINER_MODELS, CHECKPOINT_CONTAINER, BLOB_CONTAINER_CONFIGS.
var containers = ['trader-data', 'trader-models', 'eh-checkpoints', 'configs']

var jobIdentityNames = {
  orderConsumer: 'ai-trader-order-consumer'
  sweepConsumer: 'ai-trader-sweep-consumer'
  jobs: 'ai-trader-jobs'
  scheduler: 'ai-trader-scheduler'
}

// Who may do what (docs/howto/operations/managed-identity.md, "Which workload needs what").
var namespaceGrants = [
  { identity: 'api', role: 'Azure Event Hubs Data Sender' }
  { identity: 'api', role: 'Azure Event Hubs Data Receiver' }
]
var hubGrants = [
  { identity: 'orderConsumer', role: 'Azure Event Hubs Data Receiver', hub: 'exec.orders' }
  { identity: 'sweepConsumer', role: 'Azure Event Hubs Data Receiver', hub: 'backtest.jobs' }
  { identity: 'scheduler', role: 'Azure Event Hubs Data Sender', hub: 'exec.orders' }
]
var containerGrants = [
  { identity: 'api', role: 'Storage Blob Data Contributor', container: 'trader-data' }
  { identity: 'api', role: 'Storage Blob Data Contributor', container: 'configs' }
  { identity: 'ui', role: 'Storage Blob Data Reader', container: 'trader-data' }
  { identity: 'orderConsumer', role: 'Storage Blob Data Contributor', container: 'eh-checkpoints' }
  { identity: 'orderConsumer', role: 'Storage Blob Data Contributor', container: 'trader-data' }
  { identity: 'sweepConsumer', role: 'Storage Blob Data Contributor', container: 'eh-checkpoints' }
  { identity: 'jobs', role: 'Storage Blob Data Reader', container: 'configs' }
  { identity: 'jobs', role: 'Storage Blob Data Contributor', container: 'trader-data' }
  { identity: 'scheduler', role: 'Storage Blob Data Contributor', container: 'trader-data' }
]
var vaultGrants = [
  { identity: 'api', role: 'Key Vault Secrets User' }
  { identity: 'ui', role: 'Key Vault Secrets User' }
  { identity: 'orderConsumer', role: 'Key Vault Secrets User' }
  { identity: 'sweepConsumer', role: 'Key Vault Secrets User' }
  { identity: 'jobs', role: 'Key Vault Secrets User' }
  { identity: 'scheduler', role: 'Key Vault Secrets User' }
]
var registryGrants = [
  { identity: 'api', role: 'AcrPull' }
  { identity: 'ui', role: 'AcrPull' }
  { identity: 'orderConsumer', role: 'AcrPull' }
  { identity: 'sweepConsumer', role: 'AcrPull' }
  { identity: 'jobs', role: 'AcrPull' }
  { identity: 'scheduler', role: 'AcrPull' }
]
var jobGrants = [
  { identity: 'sweepConsumer', role: 'Contributor', job: 'ai-trader-sweep' }
]

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: { location: location, name: logAnalyticsName }
}

module registry 'modules/registry.bicep' = {
  name: 'registry'
  params: { location: location, name: registryName }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: { location: location, name: storageAccountName, containers: containers }
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  params: {
    location: location
    name: postgresServerName
    administratorLogin: postgresAdminLogin
    administratorPassword: postgresAdminPassword
    backupRetentionDays: postgresBackupRetentionDays
    network: postgresNetwork
  }
}

module eventHubs 'modules/eventhubs.bicep' = {
  name: 'eventhubs'
  params: {
    location: location
    name: eventHubsNamespaceName
    hubs: hubs
    consumerGroups: consumerGroups
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    name: keyVaultName
    databaseUrl: 'postgresql://${postgresAdminLogin}:${uriComponent(postgresAdminPassword)}@${postgres.outputs.fqdn}/${postgres.outputs.databaseName}?sslmode=require'
    apiBearerToken: apiBearerToken
    uiOperatorPasswordHash: uiOperatorPasswordHash
    secretExpiry: secretExpiry
  }
}

module frontDoorProfile 'modules/frontdoor-profile.bicep' = {
  name: 'frontdoor-profile'
  params: { name: frontDoorProfileName, endpointName: frontDoorEndpointName }
}

var image = '${registry.outputs.loginServer}/ai-trader:${imageTag}'
var databaseUrlRef = '@Microsoft.KeyVault(SecretUri=${vault.outputs.uri}secrets/database-url/)'
var apiTokenRef = '@Microsoft.KeyVault(SecretUri=${vault.outputs.uri}secrets/api-bearer-token/)'
var uiPasswordRef = '@Microsoft.KeyVault(SecretUri=${vault.outputs.uri}secrets/ui-operator-password-hash/)'
var publicUrl = 'https://${frontDoorProfile.outputs.endpointHostName}'
var busSettings = {
  EH_FQDN: eventHubs.outputs.fqdn
  EH_HUB_BARS: 'bars.raw'
  EH_HUB_SIGNALS: 'signals.enriched'
  EH_HUB_REGIMES: 'regimes.snapshot'
  EH_HUB_JOBS: 'backtest.jobs'
  EH_HUB_ORDERS: 'exec.orders'
  EH_CONSUMER_GROUP: 'orchestrator'
  CHECKPOINT_CONTAINER: 'eh-checkpoints'
}

module webApps 'modules/webapps.bicep' = {
  name: 'webapps'
  params: {
    location: location
    planName: planName
    planSku: planSku
    apiName: apiAppName
    uiName: uiAppName
    image: image
    frontDoorId: frontDoorProfile.outputs.frontDoorId
    officeIpRange: officeIpRange
    logAnalyticsWorkspaceId: monitoring.outputs.id
    apiSettings: union(busSettings, {
      AI_TRADER_COMPONENT: 'api'
      DATABASE_URL: databaseUrlRef
      API_BEARER_TOKEN: apiTokenRef
      STORAGE_ACCOUNT: storage.outputs.name
      UI_BASE_URL: '${publicUrl}/ui/'
      WEBSITES_ENABLE_APP_SERVICE_STORAGE: 'true'
      LOG_LEVEL: 'INFO'
    })
    uiSettings: {
      AI_TRADER_COMPONENT: 'ui'
      API_BASE_URL: publicUrl
      API_BEARER_TOKEN: apiTokenRef
      UI_OPERATOR_PASSWORD_HASH: uiPasswordRef
      STORAGE_ACCOUNT: storage.outputs.name
      WEBSITES_ENABLE_APP_SERVICE_STORAGE: 'true'
      LOG_LEVEL: 'INFO'
    }
  }
}

module frontDoor 'modules/frontdoor.bicep' = {
  name: 'frontdoor'
  params: {
    profileName: frontDoorProfile.outputs.name
    endpointName: frontDoorEndpointName
    apiHostName: webApps.outputs.apiHostName
    uiHostName: webApps.outputs.uiHostName
  }
}

module identities 'modules/identities.bicep' = {
  name: 'identities'
  params: {
    location: location
    names: [
      jobIdentityNames.orderConsumer
      jobIdentityNames.sweepConsumer
      jobIdentityNames.jobs
      jobIdentityNames.scheduler
    ]
  }
}

var principals = {
  api: webApps.outputs.apiPrincipalId
  ui: webApps.outputs.uiPrincipalId
  orderConsumer: identities.outputs.principalIds[0]
  sweepConsumer: identities.outputs.principalIds[1]
  jobs: identities.outputs.principalIds[2]
  scheduler: identities.outputs.principalIds[3]
}

module grants 'modules/grants.bicep' = {
  name: 'grants'
  params: {
    principals: principals
    eventHubsNamespace: eventHubs.outputs.name
    storageAccountName: storage.outputs.name
    keyVaultName: vault.outputs.name
    registryName: registry.outputs.name
    namespaceGrants: namespaceGrants
    hubGrants: hubGrants
    containerGrants: containerGrants
    vaultGrants: vaultGrants
    registryGrants: registryGrants
  }
}

var consumerCommon = [
  { name: 'EH_FQDN', value: eventHubs.outputs.fqdn }
  { name: 'STORAGE_ACCOUNT', value: storage.outputs.name }
  { name: 'CHECKPOINT_CONTAINER', value: 'eh-checkpoints' }
  // checkov:skip=CKV_SECRET_6:'database-url' is the name of a Container Apps secret (secretRef), not a secret value
  { name: 'DATABASE_URL', secretRef: 'database-url' }
  { name: 'LOG_LEVEL', value: 'INFO' }
]

module containerApps 'modules/containerapps.bicep' = {
  name: 'containerapps'
  dependsOn: [grants]
  params: {
    location: location
    environmentName: containerAppsEnvironmentName
    logAnalyticsWorkspaceName: monitoring.outputs.name
    storageAccountName: storage.outputs.name
    sweepsShareName: storage.outputs.sweepsShareName
    registryServer: registry.outputs.loginServer
    image: image
    keyVaultUri: vault.outputs.uri
    eventHubsNamespace: eventHubs.outputs.name
    identities: {
      orderConsumer: { id: identities.outputs.ids[0], clientId: identities.outputs.clientIds[0] }
      sweepConsumer: { id: identities.outputs.ids[1], clientId: identities.outputs.clientIds[1] }
      jobs: { id: identities.outputs.ids[2], clientId: identities.outputs.clientIds[2] }
      scheduler: { id: identities.outputs.ids[3], clientId: identities.outputs.clientIds[3] }
    }
    env: {
      sweepJob: [
        { name: 'SWEEP_CONFIG_BLOB', value: 'blob://configs/momentum_sweep.yaml' }
        { name: 'SWEEP_OUTPUT_DIR', value: '/mnt/sweeps' }
        { name: 'ARTIFACTS_DIR', value: '/mnt/sweeps/artifacts' }
        { name: 'STORAGE_ACCOUNT', value: storage.outputs.name }
        { name: 'DATABASE_URL', secretRef: 'database-url' }
        { name: 'AZURE_CLIENT_ID', value: identities.outputs.clientIds[2] }
        { name: 'LOG_LEVEL', value: 'INFO' }
        { name: 'AI_TRADER_COMPONENT', value: 'sweep-job' }
      ]
      orderConsumer: concat(consumerCommon, [
        { name: 'EH_HUB_ORDERS', value: 'exec.orders' }
        { name: 'EH_CONSUMER_GROUP', value: 'orchestrator' }
        { name: 'IDLE_EXIT_SECONDS', value: '300' }
        { name: 'AZURE_CLIENT_ID', value: identities.outputs.clientIds[0] }
        { name: 'AI_TRADER_COMPONENT', value: 'order-consumer' }
      ])
      sweepConsumer: concat(consumerCommon, [
        { name: 'EH_HUB_JOBS', value: 'backtest.jobs' }
        { name: 'EH_CONSUMER_GROUP_SWEEP', value: 'sweeper' }
        { name: 'SWEEP_JOB_RESOURCE_ID', value: resourceId('Microsoft.App/jobs', 'ai-trader-sweep') }
        { name: 'SWEEP_JOB_CONTAINER', value: 'sweep-job' }
        { name: 'IDLE_EXIT_SECONDS', value: '60' }
        { name: 'AZURE_CLIENT_ID', value: identities.outputs.clientIds[1] }
        { name: 'AI_TRADER_COMPONENT', value: 'sweep-consumer' }
      ])
      scheduler: concat(consumerCommon, [
        { name: 'EH_HUB_ORDERS', value: 'exec.orders' }
        { name: 'SCHEDULE_DAL_VENDOR', value: 'auto' }
        { name: 'AZURE_CLIENT_ID', value: identities.outputs.clientIds[3] }
        { name: 'AI_TRADER_COMPONENT', value: 'scheduler' }
      ])
    }
  }
}

// The sweep consumer may start the sweep job only once the job exists.
module jobGrantsModule 'modules/grants.bicep' = {
  name: 'grants-jobs'
  dependsOn: [containerApps]
  params: {
    principals: principals
    jobGrants: jobGrants
  }
}

output frontDoorEndpointHost string = frontDoorProfile.outputs.endpointHostName
output registryLoginServer string = registry.outputs.loginServer
output apiAppName string = apiAppName
output uiAppName string = uiAppName
output eventHubsFqdn string = eventHubs.outputs.fqdn
