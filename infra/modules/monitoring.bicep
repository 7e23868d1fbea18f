// Log Analytics workspace: Container Apps logs and App Service diagnostics land here.
param location string
param name string
@minValue(30)
@maxValue(730)
param retentionDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: name
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: retentionDays
  }
}

output id string = workspace.id
output name string = workspace.name
