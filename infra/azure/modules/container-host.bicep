// One Linux VM that runs one container from the registry (cloud-init/container-host.yaml):
// zonal, a static private IP, an optional static public IP, a Premium SSD data disk
// mounted at /data, a system-assigned identity (Key Vault secrets, registry pull), SSH keys only.

param name string
param location string
param tags object
@allowed(['1', '2', '3'])
param zone string
param subnetId string
param privateIp string
param publicIp bool
param vmSize string
@description('Premium SSD data disk mounted at /data, GiB.')
@minValue(4)
param dataDiskSizeGb int
param sshPublicKey string
@description('cloud-init user data (plain text; encoded here).')
param customData string
param adminUsername string = 'pbxadmin'
@description('Encrypt the temp disk and caches on the host (the subscription must have the EncryptionAtHost feature registered).')
param encryptionAtHost bool = true

resource pip 'Microsoft.Network/publicIPAddresses@2024-05-01' = if (publicIp) {
  name: 'pip-${name}'
  location: location
  tags: tags
  zones: [zone]
  sku: { name: 'Standard', tier: 'Regional' }
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
    idleTimeoutInMinutes: 30
  }
}

resource nic 'Microsoft.Network/networkInterfaces@2024-05-01' = {
  name: 'nic-${name}'
  location: location
  tags: tags
  properties: {
    enableIPForwarding: false
    enableAcceleratedNetworking: true
    ipConfigurations: [
      {
        name: 'primary'
        properties: {
          subnet: { id: subnetId }
          privateIPAllocationMethod: 'Static'
          privateIPAddress: privateIp
          publicIPAddress: publicIp ? { id: pip.id } : null
        }
      }
    ]
  }
}

resource dataDisk 'Microsoft.Compute/disks@2024-03-02' = {
  // checkov:skip=CKV_AZURE_93: encrypted at rest with platform-managed keys (and at host); customer-managed keys would add a disk encryption set and a key to rotate
  name: 'disk-${name}-data'
  location: location
  tags: tags
  zones: [zone]
  sku: { name: 'Premium_LRS' }
  properties: {
    creationData: { createOption: 'Empty' }
    diskSizeGB: dataDiskSizeGb
    encryption: { type: 'EncryptionAtRestWithPlatformKey' }
    networkAccessPolicy: 'DenyAll'
    publicNetworkAccess: 'Disabled'
  }
}


resource vm 'Microsoft.Compute/virtualMachines@2024-07-01' = {
  // checkov:skip=CKV_AZURE_50: no extension is installed; extension operations stay allowed for `az vm run-command`, which the rolling image update uses
  name: name
  location: location
  tags: tags
  zones: [zone]
  identity: { type: 'SystemAssigned' }
  properties: {
    hardwareProfile: { vmSize: vmSize }
    osProfile: {
      computerName: take(name, 63)
      adminUsername: adminUsername
      customData: base64(customData)
      linuxConfiguration: {
        disablePasswordAuthentication: true
        ssh: {
          publicKeys: [{ path: '/home/${adminUsername}/.ssh/authorized_keys', keyData: sshPublicKey }]
        }
        patchSettings: { patchMode: 'AutomaticByPlatform', assessmentMode: 'AutomaticByPlatform' }
      }
    }
    storageProfile: {
      imageReference: {
        publisher: 'Canonical'
        offer: '0001-com-ubuntu-server-jammy'
        sku: '22_04-lts-gen2'
        version: 'latest'
      }
      osDisk: {
        name: 'disk-${name}-os'
        createOption: 'FromImage'
        managedDisk: { storageAccountType: 'Premium_LRS' }
        deleteOption: 'Delete'
      }
      dataDisks: [
        {
          lun: 0
          createOption: 'Attach'
          caching: 'None' // the node fsyncs every commit: no host write cache in between
          managedDisk: { id: dataDisk.id }
          deleteOption: 'Detach' // the data outlives the VM
        }
      ]
    }
    networkProfile: {
      networkInterfaces: [{ id: nic.id, properties: { deleteOption: 'Delete' } }]
    }
    diagnosticsProfile: { bootDiagnostics: { enabled: true } }
    securityProfile: {
      securityType: 'TrustedLaunch'
      encryptionAtHost: encryptionAtHost
      uefiSettings: { secureBootEnabled: true, vTpmEnabled: true }
    }
  }
}

output principalId string = vm.identity.principalId
output publicIpAddress string = publicIp ? pip.properties.ipAddress : ''
