# The read cmdlets against the reference store PBS wrote, iterating every figure of the expected JSON they cover.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $groups = $Expected.store.groups
    $snapshots = $Expected.store.snapshots
    $finished = @($snapshots | Where-Object finished)
    $indexFiles = foreach ($s in $snapshots) {
        foreach ($f in $s.files | Where-Object { $_.type -in 'fidx', 'didx' }) { @{ Snapshot = $s; File = $f } }
    }
    $blobFiles = foreach ($s in $snapshots) {
        foreach ($f in $s.files | Where-Object type -eq 'blob') { @{ Snapshot = $s; File = $f } }
    }
    $chunks = $Expected.store.chunks
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Store = Get-PristineStore
    $script:Roots = Set-TestRoots
    Set-Content (Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 'datastore.cfg') "datastore: store1`n`tcomment reference store`n`tpath $Store`n"
    $script:Ds = Get-PbsDatastore -Path $Store
}

AfterAll {
    Remove-Item $Roots -Recurse -Force -ErrorAction SilentlyContinue
    Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT -ErrorAction SilentlyContinue
}

Describe 'Get-PbsDatastore' {
    It 'opens a datastore by path' {
        $ds = Get-PbsDatastore -Path $Store
        $ds.Path | Should -Be $Store
        # datastore.cfg names this path, so the store carries its configured name.
        $ds.Name | Should -Be 'store1'
    }

    It 'takes a path given where a name goes, without needing datastore.cfg' {
        $env:PBS_DATASTORE_CONFIG_ROOT = Join-Path $Roots 'none'
        try {
            $ds = Get-PbsDatastore $Store, (Join-Path $Store 'nosuch') -ErrorVariable err -ErrorAction SilentlyContinue
            $ds.Path | Should -Be $Store
            $err.Count | Should -Be 1
            $err[0].TargetObject | Should -Be (Join-Path $Store 'nosuch')
        }
        finally { $env:PBS_DATASTORE_CONFIG_ROOT = Join-Path $Roots 'etc' }
        (Get-PbsDatastore $Store, store1).Name | Should -Be @('store1', 'store1')
    }

    It 'names a datastore that datastore.cfg does not know by its directory' {
        $env:PBS_DATASTORE_CONFIG_ROOT = Join-Path $Roots 'none'
        try { (Get-PbsDatastore -Path $Store).Name | Should -Be 'pbs-reference-store' }
        finally { $env:PBS_DATASTORE_CONFIG_ROOT = Join-Path $Roots 'etc' }
    }

    It 'resolves a name through datastore.cfg under the configured root' {
        $ds = Get-PbsDatastore -Name store1
        $ds.Name | Should -Be 'store1'
        $ds.Path | Should -Be $Store
        $ds.Comment | Should -Be 'reference store'
    }

    It 'resolves a name through -ConfigPath' {
        $cfg = Join-Path $Roots 'other.cfg'
        Set-Content $cfg "datastore: other`n`tpath $Store`n"
        (Get-PbsDatastore -Name other -ConfigPath $cfg).Path | Should -Be $Store
    }

    It 'lists every configured datastore without -Name' {
        (Get-PbsDatastore).Name | Should -Be @('store1')
    }

    It 'reports an unknown name as ObjectNotFound' {
        $err = $null
        $null = Get-PbsDatastore -Name nosuch -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err[0].TargetObject | Should -Be 'nosuch'
    }

    It 'accepts a name, a path or an object for -Datastore' {
        (Get-PbsNamespace -Datastore store1 -Depth 0).Datastore.Path | Should -Be $Store
        (Get-PbsNamespace -Datastore $Store -Depth 0).Datastore.Path | Should -Be $Store
        (Get-PbsNamespace -Datastore $Ds -Depth 0).Datastore.Path | Should -Be $Store
        ('store1' | Get-PbsNamespace -Depth 0).Datastore.Name | Should -Be 'store1'
    }
}

