// Every resource of a Cloud PBX deployment, in one resource group (main.bicep creates it).
//
// Hosts and what runs on them:
// - Function App (Flex Consumption, Python 3.11): function_app.py, the HTTP API and the queue,
//   blob and timer functions; app settings in `functionAppSettings`.
// - 3 ConfigDB VMs, one per availability zone, each with a Premium SSD data disk:
//   configdb_nodes/Dockerfile; environment in `configdbEnvironment`.
// - 1 SIP edge VM with a static public IP: sip_edge/Dockerfile; environment in `edgeEnvironment`.
// - Static Web App: web/, with the Function App linked as its /api backend (same origin).
//
// Every secret is a Key Vault reference `@Microsoft.KeyVault(SecretUri=...)`: the Function App
// resolves it with its system-assigned identity, the VMs with theirs at boot
// (cloud-init/container-host.yaml). Storage, Service Bus and Key Vault are reached by identity
// only (no keys, no connection strings).

param environmentName string
param location string
param staticWebAppLocation string
param tags object
param principalId string
param pbxRegion string
param trunkCidrs string
param providerAddress string
param smtpHost string
param smtpPort string
param smtpUsername string
param smtpSender string
param ratesSource string
param vmSshPublicKey string

@description('VM size of each ConfigDB node (2 vCPU, 8 GiB).')
param configdbVmSize string = 'Standard_D2as_v5'
@description('Premium SSD data disk of each ConfigDB node, GiB (64 = P6).')
param configdbDiskSizeGb int = 64
@description('VM size of the SIP edge (2 vCPU, 8 GiB: 256 legs).')
param edgeVmSize string = 'Standard_D2as_v5'
@description('Cosmos DB for MongoDB (vCore) compute tier of the History DB.')
param mongoTier string = 'M30'
@description('Cosmos DB for MongoDB (vCore) storage, GiB.')
param mongoStorageGb int = 128
@description('High availability of the History DB: a standby replica in another zone (doubles the compute cost), or Disabled.')
@allowed(['Disabled', 'SameZone', 'ZoneRedundantPreferred'])
param mongoHighAvailability string = 'ZoneRedundantPreferred'
@description('Most instances the Function App scales out to.')
param functionMaximumInstances int = 40
@description('Memory of one Function App instance, MB (2048 or 4096).')
param functionInstanceMemoryMB int = 2048
@description('Spread the Function App\'s instances over availability zones. On Flex Consumption this keeps at least two always-ready instances per function group, billed as always-ready, so it is off by default (docs/deploy-azure.md).')
param functionZoneRedundant bool = false
@description('Always-ready instances of the HTTP function group: 0 scales to zero (a cold start on the first request), 1 keeps one warm.')
param functionAlwaysReadyHttp int = 0

@secure()
param jwtSecret string
@secure()
param jwtPreviousSecrets string
@secure()
param configdbToken string
@secure()
param configdbAppToken string
@secure()
param configdbEdgeToken string
@secure()
param configdbPeerToken string
@secure()
param edgeControlToken string
@secure()
param mongoAdminPassword string
@secure()
param smtpPassword string

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var names = {
  logs: 'log-${token}'
  appInsights: 'appi-${token}'
  storage: 'st${token}'
  serviceBus: 'sb-${token}'
  keyVault: 'kv-${token}'
  mongo: 'mongo-${token}'
  plan: 'plan-${token}'
  functionApp: 'func-${token}'
  staticWebApp: 'swa-${token}'
  vnet: 'vnet-${token}'
  registry: 'cr${token}'
  eventGridTopic: 'evgt-${token}'
}
// The Flex Consumption deployment package lives in this container of the same account.
var deploymentContainer = 'app-package-${take(token, 20)}'

