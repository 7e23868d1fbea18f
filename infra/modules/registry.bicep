// Container registry for the one ai-trader image. Web apps and jobs pull with their identities (AcrPull).
param location string
param name string

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_166:Quarantine needs Premium; only our CI pushes the one image, built from the checked Dockerfile
  // checkov:skip=CKV_AZURE_163:Image scanning is Microsoft Defender for Containers, a subscription plan rather than a template setting
  // checkov:skip=CKV_AZURE_139:Private networking needs Premium and private endpoints; pulls use managed identities with AcrPull, admin user and anonymous pull are off
  name: name
  location: location
  sku: { name: 'Basic' }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

output id string = registry.id
output name string = registry.name
output loginServer string = registry.properties.loginServer