Describe 'Get-PbsNamespace' {
    It 'lists every namespace depth-first from the root' {
        $ns = $Ds | Get-PbsNamespace -Recurse
        $ns.Namespace | Should -Be @($Expected.store.namespaces | ForEach-Object ns)
        foreach ($i in 0..($ns.Count - 1)) {
            $ns[$i].Path | Should -Be ([System.IO.Path]::TrimEndingDirectorySeparator((Join-Path $Store $Expected.store.namespaces[$i].path)))
        }
    }

    It 'lists a namespace and its direct children without -Recurse' {
        (Get-PbsNamespace -Datastore $Ds).Namespace | Should -Be @('', 'prod')
        (Get-PbsNamespace -Datastore $Ds -Namespace prod).Namespace | Should -Be @('prod', 'prod/db')
        (Get-PbsNamespace -Datastore $Ds -Namespace prod -Depth 0).Namespace | Should -Be @('prod')
    }
}

Describe 'Get-PbsBackupGroup' {
    It 'group <ns>:<type>/<id> has its owner, notes, snapshot count and last backup' -ForEach $groups {
        $g = Get-PbsBackupGroup -Datastore $Ds -Namespace $ns -BackupType $type -BackupId $id
        $g.Owner | Should -Be $owner_file.TrimEnd()
        $g.Notes | Should -Be $notes_file
        $g.SnapshotCount | Should -Be $snapshot_count
        $g.Path | Should -Be (Join-Path $Store $path)
        $last = $Expected.store.snapshots | Where-Object { $_.ns -eq $ns -and $_.type -eq $type -and $_.id -eq $id -and $_.finished } |
            ForEach-Object time | Sort-Object | Select-Object -Last 1
        if ($null -eq $last) { $g.LastBackup | Should -BeNullOrEmpty }
        else { ([DateTimeOffset]$g.LastBackup).ToUnixTimeSeconds() | Should -Be $last }
    }

    It 'finds every group through the namespace pipeline' {
        $all = $Ds | Get-PbsNamespace -Recurse | Get-PbsBackupGroup
        @($all | ForEach-Object { "$($_.Namespace):$($_.Group)" } | Sort-Object) |
            Should -Be @($Expected.store.groups | ForEach-Object { "$($_.ns):$($_.type)/$($_.id)" } | Sort-Object)
    }

    It 'rejects a backup id that is not a PBS name' {
        $err = $null
        $null = Get-PbsBackupGroup -Datastore $Ds -BackupType vm -BackupId '../100' -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -BeGreaterThan 0
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
    }
}

Describe 'Get-PbsSnapshot' {
    It 'snapshot <path> is listed with its state and files' -ForEach $snapshots {
        $s = Get-PbsSnapshot -Datastore $Ds -Namespace $ns -BackupType $type -BackupId $id -BackupTime $time_string
        ([DateTimeOffset]$s.BackupTime).ToUnixTimeSeconds() | Should -Be $time
        $s.TimeString | Should -Be $time_string
        $s.Finished | Should -Be $finished
        $s.Protected | Should -Be $protected
        $s.Path | Should -Be (Join-Path $Store $path)
        if ($finished) {
            @($s.Files | Sort-Object) | Should -Be @($backup_files_listed_by_pbs | Sort-Object)
            $s.Size | Should -Be (($manifest.files | Measure-Object size -Sum).Sum)
        }
    }

    It 'yields every snapshot through the documented pipeline' {
        $all = Get-PbsDatastore -Path $Store | Get-PbsNamespace -Recurse | Get-PbsBackupGroup | Get-PbsSnapshot
        @($all | ForEach-Object { ($_.Path.Substring($Store.Length + 1)) } | Sort-Object) |
            Should -Be @($Expected.store.snapshots.path | Sort-Object)
    }
}