// --- Network: the Function App's integration subnet reaches the VMs; nothing else does.
var vnetPrefix = '10.40.0.0/16'
var functionsSubnetPrefix = '10.40.1.0/24'
var configdbSubnetPrefix = '10.40.2.0/24'
var edgeSubnetPrefix = '10.40.3.0/24'
var endpointsSubnetPrefix = '10.40.4.0/24'
var configdbNodes = [
  { id: 'n1', zone: '1', ip: '10.40.2.11', peers: '10.40.2.12:7301,10.40.2.13:7301' }
  { id: 'n2', zone: '2', ip: '10.40.2.12', peers: '10.40.2.11:7301,10.40.2.13:7301' }
  { id: 'n3', zone: '3', ip: '10.40.2.13', peers: '10.40.2.11:7301,10.40.2.12:7301' }
]
var configdbHttpPort = 7101
var configdbStreamPort = 7201
var configdbRaftPort = 7301
var edgeIp = '10.40.3.10'
var edgeControlPort = 7401
// The RTP and RTCP ports of the edge image (sip_edge/Dockerfile SIP_RTP_PORTS).
var rtpPorts = '20000-20999'
var trunkSources = [for c in split(trunkCidrs, ','): trim(c)]
var configdbEndpointList = [for n in configdbNodes: 'http://${n.ip}:${configdbHttpPort}']
var configdbEndpoints = join(configdbEndpointList, ',')
var portalOrigin = 'https://${staticWebApp.properties.defaultHostname}'

// The scoped client tokens of the ConfigDB nodes (configdb_nodes/auth.py): the functions write
// the application's prefixes, the edge reads tenants and indexes (shared/settings.py
// CONFIGDB_APP_PREFIXES, CONFIGDB_EDGE_PREFIXES).
var configdbTokens = string([
  { name: 'functions', token: configdbAppToken, access: 'write', prefixes: ['t/', 'idx/', 'auth/', 'jobs/', 'cleanup/'] }
  { name: 'edge', token: configdbEdgeToken, access: 'read', prefixes: ['t/', 'idx/'] }
])

// --- Key Vault secrets: name -> value. Empty optional secrets are not created. Each is named
// after its setting in kebab case (shared.settings.key_vault_secret_name), so KEY_VAULT_URL finds
// the same secrets.
var secretValues = [
  { name: 'jwt-secret', value: jwtSecret }
  { name: 'jwt-previous-secrets', value: jwtPreviousSecrets }
  { name: 'configdb-token', value: configdbToken }
  { name: 'configdb-app-token', value: configdbAppToken }
  { name: 'configdb-edge-token', value: configdbEdgeToken }
  { name: 'configdb-peer-token', value: configdbPeerToken }
  { name: 'configdb-tokens', value: configdbTokens }
  { name: 'edge-control-token', value: edgeControlToken }
  { name: 'mongodb-uri', value: mongoUri }
  { name: 'smtp-password', value: smtpPassword }
]
var mongoUri = 'mongodb+srv://pbxadmin:${uriComponent(mongoAdminPassword)}@${names.mongo}.mongocluster.cosmos.azure.com/?tls=true&authMechanism=SCRAM-SHA-256&retrywrites=false&maxIdleTimeMS=120000'
var kv = 'https://${names.keyVault}${environment().suffixes.keyvaultDns}/secrets'

// ============================================================================================
// Settings of each host. One literal { name, value } per setting the code reads
// (shared/settings.py); a secret's value is a Key Vault reference. Keep one entry per line:
// tests read the names from these three arrays.
// ============================================================================================

