# Measure-PbsDatastore and Get-PbsChunkReference against the reference store, checked against the expected JSON:
# chunk sizes and which index files reference each chunk, GC's figures, verify's failed snapshots.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $groups = $Expected.store.groups
    $namespaces = $Expected.store.namespaces | Where-Object ns
    $missing = $Expected.store.missing_chunks
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Store = Get-PristineStore

    # Brute force from the expected JSON: marked index files, referencing files and on-disk bytes per digest.
    $script:Marked = @($Expected.store.index_files_on_disk | Where-Object { -not $_.in_hidden_dir } | ForEach-Object path)
    $script:InScheme = @($Expected.store.index_files_on_disk | Where-Object { -not $_.outside_directory_scheme } | ForEach-Object path)
    $script:RefBy = @{}
    $script:Bytes = @{}
    foreach ($c in $Expected.store.chunks) {
        $RefBy[$c.digest] = @($c.referenced_by | Where-Object { $_ -in $Marked })
        $Bytes[$c.digest] = $c.file_size
    }
    foreach ($m in $Expected.store.missing_chunks) {
        $RefBy[$m.digest] = @($m.referenced_by | Where-Object { $_ -in $Marked })
        $Bytes[$m.digest] = [long]($Expected.store.bad_files | Where-Object { $_.name.StartsWith("$($m.digest).") } |
            Measure-Object file_size -Sum).Sum
    }
    # Exclusive chunks and bytes of the set of directories $Prefixes (relative to the store root).
    function Get-ExpectedExclusive([string[]] $Prefixes) {
        $inSet = { param($p) foreach ($x in $Prefixes) { if ($p.StartsWith("$x/")) { return $true } }; $false }
        $chunks = 0; $sum = 0
        foreach ($d in $RefBy.Keys) {
            $refs = $RefBy[$d]
            if ($refs.Count -gt 0 -and @($refs | Where-Object { -not (& $inSet $_) }).Count -eq 0) { $chunks++; $sum += $Bytes[$d] }
        }
        [pscustomobject]@{ Chunks = $chunks; Bytes = $sum }
    }
}

Describe 'Measure-PbsDatastore' {
    It 'measures a whole datastore with the figures garbage collection keeps' {
        $gc = $Expected.gc_after_48h.status
        $u = Measure-PbsDatastore $Store
        $u.IndexFiles | Should -Be $gc.'index-file-count'
        $u.LogicalBytes | Should -Be $gc.'index-data-bytes'
        $u.ReferencedBytes | Should -Be $gc.'disk-bytes'
        $u.ReferencedChunks - $u.MissingChunks | Should -Be $gc.'disk-chunks'
        $u.MissingChunks | Should -Be $Expected.store.missing_chunks.Count
        $u.ExclusiveBytes | Should -Be $u.ReferencedBytes
        $u.ExclusiveBytes | Should -BeOfType [long]
        ($u | Out-String -Width 120) | Should -Match ([regex]::Escape([PbsDatastore.Core.HumanByte]::Format($u.ExclusiveBytes, 2)))
    }

    It 'gives the same figures with the smallest -MemoryLimit and refuses a smaller one' {
        $default = Measure-PbsDatastore $Store
        $limited = Measure-PbsDatastore $Store -MemoryLimit 1MB
        foreach ($p in 'IndexFiles', 'LogicalBytes', 'ReferencedChunks', 'ReferencedBytes', 'ExclusiveBytes', 'MissingChunks') {
            $limited.$p | Should -Be $default.$p -Because $p
        }
        $limited.ReferencedBytes | Should -Be $Expected.gc_after_48h.status.'disk-bytes'
        { Measure-PbsDatastore $Store -MemoryLimit 1000 -ErrorAction Stop } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,PbsDatastore.Cmdlets.MeasurePbsDatastore'
    }

    It 'measures group <path> as the brute force does' -ForEach $groups {
        $u = Get-PbsBackupGroup $Store -Namespace $ns $type $id | Measure-PbsDatastore
        $e = Get-ExpectedExclusive @($path)
        $u.ExclusiveBytes | Should -Be $e.Bytes
        $u.ExclusiveChunks | Should -Be $e.Chunks
        $u.IndexFiles | Should -Be @($Marked | Where-Object { $_.StartsWith("$path/") }).Count
        $u.Members.Count | Should -Be 1
        $u.Members[0].ExclusiveBytes | Should -Be $e.Bytes
    }

    It 'measures namespace <ns> with everything below it' -ForEach $namespaces {
        $u = Get-PbsNamespace $Store $ns | Measure-PbsDatastore
        $u.ExclusiveBytes | Should -Be (Get-ExpectedExclusive @($path)).Bytes
    }

    It 'measures piped snapshots as one set, each member on its own' {
        $snapshots = @(Get-PbsSnapshot $Store vm 100)
        $paths = @($snapshots | ForEach-Object { "vm/100/$($_.TimeString)" })
        $u = $snapshots | Measure-PbsDatastore
        $u.Members.Count | Should -Be $snapshots.Count
        $u.ExclusiveBytes | Should -Be (Get-ExpectedExclusive $paths).Bytes
        for ($i = 0; $i -lt $paths.Count; $i++) {
            $u.Members[$i].ExclusiveBytes | Should -Be (Get-ExpectedExclusive @($paths[$i])).Bytes
        }
        $u.ExclusiveBytes | Should -BeGreaterThan ($u.Members | Measure-Object ExclusiveBytes -Sum).Sum
    }

    It 'measures what prune -WhatIf would remove as one set' {
        $plan = @(Invoke-PbsPrune -Datastore $Store -KeepLast 1 -WhatIf)
        $removed = @($plan | Where-Object { -not $_.Keep } | ForEach-Object { $_.BackupSnapshot.RelativePath })
        $removed.Count | Should -BeGreaterThan 1
        $u = $plan | Measure-PbsDatastore
        $u.Members.Count | Should -Be $removed.Count
        $e = Get-ExpectedExclusive $removed
        $u.ExclusiveBytes | Should -Be $e.Bytes
        $u.ExclusiveChunks | Should -Be $e.Chunks
    }

    It 'reports input it cannot measure as an error and goes on' {
        $u = Measure-PbsDatastore -InputObject 42, $Store -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidMeasureInput*'
        $u.IndexFiles | Should -Be $Marked.Count
    }
}

