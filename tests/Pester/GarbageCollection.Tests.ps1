# Garbage collection through the cmdlets: PBS's figures, files removed and log lines on aged copies of the reference
# store; lock conflicts with another process; -WhatIf as a dry run; status and unreferenced-chunk listing.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest

    # Fresh extractions without the empty .chunks prefix directories: GC skips missing ones silently (PBS §1.2), so
    # the figures are the same, and a copy is made and removed in a moment instead of minutes.
    $script:Tarball = Join-Path $FixturesDir 'pbs-reference-store.tar.gz'
    $members = @(tar -tzf $Tarball)
    $used = [System.Collections.Generic.HashSet[string]]::new([string[]]@(
            $members | Where-Object { $_ -match '/\.chunks/[0-9a-f]{4}/[^/]+$' } | ForEach-Object { $_ -replace '[^/]+$', '' }))
    $script:MemberList = Join-Path ([System.IO.Path]::GetTempPath()) "pbs-gc-members-$PID.txt"
    $members | Where-Object { $_ -notmatch '/\.chunks/[0-9a-f]{4}/$' -or $used.Contains($_) } | Set-Content $MemberList

    function New-SparseTestStore {
        $dir = Join-Path ([System.IO.Path]::GetTempPath()) ("pbs-gc-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
        $null = New-Item -ItemType Directory $dir
        tar -xzf $Tarball -C $dir --no-recursion -T $MemberList
        if ($LASTEXITCODE -ne 0) { throw 'tar failed' }
        Join-Path $dir 'pbs-reference-store'
    }

    function Set-ChunkAtime([string] $Store, [int] $HoursBack) {
        $epoch = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds() - $HoursBack * 3600
        find (Join-Path $Store '.chunks') -type f -exec touch -a -d "@$epoch" '{}' +
    }

    # Every entry with size, atime and mtime; the tree is listed once first (relatime may move a directory's
    # atime on its first listing after extraction).
    function Get-StoreState([string] $Store) {
        $null = find $Store -printf '%P'
        (find $Store -printf '%P %s %A@ %T@\n' | Sort-Object) -join "`n"
    }

    function Get-ChunkFiles([string] $Store) {
        Get-ChildItem -File -Recurse -Force (Join-Path $Store '.chunks') | ForEach-Object { [System.IO.Path]::GetRelativePath($Store, $_.FullName) }
    }

    $script:ProgressLine = '^(marked|processed) \d+% '
}

AfterAll {
    Remove-Item $MemberList -ErrorAction SilentlyContinue
}

