# Invoke-PbsPrune, Test-PbsSnapshot and Test-PbsDatastore on private copies of the reference store.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Roots = Set-TestRoots
    # Copies hold the store's files only: the 65536 empty chunk prefix directories are most of an extraction's cost.
    $script:Tarball = Join-Path $script:FixturesDir 'pbs-reference-store.tar.gz'
    $script:FileList = Join-Path $script:Roots 'files.txt'
    tar -tzf $script:Tarball | Where-Object { -not $_.EndsWith('/') } | Set-Content $script:FileList
    function New-SparseStore {
        $dir = Join-Path $script:Roots ('store-' + [guid]::NewGuid().ToString('n').Substring(0, 8))
        $null = New-Item -ItemType Directory $dir
        tar -xzf $script:Tarball -C $dir -T $script:FileList
        if ($LASTEXITCODE -ne 0) { throw 'tar failed' }
        Join-Path $dir 'pbs-reference-store'
    }
    function Get-ManifestState([string] $SnapshotPath) {
        [PbsDatastore.Core.Formats.BackupManifest]::Load((Join-Path $SnapshotPath 'index.json.blob')).VerifyState
    }
    function Get-TreeHash([string] $Path) {
        Get-ChildItem $Path -Recurse -File -Force | Sort-Object FullName | ForEach-Object { "$($_.FullName)=$((Get-FileHash $_.FullName).Hash)" }
    }
}

AfterAll {
    Remove-Item $Roots -Recurse -Force -ErrorAction SilentlyContinue
    Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT -ErrorAction SilentlyContinue
}

Describe 'Invoke-PbsPrune' {
    BeforeEach { $script:Store = New-SparseStore }

    It 'simulates with -WhatIf: PBS marks and rules, oldest first, nothing removed' {
        $before = Get-TreeHash $Store
        $r = Get-PbsBackupGroup -Datastore $Store -BackupType ct -BackupId 200 | Invoke-PbsPrune -KeepLast 1 -WhatIf
        $r.Snapshot | Should -Be @('ct/200/2024-03-01T12:00:00Z', 'ct/200/2024-03-02T12:00:00Z', 'ct/200/2024-03-08T12:00:00Z')
        $r.Mark | Should -Be @('remove', 'keep', 'protected')
        $r.KeptBy | Should -Be @($null, 'keep-last', $null)
        $r.Keep | Should -Be @($false, $true, $true)
        $r.Removed | Should -Be @($false, $false, $false)
        Get-TreeHash $Store | Should -Be $before
    }

    It 'removes what it does not keep, through the locked removal' {
        $r = Get-PbsBackupGroup -Datastore $Store -BackupType vm -BackupId 100 | Invoke-PbsPrune -KeepDaily 1 -Confirm:$false
        ($r | Where-Object Removed).Snapshot | Should -Be @('vm/100/2024-03-01T10:00:00Z', 'vm/100/2024-03-02T10:00:00Z')
        @(Get-PbsSnapshot -Datastore $Store -BackupType vm -BackupId 100).TimeString | Should -Be @('2024-03-03T10:00:00Z')
    }

    It 'keeps everything with a warning when no keep option is given' {
        $r = Get-PbsBackupGroup -Datastore $Store -BackupType vm -BackupId 100 | Invoke-PbsPrune -Confirm:$false -WarningVariable w 3>$null
        $w | Should -Be 'No prune selection - keeping all files.'
        $r.Keep | Should -Be @($true, $true, $true)
        @(Get-PbsSnapshot -Datastore $Store -BackupType vm -BackupId 100).Count | Should -Be 3
    }

    It 'prunes a namespace subtree from -Datastore, keeping an unfinished newest snapshot' {
        $r = Invoke-PbsPrune -Datastore $Store -Namespace prod/db -KeepLast 1 -WhatIf
        $r.Count | Should -Be 3
        ($r | Where-Object Group -eq 'vm/400').Mark | Should -Be 'keep-partial'
        ($r | Where-Object Group -eq 'ct/300').Mark | Should -Be @('remove', 'keep')
        $top = Invoke-PbsPrune -Datastore $Store -Namespace prod -MaxDepth 0 -KeepLast 1 -WhatIf
        @($top.Group | Sort-Object -Unique) | Should -Be @('host/vault', 'host/web01', 'vm/101')
    }

    It 'uses the time zone it is given for period keys' {
        # ct/200's 03-01 and 03-02 backups are at 12:00 UTC: one local day apart in any zone, so daily keeps both.
        $r = Get-PbsBackupGroup -Datastore $Store -BackupType ct -BackupId 200 | Invoke-PbsPrune -KeepDaily 2 -TimeZone 'Pacific/Kiritimati' -WhatIf
        $r.Mark | Should -Be @('keep', 'keep', 'protected')
        { Invoke-PbsPrune -Datastore $Store -KeepLast 1 -TimeZone 'Nowhere/Nothing' -WhatIf } | Should -Throw -ErrorId 'TimeZoneNotFound*'
    }
}

