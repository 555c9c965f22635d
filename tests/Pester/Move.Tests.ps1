# Move-PbsBackupGroup and Move-PbsNamespace on copies of the reference store: what moves arrives intact and
# verifies as before, -WhatIf changes nothing, and every refusal leaves the store as it was.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Roots = Set-TestRoots
    $env:PBS_DATASTORE_PBS_VERSION = '4.1.9'
    # Hierarchy-only copies: the chunk prefix directories are most of an extraction's cost.
    $script:Template = Join-Path $script:Roots 'template'
    $null = New-Item -ItemType Directory $script:Template
    tar -xzf (Join-Path $script:FixturesDir 'pbs-reference-store.tar.gz') -C $script:Template --exclude 'pbs-reference-store/.chunks/*'
    if ($LASTEXITCODE -ne 0) { throw 'tar failed' }
    $script:Template = Join-Path $script:Template 'pbs-reference-store'

    function New-MoveStore {
        $dir = Join-Path $script:Roots ('store-' + [guid]::NewGuid().ToString('n').Substring(0, 8))
        $null = New-Item -ItemType Directory $dir
        tar -C $script:Template -cf - . | tar -C $dir -xf -
        $dir
    }

    # Every file below the store with its content hash, relative paths.
    function Get-TreeState([string] $Path) {
        Get-ChildItem $Path -Recurse -Force | Sort-Object FullName | ForEach-Object {
            $rel = [System.IO.Path]::GetRelativePath($Path, $_.FullName)
            if ($_.PSIsContainer) { $rel } else { "$rel $((Get-FileHash $_.FullName).Hash)" }
        }
    }

}

AfterAll {
    Remove-Item $script:Roots -Recurse -Force -ErrorAction SilentlyContinue
    Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT, Env:PBS_DATASTORE_PBS_VERSION -ErrorAction SilentlyContinue
}

Describe 'Move-PbsNamespace' {
    It 'moves a namespace tree; every snapshot keeps its manifest and verifies as before' {
        $store = New-TestStore
        try {
            $manifests = @{}
            foreach ($s in $Expected.store.snapshots) {
                $manifests[$s.path] = (Get-FileHash (Join-Path $store $s.path 'index.json.blob') -ErrorAction Ignore).Hash
            }
            New-PbsNamespace -Datastore $store -Namespace archive | Out-Null
            $r = Move-PbsNamespace -Datastore $store -Namespace prod -TargetNamespace archive/prod -PassThru -Confirm:$false
            $prodGroups = @($Expected.store.groups | Where-Object { $_.ns -like 'prod*' })
            $r.Count | Should -Be $prodGroups.Count
            $r.Succeeded | Should -Not -Contain $false
            ($r | Measure-Object MovedSnapshots -Sum).Sum | Should -Be ($prodGroups | Measure-Object snapshot_count -Sum).Sum
            (Get-PbsNamespace -Datastore $store -Recurse).Namespace | Should -Be @('', 'archive', 'archive/prod', 'archive/prod/db')

            foreach ($s in $Expected.store.snapshots) {
                $path = $s.path -replace '^ns/prod/', 'ns/archive/ns/prod/'
                (Get-FileHash (Join-Path $store $path 'index.json.blob') -ErrorAction Ignore).Hash | Should -Be $manifests[$s.path]
                $ns = if ($s.ns) { $s.ns -replace '^prod', 'archive/prod' } else { '' }
                $listed = Get-PbsSnapshot -Datastore $store -Namespace $ns -BackupType $s.type -BackupId $s.id |
                    Where-Object TimeString -eq (Split-Path $s.path -Leaf)
                @($listed).Count | Should -Be 1
            }
            $v = Test-PbsDatastore $store -WhatIf -WarningAction SilentlyContinue
            $v.Count | Should -Be $Expected.verify.without_key.snapshots
            @($v | Where-Object Ok).Count | Should -Be $Expected.verify.without_key.snapshots_ok
            @($v | Where-Object { -not $_.Ok } | ForEach-Object { $_.BackupSnapshot.RelativePath } | Sort-Object) |
                Should -Be @($Expected.verify.without_key.failed_snapshots | ForEach-Object { $_ -replace '^ns/prod/', 'ns/archive/ns/prod/' })
        }
        finally { Remove-TestStore $store }
    }

    It '-WhatIf shows the plan and changes nothing' {
        $store = New-MoveStore
        $before = Get-TreeState $store
        Move-PbsNamespace -Datastore $store -Namespace prod -TargetNamespace moved -WhatIf
        Get-TreeState $store | Should -Be $before
    }

    It 'refuses a move into its own subtree' {
        $store = New-MoveStore
        Move-PbsNamespace -Datastore $store -Namespace prod -TargetNamespace prod/db/x -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'MoveIntoOwnSubtree*'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
    }

    It 'reports the groups a busy lock kept behind, and loses nothing' {
        $store = New-MoveStore
        $busy = Join-Path $store 'ns/prod/host/web01'
        $holder = Start-Holder $busy
        try {
            $r = Move-PbsNamespace -Datastore $store -Namespace prod -TargetNamespace moved -PassThru -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        }
        finally { Stop-Holder $holder }
        @($err.FullyQualifiedErrorId) | Should -Be @('LockBusy,PbsDatastore.Cmdlets.MovePbsNamespace', 'NamespacePartiallyMoved,PbsDatastore.Cmdlets.MovePbsNamespace')
        ($err | Where-Object { $_.FullyQualifiedErrorId -like 'NamespacePartiallyMoved*' }).Exception.Message | Should -Match 'prod:host/web01'
        ($r | Where-Object { -not $_.Succeeded }).Failure.ErrorId | Should -Be 'LockBusy'
        @(Get-PbsSnapshot -Datastore $store -Namespace prod -BackupType host -BackupId web01).Count | Should -Be 2
        $total = 0
        foreach ($ns in Get-PbsNamespace -Datastore $store -Recurse) {
            $total += @(Get-PbsSnapshot -Datastore $store -Namespace $ns.Namespace).Count
        }
        $total | Should -Be $Expected.store.snapshots.Count
    }
}

