// Cloud PBX on Azure: what `azd up` provisions (docs/deploy-azure.md).
//
// Subscription scope: one resource group `rg-<environment>` holding everything in
// resources.bicep. Secrets arrive as secure parameters from the azd environment
// (infra/azure/scripts/preprovision.sh generates the missing ones) and are written to Key Vault;
// no host receives a secret value in its configuration, only Key Vault references.
targetScope = 'subscription'

@minLength(1)
@maxLength(40)
@description('azd environment name; names and tags derive from it.')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer Flex Consumption, availability zones, Cosmos DB for MongoDB (vCore) and Static Web Apps.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Region of the Static Web App (it is offered in fewer regions; the site is served from the global edge anyway).')
param staticWebAppLocation string = 'westeurope'

@description('Object id of the person or pipeline running azd: it gets Key Vault Secrets Officer, so operators can rotate secrets. Empty: none.')
param principalId string = ''

@description('The PBX region name this deployment serves (REGION; the key of REGION_BASE_URLS).')
param pbxRegion string = 'eu'

@description('The SIP trunk: its signalling and media source addresses, comma-separated CIDRs. Only these reach UDP/TCP 5060 and the RTP ports.')
param trunkCidrs string

@description('host:port of the provider for outbound legs (PROVIDER_ADDRESS).')
param providerAddress string

@description('SMTP relay (SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_SENDER; STARTTLS on).')
param smtpHost string
param smtpPort string = '587'
param smtpUsername string = ''
param smtpSender string = 'Cloud PBX <no-reply@example.com>'

@description('The carrier rate deck, an https URL (RATES_SOURCE). Empty: the sample deck shipped with the code.')
param ratesSource string = ''

@description('The operator\'s SSH public key for the ConfigDB and edge VMs (no port 22 is open to the Internet; use Azure Bastion or run-command).')
param vmSshPublicKey string

@secure()
param jwtSecret string
@secure()
@description('Previous JWT secrets still accepted during a rotation, comma-separated; empty outside a rotation.')
param jwtPreviousSecrets string = ''
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
param smtpPassword string = ''

var tags = { 'azd-env-name': environmentName }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'cloudpbx-resources'
  scope: rg
  params: {
    environmentName: environmentName
    location: location
    staticWebAppLocation: staticWebAppLocation
    tags: tags
    principalId: principalId
    pbxRegion: pbxRegion
    trunkCidrs: trunkCidrs
    providerAddress: providerAddress
    smtpHost: smtpHost
    smtpPort: smtpPort
    smtpUsername: smtpUsername
    smtpSender: smtpSender
    ratesSource: ratesSource
    vmSshPublicKey: vmSshPublicKey
    jwtSecret: jwtSecret
    jwtPreviousSecrets: jwtPreviousSecrets
    configdbToken: configdbToken
    configdbAppToken: configdbAppToken
    configdbEdgeToken: configdbEdgeToken
    configdbPeerToken: configdbPeerToken
    edgeControlToken: edgeControlToken
    mongoAdminPassword: mongoAdminPassword
    smtpPassword: smtpPassword
  }
}

// azd reads these into the environment (`azd env get-values`); the hooks use them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output AZURE_STATIC_WEB_APP_NAME string = resources.outputs.staticWebAppName
output AZURE_STORAGE_ACCOUNT_NAME string = resources.outputs.storageAccountName
output AZURE_KEY_VAULT_NAME string = resources.outputs.keyVaultName
output AZURE_SERVICEBUS_NAMESPACE string = resources.outputs.serviceBusNamespace
output AZURE_CONTAINER_REGISTRY_NAME string = resources.outputs.containerRegistryName
output AZURE_EVENTGRID_SYSTEM_TOPIC string = resources.outputs.eventGridSystemTopicName
output AZURE_CONFIGDB_VMS string = resources.outputs.configdbVmNames
output AZURE_EDGE_VM string = resources.outputs.edgeVmName
output EDGE_PUBLIC_IP string = resources.outputs.edgePublicIp
output PORTAL_URL string = resources.outputs.portalUrl
output APPLICATIONINSIGHTS_NAME string = resources.outputs.applicationInsightsName
output BLOB_TRIGGER_CONTAINERS string = 'voicemail_new=voicemail,prompt_convert=prompts'