// functionAppSettings: the Function App (function_app.py).
var functionAppSettings = [
  { name: 'PBX_ENVIRONMENT', value: 'production' }
  { name: 'AzureWebJobsStorage__accountName', value: storage.name }
  { name: 'AzureWebJobsStorage__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
  { name: 'AzureWebJobsStorage__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
  { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: '${serviceBus.name}.servicebus.windows.net' }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: '@Microsoft.KeyVault(SecretUri=${kv}/applicationinsights-connection-string/)' }
  { name: 'PYTHON_ENABLE_OPENTELEMETRY', value: 'true' }
  { name: 'CONFIGDB_ENDPOINTS', value: configdbEndpoints }
  { name: 'CONFIGDB_APP_TOKEN', value: '@Microsoft.KeyVault(SecretUri=${kv}/configdb-app-token/)' }
  { name: 'MONGODB_URI', value: '@Microsoft.KeyVault(SecretUri=${kv}/mongodb-uri/)' }
  { name: 'DATA_DIR', value: '/tmp/pbx' }
  { name: 'JWT_SECRET', value: '@Microsoft.KeyVault(SecretUri=${kv}/jwt-secret/)' }
  { name: 'JWT_PREVIOUS_SECRETS', value: empty(jwtPreviousSecrets) ? '' : '@Microsoft.KeyVault(SecretUri=${kv}/jwt-previous-secrets/)' }
  { name: 'ACCESS_TOKEN_TTL_SECONDS', value: '900' }
  { name: 'REFRESH_TOKEN_TTL_SECONDS', value: '2592000' }
  { name: 'TRUSTED_PROXIES', value: '127.0.0.1/32,::1/128' }
  { name: 'REGION', value: pbxRegion }
  { name: 'REGION_BASE_URLS', value: string({ '${pbxRegion}': '${portalOrigin}/api' }) }
  { name: 'NUMBER_QUARANTINE_DAYS', value: '30' }
  { name: 'QUOTA_USERS', value: '100' }
  { name: 'QUOTA_NUMBERS', value: '25' }
  { name: 'QUOTA_MENUS', value: '50' }
  { name: 'QUOTA_PROMPTS', value: '100' }
  { name: 'QUOTA_MEDIA_BYTES', value: '524288000' }
  { name: 'SMTP_HOST', value: smtpHost }
  { name: 'SMTP_PORT', value: smtpPort }
  { name: 'SMTP_SENDER', value: smtpSender }
  { name: 'SMTP_USERNAME', value: smtpUsername }
  { name: 'SMTP_PASSWORD', value: empty(smtpPassword) ? '' : '@Microsoft.KeyVault(SecretUri=${kv}/smtp-password/)' }
  { name: 'SMTP_STARTTLS', value: 'true' }
  { name: 'PUBLIC_BASE_URL', value: portalOrigin }
  { name: 'WEB_ORIGINS', value: portalOrigin }
  { name: 'REFRESH_COOKIE_SECURE', value: 'true' }
  { name: 'EDGE_CONTROL_URL', value: 'http://${edgeIp}:${edgeControlPort}' }
  { name: 'EDGE_CONTROL_TOKEN', value: '@Microsoft.KeyVault(SecretUri=${kv}/edge-control-token/)' }
  { name: 'RATES_SOURCE', value: empty(ratesSource) ? '/home/site/wwwroot/infra/local/rates/sample.csv' : ratesSource }
]

// edgeEnvironment: the SIP edge container (sip_edge/Dockerfile); cloud-init gets it as JSON and
// writes the container's env file at each start. SIP_HOST binds SIP on the VM's private address
// (the public IP is NATed to it), EDGE_CONTROL_HOST the call-control API, which EDGE_CONTROL_URL
// names (see the edge NSG).
var edgeEnvironment = [
  { name: 'PBX_ENVIRONMENT', value: 'production' }
  { name: 'AzureWebJobsStorage__accountName', value: storage.name }
  { name: 'AzureWebJobsStorage__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
  { name: 'AzureWebJobsStorage__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
  { name: 'ServiceBusConnection__fullyQualifiedNamespace', value: '${serviceBus.name}.servicebus.windows.net' }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: '@Microsoft.KeyVault(SecretUri=${kv}/applicationinsights-connection-string/)' }
  { name: 'CONFIGDB_ENDPOINTS', value: configdbEndpoints }
  { name: 'CONFIGDB_EDGE_TOKEN', value: '@Microsoft.KeyVault(SecretUri=${kv}/configdb-edge-token/)' }
  { name: 'EDGE_CONTROL_TOKEN', value: '@Microsoft.KeyVault(SecretUri=${kv}/edge-control-token/)' }
  { name: 'MONGODB_URI', value: '@Microsoft.KeyVault(SecretUri=${kv}/mongodb-uri/)' }
  { name: 'DATA_DIR', value: '/data' }
  { name: 'REGION', value: pbxRegion }
  { name: 'REGION_BASE_URLS', value: string({ '${pbxRegion}': '${portalOrigin}/api' }) }
  { name: 'PUBLIC_BASE_URL', value: portalOrigin }
  { name: 'SIP_HOST', value: edgeIp }
  { name: 'SIP_PORT', value: '5060' }
  { name: 'SIP_RTP_PORTS', value: rtpPorts }
  { name: 'TRUNK_ALLOWED_SOURCES', value: join(trunkSources, ',') }
  { name: 'PROVIDER_ADDRESS', value: providerAddress }
  { name: 'CALLER_ID_POLICY', value: 'pass_through' }
  { name: 'EDGE_CONTROL_HOST', value: edgeIp }
  { name: 'EDGE_CONTROL_PORT', value: string(edgeControlPort) }
  { name: 'EDGE_MAX_LEGS', value: '256' }
  { name: 'EDGE_TENANT_SHARE', value: '0.25' }
  { name: 'SIP_INVITE_RATE_PER_SOURCE', value: '20' }
  { name: 'SIP_INVITE_BURST_PER_SOURCE', value: '40' }
  { name: 'EDGE_DRAIN_SECONDS', value: '60' }
  { name: 'EDGE_RTP_TIMEOUT_S', value: '30' }
]

// configdbEnvironment: each ConfigDB node container (configdb_nodes/Dockerfile); the flags
// (--node-id, --http, --stream, --raft, --peers) are per node, below.
var configdbEnvironment = [
  { name: 'PBX_ENVIRONMENT', value: 'production' }
  { name: 'CONFIGDB_TOKEN', value: '@Microsoft.KeyVault(SecretUri=${kv}/configdb-token/)' }
  { name: 'CONFIGDB_PEER_TOKEN', value: '@Microsoft.KeyVault(SecretUri=${kv}/configdb-peer-token/)' }
  { name: 'CONFIGDB_TOKENS', value: '@Microsoft.KeyVault(SecretUri=${kv}/configdb-tokens/)' }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: '@Microsoft.KeyVault(SecretUri=${kv}/applicationinsights-connection-string/)' }
]


// --- Role definitions (built-in)
var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  blobDelegator: 'db58b8e5-c6ad-4a2a-8342-4190687cbf4a'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  serviceBusSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  serviceBusOwner: '090c5cfd-751d-490a-894a-3ce6f1109419'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
}

