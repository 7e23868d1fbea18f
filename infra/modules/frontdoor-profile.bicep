// Front Door Standard profile fd-ai-trader and its endpoint. The profile's frontDoorId goes into
// the web apps' access restrictions and the endpoint host into their settings before the origins
// and routes point at the apps (frontdoor.bicep).
param name string
param endpointName string

resource profile 'Microsoft.Cdn/profiles@2024-02-01' = {
  name: name
  location: 'global'
  sku: { name: 'Standard_AzureFrontDoor' }
  properties: {
    originResponseTimeoutSeconds: 60
  }
}

resource endpoint 'Microsoft.Cdn/profiles/afdEndpoints@2024-02-01' = {
  parent: profile
  name: endpointName
  location: 'global'
  properties: { enabledState: 'Enabled' }
}

output id string = profile.id
output name string = profile.name
output frontDoorId string = profile.properties.frontDoorId
output endpointHostName string = endpoint.properties.hostName
