@{
    RootModule             = 'PbsDatastore.dll'
    ModuleVersion          = '0.1.0'
    GUID                   = '6f0d3c1e-9a52-4d8b-b7b4-2c61f1a0e9d3'
    Author                 = 'PbsDatastore developers'
    CompanyName            = 'PbsDatastore'
    Copyright              = '(c) PbsDatastore developers. MIT licence.'
    Description            = 'Open and maintain Proxmox Backup Server datastores on disk, byte- and behaviour-compatible with PBS: garbage collection, verification, prune, removal, owners, notes, protection, manifests and space accounting.'
    PowerShellVersion      = '7.4'
    CompatiblePSEditions   = @('Core')
    CmdletsToExport        = @(
        'Export-PbsArchive'
        'Get-PbsBackupGroup'
        'Get-PbsChunk'
        'Get-PbsChunkReference'
        'Get-PbsDatastore'
        'Get-PbsGarbageCollectionStatus'
        'Get-PbsIndex'
        'Get-PbsManifest'
        'Get-PbsNamespace'
        'Get-PbsSnapshot'
        'Get-PbsUnreferencedChunk'
        'Invoke-PbsGarbageCollection'
        'Invoke-PbsPrune'
        'Measure-PbsDatastore'
        'Move-PbsBackupGroup'
        'Move-PbsNamespace'
        'New-PbsDatastore'
        'New-PbsNamespace'
        'New-PbsSnapshot'
        'Remove-PbsBackupGroup'
        'Remove-PbsNamespace'
        'Remove-PbsSnapshot'
        'Remove-PbsUnlistedFile'
        'Set-PbsBackupGroup'
        'Set-PbsBackupOwner'
        'Set-PbsDatastore'
        'Set-PbsSnapshot'
        'Test-PbsDatastore'
        'Test-PbsSnapshot'
        'Update-PbsManifest'
    )
    FunctionsToExport      = @()
    AliasesToExport        = @()
    VariablesToExport      = @()
    FormatsToProcess       = @('PbsDatastore.format.ps1xml')
    TypesToProcess         = @('PbsDatastore.types.ps1xml')
    PrivateData            = @{
        PSData = @{
            Tags         = @('ProxmoxBackupServer', 'PBS', 'Proxmox', 'Backup', 'Datastore', 'GarbageCollection', 'Verify', 'Prune', 'Linux', 'PSEdition_Core')
            LicenseUri   = 'https://github.com/pbsdatastore/PbsDatastore/blob/main/LICENSE'
            ProjectUri   = 'https://github.com/pbsdatastore/PbsDatastore'
            ReleaseNotes = 'First release: PBS-exact formats and hierarchy, read cmdlets, lifecycle (removal, owner, notes, protection, manifest updates under PBS locks), datastore.cfg edits (New-PbsDatastore -Name, Set-PbsDatastore maintenance mode), garbage collection, verify, prune, writing and exporting backups (New-PbsSnapshot, Export-PbsArchive) and space accounting (Measure-PbsDatastore, Get-PbsChunkReference). Installs with Install-PSResource; output objects survive jobs, remoting and Export-Clixml (times as DateTime, Deserialized views, deserialized objects pipe back into the cmdlets on their host).'
        }
    }
}