// ============================================================================================
// Monitoring
// ============================================================================================
resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: names.logs
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: names.appInsights
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    IngestionMode: 'LogAnalytics'
  }
}

// The API's liveness from three regions every 15 minutes, through the portal's origin.
resource apiAvailability 'Microsoft.Insights/webtests@2022-06-15' = {
  name: 'webtest-api-health-${token}'
  location: location
  tags: union(tags, { 'hidden-link:${appInsights.id}': 'Resource' })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: 'webtest-api-health-${token}'
    Name: 'API health'
    Kind: 'standard'
    Enabled: true
    Frequency: 900
    Timeout: 30
    RetryEnabled: true
    Locations: [
      { Id: 'emea-nl-ams-azr' }
      { Id: 'us-va-ash-azr' }
      { Id: 'apac-sg-sin-azr' }
    ]
    Request: {
      RequestUrl: '${portalOrigin}/api/v1/health'
      HttpVerb: 'GET'
      ParseDependentRequests: false
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 7
    }
  }
}

// ============================================================================================
// Network
// ============================================================================================
resource functionsNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-functions-${token}'
  location: location
  tags: tags
  properties: {
    securityRules: [] // outbound only: the integration subnet receives no inbound traffic
  }
}

resource endpointsNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-endpoints-${token}'
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        name: 'mongo-from-functions-and-edge'
        properties: {
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefixes: [functionsSubnetPrefix, edgeSubnetPrefix]
          sourcePortRange: '*'
          destinationAddressPrefix: endpointsSubnetPrefix
          destinationPortRange: '10260'
        }
      }
      {
        name: 'deny-other-inbound'
        properties: {
          priority: 4096
          direction: 'Inbound'
          access: 'Deny'
          protocol: '*'
          sourceAddressPrefix: '*'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '*'
        }
      }
    ]
  }
}

// ConfigDB: HTTP and stream from the VNet (functions, edge, operators); Raft only between nodes.
resource configdbNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-configdb-${token}'
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        name: 'configdb-clients-from-vnet'
        properties: {
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: vnetPrefix
          sourcePortRange: '*'
          destinationAddressPrefix: configdbSubnetPrefix
          destinationPortRanges: [string(configdbHttpPort), string(configdbStreamPort)]
        }
      }
      {
        name: 'raft-between-nodes'
        properties: {
          priority: 110
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: configdbSubnetPrefix
          sourcePortRange: '*'
          destinationAddressPrefix: configdbSubnetPrefix
          destinationPortRange: string(configdbRaftPort)
        }
      }
      {
        name: 'deny-other-inbound'
        properties: {
          priority: 4096
          direction: 'Inbound'
          access: 'Deny'
          protocol: '*'
          sourceAddressPrefix: '*'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '*'
        }
      }
    ]
  }
}

