// App Service plan (Linux) and the two web apps, api and ui, running the same image with a
// startup command each. Traffic is only accepted from our Front Door profile: rule
// Allow-FD-Backend (service tag AzureFrontDoor.Backend plus the profile's X-Azure-FDID) at
// priority 100, an optional office rule at 110, everything else denied; SCM uses the same rules.
param location string
param planName string
@allowed(['B1', 'B2', 'B3', 'S1', 'S2', 'S3', 'P0v3', 'P1v3', 'P2v3'])
param planSku string = 'P0v3'
param apiName string
param uiName string
@description('Full image reference, e.g. <registry>.azurecr.io/ai-trader:<tag>.')
param image string
@description('properties.frontDoorId of the Front Door profile (sent by Front Door as X-Azure-FDID).')
param frontDoorId string
@description('Optional office address range (CIDR) allowed at priority 110; empty for none.')
param officeIpRange string = ''
param apiPort int = 8000
param uiPort int = 8501
param apiHealthCheckPath string = '/health/live'
param uiHealthCheckPath string = '/ui/_stcore/health'
@description('App settings of the api app (name -> value); WEBSITES_PORT is added here.')
param apiSettings object
@description('App settings of the ui app (name -> value); WEBSITES_PORT is added here.')
param uiSettings object
param logAnalyticsWorkspaceId string

var frontDoorRule = {
  name: 'Allow-FD-Backend'
  description: 'Front Door backend, only our profile (X-Azure-FDID)'
  action: 'Allow'
  tag: 'ServiceTag'
  ipAddress: 'AzureFrontDoor.Backend'
  priority: 100
  headers: {
    'x-azure-fdid': [frontDoorId]
  }
}
var officeRule = {
  name: 'Allow-Office'
  description: 'Trusted office range for debugging'
  action: 'Allow'
  tag: 'Default'
  ipAddress: officeIpRange
  priority: 110
}
var restrictions = concat([frontDoorRule], empty(officeIpRange) ? [] : [officeRule])

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy needs three or more Premium instances; one instance per app is enough for this workload (health check restarts it)
  name: planName
  location: location
  kind: 'linux'
  sku: { name: planSku }
  properties: { reserved: true }
}

resource apiSite 'Microsoft.Web/sites@2023-12-01' = {
  // checkov:skip=CKV_AZURE_222:Front Door Standard reaches origins on their public endpoint (Private Link origins need Premium); ipSecurityRestrictions admit only AzureFrontDoor.Backend with our X-Azure-FDID and deny the rest
  // checkov:skip=CKV_AZURE_17:Front Door presents no client certificate to origins; the API authenticates callers with its bearer token
  // checkov:skip=CKV_AZURE_13:Authentication is the app's own (API_BEARER_TOKEN); App Service Authentication would also intercept the Front Door and App Service health probes
  // checkov:skip=CKV_AZURE_212:One instance per app (cost); App Service restarts an unhealthy instance through healthCheckPath
  // checkov:skip=CKV_AZURE_88:State lives in PostgreSQL and Blob Storage; /home is kept through WEBSITES_ENABLE_APP_SERVICE_STORAGE (docs/howto/operations/azure-backup.md)
  name: apiName
  location: location
  kind: 'app,linux,container'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: 'SystemAssigned'
    siteConfig: {
      linuxFxVersion: 'DOCKER|${image}'
      appCommandLine: 'ai-trader api --host 0.0.0.0'
      acrUseManagedIdentityCreds: true
      alwaysOn: true
      healthCheckPath: apiHealthCheckPath
      http20Enabled: true
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      httpLoggingEnabled: true
      detailedErrorLoggingEnabled: true
      requestTracingEnabled: true
      ipSecurityRestrictions: restrictions
      ipSecurityRestrictionsDefaultAction: 'Deny'
      scmIpSecurityRestrictionsUseMain: true
      scmIpSecurityRestrictionsDefaultAction: 'Deny'
      appSettings: [for setting in items(union(apiSettings, { WEBSITES_PORT: string(apiPort) })): {
        name: setting.key
        value: setting.value
      }]
    }
  }
}

resource apiSiteDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: apiSite
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      { category: 'AppServiceConsoleLogs', enabled: true }
      { category: 'AppServiceHTTPLogs', enabled: true }
      { category: 'AppServicePlatformLogs', enabled: true }
    ]
  }
}

resource uiSite 'Microsoft.Web/sites@2023-12-01' = {
  // checkov:skip=CKV_AZURE_222:Front Door Standard reaches origins on their public endpoint (Private Link origins need Premium); ipSecurityRestrictions admit only AzureFrontDoor.Backend with our X-Azure-FDID and deny the rest
  // checkov:skip=CKV_AZURE_17:Front Door presents no client certificate to origins; the API authenticates callers with its bearer token
  // checkov:skip=CKV_AZURE_13:Authentication is the app's own (API_BEARER_TOKEN); App Service Authentication would also intercept the Front Door and App Service health probes
  // checkov:skip=CKV_AZURE_212:One instance per app (cost); App Service restarts an unhealthy instance through healthCheckPath
  // checkov:skip=CKV_AZURE_88:State lives in PostgreSQL and Blob Storage; /home is kept through WEBSITES_ENABLE_APP_SERVICE_STORAGE (docs/howto/operations/azure-backup.md)
  name: uiName
  location: location
  kind: 'app,linux,container'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    keyVaultReferenceIdentity: 'SystemAssigned'
    siteConfig: {
      linuxFxVersion: 'DOCKER|${image}'
      appCommandLine: 'ai-trader ui --host 0.0.0.0'
      acrUseManagedIdentityCreds: true
      alwaysOn: true
      healthCheckPath: uiHealthCheckPath
      http20Enabled: true
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      httpLoggingEnabled: true
      detailedErrorLoggingEnabled: true
      requestTracingEnabled: true
      ipSecurityRestrictions: restrictions
      ipSecurityRestrictionsDefaultAction: 'Deny'
      scmIpSecurityRestrictionsUseMain: true
      scmIpSecurityRestrictionsDefaultAction: 'Deny'
      appSettings: [for setting in items(union(uiSettings, { WEBSITES_PORT: string(uiPort) })): {
        name: setting.key
        value: setting.value
      }]
    }
  }
}

resource uiSiteDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: uiSite
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      { category: 'AppServiceConsoleLogs', enabled: true }
      { category: 'AppServiceHTTPLogs', enabled: true }
      { category: 'AppServicePlatformLogs', enabled: true }
    ]
  }
}

output apiPrincipalId string = apiSite.identity.principalId
output uiPrincipalId string = uiSite.identity.principalId
output apiHostName string = apiSite.properties.defaultHostName
output uiHostName string = uiSite.properties.defaultHostName
