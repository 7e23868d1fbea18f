// Endpoint fd-ai-trader-endpoint, one origin group per web app with its health probe, and the
// three routes, all linked to the endpoint's default domain:
//   route-api        /*               -> api, forwarded unchanged (/, /docs, /health/*, API routes)
//   route-ui         /ui/             -> ui with originPath /ui/ (Streamlit serves under baseUrlPath ui)
//   route-ui-prefix  /ui, /ui/*       -> ui, originPath null (assets and the websocket keep their path)
param profileName string
param endpointName string
param apiHostName string
param uiHostName string
param apiProbePath string = '/health/live'
param uiProbePath string = '/ui/'

resource profile 'Microsoft.Cdn/profiles@2024-02-01' existing = {
  name: profileName
}

resource endpoint 'Microsoft.Cdn/profiles/afdEndpoints@2024-02-01' existing = {
  parent: profile
  name: endpointName
}

var backends = [
  { name: 'og-api', origin: 'api', host: apiHostName, probePath: apiProbePath }
  { name: 'og-ui', origin: 'ui', host: uiHostName, probePath: uiProbePath }
]

resource originGroups 'Microsoft.Cdn/profiles/originGroups@2024-02-01' = [for backend in backends: {
  parent: profile
  name: backend.name
  properties: {
    loadBalancingSettings: {
      sampleSize: 4
      successfulSamplesRequired: 3
      additionalLatencyInMilliseconds: 50
    }
    healthProbeSettings: {
      probePath: backend.probePath
      probeRequestType: 'GET'
      probeProtocol: 'Https'
      probeIntervalInSeconds: 60
    }
    sessionAffinityState: 'Disabled'
  }
}]

resource origins 'Microsoft.Cdn/profiles/originGroups/origins@2024-02-01' = [for (backend, i) in backends: {
  parent: originGroups[i]
  name: backend.origin
  properties: {
    hostName: backend.host
    originHostHeader: backend.host
    httpPort: 80
    httpsPort: 443
    priority: 1
    weight: 1000
    enabledState: 'Enabled'
    enforceCertificateNameCheck: true
  }
}]

var routes = [
  { name: 'route-api', group: 0, patterns: ['/*'], originPath: null }
  { name: 'route-ui', group: 1, patterns: ['/ui/'], originPath: '/ui/' }
  { name: 'route-ui-prefix', group: 1, patterns: ['/ui', '/ui/*'], originPath: null }
]

@batchSize(1)
resource afdRoutes 'Microsoft.Cdn/profiles/afdEndpoints/routes@2024-02-01' = [for route in routes: {
  parent: endpoint
  name: route.name
  dependsOn: [origins]
  properties: {
    originGroup: { id: originGroups[route.group].id }
    originPath: route.originPath
    patternsToMatch: route.patterns
    supportedProtocols: ['Http', 'Https']
    httpsRedirect: 'Enabled'
    forwardingProtocol: 'HttpsOnly'
    linkToDefaultDomain: 'Enabled'
    enabledState: 'Enabled'
  }
}]

output endpointHostName string = endpoint.properties.hostName