// SIP edge: SIP and RTP only from the trunk; the call-control API only from the functions. The
// edge binds that API on its private address (EDGE_CONTROL_HOST in edgeEnvironment), so on the VM
// it is not on loopback or the container bridge either; this rule is what keeps the rest of the
// VNet and the public IP (whose 1:1 NAT delivers to that same address) away from it.
resource edgeNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-edge-${token}'
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        name: 'sip-udp-from-trunk'
        properties: {
          priority: 100
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Udp'
          sourceAddressPrefixes: trunkSources
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '5060'
        }
      }
      {
        name: 'sip-tcp-from-trunk'
        properties: {
          priority: 110
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefixes: trunkSources
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '5060'
        }
      }
      {
        name: 'rtp-from-trunk'
        properties: {
          priority: 120
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Udp'
          sourceAddressPrefixes: trunkSources
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: rtpPorts
        }
      }
      {
        name: 'control-from-functions'
        properties: {
          priority: 130
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: functionsSubnetPrefix
          sourcePortRange: '*'
          destinationAddressPrefix: edgeSubnetPrefix
          destinationPortRange: string(edgeControlPort)
        }
      }
      {
        name: 'deny-other-inbound'
        properties: {
          priority: 4096
          direction: 'Inbound'
          access: 'Deny'
          protocol: '*'
          sourceAddressPrefix: '*'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '*'
        }
      }
    ]
  }
}

// Outbound Internet of the subnets without a public IP (new subnets have no default outbound
// access): the ConfigDB VMs (packages, the registry) and the Function App (the SMTP relay, Service
// Bus, the carrier's rate deck).
resource natIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = {
  name: 'pip-nat-${token}'
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Regional' }
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
  }
}

resource nat 'Microsoft.Network/natGateways@2024-05-01' = {
  name: 'nat-${token}'
  location: location
  tags: tags
  sku: { name: 'Standard' }
  properties: {
    idleTimeoutInMinutes: 10
    publicIpAddresses: [{ id: natIp.id }]
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: names.vnet
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: [vnetPrefix] }
    subnets: [
      {
        name: 'functions'
        properties: {
          addressPrefix: functionsSubnetPrefix
          networkSecurityGroup: { id: functionsNsg.id }
          natGateway: { id: nat.id }
          delegations: [{ name: 'flex', properties: { serviceName: 'Microsoft.App/environments' } }]
          serviceEndpoints: [{ service: 'Microsoft.KeyVault' }, { service: 'Microsoft.Storage' }]
        }
      }
      {
        name: 'configdb'
        properties: {
          addressPrefix: configdbSubnetPrefix
          networkSecurityGroup: { id: configdbNsg.id }
          natGateway: { id: nat.id }
          serviceEndpoints: [{ service: 'Microsoft.KeyVault' }]
        }
      }
      {
        name: 'edge'
        properties: {
          addressPrefix: edgeSubnetPrefix
          networkSecurityGroup: { id: edgeNsg.id }
          serviceEndpoints: [{ service: 'Microsoft.KeyVault' }, { service: 'Microsoft.Storage' }]
        }
      }
      {
        name: 'endpoints'
        properties: {
          addressPrefix: endpointsSubnetPrefix
          networkSecurityGroup: { id: endpointsNsg.id }
          privateEndpointNetworkPolicies: 'Enabled' // the NSG applies to the private endpoint too
        }
      }
    ]
  }
}

// ============================================================================================
// Storage: GZRS (three zones here, a copy in the paired region), identity only.
// ============================================================================================
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: browsers fetch voicemail, recordings and reports through short-lived user-delegation SAS URLs, so the blob endpoint answers the Internet; every request still needs Entra ID or a SAS (no shared key, no anonymous access)
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35: public network access is the browsers' SAS downloads; anonymous blob access is off
  // checkov:skip=CKV_AZURE_43: the name is 'st' + uniqueString(): 15 lowercase letters and digits, which checkov cannot evaluate
  name: names.storage
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_GZRS' }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // Flex Consumption needs no Azure Files share; the host and the code use identities
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled' // browsers fetch media through short-lived user-delegation SAS URLs
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: { enabled: true, keyType: 'Account' }
        file: { enabled: true, keyType: 'Account' }
        queue: { enabled: true, keyType: 'Account' }
        table: { enabled: true, keyType: 'Account' }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 7 }
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {}
}

// The containers the code uses (shared/**: CONTAINER constants), the deployment package's, and
// Event Grid's dead letters.
var containers = [
  'prompts'
  'voicemail'
  'recordings'
  'reports'
  'rates'
  'eventgrid-deadletter'
  deploymentContainer
]

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for c in containers: {
    parent: blobService
    name: c
    properties: { publicAccess: 'None' }
  }
]