Describe 'Test-PbsSnapshot and Test-PbsDatastore' {
    BeforeEach { $script:Store = New-SparseStore }

    It 'verifies piped snapshots, records verify_state and reports the failing one' {
        $r = Get-PbsSnapshot -Datastore $Store -Namespace prod/db -BackupType ct -BackupId 300 | Test-PbsSnapshot -WarningVariable w 3>$null
        $r.Snapshot | Should -Be @('ct/300/2024-03-01T03:00:00Z', 'ct/300/2024-03-02T03:00:00Z')
        $r.State | Should -Be @('Ok', 'Failed')
        $r[1].Archives.Where({ -not $_.Ok }).Error | Should -Be 'chunks could not be verified'
        @($r[1].ChunkErrors).Count | Should -Be 2
        $w.Count | Should -Be 1
        (Get-ManifestState $r[0].BackupSnapshot.FullPath).State | Should -Be 'ok'
        (Get-ManifestState $r[1].BackupSnapshot.FullPath).Upid | Should -BeLike 'UPID:*:verify_snapshot:*'
    }

    It 'verifies whole groups newest first' {
        $r = Get-PbsBackupGroup -Datastore $Store -BackupType vm -BackupId 100 | Test-PbsSnapshot -Fast
        $r.Snapshot | Should -Be @('vm/100/2024-03-03T10:00:00Z', 'vm/100/2024-03-02T10:00:00Z', 'vm/100/2024-03-01T10:00:00Z')
        $r.Ok | Should -Be @($true, $true, $true)
    }

    It 'verifies a datastore like PBS, and -WhatIf changes nothing' {
        $before = Get-TreeHash $Store
        $r = Test-PbsDatastore $Store -WhatIf -WarningAction SilentlyContinue
        $r.Count | Should -Be $Expected.verify.without_key.snapshots
        @($r | Where-Object Ok).Count | Should -Be $Expected.verify.without_key.snapshots_ok
        @($r | Where-Object { -not $_.Ok } | ForEach-Object { $_.BackupSnapshot.RelativePath } | Sort-Object) |
            Should -Be $Expected.verify.without_key.failed_snapshots
        Get-TreeHash $Store | Should -Be $before
    }

    It 'gives the same verdicts with the smallest -MemoryLimit and refuses a smaller one' {
        $r = Test-PbsDatastore $Store -WhatIf -MemoryLimit 1MB -WarningAction SilentlyContinue
        @($r | Where-Object { -not $_.Ok } | ForEach-Object { $_.BackupSnapshot.RelativePath } | Sort-Object) |
            Should -Be $Expected.verify.without_key.failed_snapshots
        { Test-PbsDatastore $Store -Fast -MemoryLimit 1KB -ErrorAction Stop } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,PbsDatastore.Cmdlets.TestPbsDatastoreCommand'
    }

    It 'checks signatures and decrypts with -KeyFile, and -IgnoreVerified skips verified snapshots' {
        $r = Test-PbsDatastore $Store -Namespace prod -MaxDepth 0 -KeyFile $KeyFile
        ($r | Where-Object { $_.BackupSnapshot.Group.Id -eq 'vault' }).SignatureOk | Should -Be @($true, $true)
        $again = Test-PbsDatastore $Store -Namespace prod -MaxDepth 0 -IgnoreVerified
        $again.State | Should -Be @($r | ForEach-Object { 'Skipped' })
        $outdated = Test-PbsDatastore $Store -Namespace prod -MaxDepth 0 -IgnoreVerified -OutdatedAfter 0 -Fast
        $outdated.State | Should -Be $again.State -Because 'a verification started today is 0 days old, not more than 0'
    }
}

