# Objects keep their meaning through PowerShell's serialization (Start-Job, Export-Clixml/Import-Clixml) and
# through Start-ThreadJob: times stay DateTime, views render, and datastores, namespaces, groups and snapshots bind
# again to every cmdlet that takes one from the pipeline. ForEach-Object -Parallel across datastores keeps each
# store's progress and errors apart.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Roots = Set-TestRoots
    $script:ModulePath = Join-Path (Get-Module PbsDatastore).ModuleBase 'PbsDatastore.psd1'
    $script:Data = Join-Path $Roots 'disk.img'
    [System.IO.File]::WriteAllBytes($Data, [byte[]](1..300000 | ForEach-Object { ($_ * 7) % 251 }))
    $null = New-PbsDatastore -Path (Join-Path $Roots 'store1') -Name store1
    $null = New-PbsNamespace -Datastore store1 -Namespace prod
    $null = New-PbsSnapshot store1 -Namespace prod -BackupType vm -BackupId 100 -Path $Data -BackupTime (Get-Date).AddMinutes(-5)
    $script:Live = New-PbsSnapshot store1 -Namespace prod -BackupType vm -BackupId 100 -Path $Data

    # What a script would get back from each transport: the module's objects of every kind.
    $script:Producer = {
        Get-PbsDatastore store1
        Get-PbsNamespace store1 prod
        Get-PbsBackupGroup store1 -Namespace prod
        Get-PbsSnapshot store1 -Namespace prod -Latest
        Get-PbsManifest store1 -Namespace prod vm 100 $args[0]
    }
    function Invoke-Transport([string] $Transport) {
        $time = $Live.TimeString
        switch ($Transport) {
            'Start-Job' {
                Start-Job { Import-Module $using:ModulePath; & ([scriptblock]::Create($using:Producer)) $using:time } |
                    Receive-Job -Wait -AutoRemoveJob
            }
            'Start-ThreadJob' {
                Start-ThreadJob { Import-Module $using:ModulePath; & ([scriptblock]::Create($using:Producer)) $using:time } |
                    Receive-Job -Wait -AutoRemoveJob
            }
            'Export-Clixml' {
                $file = Join-Path $Roots 'objects.xml'
                & $Producer $time | Export-Clixml $file
                Import-Clixml $file
            }
        }
    }
}

AfterAll {
    [System.IO.Directory]::Delete($Roots, $true)
    Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT -ErrorAction SilentlyContinue
}