Describe 'Get-PbsChunkReference' {
    It 'finds exactly the missing chunks, referenced as the expected JSON says' {
        $found = @(Get-PbsChunkReference $Store -Missing)
        $found.Digest.ForEach({ "$_" }) | Should -Be @($Expected.store.missing_chunks.digest | Sort-Object)
        foreach ($m in $Expected.store.missing_chunks) {
            $r = $found | Where-Object { "$($_.Digest)" -eq $m.digest }
            $r.Present | Should -BeFalse
            @($r.Uses.IndexPath) | Should -Be @($m.referenced_by | Sort-Object)
            ($r.Uses | Measure-Object Entries -Sum).Sum | Should -Be $m.index_entries_referencing
        }
    }

    It 'maps the missing chunks to the snapshots verify fails for chunk errors' {
        $failed = @($Expected.verify.with_key.per_snapshot | Where-Object { $_.errors -match 'chunks could not be verified' } |
            ForEach-Object snapshot | Sort-Object)
        @(Get-PbsChunkReference $Store -Missing | ForEach-Object Snapshots | ForEach-Object { $_.BackupSnapshot.RelativePath } | Sort-Object -Unique) |
            Should -Be $failed
    }

    It 'maps every .bad chunk to the index files referencing it' {
        $bad = @(Get-PbsChunkReference $Store -Bad)
        $bad.Digest.ForEach({ "$_" }) | Should -Be @($Expected.store.bad_files.name | ForEach-Object { $_.Substring(0, 64) } | Sort-Object -Unique)
        $present = @($Expected.store.chunks.digest)
        foreach ($b in $bad) {
            $hex = "$($b.Digest)"
            @($b.BadFiles) | Should -Be @($Expected.store.bad_files.name | Where-Object { $_.StartsWith($hex) } | Sort-Object)
            $b.Present | Should -Be ($hex -in $present)
            @($b.Uses.IndexPath) | Should -Be @($RefBy[$hex] | Sort-Object)
            @($b.Snapshots.BackupSnapshot.RelativePath) | Should -Be @($RefBy[$hex] | Where-Object { $_ -in $InScheme } |
                ForEach-Object { $_.Substring(0, $_.LastIndexOf('/')) } | Sort-Object -Unique)
        }
    }

    It 'leaves no descriptor of the store open once a command ends, however often it runs' {
        $under = { @(Get-ChildItem "/proc/$PID/fd" | Where-Object { "$($_.LinkTarget)" -eq $Store -or "$($_.LinkTarget)".StartsWith("$Store/") }).Count }
        # The store is shared by every test file of the run: objects earlier tests dropped may still hold descriptors
        # of it until they are finalized, which a collection during the loop below would do.
        [GC]::Collect(); [GC]::WaitForPendingFinalizers(); [GC]::Collect()
        $before = & $under
        $expectedBad = @($Expected.store.bad_files.name | ForEach-Object { $_.Substring(0, 64) } | Sort-Object -Unique)
        foreach ($i in 1..20) {
            @(Get-PbsChunkReference $Store -Bad).Digest.ForEach({ "$_" }) | Should -Be $expectedBad
            $null = Measure-PbsDatastore $Store
        }
        & $under | Should -Be $before
    }

    It 'gives the referencing snapshots as objects that pipe on to the snapshot cmdlets' {
        $refs = @(Get-PbsChunkReference $Store -Missing)
        $snapshots = @($refs.Snapshots | Sort-Object Path -Unique)
        $snapshots[0] | Should -BeOfType PbsDatastore.Objects.SnapshotInfo
        $results = @($snapshots | Test-PbsSnapshot -Fast -WarningAction SilentlyContinue)
        $results.Count | Should -Be $snapshots.Count
        $results.State | Should -Not -Contain 'Ok' -Because 'every snapshot referencing a missing chunk fails verification'
    }

    It 'takes digests from index entries through the pipeline, with their byte ranges' {
        $index = Get-PbsIndex $Store vm 100 '2024-03-03T10:00:00Z' -ArchiveName drive-scsi0.img.fidx
        $refs = @($index.Entries | Get-PbsChunkReference -Datastore $Store)
        $refs.Count | Should -Be @($index.Entries.Digest | Select-Object -Unique).Count
        foreach ($r in $refs) {
            @($r.Uses.IndexPath) | Should -Be @($RefBy["$($r.Digest)"] | Sort-Object)
            $use = $r.Uses | Where-Object IndexPath -eq 'vm/100/2024-03-03T10:00:00Z/drive-scsi0.img.fidx'
            $entries = @($index.Entries | Where-Object Digest -eq "$($r.Digest)")
            $use.Entries | Should -Be $entries.Count
            $use.Bytes | Should -Be ($entries | Measure-Object Length -Sum).Sum
            $use.Ranges[0].Start | Should -Be $entries[0].Start
            ($use | Out-String -Width 120) | Should -Match ([regex]::Escape([PbsDatastore.Core.HumanByte]::Format($use.Bytes, 2)))
        }
    }

    It 'finds the same missing chunks with the smallest -MemoryLimit and refuses a smaller one' {
        $default = @(Get-PbsChunkReference $Store -Missing)
        $limited = @(Get-PbsChunkReference $Store -Missing -MemoryLimit 1MB)
        $limited.Digest.ForEach({ "$_" }) | Should -Be @($Expected.store.missing_chunks.digest | Sort-Object)
        ($limited.Uses | Out-String -Width 200) | Should -Be ($default.Uses | Out-String -Width 200)
        { Get-PbsChunkReference $Store -Missing -MemoryLimit 1000 -ErrorAction Stop } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,PbsDatastore.Cmdlets.GetPbsChunkReference'
    }

    It 'reads a store of more unique chunks than -MemoryLimit holds in passes, with the result of one pass' {
        # 20000 random digests in one fixed index (1 MiB holds about 8800), every chunk file there but three.
        $path = Join-Path ([IO.Path]::GetTempPath()) ("pbs-pester-refs-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
        try {
            $null = New-PbsDatastore -Path $path
            $count = 20000
            $data = [byte[]]::new(4096 + 32 * $count)
            ([byte[]](0x2f, 0x7f, 0x41, 0xed, 0x91, 0xfd, 0x0f, 0xcd)).CopyTo($data, 0) # a fixed index's magic
            [BitConverter]::GetBytes([long]$count * 4096).CopyTo($data, 64)
            [BitConverter]::GetBytes([long]4096).CopyTo($data, 72)
            $random = [byte[]]::new(32 * $count)
            [Random]::new(17).NextBytes($random)
            $random.CopyTo($data, 4096)
            $snapshot = Join-Path $path 'vm/100/2024-03-01T10:00:00Z'
            $null = New-Item -ItemType Directory $snapshot
            [IO.File]::WriteAllBytes((Join-Path $snapshot 'drive-scsi0.img.fidx'), $data)
            $digests = foreach ($i in 0..($count - 1)) { [Convert]::ToHexString($data, 4096 + 32 * $i, 32).ToLowerInvariant() }
            $absent = @($digests[5], $digests[9000], $digests[19999])
            foreach ($d in $digests) {
                if ($d -notin $absent) { [IO.File]::Create((Join-Path $path ".chunks/$($d.Substring(0, 4))/$d")).Dispose() }
            }
            $records = @(Get-PbsChunkReference $path -Missing -MemoryLimit 1MB -Verbose 4>&1)
            $found = @($records | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] })
            @($records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -like 'looking up pass 2: *' }) |
                Should -HaveCount 1
            $found.Digest.ForEach({ "$_" }) | Should -Be @($absent | Sort-Object)
            $found.ForEach({ $_.Uses[0].Ranges[0].Start }) |
                Should -Be @($absent | Sort-Object | ForEach-Object { 4096 * [array]::IndexOf($digests, $_) })
            ($found | Out-String -Width 200) | Should -Be (Get-PbsChunkReference $path -Missing | Out-String -Width 200)
        }
        finally { [IO.Directory]::Delete($path, $true) }
    }

    It 'reports a malformed digest as InvalidDigest' {
        $null = Get-PbsChunkReference $Store -Digest 'xyz' -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidDigest*'
    }
}