Describe 'Move-PbsBackupGroup' {
    It 'moves piped groups, with a view, and -WhatIf changes nothing' {
        $store = New-MoveStore
        $before = Get-TreeState $store
        Get-PbsBackupGroup -Datastore $store | Move-PbsBackupGroup -TargetNamespace prod -WhatIf
        Get-TreeState $store | Should -Be $before
        $r = Get-PbsBackupGroup -Datastore $store -BackupType vm | Move-PbsBackupGroup -TargetNamespace prod -PassThru -Confirm:$false
        $r.MovedSnapshots | Should -Be 3
        ($r | Format-Table | Out-String) | Should -Match 'prod:vm/100'
        $g = Get-PbsBackupGroup -Datastore $store -Namespace prod -BackupType vm -BackupId 100
        $g.Notes | Should -Be ($Expected.store.groups | Where-Object path -eq 'vm/100').notes_file
        $g.SnapshotCount | Should -Be 3
        Get-PbsBackupGroup -Datastore $store -BackupType vm | Should -BeNullOrEmpty
    }

    It 'refuses while a GC of another process holds the chunk store lock' {
        $store = New-MoveStore
        $before = Get-TreeState $store
        $holder = Start-ChunkStoreLockHolder $store -Exclusive
        try {
            Move-PbsBackupGroup -Datastore $store -BackupType vm -BackupId 100 -TargetNamespace prod -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        }
        finally { Stop-Holder $holder }
        $err[0].FullyQualifiedErrorId | Should -BeLike 'GarbageCollectionRunning*'
        $err[0].Exception.Message | Should -Match 'garbage collection'
        Get-TreeState $store | Should -Be $before
    }

    It 'refuses in old-locking mode, merge conflicts and bad names' {
        $store = New-MoveStore
        $sentinel = Join-Path $env:PBS_DATASTORE_RUN_ROOT 'old-locking'
        Set-Content $sentinel ''
        try {
            Move-PbsBackupGroup -Datastore $store -BackupType vm -BackupId 100 -TargetNamespace prod -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -BeLike 'MoveRefusedOldLocking*'
        }
        finally { Remove-Item $sentinel }
        Move-PbsBackupGroup -Datastore $store -Namespace prod/db -BackupType ct -BackupId 300 -TargetNamespace prod/db -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'MoveSameNamespace*'
        # A prod/vm/100 of another owner with one snapshot at the source's oldest time.
        $copy = Join-Path $store 'ns/prod/vm/100'
        $null = New-Item -ItemType Directory $copy
        Copy-Item -Recurse (Join-Path $store 'vm/100/2024-03-01T10:00:00Z') $copy
        Set-Content -NoNewline -Path (Join-Path $copy 'owner') -Value "backup@pbs`n"
        Move-PbsBackupGroup -Datastore $store -BackupType vm -BackupId 100 -TargetNamespace prod -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'MoveOwnerMismatch*'
        Set-Content -NoNewline -Path (Join-Path $copy 'owner') -Value "root@pam`n"
        Move-PbsBackupGroup -Datastore $store -BackupType vm -BackupId 100 -TargetNamespace prod -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'MoveMergeConflict*'
        Move-PbsBackupGroup -Datastore $store -BackupType vm -BackupId 100 -TargetNamespace prod -NoMerge -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'MoveTargetExists*'
        @(Get-PbsSnapshot -Datastore $store -BackupType vm -BackupId 100).Count | Should -Be 3
        # Strictly older target snapshots: the groups merge.
        Rename-Item (Join-Path $copy '2024-03-01T10:00:00Z') '2024-02-01T10:00:00Z'
        $r = Move-PbsBackupGroup -Datastore $store -BackupType vm -BackupId 100 -TargetNamespace prod -PassThru -Confirm:$false
        $r.Merged | Should -BeTrue
        @(Get-PbsSnapshot -Datastore $store -Namespace prod -BackupType vm -BackupId 100).Count | Should -Be 4
        Move-PbsBackupGroup -Datastore $store -BackupType vm -BackupId 100 -TargetNamespace '../x' -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidNamespace*'
        Move-PbsBackupGroup -Datastore $store -BackupType vm -BackupId '../100' -TargetNamespace prod -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidBackupId*'
    }
}