Describe 'Invoke-PbsGarbageCollection' {
    It 'matches PBS on a store aged <Hours> h (<Key>)' -ForEach @(
        @{ Key = 'gc_after_48h'; Hours = 48 }
        @{ Key = 'gc_after_12h'; Hours = 12 }
    ) {
        $expected = $Expected[$Key]
        $store = New-SparseTestStore
        try {
            Set-ChunkAtime $store $Hours
            $before = @(Get-ChunkFiles $store)
            $before.Count | Should -Be $expected.chunk_dir_files_before

            $records = @(Invoke-PbsGarbageCollection -Datastore $store -Confirm:$false -Verbose 4>&1 3>&1)

            $result = $records | Where-Object { $_ -is [PbsDatastore.Core.Maintenance.GarbageCollectionResult] }
            $result | Should -HaveCount 1
            $status = $result.Status.ToJson() | ConvertFrom-Json -AsHashtable
            foreach ($k in $expected.status.Keys | Where-Object { $_ -ne 'upid' }) {
                $status[$k] | Should -Be $expected.status[$k] -Because $k
            }
            $result.StrangePaths | Should -Be $expected.strange_paths_count
            $result.MissingChunks | Should -HaveCount $expected.missing_chunk_warnings

            $after = @(Get-ChunkFiles $store)
            $after.Count | Should -Be $expected.chunk_dir_files_after
            @($before | Where-Object { $_ -notin $after } | Sort-Object) | Should -Be @($expected.files_removed | Sort-Object)

            # PBS's task log: the verbose lines of the run (ShouldProcess's own line aside) and its warnings.
            $lines = foreach ($r in $records) {
                if ($r -is [System.Management.Automation.VerboseRecord]) {
                    if (-not $r.Message.StartsWith('Performing the operation')) { $r.Message }
                }
                # PBS logs "WARN: warning: ..."; the warning drops PBS's "warning: " (PowerShell shows "WARNING: ").
                elseif ($r -is [System.Management.Automation.WarningRecord]) { "WARN: warning: $($r.Message)" }
            }
            @($lines | Where-Object { $_ -notmatch $ProgressLine }) |
                Should -Be @($expected.log_without_progress_lines | ForEach-Object { $_.Replace('<STORE>', $store) })

            $persisted = Get-PbsGarbageCollectionStatus $store
            $persisted.Upid | Should -Be $result.Upid
            $persisted.RemovedChunks | Should -Be $expected.status.'removed-chunks'
            Get-Content -Raw (Join-Path $store '.gc-status') | Should -BeExactly $result.Status.ToJson()
        }
        finally { Remove-TestStore $store }
    }

    It 'takes datastores from Get-PbsDatastore and by configured name' {
        $store = New-SparseTestStore
        $roots = Set-TestRoots
        try {
            Set-Content (Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 'datastore.cfg') "datastore: store1`n`tpath $store`n"
            $byPipe = Get-PbsDatastore store1 | Invoke-PbsGarbageCollection -Confirm:$false -WarningAction SilentlyContinue
            $byPipe.Datastore | Should -Be 'store1'
            $byPipe.Upid | Should -Match ':garbage_collection:store1:'
            (Invoke-PbsGarbageCollection store1 -Confirm:$false -WarningAction SilentlyContinue).IndexFileCount | Should -Be 23
        }
        finally {
            Remove-TestStore $store
            Remove-Item $roots -Recurse -Force -ErrorAction SilentlyContinue
            Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT -ErrorAction SilentlyContinue
        }
    }

    It 'with -WhatIf changes nothing and says what would be removed and why' {
        $expected = $Expected.gc_after_48h
        $store = New-SparseTestStore
        try {
            Set-ChunkAtime $store 48
            $state = Get-StoreState $store
            $result = Invoke-PbsGarbageCollection $store -WhatIf -WarningAction SilentlyContinue 6>$null
            Get-StoreState $store | Should -BeExactly $state
            $result.DryRun | Should -BeTrue
            $result.Upid | Should -BeNullOrEmpty
            $result.RemovedChunks | Should -Be $expected.status.'removed-chunks'
            $result.RemovedBad | Should -Be $expected.status.'removed-bad'
            $result.RemovedBytes | Should -Be $expected.status.'removed-bytes'
            ($result.Reasons | Where-Object Reason -eq 'UnreferencedPastCutoff').Files | Should -Be $expected.status.'removed-chunks'
            ($result.Reasons | Where-Object Reason -eq 'BadPastCutoff').Files | Should -Be $expected.status.'removed-bad'
            ($result.Reasons | Measure-Object Bytes -Sum).Sum | Should -Be $expected.status.'removed-bytes'
        }
        finally { Remove-TestStore $store }
    }

    It 'refuses while another process holds the chunk-store lock shared, as a PBS backup writer does' {
        $store = New-SparseTestStore
        $child = Start-ChunkStoreLockHolder $store
        try {
            Set-ChunkAtime $store 48
            $state = Get-StoreState $store
            Invoke-PbsGarbageCollection $store -Confirm:$false -ErrorVariable failure -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
            $failure | Should -HaveCount 1
            $failure[0].FullyQualifiedErrorId | Should -BeLike 'ChunkStoreInUse*'
            $failure[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            $failure[0].Exception.Message | Should -Match "process $($child.Id) holds the chunk store lock shared"
            Get-StoreState $store | Should -BeExactly $state
        }
        finally {
            Stop-Holder $child
            Remove-TestStore $store
        }
    }
}

Describe 'Get-PbsUnreferencedChunk' {
    It 'lists what GC would sweep, removable now only past the cutoff' {
        $store = New-SparseTestStore
        try {
            Set-ChunkAtime $store 12
            $chunks = @(Get-PbsUnreferencedChunk $store -WarningAction SilentlyContinue)
            @($chunks | ForEach-Object { [System.IO.Path]::GetRelativePath($store, $_.Path) } | Sort-Object) |
                Should -Be @($Expected.gc_after_48h.files_removed | Sort-Object)
            $chunks.WouldRemoveNow | Should -Not -Contain $true
            @(Get-PbsUnreferencedChunk $store -AtimeCutoff '06:00:00' -WarningAction SilentlyContinue | Where-Object WouldRemoveNow) | Should -HaveCount $chunks.Count
        }
        finally { Remove-TestStore $store }
    }
}

Describe 'Get-PbsGarbageCollectionStatus' {
    It 'reads the status PBS wrote at fixture build time' {
        $store = New-SparseTestStore
        try {
            $status = Get-PbsGarbageCollectionStatus $store
            $parsed = $Expected.store.gc_status_file.parsed
            $status.Upid | Should -Be $parsed.upid
            $status.ToJson() | Should -BeExactly $Expected.store.gc_status_file.raw
        }
        finally { Remove-TestStore $store }
    }
}