// Blob triggers on Flex Consumption are Event Grid based (source=EventGrid in functions/).
// The subscriptions need the host's blobs_extension key, which exists only once the code runs:
// infra/azure/scripts/postdeploy.sh creates them after `azd deploy`.
resource eventGridTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: names.eventGridTopic
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// ============================================================================================
// Service Bus: Standard, one queue per queue the code uses.
// ============================================================================================
resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: names.serviceBus
  location: location
  tags: tags
  sku: { name: 'Standard', tier: 'Standard' }
  properties: {
    minimumTlsVersion: '1.2'
    disableLocalAuth: true // identities only
    publicNetworkAccess: 'Enabled' // Standard has no private endpoints or IP rules
  }
}

var queues = ['email', 'sms', 'push', 'call-ended', 'reports']

resource serviceBusQueues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [
  for q in queues: {
    parent: serviceBus
    name: q
    properties: {
      maxDeliveryCount: 5
      lockDuration: 'PT5M' // the Functions host renews it for longer work
      deadLetteringOnMessageExpiration: true
      defaultMessageTimeToLive: 'P14D'
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: 'PT1H' // a producer's resend of the same message_id within the hour is dropped
      maxSizeInMegabytes: 1024
      enableBatchedOperations: true
    }
  }
]

// ============================================================================================
// Key Vault: RBAC, soft delete and purge protection; reachable from the VNet and Azure services.
// ============================================================================================
resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_189: the firewall denies by default and admits only the VNet's subnets (service endpoints) and trusted Azure services; an operator rotating a secret adds their address for the session (docs/deploy-azure.md)
  name: names.keyVault
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      virtualNetworkRules: [
        { id: '${vnet.id}/subnets/functions' }
        { id: '${vnet.id}/subnets/configdb' }
        { id: '${vnet.id}/subnets/edge' }
      ]
    }
  }
}

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [
  for s in secretValues: if (!empty(s.value)) {
    // checkov:skip=CKV_AZURE_41: these credentials are rotated by the operator (docs/deploy-azure.md); an expiry date would stop the service on that date
    parent: keyVault
    name: s.name
    properties: {
      value: s.value
      contentType: 'text/plain'
    }
  }
]

// Application Insights' connection string is a secret setting too (it lets anyone write telemetry).
resource appInsightsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: rewritten by every provision from the Application Insights resource; an expiry date would stop telemetry on that date
  parent: keyVault
  name: 'applicationinsights-connection-string'
  properties: {
    value: appInsights.properties.ConnectionString
    contentType: 'text/plain'
  }
}

// ============================================================================================
// History DB: Cosmos DB for MongoDB (vCore), private endpoint only.
// ============================================================================================
resource mongo 'Microsoft.DocumentDB/mongoClusters@2024-07-01' = {
  name: names.mongo
  location: location
  tags: tags
  properties: {
    administrator: {
      userName: 'pbxadmin'
      password: mongoAdminPassword
    }
    serverVersion: '7.0'
    compute: { tier: mongoTier }
    storage: { sizeGb: mongoStorageGb }
    sharding: { shardCount: 1 }
    highAvailability: { targetMode: mongoHighAvailability }
    publicNetworkAccess: 'Disabled'
  }
}

resource mongoDns 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: 'privatelink.mongocluster.cosmos.azure.com'
  location: 'global'
  tags: tags
}

resource mongoDnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: mongoDns
  name: 'vnet'
  location: 'global'
  properties: {
    registrationEnabled: false
    virtualNetwork: { id: vnet.id }
  }
}

resource mongoEndpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: 'pe-mongo-${token}'
  location: location
  tags: tags
  properties: {
    subnet: { id: '${vnet.id}/subnets/endpoints' }
    privateLinkServiceConnections: [
      {
        name: 'mongo'
        properties: {
          privateLinkServiceId: mongo.id
          groupIds: ['MongoCluster']
        }
      }
    ]
  }
}

resource mongoEndpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: mongoEndpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [{ name: 'mongo', properties: { privateDnsZoneId: mongoDns.id } }]
  }
}

