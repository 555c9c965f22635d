# Hostile parameter values never crash a cmdlet: every string a user can type where a name, digest, path, time,
# owner or namespace goes is tried against every cmdlet that takes one. Whatever is reported must be a well-formed
# ErrorRecord (an ErrorId of this module, or PowerShell's own parameter binding ids; a cause-based category; a
# target), never a raw .NET exception, and a store changed by nothing (destructive cmdlets run with -WhatIf).
BeforeDiscovery {
    $script:values = @(
        '', ' ', 'x', 'xyz', '.', '..', '../..', '/', 'a/b', 'a//b', 'vm/../../etc', '-', '*', '?', '[',
        "x`ny", "x`0y", "x`ty", ('a' * 300), 'ü', '漢字', '2024-13-45T99:99:99Z', ('0' * 63), ('g' * 64)
    ) | ForEach-Object { @{ Value = $_; Shown = ($_ -replace "`0", '\0' -replace "`n", '\n' -replace "`t", '\t') } }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Roots = Set-TestRoots
    $script:Store = New-TestStore
    Set-Content (Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 'datastore.cfg') "datastore: store1`n`tpath $Store`n"
    $script:Ds = Get-PbsDatastore -Path $Store
    $script:Group = Get-PbsBackupGroup $Ds vm 100
    $script:Snapshot = Get-PbsSnapshot $Ds vm 100 -Latest
    $script:Time = $Snapshot.BackupTime
    $script:InputFile = Join-Path $Roots 'input.img'
    [System.IO.File]::WriteAllBytes($InputFile, [byte[]]::new(4096))

    # The store's every file, chunks included, with length and modification time: a hostile value must change
    # none of it. .NET's enumeration, not Get-ChildItem: the provider takes seconds over 65536 chunk directories.
    function script:Get-StoreState {
        foreach ($f in [System.IO.DirectoryInfo]::new($Store).EnumerateFiles('*', 'AllDirectories')) {
            '{0} {1} {2}' -f $f.FullName, $f.Length, $f.LastWriteTimeUtc.Ticks
        }
    }
    $script:Before = Get-StoreState
    # Relative values ('x', '*', '..') resolve here, not in the repository.
    Push-Location $Roots

    # One invocation per cmdlet and string parameter; $v is the hostile value.
    $script:Invocations = [ordered]@{
        'Get-PbsDatastore -Name'             = { param($v) Get-PbsDatastore -Name $v }
        'Get-PbsDatastore -Path'             = { param($v) Get-PbsDatastore -Path $v }
        'Get-PbsDatastore -ConfigPath'       = { param($v) Get-PbsDatastore -ConfigPath $v }
        'Get-PbsNamespace -Namespace'        = { param($v) Get-PbsNamespace $Ds -Namespace $v }
        '-Datastore'                         = { param($v) Get-PbsNamespace -Datastore $v }
        'Get-PbsBackupGroup -BackupId'       = { param($v) Get-PbsBackupGroup $Ds -BackupType vm -BackupId $v }
        'Get-PbsSnapshot -BackupTime'        = { param($v) Get-PbsSnapshot $Ds vm 100 -BackupTime $v }
        'Get-PbsManifest -BackupId'          = { param($v) Get-PbsManifest $Ds vm $v $Time }
        'Get-PbsIndex -ArchiveName'          = { param($v) Get-PbsIndex $Ds vm 100 $Time $v }
        'Get-PbsIndex -Path'                 = { param($v) Get-PbsIndex -Path $v }
        'Get-PbsChunk -Digest'               = { param($v) Get-PbsChunk $Ds -Digest $v }
        'Get-PbsChunk -Path'                 = { param($v) Get-PbsChunk -Path $v }
        'Get-PbsChunk -KeyFile'              = { param($v) Get-PbsChunk -Path $InputFile -KeyFile $v }
        'Get-PbsChunkReference -Digest'      = { param($v) Get-PbsChunkReference $Ds -Digest $v }
        'Measure-PbsDatastore'               = { param($v) Measure-PbsDatastore $v }
        'Set-PbsBackupOwner -Owner'          = { param($v) $Group | Set-PbsBackupOwner -Owner $v -WhatIf }
        'New-PbsNamespace -Namespace'        = { param($v) New-PbsNamespace -Datastore $Ds -Namespace $v -WhatIf }
        'Remove-PbsNamespace'                = { param($v) Remove-PbsNamespace -Datastore $Ds -BackupNamespace $v -WhatIf }
        'New-PbsSnapshot -BackupId'          = { param($v) New-PbsSnapshot $Ds -BackupType vm -BackupId $v -Path $InputFile -WhatIf }
        'New-PbsSnapshot -Namespace'         = { param($v) New-PbsSnapshot $Ds -Namespace $v -BackupType vm -BackupId 1 -Path $InputFile -WhatIf }
        'New-PbsSnapshot -Owner'             = { param($v) New-PbsSnapshot $Ds -BackupType vm -BackupId 1 -Owner $v -Path $InputFile -WhatIf }
        'New-PbsSnapshot -ArchiveName'       = { param($v) New-PbsSnapshot $Ds -BackupType vm -BackupId 1 -ArchiveName $v -InputStream ([IO.MemoryStream]::new()) -WhatIf }
        'Export-PbsArchive -ArchiveName'     = { param($v) Export-PbsArchive $Snapshot $v (Join-Path $Roots 'out') -WhatIf }
        'Export-PbsArchive -Destination'     = { param($v) Export-PbsArchive $Snapshot 'drive-scsi0.img' $v -WhatIf }
        'Invoke-PbsPrune -TimeZone'          = { param($v) $Group | Invoke-PbsPrune -KeepLast 1 -TimeZone $v -WhatIf }
        'Test-PbsSnapshot -KeyFile'          = { param($v) $Snapshot | Test-PbsSnapshot -KeyFile $v -WhatIf }
        'Update-PbsManifest -Property'       = { param($v) $Snapshot | Update-PbsManifest -Property @{ $v = 1 } -WhatIf }
        'Set-PbsDatastore -MaintenanceMode'  = { param($v) Set-PbsDatastore store1 -MaintenanceMode $v -WhatIf }
        'New-PbsDatastore -Name'             = { param($v) New-PbsDatastore -Path (Join-Path $Roots 'new') -Name $v -WhatIf }
        'New-PbsDatastore -Path'             = { param($v) New-PbsDatastore -Path $v -WhatIf }
    }
}

