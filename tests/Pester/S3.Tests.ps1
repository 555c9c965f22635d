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

    $script:Client = [PbsDatastore.Core.S3.S3Client]::new([PbsDatastore.Core.S3.S3EndpointConfig]::Load().Get('pester'),
        'pbs-test', $null, $null)
    # A fresh copy of the reference store uploaded as PBS 4.2 lays it out (chunks and .bad files, finished
    # snapshots' files, owner, notes, markers), every chunk evicted from the cache (an empty marker with the times
    # it had before the upload: the upload's read moves the atime of a file just extracted, since relatime updates
    # an atime not later than the ctime).
    function script:New-S3Store([string] $Name) {
        $path = New-TestStore
        $keys = [PbsDatastore.Core.S3.S3Keys]::new($Name)
        $times = @{}
        foreach ($c in $Expected.store.chunks) {
            $file = Get-Item (Join-Path $path $c.path)
            $times[$c.path] = $file.LastAccessTimeUtc, $file.LastWriteTimeUtc
        }
        foreach ($c in @($Expected.store.chunks) + @($Expected.store.bad_files)) {
            $null = $Client.PutObject("$Name/$($c.path)", [IO.File]::ReadAllBytes((Join-Path $path $c.path)), $true)
        }
        foreach ($ns in $Expected.store.namespaces | Where-Object path) {
            $null = $Client.PutObject($keys.Content("$($ns.path)/.namespace"), [byte[]]@(), $true)
        }
        foreach ($g in $Expected.store.groups) {
            foreach ($file in 'owner', 'notes') {
                $local = Join-Path $path "$($g.path)/$file"
                if (Test-Path $local) { $null = $Client.PutObject($keys.Content("$($g.path)/$file"), [IO.File]::ReadAllBytes($local), $true) }
            }
        }
        foreach ($s in $Expected.store.snapshots | Where-Object finished) {
            foreach ($f in Get-ChildItem -Force (Join-Path $path $s.path) -File | Where-Object { $_.Name -notlike '.*' -or $_.Name -eq '.protected' }) {
                $null = $Client.PutObject($keys.Content("$($s.path)/$($f.Name)"), [IO.File]::ReadAllBytes($f.FullName), $true)
            }
        }
        foreach ($c in $Expected.store.chunks) {
            $file = Get-Item (Join-Path $path $c.path)
            $atime, $mtime = $times[$c.path]
            [IO.File]::WriteAllBytes($file.FullName, [byte[]]@())
            $file.LastWriteTimeUtc = $mtime
            $file.LastAccessTimeUtc = $atime
        }
        Add-Content (Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 'datastore.cfg') "datastore: $Name`n`tbackend type=s3,client=pester,bucket=pbs-test`n`tpath $path`n"
        return $path
    }
    $script:StorePath = New-S3Store store1
    $script:Keys = [PbsDatastore.Core.S3.S3Keys]::new('store1')
    $script:FsStore = Get-PristineStore
}