// ============================================================================================
// Function App: Flex Consumption, Python 3.11, system-assigned identity, VNet integration.
// ============================================================================================
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy is the functionZoneRedundant parameter, off by default: on Flex Consumption it keeps two always-ready instances per function group running and billed; instances are stateless and a lost zone's are replaced on demand
  name: names.plan
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: {
    reserved: true
    zoneRedundant: functionZoneRedundant
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_222: the API is public by design (the portal through the Static Web App, the mobile apps and the operators' tools); it authenticates every call itself
  // checkov:skip=CKV_AZURE_17: callers authenticate with bearer tokens; browsers and phones have no client certificates
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales instances per function group on demand; always-ready instances are a cost choice (functionAlwaysReadyHttp)
  // checkov:skip=CKV_AZURE_213: Flex Consumption does not support the App Service health check; the availability test on /api/v1/health watches the API
  name: names.functionApp
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false // the API authenticates with bearer tokens; browsers come through the Static Web App
    virtualNetworkSubnetId: '${vnet.id}/subnets/functions'
    keyVaultReferenceIdentity: 'SystemAssigned'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: functionMaximumInstances
        instanceMemoryMB: functionInstanceMemoryMB
        alwaysReady: functionAlwaysReadyHttp > 0 ? [{ name: 'http', instanceCount: functionAlwaysReadyHttp }] : []
      }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      // no platform CORS: it would override the API's own (WEB_ORIGINS); the portal is same-origin
      appSettings: functionAppSettings
    }
  }
}

// Diagnostic logs of the host to the workspace (App Insights gets the application's telemetry).
resource functionDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: functionApp
  properties: {
    workspaceId: logs.id
    logs: [{ category: 'FunctionAppLogs', enabled: true }]
    metrics: [{ category: 'AllMetrics', enabled: true }]
  }
}

resource serviceBusDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: serviceBus
  properties: {
    workspaceId: logs.id
    metrics: [{ category: 'AllMetrics', enabled: true }]
  }
}

// ============================================================================================
// Static Web App: web/, with the Function App as its /api backend on the same origin.
// ============================================================================================
resource staticWebApp 'Microsoft.Web/staticSites@2024-04-01' = {
  name: names.staticWebApp
  location: staticWebAppLocation
  tags: union(tags, { 'azd-service-name': 'web' })
  sku: { name: 'Standard', tier: 'Standard' } // linked backends need Standard
  properties: {
    stagingEnvironmentPolicy: 'Disabled'
    allowConfigFileUpdates: true
  }
}

resource staticWebAppBackend 'Microsoft.Web/staticSites/linkedBackends@2024-04-01' = {
  parent: staticWebApp
  name: 'api'
  properties: {
    backendResourceId: functionApp.id
    region: location
  }
}

// ============================================================================================
// Container hosts: registry, 3 ConfigDB VMs (one per zone), the SIP edge VM.
// ============================================================================================
resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_166: quarantine is a Premium feature; images are built from this repository by `az acr build` in the postprovision hook, not pushed by third parties
  // checkov:skip=CKV_AZURE_139: Standard has no private endpoints; pulls and pushes need Entra ID (no admin user, no anonymous pull)
  name: names.registry
  location: location
  tags: tags
  sku: { name: 'Standard' }
  properties: {
    adminUserEnabled: false // VMs pull with their managed identity (AcrPull)
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled' // `az acr build` runs in Azure; Standard has no private endpoints
  }
}

var cloudInit = loadTextContent('cloud-init/container-host.yaml')
var registryHost = '${names.registry}.azurecr.io'
var configdbCloudInit = replace(replace(replace(cloudInit, '__REGISTRY__', registryHost), '__IMAGE__', '${registryHost}/cloudpbx-configdb:latest'), '__ENV_B64__', base64(string(configdbEnvironment)))
var edgeCloudInit = replace(replace(replace(cloudInit, '__REGISTRY__', registryHost), '__IMAGE__', '${registryHost}/cloudpbx-sip-edge:latest'), '__ENV_B64__', base64(string(edgeEnvironment)))

module configdbVms 'modules/container-host.bicep' = [
  for (n, i) in configdbNodes: {
    name: 'configdb-${n.id}'
    params: {
      name: 'vm-configdb-${n.id}-${token}'
      location: location
      tags: union(tags, { role: 'configdb', node: n.id })
      zone: n.zone
      subnetId: '${vnet.id}/subnets/configdb'
      privateIp: n.ip
      publicIp: false
      vmSize: configdbVmSize
      dataDiskSizeGb: configdbDiskSizeGb
      sshPublicKey: vmSshPublicKey
      customData: replace(configdbCloudInit, '__ARGS__', '--node-id ${n.id} --data-dir /data/${n.id} --http ${n.ip}:${configdbHttpPort} --stream ${n.ip}:${configdbStreamPort} --raft ${n.ip}:${configdbRaftPort} --peers ${n.peers} --region ${pbxRegion} --shard s1')
    }
  }
]