AfterAll {
    Pop-Location
    Remove-TestStore $Store
    Remove-Item $Roots -Recurse -Force -ErrorAction SilentlyContinue
    Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT -ErrorAction SilentlyContinue
}

Describe 'The value "<Shown>" in every parameter' -ForEach $values {
    It 'gets well-formed errors only and changes nothing' {
        # Every bad record of every cmdlet is listed at once, not just the first.
        $bad = foreach ($name in $Invocations.Keys) {
            $records = & {
                $ErrorActionPreference = 'Continue'
                try { & $Invocations[$name] $Value 2>&1 | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] } }
                catch { $_ }
            }
            foreach ($r in @($records)) {
                $type = $r.Exception.GetType().FullName
                # PowerShell's own binding and validation errors are well-formed too; anything else must be ours.
                $ours = $r.FullyQualifiedErrorId -match '^([A-Z][A-Za-z]+,PbsDatastore\.Cmdlets\.|Parameter|MissingArgument|CannotConvertArgument|ArgumentTransformation)'
                $raw = $type -in @('System.ArgumentOutOfRangeException', 'System.IndexOutOfRangeException',
                    'System.NullReferenceException', 'System.InvalidCastException', 'System.FormatException',
                    'System.OverflowException', 'System.ArgumentException', 'System.ArgumentNullException', 'System.IO.IOException')
                if (-not $ours -or $raw -or $r.CategoryInfo.Category -eq 'NotSpecified' -or $r.FullyQualifiedErrorId -match '^UnexpectedError,') {
                    "$name '$Shown': $($r.FullyQualifiedErrorId) [$($r.CategoryInfo.Category)] ${type}: $($r.Exception.Message)"
                }
            }
        }
        $bad | Should -BeNullOrEmpty
        Get-StoreState | Should -Be $Before
    }
}

Describe 'A name PBS would refuse is refused under -WhatIf too' -ForEach @(
    @{ Name = 'New-PbsSnapshot -BackupId'; Bad = 'a b', '*', '../x', '.hidden' }
    @{ Name = 'New-PbsNamespace -Namespace'; Bad = 'a b', '*', '../x', 'a//b' }
    @{ Name = 'Set-PbsBackupOwner -Owner'; Bad = 'a b', 'root', 'root@pam!', 'a:b@pam', 'a/b@pam' }
    @{ Name = 'New-PbsDatastore -Name'; Bad = 'a b', '*', 'a/b', 'x' }
) {
    It '<Name> <Bad>' {
        foreach ($value in $Bad) {
            $records = & {
                $ErrorActionPreference = 'Continue'
                try { & $Invocations[$Name] $value 2>&1 | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] } }
                catch { $_ }
            }
            @($records).Count | Should -BeGreaterThan 0 -Because "'$value' is no valid name"
        }
    }
}
