# New-PbsDatastore -Name and Set-PbsDatastore edit datastore.cfg as PBS does, and the module's own cmdlets honour the
# maintenance mode from the next operation on, even through a datastore object opened before the change.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Roots = Set-TestRoots
    $script:Store = New-TestStore
    $script:Cfg = Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 'datastore.cfg'
    Set-Content $Cfg "datastore: store1`n`tpath $Store`n" -NoNewline
    $script:NewStores = Join-Path $Roots 'stores'
}

AfterAll {
    Remove-TestStore $Store
    [System.IO.Directory]::Delete($Roots, $true)
    Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT -ErrorAction SilentlyContinue
}

Describe 'New-PbsDatastore -Name' {
    It 'creates the store and configures it, so it opens by name' {
        $path = Join-Path $NewStores 'store2'
        $ds = New-PbsDatastore -Path $path -Name store2 -Comment 'second disk'
        $ds.Name | Should -Be 'store2'
        (Get-PbsDatastore store2).Path | Should -Be $path
        Get-Content $Cfg -Raw | Should -BeLikeExactly "*`n`ndatastore: store2`n`tcomment second disk`n`tpath $path`n"
        [int](Get-Item $Cfg).UnixFileMode | Should -Be ([Convert]::ToInt32('640', 8))
    }
    It 'refuses a configured name before creating anything' {
        $path = Join-Path $NewStores 'again'
        { New-PbsDatastore -Path $path -Name store1 -ErrorAction Stop } | Should -Throw -ErrorId 'DatastoreExists,*'
        Test-Path $path | Should -BeFalse
    }
    It 'refuses an invalid name before creating anything' {
        $path = Join-Path $NewStores 'bad'
        { New-PbsDatastore -Path $path -Name 'no/slash' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidDatastoreName,*'
        Test-Path $path | Should -BeFalse
    }
    It 'creates nothing with -WhatIf' {
        $before = Get-Content $Cfg -Raw
        New-PbsDatastore -Path (Join-Path $NewStores 'store3') -Name store3 -WhatIf
        Test-Path (Join-Path $NewStores 'store3') | Should -BeFalse
        Get-Content $Cfg -Raw | Should -BeExactly $before
    }
}

Describe 'Set-PbsDatastore' {
    BeforeEach {
        $script:Opened = Get-PbsDatastore store1
        $script:Snapshot = Get-PbsSnapshot $Opened vm 100 -Latest
    }
    AfterEach { Set-PbsDatastore store1 -MaintenanceMode none }

    It 'read-only refuses writes, even through objects opened before, and still allows reading' {
        $ds = Set-PbsDatastore store1 -MaintenanceMode read-only -MaintenanceMessage 'disk swap, back at 14:00' -PassThru
        $ds.Config.MaintenanceMode.Type | Should -Be 'read-only'
        $ds.Config.MaintenanceMode.Message | Should -Be 'disk swap, back at 14:00'
        Get-Content $Cfg -Raw | Should -Match "`tmaintenance-mode type=read-only,message=disk%20swap%2C%20back%20at%2014%3A00`n"
        { $Snapshot | Set-PbsSnapshot -Protected $true -ErrorAction Stop } | Should -Throw -ErrorId 'DatastoreInMaintenance,*'
        $err = $null
        Remove-PbsSnapshot -BackupSnapshot $Snapshot.BackupSnapshot -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable err
        $err[0].FullyQualifiedErrorId | Should -BeLike 'DatastoreInMaintenance,*'
        $err[0].Exception.Message | Should -Match 'disk swap, back at 14:00'
        Test-Path $Snapshot.Path | Should -BeTrue
        @(Get-PbsSnapshot $Opened vm 100).Count | Should -BeGreaterThan 0
    }
    It 'read-only still verifies and records verify_state, as PBS verifies on a store looked up for reading' {
        Set-PbsDatastore store1 -MaintenanceMode read-only
        $result = $Snapshot | Test-PbsSnapshot
        $result.State | Should -Be 'Ok'
        $result.VerifyStateUpid | Should -Not -BeNullOrEmpty
        ($Snapshot | Get-PbsManifest).VerifyUpid | Should -Be $result.VerifyStateUpid
        Set-PbsDatastore store1 -MaintenanceMode offline
        { $Snapshot | Test-PbsSnapshot -ErrorAction Stop } | Should -Throw -ErrorId 'DatastoreInMaintenance,*'
    }
    It 'offline refuses garbage collection; none lifts it' {
        Set-PbsDatastore store1 -MaintenanceMode offline
        { Invoke-PbsGarbageCollection $Opened -WhatIf -ErrorAction Stop 6>$null } | Should -Throw -ErrorId 'DatastoreInMaintenance,*'
        Set-PbsDatastore store1 -MaintenanceMode none
        Get-Content $Cfg -Raw | Should -Not -Match 'maintenance-mode'
        Invoke-PbsGarbageCollection $Opened -WhatIf -WarningAction SilentlyContinue 6>$null | Should -Not -BeNullOrEmpty
    }
    It 'sets and removes the comment' {
        Set-PbsDatastore store1 -Comment 'primary'
        (Get-PbsDatastore store1).Comment | Should -Be 'primary'
        Set-PbsDatastore store1 -Comment ''
        (Get-PbsDatastore store1).Comment | Should -BeNullOrEmpty
    }
    It 'changes nothing with -WhatIf' {
        $before = Get-Content $Cfg -Raw
        Set-PbsDatastore store1 -MaintenanceMode offline -WhatIf
        Get-Content $Cfg -Raw | Should -BeExactly $before
    }
    It 'refuses a message without a mode and a store that is not configured' {
        { Set-PbsDatastore store1 -MaintenanceMessage 'why' -ErrorAction Stop } | Should -Throw -ErrorId 'MaintenanceModeRequired,*'
        $unconfigured = New-PbsDatastore -Path (Join-Path $NewStores 'loose')
        { Set-PbsDatastore $unconfigured -Comment 'x' -ErrorAction Stop } | Should -Throw -ErrorId 'DatastoreNotConfigured,*'
    }
}
