# New-PbsSnapshot and Export-PbsArchive: round trips plain and encrypted, the archive-type rule, verification and
# manifest figures of what was written, cleanup after failure, Ctrl+C and SIGKILL, -WhatIf and progress.
# One small datastore (New-PbsDatastore, on the test scratch) serves the whole file; every test uses its own group.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Roots = Set-TestRoots
    $script:ModulePath = (Get-Module PbsDatastore).Path
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ("pbs-ingest-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
    $null = New-Item -ItemType Directory $script:Work
    $script:StorePath = Join-Path $script:Work 'store'
    $script:Store = New-PbsDatastore -Path $script:StorePath 6>$null

    # Reproducible input files.
    function New-InputFile([string] $Name, [int] $Length, [switch] $Zeros) {
        $bytes = [byte[]]::new($Length)
        if (-not $Zeros) { [System.Random]::new($Length).NextBytes($bytes) }
        $path = Join-Path $script:Work $Name
        [System.IO.File]::WriteAllBytes($path, $bytes)
        return $path
    }
    function Get-Sha([string] $Path) { (Get-FileHash -Algorithm SHA256 $Path).Hash }
    function Get-ChunkFile([datetime] $Since) {
        [System.IO.Directory]::EnumerateFiles((Join-Path $script:StorePath '.chunks'), '*', [System.IO.SearchOption]::AllDirectories) |
            Where-Object { [System.IO.Path]::GetFileName($_) -match '^[0-9a-f]{64}$' -and [System.IO.File]::GetLastWriteTimeUtc($_) -ge $Since }
    }

    # Every input kind of the issue as disk image (fixed index) and as stream (dynamic index), with 64 KiB chunks:
    # one byte, not a multiple of the chunk size, several MiB, all zeros; empty input and a 300 KB file as blobs.
    $script:Inputs = [ordered]@{}
    foreach ($kind in 'img', 'bin') {
        $script:Inputs["one.$kind"] = New-InputFile "one.$kind" 1
        $script:Inputs["odd.$kind"] = New-InputFile "odd.$kind" (3 * 65536 + 12345)
        $script:Inputs["big.$kind"] = New-InputFile "big.$kind" (5MB + 4321)
        $script:Inputs["zeros.$kind"] = New-InputFile "zeros.$kind" (2MB + 100) -Zeros
    }
    $script:Inputs['empty.conf'] = New-InputFile 'empty.conf' 0
    $script:Inputs['notes.txt.blob'] = New-InputFile 'notes.txt.blob' 300000
}

AfterAll {
    if ($script:Work) { [System.IO.Directory]::Delete($script:Work, $true) }
    [System.IO.Directory]::Delete($script:Roots, $true)
    Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT -ErrorAction SilentlyContinue
}