Describe 'Verification threads and chunk order' {
    BeforeEach {
        $script:Store = New-SparseStore
        $script:Cfg = Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 'datastore.cfg'
        function Set-Tuning([string] $Tuning) {
            Set-Content $Cfg "datastore: store1`n`tpath $Store`n$(if ($Tuning) { "`ttuning $Tuning`n" })" -NoNewline
        }
        # The effective tuning, as the cmdlets report it on the debug stream (-Debug would prompt at verbose lines).
        function Get-Tuning([scriptblock] $Verify) {
            $DebugPreference = 'Continue'
            @(& $Verify 3>$null 5>&1 | Where-Object { $_ -is [System.Management.Automation.DebugRecord] }).Message
        }
    }
    AfterEach { Remove-Item $Cfg -ErrorAction SilentlyContinue }

    It 'uses PBS defaults, then the datastore tuning, then the explicit values' {
        Set-Tuning ''
        Get-Tuning { Test-PbsDatastore $Store -Fast } |
            Should -Be 'verify store1: chunk-order inode, 1 read threads, 4 verify threads'
        Set-Tuning 'chunk-order=none,default-verification-readers=3,default-verification-workers=2'
        Get-Tuning { Get-PbsSnapshot $Store vm 100 -Latest | Test-PbsSnapshot -Fast } |
            Should -Be 'verify store1: chunk-order none, 3 read threads, 2 verify threads'
        Get-Tuning { Test-PbsDatastore store1 -Fast -ReadThreads 1 -VerifyThreads 32 } |
            Should -Be 'verify store1: chunk-order none, 1 read threads, 32 verify threads'
        Get-Tuning { Test-PbsDatastore store1 -Fast -ThrottleLimit 5 } |
            Should -Be 'verify store1: chunk-order none, 3 read threads, 5 verify threads' -Because '-ThrottleLimit is the earlier name of -VerifyThreads'
    }

    It 'verifies like PBS with several readers in index order' {
        Set-Tuning 'chunk-order=none,default-verification-readers=3'
        $r = Test-PbsDatastore $Store -VerifyThreads 1 -WarningAction SilentlyContinue
        $r.Count | Should -Be $Expected.verify.without_key.snapshots
        @($r | Where-Object Ok).Count | Should -Be $Expected.verify.without_key.snapshots_ok
        @($r | Where-Object { -not $_.Ok } | ForEach-Object { $_.BackupSnapshot.RelativePath } | Sort-Object) |
            Should -Be $Expected.verify.without_key.failed_snapshots
        ($r | Measure-Object ChunksLoaded -Sum).Sum | Should -Be $Expected.verify.without_key.chunks_loaded
        ($r | Measure-Object ReadBytes -Sum).Sum | Should -Be $Expected.verify.without_key.read_bytes
        ($r | Measure-Object DecodedBytes -Sum).Sum | Should -Be $Expected.verify.without_key.decoded_bytes
        @($r.ChunkErrors.Digest | Sort-Object -Unique) | Should -Be $Expected.verify.without_key.corrupt_chunks
    }

    It 'refuses a tuning value PBS would refuse, naming the store' -TestCases @(
        @{ Tuning = 'chunk-order=random' }
        @{ Tuning = 'default-verification-readers=0' }
        @{ Tuning = 'default-verification-workers=33' }
        @{ Tuning = 'default-verification-workers=many' }
    ) {
        Set-Tuning $Tuning
        $err = $null
        $r = Test-PbsDatastore $Store -VerifyThreads 4 -ErrorAction SilentlyContinue -ErrorVariable err
        $r | Should -BeNullOrEmpty
        $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidDatastoreConfig,*'
        $err[0].Exception.Message | Should -BeLike "datastore 'store1': tuning *"
    }

    It 'accepts 1 to 32 threads, as PBS does' {
        { Test-PbsDatastore $Store -Fast -ReadThreads 0 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,*'
        { Test-PbsDatastore $Store -Fast -VerifyThreads 33 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,*'
        { Test-PbsDatastore $Store -Fast -ThrottleLimit 33 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,*'
    }
}
