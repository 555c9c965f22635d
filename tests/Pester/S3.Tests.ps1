# The cmdlets on an S3 datastore: the reference store uploaded into PBS 4.2's S3 layout on s3rver (HTTPS, pinned
# certificate), every chunk evicted from the local cache, read back, exported, verified and collected through the
# bucket; changes that are not mirrored to the bucket are refused. s3rver that cannot start fails the file.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Roots = Set-TestRoots
    $modules = Join-Path $RepoRoot '.tools/s3rver/node_modules'
    if (-not (Test-Path (Join-Path $modules 's3rver/package.json'))) {
        throw "the S3 test server is not installed ($modules/s3rver missing): run 'bash .ci/run'"
    }
    $key = [System.Security.Cryptography.ECDsa]::Create([System.Security.Cryptography.ECCurve+NamedCurves]::nistP256)
    $request = [System.Security.Cryptography.X509Certificates.CertificateRequest]::new('CN=localhost', $key,
        [System.Security.Cryptography.HashAlgorithmName]::SHA256)
    $cert = $request.CreateSelfSigned([DateTimeOffset]::UtcNow.AddMinutes(-5), [DateTimeOffset]::UtcNow.AddDays(1))
    Set-Content (Join-Path $Roots 'cert.pem') $cert.ExportCertificatePem()
    Set-Content (Join-Path $Roots 'key.pem') $key.ExportPkcs8PrivateKeyPem()
    $fingerprint = [PbsDatastore.Core.S3.S3Endpoint]::NormalizeFingerprint(
        [Convert]::ToHexString([System.Security.Cryptography.SHA256]::HashData($cert.RawData)))
    $psi = [System.Diagnostics.ProcessStartInfo]::new('node')
    # s3rver's continuation tokens use DES, which OpenSSL 3 keeps in its legacy provider.
    foreach ($a in '--openssl-legacy-provider', (Join-Path $RepoRoot 'tests/tools/s3rver/run.js'),
        (New-Item -ItemType Directory (Join-Path $Roots 's3data')).FullName, (Join-Path $Roots 'cert.pem'),
        (Join-Path $Roots 'key.pem'), 'pbs-test') { $psi.ArgumentList.Add($a) }
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.Environment['NODE_PATH'] = $modules
    $script:Node = [System.Diagnostics.Process]::Start($psi)
    $line = $Node.StandardOutput.ReadLineAsync()
    if (-not $line.Wait(60000) -or -not $line.Result) { throw 'the S3 test server did not start' }
    $port = ($line.Result | ConvertFrom-Json).port
    Set-Content (Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 's3.cfg') ("s3-endpoint: pester`n`taccess-key S3RVER`n" +
        "`tendpoint 127.0.0.1`n`tfingerprint $fingerprint`n`tpath-style true`n`tport $port`n`tsecret-key S3RVER`n")

    # Upload as PBS 4.2 lays it out: chunks and .bad files, finished snapshots' files, owner, notes, markers.
    $script:StorePath = New-TestStore
    $script:Client = [PbsDatastore.Core.S3.S3Client]::new([PbsDatastore.Core.S3.S3EndpointConfig]::Load().Get('pester'),
        'pbs-test', $null, $null)
    $script:Keys = [PbsDatastore.Core.S3.S3Keys]::new('store1')
    foreach ($c in @($Expected.store.chunks) + @($Expected.store.bad_files)) {
        $null = $Client.PutObject("store1/$($c.path)", [IO.File]::ReadAllBytes((Join-Path $StorePath $c.path)), $true)
    }
    foreach ($ns in $Expected.store.namespaces | Where-Object path) {
        $null = $Client.PutObject($Keys.Content("$($ns.path)/.namespace"), [byte[]]@(), $true)
    }
    foreach ($g in $Expected.store.groups) {
        foreach ($name in 'owner', 'notes') {
            $file = Join-Path $StorePath "$($g.path)/$name"
            if (Test-Path $file) { $null = $Client.PutObject($Keys.Content("$($g.path)/$name"), [IO.File]::ReadAllBytes($file), $true) }
        }
    }
    foreach ($s in $Expected.store.snapshots | Where-Object finished) {
        foreach ($f in Get-ChildItem -Force (Join-Path $StorePath $s.path) -File | Where-Object { $_.Name -notlike '.*' -or $_.Name -eq '.protected' }) {
            $null = $Client.PutObject($Keys.Content("$($s.path)/$($f.Name)"), [IO.File]::ReadAllBytes($f.FullName), $true)
        }
    }
    # Every chunk evicted: a zero-length marker with the times PBS left.
    foreach ($c in $Expected.store.chunks) {
        $file = Get-Item (Join-Path $StorePath $c.path)
        $atime, $mtime = $file.LastAccessTimeUtc, $file.LastWriteTimeUtc
        [IO.File]::WriteAllBytes($file.FullName, [byte[]]@())
        $file.LastWriteTimeUtc = $mtime
        $file.LastAccessTimeUtc = $atime
    }
    Set-Content (Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 'datastore.cfg') "datastore: store1`n`tbackend type=s3,client=pester,bucket=pbs-test`n`tpath $StorePath`n"
    $script:FsStore = Get-PristineStore
}