Describe 'Round trip <Label>' -ForEach @(
    @{ Label = 'plain'; Encrypted = $false }
    @{ Label = 'encrypted'; Encrypted = $true }
) {
    BeforeAll {
        $script:KeyArgs = if ($Encrypted) { @{ KeyFile = $KeyFile } } else { @{} }
        $script:Snap = New-PbsSnapshot -Datastore $Store -BackupType vm -BackupId "rt-$Label" -Path @($Inputs.Values) -ChunkSize 64KB @KeyArgs
    }

    It 'writes a finished snapshot with the archive types of the naming rule' {
        $Snap.Finished | Should -BeTrue
        $expectedFiles = @(
            foreach ($name in $Inputs.Keys) {
                switch -Regex ($name) {
                    '\.img$' { "$name.fidx" } '\.conf$' { "$name.blob" } '\.blob$' { $name } default { "$name.didx" }
                }
            }
            'index.json.blob'
        )
        $Snap.Files | Sort-Object | Should -Be ($expectedFiles | Sort-Object)
    }

    It 'exports <_> unchanged' -ForEach @('one.img', 'odd.img', 'big.img', 'zeros.img', 'one.bin', 'odd.bin', 'big.bin', 'zeros.bin', 'empty.conf', 'notes.txt.blob') {
        $out = Join-Path $Work "out-$Label-$_"
        $result = Export-PbsArchive -Snapshot $Snap -ArchiveName $_ -Destination $out @KeyArgs
        $result.Destination | Should -Be $out
        $result.Size | Should -Be (Get-Item $Inputs[$_]).Length
        Get-Sha $out | Should -Be (Get-Sha $Inputs[$_])
        Remove-Item $out
    }

    It 'exports into a stream' {
        $stream = [System.IO.MemoryStream]::new()
        $result = Export-PbsArchive -Snapshot $Snap -ArchiveName odd.bin.didx -OutputStream $stream @KeyArgs
        $result.Destination | Should -BeNullOrEmpty
        [System.Linq.Enumerable]::SequenceEqual($stream.ToArray(), [System.IO.File]::ReadAllBytes($Inputs['odd.bin'])) | Should -BeTrue
    }

    It 'records every file''s size and checksum in the manifest' {
        $manifest = $Snap | Get-PbsManifest
        $manifest.Files.Count | Should -Be $Inputs.Count
        foreach ($file in $manifest.Files) {
            $path = Join-Path $Snap.Path $file.Filename
            $file.CryptMode | Should -Be $(if ($Encrypted) { 'encrypt' } else { 'none' })
            if ($file.Filename -like '*.blob') {
                $file.Size | Should -Be (Get-Item $path).Length
                $file.Csum | Should -Be (Get-Sha $path).ToLowerInvariant()
            }
            else {
                $index = Get-PbsIndex -Path $path
                $index.CsumOk | Should -BeTrue
                $file.Csum | Should -Be $index.ComputedCsum
                $file.Size | Should -Be $index.Size
                $index.Size | Should -Be (Get-Item $Inputs[$file.Filename -replace '\.[fd]idx$']).Length
            }
        }
        if ($Encrypted) {
            $manifest.KeyFingerprint | Should -Be $Expected.key.fingerprint
            $manifest.Signature | Should -Not -BeNullOrEmpty
        }
        else {
            $manifest.KeyFingerprint | Should -BeNullOrEmpty
            $manifest.Signature | Should -BeNullOrEmpty
        }
    }

    It 'passes a full verification (and the signature checks with the key)' {
        $result = $Snap.BackupSnapshot | Test-PbsSnapshot @KeyArgs 6>$null
        $result.State | Should -Be 'Ok'
        $result.Archives | Where-Object { -not $_.Ok } | Should -BeNullOrEmpty
        $result.Archives.Count | Should -Be $Inputs.Count
        $result.SignatureOk | Should -Be $(if ($Encrypted) { $true } else { $null })
        @($result.ChunkErrors).Count | Should -Be 0
    }
}

Describe 'Archive type of an input' {
    It 'makes a dynamic index of a 300 KB -InputStream named root.pxar (the type follows the name, never the size)' {
        $bytes = [byte[]]::new(300000)
        [System.Random]::new(7).NextBytes($bytes)
        $snap = New-PbsSnapshot -Datastore $Store -BackupType host -BackupId stream -InputStream ([System.IO.MemoryStream]::new($bytes)) -ArchiveName root.pxar -ChunkSize 64KB
        $snap.Files | Should -Be @('index.json.blob', 'root.pxar.didx')
        $out = [System.IO.MemoryStream]::new()
        $null = Export-PbsArchive -Snapshot $snap -ArchiveName root.pxar -OutputStream $out
        [System.Linq.Enumerable]::SequenceEqual($out.ToArray(), $bytes) | Should -BeTrue
    }

    It 'makes <Archive> of the label <Label>' -ForEach @(
        @{ Label = 'disk.img'; Archive = 'disk.img.fidx' }
        @{ Label = 'qemu-server.conf'; Archive = 'qemu-server.conf.blob' }
        @{ Label = 'task.log'; Archive = 'task.log.blob' }
        @{ Label = 'catalog.pcat1'; Archive = 'catalog.pcat1.didx' }
        @{ Label = 'extra.blob'; Archive = 'extra.blob' }
        @{ Label = 'raw.didx'; Archive = 'raw.didx' }
    ) {
        $data = [System.Text.Encoding]::UTF8.GetBytes("content of $Label")
        $snap = New-PbsSnapshot -Datastore $Store -BackupType host -BackupId "type-$($Label -replace '\.', '-')" -InputStream ([System.IO.MemoryStream]::new($data)) -ArchiveName $Label
        $snap.Files | Should -Contain $Archive
    }

    It 'refuses empty input for an index, naming the way out, and leaves no snapshot' {
        $empty = New-InputFile 'nothing.bin' 0
        { New-PbsSnapshot -Datastore $Store -BackupType host -BackupId empty -Path $empty -ErrorAction Stop 3>$null } |
            Should -Throw -ErrorId 'EmptyArchive*' -ExpectedMessage '*blob*'
        Get-ChildItem (Join-Path $StorePath 'host/empty') -Directory | Should -BeNullOrEmpty
    }
}