Describe 'Get-PbsManifest' {
    It 'manifest of <path> matches PBS text and fields' -ForEach $finished {
        $m = Get-PbsSnapshot -Datastore $Ds -Namespace $ns -BackupType $type -BackupId $id -BackupTime $time_string | Get-PbsManifest
        $m.Text | Should -BeExactly $manifest_text
        $m.BackupType | Should -Be $manifest.'backup-type'
        $m.BackupId | Should -Be $manifest.'backup-id'
        ([DateTimeOffset]$m.BackupTime).ToUnixTimeSeconds() | Should -Be $manifest.'backup-time'
        $m.Signature | Should -Be $manifest.signature
        $m.KeyFingerprint | Should -Be $manifest.unprotected['key-fingerprint']
        $m.Notes | Should -Be $manifest.unprotected['notes']
        $verify = $manifest.unprotected['verify_state']
        $m.VerifyState | Should -Be $(if ($verify) { $verify.state })
        $m.Files.Count | Should -Be $manifest.files.Count
        foreach ($i in 0..($m.Files.Count - 1)) {
            $e = $manifest.files[$i]
            $m.Files[$i].Filename | Should -Be $e.filename
            $m.Files[$i].CryptMode | Should -Be $e.'crypt-mode'
            $m.Files[$i].Size | Should -Be $e.size
            $m.Files[$i].Csum | Should -Be $e.csum
        }
    }

    It 'the documented pipeline reads every finished manifest' {
        $all = Get-PbsDatastore -Path $Store | Get-PbsNamespace -Recurse | Get-PbsBackupGroup | Get-PbsSnapshot | Get-PbsManifest
        $all.Count | Should -Be @($Expected.store.snapshots | Where-Object finished).Count
    }
}

Describe 'Get-PbsIndex' {
    It '<Snapshot.path>/<File.name> header and entries match PBS' -ForEach $indexFiles {
        $x = $File.index
        $path = Join-Path $Store $Snapshot.path $File.name
        $fromPath = Get-PbsIndex -Path $path
        $fromSnapshot = Get-PbsSnapshot -Datastore $Ds -Namespace $Snapshot.ns -BackupType $Snapshot.type -BackupId $Snapshot.id -BackupTime $Snapshot.time_string |
            Get-PbsIndex -ArchiveName $File.name
        foreach ($i in $fromPath, $fromSnapshot) {
            $i.Kind | Should -Be ($x.kind -replace '-index$')
            $i.Magic | Should -Be $x.magic_hex
            $i.Uuid | Should -Be $x.uuid
            ([DateTimeOffset]$i.CTime).ToUnixTimeSeconds() | Should -Be $x.ctime
            $i.IndexCsum | Should -Be $x.index_csum
            $i.ComputedCsum | Should -Be $x.computed_csum
            $i.Size | Should -Be $x.size
            $i.FileSize | Should -Be $x.file_size
            $i.ChunkCount | Should -Be $x.chunk_count
            if ($x.Contains('chunk_size')) { $i.ChunkSize | Should -Be $x.chunk_size }
            $i.Entries.Digest | Should -Be @($x.entries.digest)
            $i.Entries.End | Should -Be @($x.entries.end)
        }
        $fromSnapshot.Snapshot.TimeString | Should -Be $Snapshot.time_string
    }

    It 'reads the header of the unfinished .tmp_fidx' {
        $s = $Expected.store.snapshots | Where-Object { -not $_.finished }
        $f = $s.files | Where-Object type -eq 'tmp-index'
        $i = Get-PbsIndex -Path (Join-Path $Store $s.path $f.name)
        $i.Uuid | Should -Be $f.index_raw_header.uuid
        $i.IndexCsum | Should -Be $f.index_raw_header.index_csum
        $i.ComputedCsum | Should -Be $f.index_raw_header.computed_csum
        $i.CsumOk | Should -BeFalse
    }
}