AfterAll {
    if ($Node) { $Node.StandardInput.Close(); $null = $Node.WaitForExit(10000); if (-not $Node.HasExited) { $Node.Kill() } }
    if ($Client) { $Client.Dispose() }
    Remove-TestStore $StorePath
    Remove-Item $Roots -Recurse -Force -ErrorAction SilentlyContinue
    Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT -ErrorAction SilentlyContinue
}

Describe 'An S3 datastore through the cmdlets' {
    It 'lists every snapshot of the expected JSON from the local cache' {
        $listed = Get-PbsNamespace store1 -Recurse | Get-PbsSnapshot
        @($listed).Count | Should -Be @($Expected.store.snapshots).Count
    }

    It 'exports an image from the bucket byte-identical to the filesystem store' {
        $out = Join-Path $Roots 'export'
        $null = New-Item -ItemType Directory $out
        $s3 = Get-PbsSnapshot store1 vm 100 | Select-Object -First 1
        $fs = Get-PbsSnapshot $FsStore vm 100 | Select-Object -First 1
        $null = Export-PbsArchive -Snapshot $s3 -ArchiveName drive-scsi0.img.fidx -Destination (Join-Path $out 's3.img')
        $null = Export-PbsArchive -Snapshot $fs -ArchiveName drive-scsi0.img.fidx -Destination (Join-Path $out 'fs.img')
        (Get-FileHash (Join-Path $out 's3.img')).Hash | Should -Be (Get-FileHash (Join-Path $out 'fs.img')).Hash
        (Get-Item (Join-Path $out 's3.img')).Length | Should -BeGreaterThan 0
    }

    It 'measures, finds chunk references and unreferenced chunks from the bucket listing, as on the filesystem store' {
        $s3, $fs = (Measure-PbsDatastore store1), (Measure-PbsDatastore $FsStore)
        foreach ($p in 'IndexFiles', 'LogicalBytes', 'ReferencedChunks', 'ReferencedBytes', 'ExclusiveBytes', 'MissingChunks') {
            $s3.$p | Should -Be $fs.$p -Because $p
        }
        $s3.ReferencedBytes | Should -Be $Expected.gc_after_48h.status.'disk-bytes'
        $s3.MissingChunks | Should -Be @($Expected.store.missing_chunks).Count
        @(Get-PbsChunkReference store1 -Missing | ForEach-Object { "$($_.Digest)" }) |
            Should -Be @($Expected.store.missing_chunks.digest | Sort-Object)
        $bad = @(Get-PbsChunkReference store1 -Bad)
        @($bad.BadFiles | Sort-Object) | Should -Be @($Expected.store.bad_files.name | Sort-Object)
        $byName = { param($list) @($list | Sort-Object Name | ForEach-Object { "$($_.Name) $($_.Size) $($_.IsBad)" }) }
        $unreferenced = @(Get-PbsUnreferencedChunk store1)
        $unreferenced.Count | Should -BeGreaterThan 0
        & $byName $unreferenced | Should -Be (& $byName (Get-PbsUnreferencedChunk $FsStore))
    }

    It 'verifies as PBS did, fetching the chunks from the bucket' {
        $results = Get-PbsNamespace store1 -Recurse | Get-PbsSnapshot | Test-PbsSnapshot -Confirm:$false -WarningAction SilentlyContinue
        $failed = @($results | Where-Object { -not $_.Ok } | ForEach-Object { $_.BackupSnapshot.RelativePath } | Sort-Object)
        $failed | Should -Be @($Expected.verify.without_key.failed_snapshots | Sort-Object)
        foreach ($c in $Expected.store.chunks) { (Get-Item (Join-Path $StorePath $c.path)).Length | Should -Be 0 }
    }

    It 'writes a new snapshot into the bucket that exports byte-identical and verifies from the bucket alone' {
        $data = Join-Path $Roots 'disk.img'
        $random = [Random]::new(7)
        [IO.File]::WriteAllBytes($data, [byte[]]@(foreach ($i in 1..300000) { if ($random.Next(4)) { 97 + $random.Next(8) } else { $random.Next(256) } }))
        $snapshot = New-PbsSnapshot store1 -Namespace prod -BackupType host -BackupId s3new -Path $data -ChunkSize 64KB -Confirm:$false
        $relative = $snapshot.BackupSnapshot.RelativePath
        $prefix = $Keys.ContentDirPrefix($relative)
        $files = @(Get-ChildItem -Force $snapshot.Path -File | Where-Object Name -NotLike '.*')
        @($Client.ListObjects($prefix) | ForEach-Object { $_.Key.Substring($prefix.Length) } | Sort-Object) | Should -Be @($files.Name | Sort-Object)
        $Client.GetObject($Keys.Content('ns/prod/host/s3new/owner')) | Should -Not -BeNullOrEmpty
        # Evicted as PBS's cache would be (new chunks are empty markers), and the snapshot's files replaced by
        # their objects (an S3 refresh): the bucket alone must carry the backup.
        $index = $snapshot | Get-PbsIndex -ArchiveName disk.img.fidx
        $index.ChunkCount | Should -BeGreaterThan 3
        foreach ($f in $files) {
            [IO.File]::WriteAllBytes($f.FullName, $Client.GetObject($Keys.Content("$relative/$($f.Name)")))
        }
        foreach ($e in $index.Entries) {
            (Get-Item (Join-Path $StorePath ".chunks/$($e.Digest.Substring(0, 4))/$($e.Digest)")).Length | Should -Be 0
            $Client.HeadObject("store1/.chunks/$($e.Digest.Substring(0, 4))/$($e.Digest)") | Should -Not -BeNullOrEmpty
        }
        $out = Join-Path $Roots 'restored.img'
        $null = Export-PbsArchive -Snapshot $snapshot -ArchiveName disk.img.fidx -Destination $out
        (Get-FileHash $out).Hash | Should -Be (Get-FileHash $data).Hash
        ($snapshot | Test-PbsSnapshot -Confirm:$false).Ok | Should -BeTrue
    }

    It 'moves a group through the bucket: objects at the new keys, none left at the old, the new namespace marked' {
        $relative = { param($prefix) @($Client.ListObjects($prefix) | ForEach-Object { $_.Key.Substring($prefix.Length) } | Sort-Object) }
        $before = & $relative $Keys.ContentDirPrefix('ns/prod/host/web01')
        $before.Count | Should -BeGreaterThan 2
        Move-PbsBackupGroup store1 host web01 -Namespace prod -TargetNamespace archive -Confirm:$false
        & $relative $Keys.ContentDirPrefix('ns/prod/host/web01') | Should -BeNullOrEmpty
        & $relative $Keys.ContentDirPrefix('ns/archive/host/web01') | Should -Be $before
        $Client.HeadObject($Keys.Content('ns/archive/.namespace')) | Should -Not -BeNullOrEmpty
        $moved = @(Get-PbsSnapshot store1 host web01 -Namespace archive)
        $moved.Count | Should -Be 2
        @($moved | Test-PbsSnapshot -Confirm:$false | Where-Object Ok).Count | Should -Be 2
    }

    It 'collects garbage with -WhatIf: lists keys, counts requests, deletes nothing' {
        $before = @($Client.ListObjects('store1/') | ForEach-Object Key)
        $gc = Invoke-PbsGarbageCollection store1 -WhatIf -WarningAction SilentlyContinue
        $gc.Bucket | Should -Be 'pbs-test'
        $gc.S3Requests.Head | Should -Be 1
        $gc.S3Requests.Post | Should -Be 0
        $gc.S3RemovedKeys.Count | Should -Be ($gc.RemovedChunks + $gc.RemovedBad)
        @($Client.ListObjects('store1/') | ForEach-Object Key) | Should -Be $before
    }

    It 'prunes and removes through the bucket: objects deleted first, vm/1000-like siblings untouched' {
        $prefix = $Keys.ContentDirPrefix('vm/100')
        $listGroup = { @($Client.ListObjects($prefix) | ForEach-Object Key | Sort-Object) }
        $pruned = Get-PbsBackupGroup store1 vm 100 | Invoke-PbsPrune -KeepLast 2 -Confirm:$false
        @($pruned | Where-Object Removed).Count | Should -Be 1
        @(Get-PbsSnapshot store1 vm 100).Count | Should -Be 2
        (& $listGroup) | Where-Object { $_ -like '*2024-03-01T10:00:00Z*' } | Should -BeNullOrEmpty
        Get-PbsSnapshot store1 vm 100 | Select-Object -First 1 | Remove-PbsSnapshot -Confirm:$false
        @(& $listGroup | Where-Object { $_ -notmatch '/(owner|notes)$' }).Count | Should -Be 4
        Get-PbsBackupGroup store1 ct 200 | Set-PbsBackupGroup -Notes 'off-site' -Confirm:$false
        [Text.Encoding]::UTF8.GetString($Client.GetObject($Keys.Content('ct/200/notes'))) | Should -Be 'off-site'
        Get-PbsBackupGroup store1 vm 100 | Remove-PbsBackupGroup -Confirm:$false
        & $listGroup | Should -BeNullOrEmpty
        Test-Path (Join-Path $StorePath 'vm/100') | Should -BeFalse
        $Client.ListObjects($Keys.ContentDirPrefix('ct/200')) | Should -Not -BeNullOrEmpty
    }
}