Describe 'Failures and interruptions' {
    It 'removes the unfinished snapshot when a later archive fails' {
        $empty = New-InputFile 'nothing.img' 0
        { New-PbsSnapshot -Datastore $Store -BackupType vm -BackupId failing -Path $Inputs['odd.img'], $empty -ChunkSize 64KB -ErrorAction Stop 3>$null } |
            Should -Throw -ErrorId 'EmptyImage*'
        Get-ChildItem (Join-Path $StorePath 'vm/failing') -Directory | Should -BeNullOrEmpty
    }

    It 'refuses a chunk size PBS does not allow and writes nothing' {
        { New-PbsSnapshot -Datastore $Store -BackupType vm -BackupId badsize -Path $Inputs['odd.img'] -ChunkSize 100000 -ErrorAction Stop } |
            Should -Throw -ErrorId 'UnsupportedChunkSize*'
        Join-Path $StorePath 'vm/badsize' | Should -Not -Exist
    }

    It 'changes nothing with -WhatIf' {
        $before = @(Get-ChunkFile ([datetime]::MinValue)).Count
        New-PbsSnapshot -Datastore $Store -BackupType vm -BackupId whatif -Path $Inputs['big.img'] -WhatIf
        Join-Path $StorePath 'vm/whatif' | Should -Not -Exist
        @(Get-ChunkFile ([datetime]::MinValue)).Count | Should -Be $before
    }

    It 'names the bad chunk when an export meets one, and leaves no destination file' {
        $snap = New-PbsSnapshot -Datastore $Store -BackupType vm -BackupId badchunk -Path $Inputs['odd.img'] -ChunkSize 64KB
        $digest = (Get-PbsIndex -Path (Join-Path $snap.Path 'odd.img.fidx')).Entries[1].Digest
        $chunk = Join-Path $StorePath ".chunks/$($digest.Substring(0, 4))/$digest"
        $bytes = [System.IO.File]::ReadAllBytes($chunk)
        $bytes[-1] = $bytes[-1] -bxor 0xff
        [System.IO.File]::WriteAllBytes($chunk, $bytes)
        $out = Join-Path $Work 'bad.img'
        $err = $null
        Export-PbsArchive -Snapshot $snap -ArchiveName odd.img -Destination $out -ErrorVariable err -ErrorAction SilentlyContinue
        $err | Should -HaveCount 1
        $err[0].TargetObject | Should -Be $digest
        $err[0].Exception.Message | Should -Match $digest
        $out | Should -Not -Exist
        "$out.partial" | Should -Not -Exist
    }

    It 'refuses to overwrite an existing destination without -Force' {
        $snap = Get-PbsSnapshot -Datastore $Store -BackupType vm -BackupId rt-plain
        $out = Join-Path $Work 'exists.img'
        Set-Content $out 'keep me'
        { Export-PbsArchive -Snapshot $snap -ArchiveName one.img -Destination $out -ErrorAction Stop } | Should -Throw -ErrorId 'DestinationExists*'
        Get-Content $out | Should -Be 'keep me'
        $null = Export-PbsArchive -Snapshot $snap -ArchiveName one.img -Destination $out -Force
        (Get-Item $out).Length | Should -Be 1
    }

    It 'removes the unfinished snapshot when stopped with Ctrl+C' {
        $ps = [powershell]::Create()
        try {
            # Loaded beforehand, not as a first statement: stopping a batch and disposing it races in PowerShell
            # (the batch's next step touches the closing runspace and takes the process down).
            $null = $ps.AddScript("Import-Module '$ModulePath'").Invoke()
            $ps.Commands.Clear()
            $null = $ps.AddScript('param($s) New-PbsSnapshot -Datastore $s -BackupType host -BackupId stopped -InputStream ([System.IO.File]::OpenRead("/dev/urandom")) -ArchiveName endless.pxar -ChunkSize 64KB').AddParameter('s', $StorePath)
            $async = $ps.BeginInvoke()
            $deadline = [DateTime]::UtcNow.AddSeconds(120)
            # The first chunk reports progress: then the snapshot is being written.
            while ($ps.Streams.Progress.Count -lt 2 -and -not $async.IsCompleted -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
            $async.IsCompleted | Should -BeFalse
            @(Get-ChildItem (Join-Path $StorePath 'host/stopped') -Directory) | Should -HaveCount 1
            $ps.Stop()
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        }
        finally { $ps.Dispose() }
        Get-ChildItem (Join-Path $StorePath 'host/stopped') -Directory | Should -BeNullOrEmpty
    }

    It 'leaves no finished snapshot and no torn chunk file when the writing process is killed (SIGKILL)' {
        # Chunks of earlier tests are older than this; the child needs seconds to start before it writes any.
        $started = [DateTime]::UtcNow
        $scriptFile = Join-Path $Work 'killed.ps1'
        Set-Content $scriptFile @"
`$env:PBS_DATASTORE_CONFIG_ROOT = '$($env:PBS_DATASTORE_CONFIG_ROOT)'
`$env:PBS_DATASTORE_RUN_ROOT = '$($env:PBS_DATASTORE_RUN_ROOT)'
Import-Module '$ModulePath'
`$in = [System.IO.File]::OpenRead('/dev/urandom')
New-PbsSnapshot -Datastore '$StorePath' -BackupType host -BackupId killed -InputStream `$in -ArchiveName endless.pxar -ChunkSize 64KB
"@
        $pwsh = @(Get-ChildPwshCommand)
        $psi = [System.Diagnostics.ProcessStartInfo]::new($pwsh[0])
        foreach ($a in @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $scriptFile)) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $child = [System.Diagnostics.Process]::Start($psi)
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(180)
            do {
                Start-Sleep -Milliseconds 500
                $written = if (Test-Path (Join-Path $StorePath 'host/killed')) { @(Get-ChunkFile $started).Count } else { 0 }
            } until ($written -ge 20 -or $child.HasExited -or [DateTime]::UtcNow -gt $deadline)
            $child.HasExited | Should -BeFalse -Because $(if ($child.HasExited) { $child.StandardError.ReadToEnd() })
            $written | Should -BeGreaterOrEqual 20
        }
        finally {
            # Process.Kill sends SIGKILL on Unix: no finally block, no cleanup in the child runs.
            $child.Kill($true)
            $child.WaitForExit()
        }

        $snapshotDirs = @(Get-ChildItem (Join-Path $StorePath 'host/killed') -Directory)
        $snapshotDirs | Should -HaveCount 1
        Join-Path $snapshotDirs[0].FullName 'index.json.blob' | Should -Not -Exist
        Join-Path $snapshotDirs[0].FullName 'endless.pxar.didx' | Should -Not -Exist
        @(Get-PbsSnapshot -Datastore $Store -BackupType host -BackupId killed | Where-Object Finished) | Should -BeNullOrEmpty

        # Chunks go to a temp file renamed into place: every file under a chunk name is a whole, valid chunk.
        $chunks = @(Get-ChunkFile $started)
        $chunks.Count | Should -BeGreaterOrEqual 20
        foreach ($info in Get-PbsChunk -Path $chunks) {
            $info.CrcOk | Should -BeTrue -Because $info.Path
            $info.DigestOk | Should -BeTrue -Because $info.Path
        }
    }
}

Describe 'Progress' {
    It 'reports each archive with MB/s and completes every bar' {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript("Import-Module '$ModulePath'").AddStatement()
            $null = $ps.AddScript('param($s, $p) New-PbsSnapshot -Datastore $s -BackupType vm -BackupId progress -Path $p -ChunkSize 64KB').
                AddParameter('s', $StorePath).AddParameter('p', @($Inputs['big.img'], $Inputs['big.bin']))
            $null = $ps.Invoke()
            $ps.HadErrors | Should -BeFalse
            $records = @($ps.Streams.Progress)
        }
        finally { $ps.Dispose() }
        foreach ($archive in 'big.img.fidx', 'big.bin.didx') {
            $bar = @($records | Where-Object Activity -eq "Writing $archive")
            $bar.Count | Should -BeGreaterThan 1
            $bar[0].StatusDescription | Should -Match '^\d+\.\d MiB of \d+\.\d MiB, \d+\.\d\d MB/s$'
            $bar[-1].RecordType | Should -Be ([System.Management.Automation.ProgressRecordType]::Completed)
        }
    }
}