Describe 'Objects through <_>' -ForEach 'Start-Job', 'Start-ThreadJob', 'Export-Clixml' {
    BeforeAll {
        $objects = @(Invoke-Transport $_)
        $script:Store, $script:Ns, $script:Group, $script:Snap, $script:Manifest = $objects
    }

    It 'come back as the five objects, named by their type' {
        $objects.Count | Should -Be 5
        $Snap.PSObject.TypeNames[0] | Should -BeLike '*PbsDatastore.Objects.SnapshotInfo'
        $Group.PSObject.TypeNames[0] | Should -BeLike '*PbsDatastore.Objects.BackupGroupInfo'
    }

    It 'keep times as DateTime that compare with Get-Date' {
        $Snap.BackupTime | Should -BeOfType [datetime]
        $Group.LastBackup | Should -BeOfType [datetime]
        $Manifest.BackupTime | Should -BeOfType [datetime]
        ([DateTimeOffset]$Snap.BackupTime).ToUnixTimeSeconds() | Should -Be $Live.BackupSnapshot.Time
        $Group.LastBackup -gt (Get-Date).AddDays(-1) | Should -BeTrue
        $Group.LastBackup -gt (Get-Date).AddDays(1) | Should -BeFalse
        @(Get-PbsSnapshot store1 -Namespace prod | Where-Object BackupTime -GT $Snap.BackupTime.AddSeconds(-1)).Count | Should -Be 1
    }

    It 'keep their datastore name and path' {
        $Snap.Datastore.Name | Should -Be 'store1'
        $Snap.Datastore.Path | Should -Be $Live.Datastore.Path
    }

    It 'render with the module''s views' {
        $time = $Live.BackupTime.ToString('yyyy-MM-dd HH:mm:ss')
        $table = $Snap | Format-Table | Out-String -Width 80
        $table | Should -Match ([regex]::Escape($time))
        $table | Should -Not -Match 'BackupSnapshot'
        ($Group | Out-String -Width 80) | Should -Match ([regex]::Escape($time))
        ($Snap | Format-List | Out-String -Width 80) | Should -Match 'Datastore\s+: store1\s'
    }

    It 'bind again to <Command>' -ForEach @(
        @{ Command = 'Test-PbsSnapshot (snapshot)'; Run = { $Snap | Test-PbsSnapshot -Fast } }
        @{ Command = 'Test-PbsSnapshot (group)'; Run = { $Group | Test-PbsSnapshot -Fast } }
        @{ Command = 'Get-PbsManifest'; Run = { $Snap | Get-PbsManifest } }
        @{ Command = 'Get-PbsIndex'; Run = { $Snap | Get-PbsIndex } }
        @{ Command = 'Get-PbsSnapshot (group)'; Run = { $Group | Get-PbsSnapshot } }
        @{ Command = 'Get-PbsBackupGroup (namespace)'; Run = { $Ns | Get-PbsBackupGroup } }
        @{ Command = 'Get-PbsNamespace (datastore)'; Run = { $Store | Get-PbsNamespace -Recurse } }
        @{ Command = 'Set-PbsSnapshot'; Run = { $Snap | Set-PbsSnapshot -Notes 'checked' -PassThru } }
        @{ Command = 'Update-PbsManifest'; Run = { $Manifest | Update-PbsManifest -Notes 'checked again' -PassThru } }
        @{ Command = 'Set-PbsBackupGroup'; Run = { $Group | Set-PbsBackupGroup -Notes 'prod vm' -PassThru } }
        @{ Command = 'Set-PbsBackupOwner'; Run = { $Group | Set-PbsBackupOwner -Owner 'root@pam' -PassThru } }
        @{ Command = 'Export-PbsArchive'; Run = { $Snap | Export-PbsArchive -ArchiveName disk.img -Destination (Join-Path $Roots 'restored.img') -Force } }
        @{ Command = 'Measure-PbsDatastore'; Run = { $Store, $Ns, $Group, $Snap | Measure-PbsDatastore } }
        @{ Command = 'Invoke-PbsPrune -WhatIf'; Run = { $Group | Invoke-PbsPrune -KeepLast 1 -WhatIf } }
        @{ Command = 'Remove-PbsSnapshot -WhatIf'; Run = { $Snap | Remove-PbsSnapshot -WhatIf; 'planned' } }
        @{ Command = 'Remove-PbsUnlistedFile -WhatIf'; Run = { $Snap | Remove-PbsUnlistedFile -WhatIf; 'planned' } }
        @{ Command = 'Remove-PbsBackupGroup -WhatIf'; Run = { $Group | Remove-PbsBackupGroup -WhatIf; 'planned' } }
        @{ Command = 'Remove-PbsNamespace -WhatIf'; Run = { $Ns | Remove-PbsNamespace -Recurse -WhatIf; 'planned' } }
        @{ Command = 'Move-PbsBackupGroup -WhatIf'; Run = { $Group | Move-PbsBackupGroup -TargetNamespace 'archive' -WhatIf; 'planned' } }
        @{ Command = 'Move-PbsNamespace -WhatIf'; Run = { $Ns | Move-PbsNamespace -TargetNamespace 'old' -WhatIf; 'planned' } }
        @{ Command = 'Test-PbsDatastore'; Run = { $Store | Test-PbsDatastore -Fast } }
        @{ Command = 'Invoke-PbsGarbageCollection -WhatIf'; Run = { $Store | Invoke-PbsGarbageCollection -WhatIf } }
        @{ Command = 'Get-PbsGarbageCollectionStatus'; Run = { $Store | Get-PbsGarbageCollectionStatus; 'read' } }
        @{ Command = 'Get-PbsUnreferencedChunk'; Run = { $Store | Get-PbsUnreferencedChunk; 'read' } }
        @{ Command = 'Get-PbsChunkReference -Missing'; Run = { $Store | Get-PbsChunkReference -Missing; 'read' } }
        @{ Command = 'Set-PbsDatastore -WhatIf'; Run = { $Store | Set-PbsDatastore -Comment 'fleet' -WhatIf; 'planned' } }
    ) {
        $out = @(& $Run -ErrorAction Stop -WarningAction SilentlyContinue 6>$null)
        $out | Should -Not -BeNullOrEmpty
    }

    It 'name the object they stand for' {
        ($Snap | Test-PbsSnapshot -Fast).Snapshot | Should -Be $Live.Snapshot
        ($Group | Get-PbsSnapshot).Snapshot | Should -Contain $Live.Snapshot
        ($Snap | Get-PbsManifest).BackupTime | Should -Be $Live.BackupTime
    }
}

