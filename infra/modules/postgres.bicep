// PostgreSQL Flexible Server: B1ms, 32 GB, TLS required (require_secure_transport=on).
// Backups as docs/howto/operations/azure-backup.md describes: automated, 7-35 days retention.
param location string
param name string
param databaseName string = 'aitrader'
param administratorLogin string
@secure()
param administratorPassword string
@minValue(7)
@maxValue(35)
param backupRetentionDays int = 14
@allowed(['Enabled', 'Disabled'])
param geoRedundantBackup string = 'Disabled'
@description('Public access with firewall rules ([{name, startIpAddress, endIpAddress}]), or VNet integration when delegatedSubnetId is set.')
param network object = {
  delegatedSubnetId: ''
  privateDnsZoneId: ''
  firewallRules: []
}

var useVnet = !empty(network.delegatedSubnetId)

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2022-12-01' = {
  name: name
  location: location
  sku: { name: 'Standard_B1ms', tier: 'Burstable' }
  properties: {
    version: '16'
    administratorLogin: administratorLogin
    administratorLoginPassword: administratorPassword
    storage: { storageSizeGB: 32 }
    backup: {
      backupRetentionDays: backupRetentionDays
      geoRedundantBackup: geoRedundantBackup
    }
    highAvailability: { mode: 'Disabled' }
    network: useVnet ? {
      delegatedSubnetResourceId: network.delegatedSubnetId
      privateDnsZoneArmResourceId: network.privateDnsZoneId
    } : {}
  }
}

resource secureTransport 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2022-12-01' = {
  parent: server
  name: 'require_secure_transport'
  properties: { value: 'on', source: 'user-override' }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2022-12-01' = {
  parent: server
  name: databaseName
  properties: { charset: 'UTF8', collation: 'en_US.utf8' }
}

resource firewall 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2022-12-01' = [for rule in (useVnet ? [] : network.firewallRules): {
  parent: server
  name: rule.name
  properties: {
    startIpAddress: rule.startIpAddress
    endIpAddress: rule.endIpAddress
  }
}]

output id string = server.id
output fqdn string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