module edgeVm 'modules/container-host.bicep' = {
  name: 'edge'
  params: {
    name: 'vm-edge-${token}'
    location: location
    tags: union(tags, { role: 'sip-edge' })
    zone: '1'
    subnetId: '${vnet.id}/subnets/edge'
    privateIp: edgeIp
    publicIp: true
    vmSize: edgeVmSize
    dataDiskSizeGb: 32
    sshPublicKey: vmSshPublicKey
    customData: replace(edgeCloudInit, '__ARGS__', '--data-dir /data/edge')
  }
}

// ============================================================================================
// Role assignments
// ============================================================================================
var functionPrincipal = functionApp.identity.principalId

// Function App: the host's blobs (deployment package, timer locks, Event Grid blob trigger) and
// queues (its poison queue), the code's blobs, user-delegation SAS, Service Bus; secrets below.
var functionStorageRoleIds = [roles.blobDataOwner, roles.queueDataContributor, roles.blobDelegator]
var functionServiceBusRoleIds = [roles.serviceBusSender, roles.serviceBusReceiver]

resource functionStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in functionStorageRoleIds: {
    name: guid(storage.id, functionApp.id, role)
    scope: storage
    properties: {
      principalId: functionPrincipal
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

resource functionServiceBusRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in functionServiceBusRoleIds: {
    name: guid(serviceBus.id, functionApp.id, role)
    scope: serviceBus
    properties: {
      principalId: functionPrincipal
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

resource functionKeyVaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, functionApp.id, roles.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    principalId: functionPrincipal
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

// Edge VM: uploads voicemail and recordings, reads prompts and rates, signs nothing; sends
// call-ended messages; reads its secrets; pulls its image.
var edgeRoles = [roles.blobDataContributor, roles.queueDataContributor]

resource edgeStorageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in edgeRoles: {
    name: guid(storage.id, 'edge', role)
    scope: storage
    properties: {
      principalId: edgeVm.outputs.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

resource edgeServiceBusRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus.id, 'edge', roles.serviceBusSender)
  scope: serviceBus
  properties: {
    principalId: edgeVm.outputs.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusSender)
  }
}

resource edgeKeyVaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, 'edge', roles.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    principalId: edgeVm.outputs.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

resource edgeAcrRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, 'edge', roles.acrPull)
  scope: registry
  properties: {
    principalId: edgeVm.outputs.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
  }
}

// ConfigDB VMs: their secrets and their image.
resource configdbKeyVaultRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (n, i) in configdbNodes: {
    name: guid(keyVault.id, 'configdb', n.id, roles.keyVaultSecretsUser)
    scope: keyVault
    properties: {
      principalId: configdbVms[i].outputs.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    }
  }
]

resource configdbAcrRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (n, i) in configdbNodes: {
    name: guid(registry.id, 'configdb', n.id, roles.acrPull)
    scope: registry
    properties: {
      principalId: configdbVms[i].outputs.principalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
    }
  }
]

// Event Grid writes undeliverable blob events to the dead-letter container.
resource eventGridDeadLetterRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, eventGridTopic.id, roles.blobDataContributor)
  scope: storage
  properties: {
    principalId: eventGridTopic.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
  }
}

// The operator running azd: rotates secrets and lists and replays dead letters (python -m ops dlq).
resource operatorServiceBusRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(serviceBus.id, principalId, roles.serviceBusOwner)
  scope: serviceBus
  properties: {
    principalId: principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusOwner)
  }
}

// ... and reads and rotates the secrets (docs/deploy-azure.md).
resource operatorKeyVaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(keyVault.id, principalId, roles.keyVaultSecretsOfficer)
  scope: keyVault
  properties: {
    principalId: principalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
  }
}

output functionAppName string = functionApp.name
output staticWebAppName string = staticWebApp.name
output storageAccountName string = storage.name
output keyVaultName string = keyVault.name
output serviceBusNamespace string = serviceBus.name
output containerRegistryName string = registry.name
output eventGridSystemTopicName string = eventGridTopic.name
var configdbVmNameList = [for n in configdbNodes: 'vm-configdb-${n.id}-${token}']
output configdbVmNames string = join(configdbVmNameList, ',')
output edgeVmName string = 'vm-edge-${token}'
output edgePublicIp string = edgeVm.outputs.publicIpAddress
output portalUrl string = portalOrigin
output applicationInsightsName string = appInsights.name