Describe 'Stores opened from deserialized objects' {
    BeforeAll {
        $script:Store, $script:Ns, $script:Group, $script:Snap, $null = @(Invoke-Transport 'Export-Clixml')
        $script:StorePath = $Store.Path
        # Descriptors of this process under the store (the backend keeps the root and .chunks open while in use).
        $script:OpenUnderStore = { @(Get-ChildItem "/proc/$PID/fd" | Where-Object { "$($_.LinkTarget)" -eq $StorePath -or "$($_.LinkTarget)".StartsWith("$StorePath/") }).Count }
    }
    BeforeEach {
        # Stores the earlier tests dropped close when collected; their count would blur this baseline.
        [GC]::Collect(); [GC]::WaitForPendingFinalizers(); [GC]::Collect()
    }

    It 'are closed by the command that opened them, however often it runs' {
        $before = & $OpenUnderStore
        foreach ($i in 1..20) {
            $Snap | Test-PbsSnapshot -Fast | ForEach-Object State | Should -Be 'Ok'
            @($Group | Test-PbsSnapshot -Fast).Count | Should -BeGreaterThan 1
            $Store | Test-PbsDatastore -Fast -WarningAction SilentlyContinue | Should -Not -BeNullOrEmpty
            ($Store, $Ns, $Group, $Snap | Measure-PbsDatastore).IndexFiles | Should -BeGreaterThan 0
            $Snap | Export-PbsArchive -ArchiveName disk.img -Destination (Join-Path $Roots 'fd.img') -Force | Should -Not -BeNullOrEmpty
            $null = $Store | Get-PbsChunkReference -Missing
            @($Group | Invoke-PbsPrune -KeepLast 1 -WhatIf).Count | Should -Be 2
            # Ended early: by Select-Object -First (a stop) and by a failure downstream (an error).
            @($Group | Test-PbsSnapshot -Fast | Select-Object -First 1).Count | Should -Be 1
            { $Group | Test-PbsSnapshot -Fast | ForEach-Object { throw 'failed downstream' } } | Should -Throw 'failed downstream'
        }
        & $OpenUnderStore | Should -Be $before
    }

    It 'leave a live datastore bound from the pipeline usable' {
        $before = & $OpenUnderStore
        $live = Get-PbsDatastore store1
        foreach ($i in 1..3) {
            $states = @(($live | Test-PbsDatastore -Fast).State)
            $states.Count | Should -BeGreaterThan 0
            $states | Should -Not -Contain 'Failed'
            ($live | Measure-PbsDatastore).IndexFiles | Should -BeGreaterThan 0
        }
        & $OpenUnderStore | Should -Be $before
    }
}