Describe 'Get-PbsChunk' {
    BeforeAll {
        $script:Plain = @{}
        Get-PbsChunk -Datastore $Ds -Digest $Expected.store.chunks.digest | ForEach-Object { $Plain[$_.Digest] = $_ }
        $script:WithKey = @{}
        Get-PbsChunk -Datastore $Ds -Digest $Expected.store.chunks.digest -KeyFile $KeyFile | ForEach-Object { $WithKey[$_.Digest] = $_ }
        $script:WithScrypt = @{}
        $pw = ConvertTo-SecureString $Expected.key.scrypt_password -AsPlainText -Force
        $enc = $Expected.store.chunks | Where-Object { $_.kind -like 'encrypted*' } | ForEach-Object digest
        Get-PbsChunk -Datastore $Ds -Digest $enc -KeyFile $ScryptKeyFile -Password $pw | ForEach-Object { $WithScrypt[$_.Digest] = $_ }
    }

    It 'chunk <digest> (<kind>) matches PBS' -ForEach $chunks {
        foreach ($c in $Plain[$digest], $WithKey[$digest]) {
            $c.Path | Should -Be (Join-Path $Store $path)
            $c.Kind | Should -Be $kind
            $c.Magic | Should -Be $magic_hex
            $c.FileSize | Should -Be $file_size
            $c.PayloadOffset | Should -Be $payload_offset
            $c.CrcStored | Should -Be $crc32_stored
            $c.CrcComputed | Should -Be $crc32_computed
            $c.CrcOk | Should -Be $crc_ok
            if ($_.Contains('iv_hex')) { $c.Iv | Should -Be $iv_hex; $c.Tag | Should -Be $tag_hex }
        }
        $decodedBy = if ($kind -like 'encrypted*') { @($WithKey[$digest], $WithScrypt[$digest]) } else { @($Plain[$digest], $WithKey[$digest]) }
        foreach ($c in $decodedBy) {
            $c.DecodedLength | Should -Be $decoded_len
            $c.DecodedSha256 | Should -Be $decoded_sha256
            $c.DigestOk | Should -Be $digest_ok
        }
        if ($kind -like 'encrypted*') {
            $Plain[$digest].DecodedLength | Should -BeNullOrEmpty
            $Plain[$digest].DigestOk | Should -BeNullOrEmpty
        }
    }

    It '.bad file <name> reads as PBS read it' -ForEach $Expected.store.bad_files {
        $c = Get-PbsChunk -Path (Join-Path $Store $path) -ErrorAction SilentlyContinue -ErrorVariable err
        $c.Bad | Should -BeTrue
        $c.Kind | Should -Be $kind
        $c.CrcStored | Should -Be $crc32_stored
        $c.CrcComputed | Should -Be $crc32_computed
        if ($crc_ok) {
            $c.DecodedLength | Should -Be $decoded_len
            $c.DecodedSha256 | Should -Be $decoded_sha256
            $c.DigestOk | Should -Be $digest_ok
        }
        else { $err.Count | Should -BeGreaterThan 0 }
    }

    It 'blob <Snapshot.path>/<File.name> decodes as PBS decoded it' -ForEach $blobFiles {
        $b = $File.blob
        $c = Get-PbsChunk -Path (Join-Path $Store $Snapshot.path $File.name) -KeyFile $KeyFile
        $c.Kind | Should -Be $b.kind
        $c.FileSize | Should -Be $b.file_size
        $c.CrcStored | Should -Be $b.crc32_stored
        $c.CrcComputed | Should -Be $b.crc32_computed
        $c.DecodedLength | Should -Be $b.decoded_len
        $c.DecodedSha256 | Should -Be $b.decoded_sha256
    }

    It 'reports a missing chunk as ObjectNotFound with the digest as target' {
        $d = $Expected.store.missing_chunks[0].digest
        $null = Get-PbsChunk -Datastore $Ds -Digest $d -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'reports a malformed digest as InvalidArgument and goes on with the next' -TestCases @(
        @{ Bad = 'xyz' }, @{ Bad = 'zz' + ('0' * 62) }, @{ Bad = '0' * 63 }) {
        $good = $Expected.store.chunks[0].digest
        $c = Get-PbsChunk -Datastore $Ds -Digest $Bad, $good -ErrorVariable err -ErrorAction SilentlyContinue
        $c.Digest | Should -Be $good
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidDigest,*'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err[0].TargetObject | Should -Be $Bad
    }

    It 'reports a wrong key as an error, not a crash' {
        $enc = ($Expected.store.chunks | Where-Object kind -eq 'encrypted')[0].digest
        $wrong = Join-Path $Roots 'wrong-key.json'
        $k = Get-Content $KeyFile -Raw | ConvertFrom-Json
        $k.data = [Convert]::ToBase64String([byte[]](1..32))
        $k.PSObject.Properties.Remove('fingerprint')
        $k | ConvertTo-Json -Compress | Set-Content $wrong
        $null = Get-PbsChunk -Datastore $Ds -Digest $enc -KeyFile $wrong -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -BeGreaterThan 0
        $err[0].FullyQualifiedErrorId | Should -Match '^\w+,'
        $err[0].CategoryInfo.Category | Should -Not -Be 'NotSpecified'
    }
}
