BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Roots = Set-TestRoots
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ("pbs-ingest-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
    $null = New-Item -ItemType Directory $script:Work

    # Reproducible input files: a disk image with a zero run and a short tail, a stream, a config file.
    function New-InputFile([string] $Name, [int] $Length, [int] $Seed, [switch] $Zeros) {
        $bytes = [byte[]]::new($Length)
        if (-not $Zeros) { [System.Random]::new($Seed).NextBytes($bytes) }
        $path = Join-Path $script:Work $Name
        [System.IO.File]::WriteAllBytes($path, $bytes)
        return $path
    }
    function Get-Sha([string] $Path) { (Get-FileHash -Algorithm SHA256 $Path).Hash }

    $script:Disk = New-InputFile 'disk.img' (3 * 65536 + 1234) 1
    $script:Stream = New-InputFile 'data.bin' (2 * 1048576 + 77) 2
    $script:Zeros = New-InputFile 'zeros.img' (4 * 65536) 0 -Zeros
    $script:Conf = Join-Path $script:Work 'vm.conf'
    Set-Content -Path $script:Conf -Value "memory: 512`ncores: 2" -NoNewline
}

AfterAll {
    Remove-Item $script:Work -Recurse -Force -ErrorAction SilentlyContinue
    Remove-Item $script:Roots -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'New-PbsSnapshot and Export-PbsArchive' {
    BeforeEach {
        $script:StorePath = Join-Path $script:Work ("store-" + [guid]::NewGuid().ToString('n').Substring(0, 8))
        $script:Store = New-PbsDatastore -Path $script:StorePath
    }
    AfterEach {
        Remove-Item $script:StorePath -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'writes images, streams and small files as fidx, didx and blob, and exports them unchanged (<Label>)' -ForEach @(
        @{ Label = 'plain'; Key = $false }
        @{ Label = 'encrypted'; Key = $true }
    ) {
        $keyArgs = if ($Key) { @{ KeyFile = $script:KeyFile } } else { @{} }
        $snap = New-PbsSnapshot -Datastore $script:Store -BackupType vm -BackupId 100 -Path $script:Disk, $script:Stream, $script:Zeros, $script:Conf -ChunkSize 64KB @keyArgs
        $snap.Finished | Should -BeTrue
        $snap.Files | Should -Contain 'disk.img.fidx'
        $snap.Files | Should -Contain 'data.bin.didx'
        $snap.Files | Should -Contain 'zeros.img.fidx'
        $snap.Files | Should -Contain 'vm.conf.blob'

        $manifest = $snap | Get-PbsManifest
        if ($Key) {
            $manifest.KeyFingerprint | Should -Be $script:Expected.key.fingerprint
        }

        foreach ($pair in @(@('disk.img', $script:Disk), @('data.bin', $script:Stream), @('zeros.img', $script:Zeros), @('vm.conf', $script:Conf))) {
            $out = Join-Path $script:Work "out-$($pair[0])"
            $result = Export-PbsArchive -Snapshot $snap -ArchiveName $pair[0] -Destination $out -Force @keyArgs
            $result.Destination | Should -Be $out
            Get-Sha $out | Should -Be (Get-Sha $pair[1])
        }
    }

    It 'reads a stream given with -InputStream and -ArchiveName' {
        $bytes = [byte[]]::new(300000)
        [System.Random]::new(7).NextBytes($bytes)
        $in = [System.IO.MemoryStream]::new($bytes)
        $snap = New-PbsSnapshot -Datastore $script:Store -BackupType host -BackupId web -InputStream $in -ArchiveName 'root.pxar' -ChunkSize 64KB
        $snap.Files | Should -Contain 'root.pxar.didx'
        $out = [System.IO.MemoryStream]::new()
        $null = Export-PbsArchive -Snapshot $snap -ArchiveName root.pxar -OutputStream $out
        [System.Linq.Enumerable]::SequenceEqual($out.ToArray(), $bytes) | Should -BeTrue
    }

    It 'changes nothing with -WhatIf' {
        New-PbsSnapshot -Datastore $script:Store -BackupType vm -BackupId 100 -Path $script:Disk -WhatIf
        Join-Path $script:StorePath 'vm' | Should -Not -Exist
    }

    It 'refuses a chunk size PBS does not allow' {
        { New-PbsSnapshot -Datastore $script:Store -BackupType vm -BackupId 100 -Path $script:Disk -ChunkSize 100000 -ErrorAction Stop } |
            Should -Throw -ErrorId 'UnsupportedChunkSize*'
        Join-Path $script:StorePath 'vm/100' | Get-ChildItem -Directory -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'names the bad chunk when an export meets one' {
        $snap = New-PbsSnapshot -Datastore $script:Store -BackupType vm -BackupId 100 -Path $script:Disk -ChunkSize 64KB
        $index = Get-PbsIndex -Path (Join-Path $snap.Path 'disk.img.fidx')
        $digest = $index.Entries[1].Digest.ToString()
        $chunk = Join-Path $script:StorePath ".chunks/$($digest.Substring(0, 4))/$digest"
        $bytes = [System.IO.File]::ReadAllBytes($chunk)
        $bytes[$bytes.Length - 1] = $bytes[$bytes.Length - 1] -bxor 0xff
        [System.IO.File]::WriteAllBytes($chunk, $bytes)
        $out = Join-Path $script:Work 'bad.img'
        $err = $null
        Export-PbsArchive -Snapshot $snap -ArchiveName disk.img -Destination $out -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err | Should -HaveCount 1
        $err[0].TargetObject | Should -Be $digest
        $err[0].Exception.Message | Should -Match $digest
        $out | Should -Not -Exist
    }

    It 'leaves no finished snapshot and no torn chunk file when the writer is killed' {
        $module = $env:PBSDATASTORE_MODULE
        $script = @"
Import-Module '$module'
`$env:PBS_DATASTORE_CONFIG_ROOT = '$($env:PBS_DATASTORE_CONFIG_ROOT)'
`$env:PBS_DATASTORE_RUN_ROOT = '$($env:PBS_DATASTORE_RUN_ROOT)'
`$in = [System.IO.File]::OpenRead('/dev/urandom')
New-PbsSnapshot -Datastore '$($script:StorePath)' -BackupType host -BackupId killed -InputStream `$in -ArchiveName endless.didx -ChunkSize 64KB
"@
        $scriptFile = Join-Path $script:Work 'killed.ps1'
        Set-Content $scriptFile $script
        $pwsh = Join-Path $PSHOME 'pwsh'
        $psi = if (Test-Path $pwsh) { [System.Diagnostics.ProcessStartInfo]::new($pwsh) } else { [System.Diagnostics.ProcessStartInfo]::new('dotnet', (Join-Path $PSHOME 'pwsh.dll')) }
        foreach ($a in '-NoProfile', '-NonInteractive', '-File', $scriptFile) { $psi.ArgumentList.Add($a) }
        $child = [System.Diagnostics.Process]::Start($psi)
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(90)
            $chunkDir = Join-Path $script:StorePath '.chunks'
            do {
                Start-Sleep -Milliseconds 200
                $written = @(Get-ChildItem $chunkDir -Recurse -File -ErrorAction SilentlyContinue | Select-Object -First 20).Count
            } until ($written -ge 20 -or $child.HasExited -or [DateTime]::UtcNow -gt $deadline)
            $child.HasExited | Should -BeFalse
            $written | Should -BeGreaterOrEqual 20
        }
        finally {
            $child.Kill($true)
            $child.WaitForExit()
        }

        $snapshotDirs = @(Get-ChildItem (Join-Path $script:StorePath 'host/killed') -Directory)
        $snapshotDirs | Should -HaveCount 1
        Join-Path $snapshotDirs[0].FullName 'index.json.blob' | Should -Not -Exist
        Join-Path $snapshotDirs[0].FullName 'endless.didx' | Should -Not -Exist
        (Get-PbsSnapshot -Datastore $script:Store -BackupType host -BackupId killed).Finished | Should -BeFalse

        # Chunks are written to a temp file and renamed: every file under a chunk name is a whole, valid chunk.
        $chunks = Get-ChildItem $chunkDir -Recurse -File | Where-Object Name -Match '^[0-9a-f]{64}$'
        $chunks.Count | Should -BeGreaterOrEqual 20
        foreach ($c in $chunks) {
            $info = Get-PbsChunk -Datastore $script:Store -Digest $c.Name
            $info.CrcOk | Should -BeTrue
            $info.DigestOk | Should -BeTrue
        }
    }
}