Describe 'Binding by property name' {
    It 'opens a snapshot from any object with the identity properties' {
        $handmade = [pscustomobject]@{ Datastore = 'store1'; Namespace = 'prod'; BackupType = 'vm'; BackupId = '100'; BackupTime = $Live.BackupTime }
        ($handmade | Test-PbsSnapshot -Fast).Snapshot | Should -Be $Live.Snapshot
        ($handmade | Get-PbsManifest).Snapshot | Should -Be $Live.Snapshot
    }
    It 'reports a snapshot that is not there as the snapshot cmdlets do' {
        $gone = [pscustomobject]@{ Datastore = 'store1'; Namespace = 'prod'; BackupType = 'vm'; BackupId = '999'; BackupTime = $Live.BackupTime }
        $gone | Get-PbsManifest -ErrorVariable err -ErrorAction SilentlyContinue
        $err | Should -Not -BeNullOrEmpty
    }
    It 'refuses a deserialized object whose datastore does not exist on this host' {
        $moved = [pscustomobject]@{ Datastore = (Join-Path $Roots 'elsewhere'); Namespace = ''; BackupType = 'vm'; BackupId = '100'; BackupTime = $Live.BackupTime }
        { $moved | Test-PbsSnapshot -Fast -ErrorAction Stop } | Should -Throw '*elsewhere*'
    }
}

Describe 'Views for deserialized objects' {
    It 'every view of the built module selects each type and its Deserialized twin' {
        $format = [xml](Get-Content (Join-Path (Split-Path $ModulePath) 'PbsDatastore.format.ps1xml') -Raw)
        foreach ($view in $format.Configuration.ViewDefinitions.View) {
            $names = @($view.ViewSelectedBy.TypeName)
            $plain = @($names | Where-Object { -not $_.StartsWith('Deserialized.') })
            $plain | Should -Not -BeNullOrEmpty -Because "view $($view.Name) selects a type"
            $names | Sort-Object | Should -Be (@($plain) + @($plain | ForEach-Object { "Deserialized.$_" }) | Sort-Object) -Because "view $($view.Name)"
        }
    }
}

Describe 'ForEach-Object -Parallel across datastores' {
    BeforeAll {
        $null = New-PbsDatastore -Path (Join-Path $Roots 'store2') -Name store2
        $null = New-PbsSnapshot store2 -BackupType ct -BackupId 200 -Path $Data
        $null = New-PbsDatastore -Path (Join-Path $Roots 'store3') -Name store3
        Set-PbsDatastore store3 -MaintenanceMode offline -Confirm:$false
        $ps = [powershell]::Create().AddScript({
            param($module)
            'store1', 'store2', 'store3' | ForEach-Object -ThrottleLimit 3 -Parallel {
                Import-Module $using:module
                Test-PbsDatastore $_ -Confirm:$false
            }
        }).AddArgument($ModulePath)
        $script:Results = @($ps.Invoke())
        $script:Errors = @($ps.Streams.Error)
        $script:Progress = @($ps.Streams.Progress)
        $ps.Dispose()
    }
    AfterAll { Set-PbsDatastore store3 -MaintenanceMode none -Confirm:$false }

    It 'verifies every snapshot of each store in its own runspace' {
        @($Results | Where-Object { $_.BackupSnapshot.Datastore.Name -eq 'store1' }).Count | Should -Be 2
        @($Results | Where-Object { $_.BackupSnapshot.Datastore.Name -eq 'store2' }).Count | Should -Be 1
        $Results.State | Should -Not -Contain 'Failed'
    }
    It 'attributes the error to the store that failed' {
        $Errors.Count | Should -Be 1
        $Errors[0].FullyQualifiedErrorId | Should -BeLike 'DatastoreInMaintenance,*'
        $Errors[0].TargetObject | Should -Be 'store3'
    }
    It 'names each store in its own progress' {
        $activities = @($Progress | Where-Object ParentActivityId -EQ -1 | ForEach-Object Activity | Sort-Object -Unique)
        $activities | Should -Contain 'Verify store1'
        $activities | Should -Contain 'Verify store2'
        $Progress | Where-Object { $_.Activity -eq 'Verify store2' -and $_.StatusDescription -match 'vm/100' } | Should -BeNullOrEmpty
    }
}