AfterAll {
    if ($Node) { $Node.StandardInput.Close(); $null = $Node.WaitForExit(10000); if (-not $Node.HasExited) { $Node.Kill() } }
    if ($Client) { $Client.Dispose() }
    Remove-TestStore $StorePath
    if ($MatrixPath) { Remove-TestStore $MatrixPath }
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

    It 'measures and finds chunk references from the bucket listing, as on the filesystem store' {
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
    }

    # The cache files' atimes are seconds old here (the extraction's): every unreferenced object is listed however
    # fresh, as on the filesystem store, and none is due for removal yet.
    It 'lists the same unreferenced chunks from the bucket as from the filesystem store' {
        $byName = { param($list) @($list | Sort-Object Name | ForEach-Object { "$($_.Name) $($_.Size) $($_.IsBad)" }) }
        $unreferenced = @(Get-PbsUnreferencedChunk store1)
        @($unreferenced.Name | Sort-Object) | Should -Be @($Expected.gc_after_48h.files_removed | Split-Path -Leaf | Sort-Object)
        ($unreferenced.Size | Measure-Object -Sum).Sum | Should -Be $Expected.gc_after_48h.status.'removed-bytes'
        @($unreferenced | Where-Object WouldRemoveNow) | Should -BeNullOrEmpty
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

# Every cmdlet the module exports, run against another copy of the reference store in the S3 layout, in an order
# where each change builds on the last: all work as PBS 4.2 works on such a store (New-PbsDatastore refuses the
# taken name, as PBS does). Each change must reach the bucket, which mirrors the cache at the end.
Describe 'Every cmdlet on an S3 datastore' {
    BeforeAll {
        $script:MatrixPath = New-S3Store s3matrix
        $script:MatrixKeys = [PbsDatastore.Core.S3.S3Keys]::new('s3matrix')
        $script:Scratch = (New-Item -ItemType Directory (Join-Path $Roots 'matrix')).FullName
        $script:InputFile = Join-Path $Scratch 'disk.img'
        [IO.File]::WriteAllBytes($InputFile, [byte[]]@(foreach ($i in 1..200000) { ($i * 7919) % 251 }))
        $script:Object = { param($relative) $Client.GetObject($MatrixKeys.Content($relative)) }
    }

    $cases = @(
        @{ Name = 'Get-PbsDatastore'; Run = { Get-PbsDatastore s3matrix }; Check = { param($r) $r.Name | Should -Be 's3matrix' } }
        @{ Name = 'Get-PbsNamespace'; Run = { Get-PbsNamespace s3matrix -Recurse }; Check = { param($r) @($r).Count | Should -Be 3 } }
        @{ Name = 'Get-PbsBackupGroup'; Run = { Get-PbsBackupGroup s3matrix }; Check = { param($r) @($r).Count | Should -Be 2 } }
        @{ Name = 'Get-PbsSnapshot'; Run = { Get-PbsSnapshot s3matrix vm 100 }; Check = { param($r) @($r).Count | Should -Be 3 } }
        @{ Name = 'Get-PbsManifest'; Run = { Get-PbsManifest s3matrix vm 100 '2024-03-03T10:00:00Z' }; Check = { param($r) $r | Should -Not -BeNullOrEmpty } }
        @{ Name = 'Get-PbsIndex'; Run = { Get-PbsIndex s3matrix vm 100 '2024-03-03T10:00:00Z' -ArchiveName drive-scsi0.img.fidx }
            Check = { param($r) $r.CsumOk | Should -BeTrue } }
        @{ Name = 'Get-PbsChunk'; Run = {
                $digest = (Get-PbsIndex s3matrix vm 100 '2024-03-03T10:00:00Z' -ArchiveName drive-scsi0.img.fidx).Entries[0].Digest
                (Get-Item (Join-Path $MatrixPath ".chunks/$($digest.Substring(0, 4))/$digest")).Length | Should -Be 0
                Get-PbsChunk -Datastore s3matrix -Digest $digest }
            Check = { param($r) $r.DigestOk | Should -BeTrue; $r.CrcComputed | Should -Be $r.CrcStored } }
        @{ Name = 'Export-PbsArchive'; Run = {
                Get-PbsSnapshot s3matrix vm 100 -Latest | Export-PbsArchive -ArchiveName drive-scsi0.img.fidx -Destination (Join-Path $Scratch 'x.img') -Confirm:$false
                Get-Item (Join-Path $Scratch 'x.img') }
            Check = { param($r) $r[-1].Length | Should -BeGreaterThan 0 } }
        @{ Name = 'Get-PbsGarbageCollectionStatus'; Run = { Get-PbsGarbageCollectionStatus s3matrix }; Check = { param($r) $r | Should -Not -BeNullOrEmpty } }
        @{ Name = 'Get-PbsChunkReference'; Run = { Get-PbsChunkReference s3matrix -Missing }
            Check = { param($r) @($r).Count | Should -Be @($Expected.store.missing_chunks).Count } }
        @{ Name = 'Get-PbsUnreferencedChunk'; Run = { Get-PbsUnreferencedChunk s3matrix }; Check = { param($r) @($r).Count | Should -BeGreaterThan 0 } }
        @{ Name = 'Measure-PbsDatastore'; Run = { Measure-PbsDatastore s3matrix }
            Check = { param($r) $r.ReferencedBytes | Should -Be $Expected.gc_after_48h.status.'disk-bytes' } }
        @{ Name = 'Test-PbsSnapshot'; Run = { Get-PbsSnapshot s3matrix vm 100 | Test-PbsSnapshot -Confirm:$false }
            Check = { param($r) @($r | Where-Object Ok).Count | Should -Be 3 } }
        @{ Name = 'Test-PbsDatastore'; Run = { Test-PbsDatastore s3matrix -Namespace prod -Confirm:$false -WarningAction SilentlyContinue }
            Check = { param($r) @($r).Count | Should -BeGreaterThan 3 } }
        @{ Name = 'Update-PbsManifest'; Run = { Get-PbsSnapshot s3matrix vm 100 -Latest | Update-PbsManifest -Notes 'matrix' -Confirm:$false; Get-PbsSnapshot s3matrix vm 100 -Latest }
            Check = { param($r) & $Object "vm/100/$($r[-1].TimeString)/index.json.blob" | Should -Be ([IO.File]::ReadAllBytes((Join-Path $r[-1].Path 'index.json.blob'))) } }
        @{ Name = 'Set-PbsSnapshot'; Run = { Get-PbsSnapshot s3matrix vm 100 '2024-03-01T10:00:00Z' | Set-PbsSnapshot -Protected $true -Confirm:$false }
            Check = { param($r) $Client.HeadObject($MatrixKeys.Content('vm/100/2024-03-01T10:00:00Z/.protected')) | Should -Not -BeNullOrEmpty } }
        @{ Name = 'Set-PbsBackupGroup'; Run = { Get-PbsBackupGroup s3matrix vm 100 | Set-PbsBackupGroup -Notes 'matrix notes' -Confirm:$false }
            Check = { param($r) [Text.Encoding]::UTF8.GetString((& $Object 'vm/100/notes')) | Should -Be 'matrix notes' } }
        @{ Name = 'Set-PbsBackupOwner'; Run = { Get-PbsBackupGroup s3matrix ct 200 | Set-PbsBackupOwner 'backup@pbs' -Confirm:$false }
            Check = { param($r) [Text.Encoding]::UTF8.GetString((& $Object 'ct/200/owner')) | Should -Be "backup@pbs`n" } }
        @{ Name = 'Remove-PbsUnlistedFile'; Run = {
                $snapshot = Get-PbsSnapshot s3matrix vm 100 '2024-03-02T10:00:00Z'
                Set-Content (Join-Path $snapshot.Path 'leftover.img.fidx') 'x'
                $null = $Client.PutObject($MatrixKeys.Content('vm/100/2024-03-02T10:00:00Z/leftover.img.fidx'), [byte[]]@(1), $true)
                $snapshot | Remove-PbsUnlistedFile -Confirm:$false }
            Check = { param($r) & $Object 'vm/100/2024-03-02T10:00:00Z/leftover.img.fidx' | Should -BeNullOrEmpty } }
        @{ Name = 'New-PbsNamespace'; Run = { New-PbsNamespace s3matrix matrixns -Confirm:$false }
            Check = { param($r) $Client.HeadObject($MatrixKeys.Content('ns/matrixns/.namespace')) | Should -Not -BeNullOrEmpty } }
        @{ Name = 'New-PbsSnapshot'; Run = { New-PbsSnapshot s3matrix -Namespace matrixns -BackupType host -BackupId m1 -Path $InputFile -ChunkSize 64KB -Confirm:$false }
            Check = { param($r) & $Object "ns/matrixns/host/m1/$($r.TimeString)/index.json.blob" | Should -Not -BeNullOrEmpty } }
        @{ Name = 'Move-PbsBackupGroup'; Run = { Move-PbsBackupGroup s3matrix host m1 -Namespace matrixns -TargetNamespace prod -Confirm:$false; Get-PbsSnapshot s3matrix host m1 -Namespace prod }
            Check = { param($r) & $Object "ns/prod/host/m1/$($r[-1].TimeString)/index.json.blob" | Should -Not -BeNullOrEmpty } }
        @{ Name = 'Move-PbsNamespace'; Run = { Move-PbsNamespace s3matrix -Namespace prod/db -TargetNamespace db2 -Confirm:$false }
            Check = { param($r) $Client.HeadObject($MatrixKeys.Content('ns/db2/.namespace')) | Should -Not -BeNullOrEmpty
                $Client.HeadObject($MatrixKeys.Content('ns/prod/ns/db/.namespace')) | Should -BeNullOrEmpty } }
        @{ Name = 'Invoke-PbsPrune'; Run = { Get-PbsBackupGroup s3matrix vm 100 | Invoke-PbsPrune -KeepLast 1 -Confirm:$false }
            Check = { param($r) @($r | Where-Object Removed).Count | Should -Be 1 } }
        @{ Name = 'Remove-PbsSnapshot'; Run = { Get-PbsSnapshot s3matrix ct 200 '2024-03-01T12:00:00Z' | Remove-PbsSnapshot -Confirm:$false }
            Check = { param($r) $Client.HeadObject($MatrixKeys.Content('ct/200/2024-03-01T12:00:00Z/index.json.blob')) | Should -BeNullOrEmpty } }
        @{ Name = 'Remove-PbsBackupGroup'; Run = { Get-PbsBackupGroup s3matrix host m1 -Namespace prod | Remove-PbsBackupGroup -Confirm:$false }
            Check = { param($r) $Client.ListObjects($MatrixKeys.ContentDirPrefix('ns/prod/host/m1')) | Should -BeNullOrEmpty } }
        @{ Name = 'Remove-PbsNamespace'; Run = { Remove-PbsNamespace s3matrix matrixns -Recurse -Confirm:$false }
            Check = { param($r) $Client.HeadObject($MatrixKeys.Content('ns/matrixns/.namespace')) | Should -BeNullOrEmpty } }
        @{ Name = 'Set-PbsDatastore'; Run = { Set-PbsDatastore s3matrix -Comment 'in a bucket' -Confirm:$false -PassThru }
            Check = { param($r) (Get-Content -Raw (Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 'datastore.cfg')) | Should -Match 'in a bucket' } }
        @{ Name = 'Invoke-PbsGarbageCollection'; Run = { Invoke-PbsGarbageCollection s3matrix -Confirm:$false -WarningAction SilentlyContinue }
            Check = { param($r) $r.Bucket | Should -Be 'pbs-test'; $r.S3Requests.Head | Should -Be 1 } }
        @{ Name = 'New-PbsDatastore'; Refuses = 'DatastoreExists'; Run = { New-PbsDatastore $MatrixPath s3matrix -Confirm:$false } }
    )

    It 'covers every cmdlet the module exports' -TestCases @{ Covered = @($cases.Name) } {
        $exported = (Get-Module PbsDatastore).ExportedCmdlets.Keys
        $exported | Where-Object { $_ -notin $Covered } | Should -BeNullOrEmpty
    }

    It '<Name> works on the S3 store, or refuses as PBS does' -ForEach $cases {
        $ErrorActionPreference = 'Stop'
        if ($Refuses) {
            $record = $null
            try { $null = & $Run } catch { $record = $_ }
            $record.FullyQualifiedErrorId | Should -BeLike "$Refuses,*"
            return
        }
        & $Check (& $Run)
    }

    It 'leaves the bucket mirroring the cache' {
        $prefix = $MatrixKeys.ContentPrefix
        $bucket = @($Client.ListObjects($prefix) | ForEach-Object { $_.Key.Substring($prefix.Length) } | Sort-Object -CaseSensitive)
        $cache = @(
            Get-ChildItem -Recurse -Force -Directory (Join-Path $MatrixPath 'ns') | Where-Object { $_.Parent.Name -eq 'ns' } |
                ForEach-Object { [IO.Path]::GetRelativePath($MatrixPath, $_.FullName) + '/.namespace' }
            foreach ($g in Get-PbsNamespace s3matrix -Recurse | Get-PbsBackupGroup) {
                $rel = [IO.Path]::GetRelativePath($MatrixPath, $g.Path)
                foreach ($f in 'owner', 'notes') { if (Test-Path (Join-Path $g.Path $f)) { "$rel/$f" } }
                foreach ($s in $g | Get-PbsSnapshot | Where-Object Finished) {
                    Get-ChildItem -Force -File $s.Path | Where-Object { $_.Name -notlike '.*' -or $_.Name -eq '.protected' } |
                        ForEach-Object { [IO.Path]::GetRelativePath($MatrixPath, $_.FullName) }
                }
            }) | Sort-Object -CaseSensitive
        $bucket | Should -Be $cache
    }
}
