# Removal, owners, notes, protection and manifest updates through the cmdlets, on copies of the reference store.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Roots = Set-TestRoots
    # The reference store without the 65536 chunk prefix directories: these tests never touch chunks, and
    # creating those directories is most of an extraction's cost.
    $script:Template = Join-Path $script:Roots 'template'
    $null = New-Item -ItemType Directory $script:Template
    tar -xzf (Join-Path $script:FixturesDir 'pbs-reference-store.tar.gz') -C $script:Template --exclude 'pbs-reference-store/.chunks/*'
    if ($LASTEXITCODE -ne 0) { throw 'tar failed' }
    $script:Template = Join-Path $script:Template 'pbs-reference-store'
    $script:Module = $env:PBSDATASTORE_MODULE
    if (-not $script:Module) { $script:Module = Join-Path $script:RepoRoot 'out/PbsDatastore/PbsDatastore.psd1' }
    # The tests build core objects directly; the module loads the core assembly only on first use.
    Add-Type -Path (Join-Path (Split-Path $script:Module) 'PbsDatastore.Core.dll')

    # A private copy of the template, opened with the lock scheme of the given PBS version.
    function New-LifecycleStore([string] $PbsVersion = '3.4.1') {
        $env:PBS_DATASTORE_PBS_VERSION = $PbsVersion
        $dir = Join-Path $script:Roots ('store-' + [guid]::NewGuid().ToString('n').Substring(0, 8))
        $null = New-Item -ItemType Directory $dir
        tar -C $script:Template --exclude './.chunks/*' -cf - . | tar -C $dir -xf -
        [PbsDatastore.Core.Hierarchy.Datastore]::Open($dir, 'store' + [guid]::NewGuid().ToString('n').Substring(0, 6))
    }

    # Group objects as Get-PbsBackupGroup shows them (owner included), for pipelines.
    function Get-TestGroup($Datastore) {
        foreach ($ns in $Datastore.ListNamespaces($null, $null, $null)) {
            if (Get-Command Get-PbsBackupGroup -ErrorAction Ignore) {
                Get-PbsBackupGroup -Datastore $Datastore -Namespace $ns.Name
                continue
            }
            foreach ($g in $Datastore.ListGroups($ns)) {
                [pscustomobject]@{ BackupGroup = $g; Owner = "$($g.ReadOwner())"; Namespace = $ns.Name; Group = $g.GroupName }
            }
        }
    }

    function Get-TestSnapshot($Datastore, [string] $Namespace, [string] $Group) {
        $type, $id = $Group -split '/'
        $Datastore.Group([PbsDatastore.Core.Hierarchy.BackupNamespace]::Parse($Namespace),
            [PbsDatastore.Core.Hierarchy.BackupTypes]::Parse($type), $id).ListSnapshots($null)
    }
}

AfterAll {
    Remove-Item $script:Roots -Recurse -Force -ErrorAction SilentlyContinue
    Remove-Item Env:PBS_DATASTORE_PBS_VERSION -ErrorAction SilentlyContinue
}

Describe 'Remove-PbsSnapshot' {
    It 'removes a snapshot and its lock files; -WhatIf removes nothing' {
        $ds = New-LifecycleStore
        $s = @(Get-TestSnapshot $ds 'prod' 'vm/101')[0]
        $s | Remove-PbsSnapshot -WhatIf
        $s.Exists | Should -BeTrue
        $s | Remove-PbsSnapshot -Confirm:$false
        $s.Exists | Should -BeFalse
        [PbsDatastore.Core.Hierarchy.BackupLocks]::SnapshotLockFile($s) | Should -Not -Exist
        @(Get-TestSnapshot $ds 'prod' 'vm/101').Count | Should -Be 1
    }

    It 'refuses a protected snapshot, also with -Force' {
        $ds = New-LifecycleStore
        $p = Get-TestSnapshot $ds '' 'ct/200' | Where-Object IsProtected
        $p | Remove-PbsSnapshot -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'SnapshotProtected*'
        $err[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
        $p | Remove-PbsSnapshot -Force -Confirm:$false -ErrorAction SilentlyContinue
        $p.IsFinished | Should -BeTrue
    }

    It 'fails with a clear error naming the holder when another process locks the snapshot, in each scheme' -ForEach @(
        @{ Version = '3.2.4'; Lock = 'dir' }, @{ Version = '3.4.1'; Lock = 'dir' }, @{ Version = '3.4.1'; Lock = 'file' }) {
        $ds = New-LifecycleStore $Version
        $s = @(Get-TestSnapshot $ds 'prod' 'host/web01')[0]
        $path = if ($Lock -eq 'dir') { $s.FullPath } else {
            ([PbsDatastore.Core.Hierarchy.BackupLocks]::LockSnapshot($s, $true, 'x')).Dispose()
            [PbsDatastore.Core.Hierarchy.BackupLocks]::SnapshotLockFile($s)
        }
        $holder = Start-Holder $path -Shared
        try {
            $s | Remove-PbsSnapshot -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -BeLike 'LockBusy*'
            $err[0].CategoryInfo.Category | Should -Be 'ResourceBusy'
            "$($err[0])" | Should -Match "held by pid $($holder.Id) \(flock\)"
            $s.IsFinished | Should -BeTrue
        }
        finally { Stop-Holder $holder }
    }
}

Describe 'Remove-PbsBackupGroup' {
    It 'removes the groups a pipeline selects by owner, keeping protected snapshots' {
        $ds = New-LifecycleStore
        Get-TestGroup $ds | Where-Object Owner -eq 'backup@pbs!token1' |
            Remove-PbsBackupGroup -Confirm:$false -PassThru -ErrorVariable err -ErrorAction SilentlyContinue -OutVariable results
        $results.Count | Should -Be 2
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeLike 'GroupPartiallyDeleted*'
        $left = @(Get-TestGroup $ds | Where-Object Owner -eq 'backup@pbs!token1')
        $left.Count | Should -Be 1
        $left[0].Group | Should -Be 'ct/200'
        @(Get-TestSnapshot $ds '' 'ct/200').Count | Should -Be 1
        @(Get-TestGroup $ds).Count | Should -Be ($Expected.store.groups.Count - 1)
    }

    It 'removes nothing while another process holds the group lock, and nothing with -WhatIf' {
        $ds = New-LifecycleStore '3.2.4'
        $g = (Get-TestGroup $ds | Where-Object Group -eq 'vm/100').BackupGroup
        $g | Remove-PbsBackupGroup -WhatIf
        $holder = Start-Holder $g.FullPath
        try {
            $g | Remove-PbsBackupGroup -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
            "$($err[0])" | Should -Match 'possible running backup'
        }
        finally { Stop-Holder $holder }
        @($g.ListSnapshots($null)).Count | Should -Be 3
    }

    It 'deletes a symlink planted in a group, never its target' {
        $ds = New-LifecycleStore '3.2.4'
        $outside = Join-Path $script:Roots ('victim-' + [guid]::NewGuid().ToString('n').Substring(0, 6))
        $null = New-Item -ItemType Directory $outside
        Set-Content (Join-Path $outside 'keep.txt') 'x'
        $g = (Get-TestGroup $ds | Where-Object Group -eq 'vm/101').BackupGroup
        $snap = @($g.ListSnapshots($null))[0]
        $null = New-Item -ItemType SymbolicLink -Path (Join-Path $snap.FullPath 'evil') -Target $outside
        $null = New-Item -ItemType SymbolicLink -Path (Join-Path $g.FullPath 'evil') -Target $outside
        $g | Remove-PbsBackupGroup -Confirm:$false
        $g.Exists | Should -BeFalse
        Join-Path $outside 'keep.txt' | Should -Exist
    }
}

Describe 'New-PbsNamespace and Remove-PbsNamespace' {
    It 'creates below an existing parent and rejects hostile names' {
        $ds = New-LifecycleStore
        $ns = New-PbsNamespace -Datastore $ds -Namespace 'prod/archive'
        $ns.Namespace | Should -Be 'prod/archive'
        Join-Path $ds.Path 'ns/prod/ns/archive' | Should -Exist
        foreach ($bad in '..', 'prod/../x', "a`0b", 'a/b/c/d/e/f/g/h', ('x' * 33)) {
            New-PbsNamespace -Datastore $ds -Namespace $bad -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidNamespace*'
        }
        New-PbsNamespace -Datastore $ds -Namespace 'nope/child' -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'NamespaceNotFound*'
        New-PbsNamespace -Datastore $ds -Namespace 'later' -WhatIf
        Join-Path $ds.Path 'ns/later' | Should -Not -Exist
    }

    It 'keeps a namespace with groups unless -Recurse, removes groups only with -GroupsOnly' {
        $ds = New-LifecycleStore
        Remove-PbsNamespace -Datastore $ds -Namespace 'prod' -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'NamespacePartiallyDeleted*'
        @(Get-TestGroup $ds).Count | Should -Be $Expected.store.groups.Count

        $r = Remove-PbsNamespace -Datastore $ds -Namespace 'prod/db' -GroupsOnly -Confirm:$false -PassThru
        $r.Complete | Should -BeTrue
        Join-Path $ds.Path 'ns/prod/ns/db' | Should -Exist
        @(Get-TestGroup $ds | Where-Object Namespace -eq 'prod/db').Count | Should -Be 0

        Remove-PbsNamespace -Datastore $ds -Namespace 'prod' -Recurse -WhatIf
        Join-Path $ds.Path 'ns/prod' | Should -Exist
        Remove-PbsNamespace -Datastore $ds -Namespace 'prod' -Recurse -Confirm:$false
        Join-Path $ds.Path 'ns/prod' | Should -Not -Exist
        @($ds.ListNamespaces($null, $null, $null)).Count | Should -Be 1
    }
}

Describe 'Owners, notes and protection' {
    It 'sets the owner in PBS format and validates Auth-IDs' {
        $ds = New-LifecycleStore
        $g = (Get-TestGroup $ds | Where-Object Group -eq 'vm/100').BackupGroup
        $out = $g | Set-PbsBackupOwner -Owner 'backup@pbs!token1' -PassThru -Confirm:$false
        $out.Group | Should -Be 'vm/100'
        $out.Owner | Should -Be 'backup@pbs!token1'
        Get-Content $g.OwnerPath -Raw | Should -BeExactly "backup@pbs!token1`n"
        foreach ($bad in 'root', 'a/b@pam', "root@pam`n", 'root@pam!', '../x@pam') {
            $g | Set-PbsBackupOwner -Owner $bad -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -BeLike 'InvalidAuthid*'
        }
        $g | Set-PbsBackupOwner -Owner 'root@pam' -WhatIf
        $g.ReadOwner().ToString() | Should -Be 'backup@pbs!token1'
    }

    It 'sets group notes, snapshot notes and protection with -PassThru' {
        $ds = New-LifecycleStore
        $g = (Get-TestGroup $ds | Where-Object Group -eq 'vm/101').BackupGroup
        ($g | Set-PbsBackupGroup -Notes "first`nsecond" -PassThru -Confirm:$false).Group | Should -Be 'vm/101'
        Get-Content $g.NotesPath -Raw | Should -BeExactly "first`nsecond"
        $s = @($g.ListSnapshots($null))[0]
        $r = $s | Set-PbsSnapshot -Protected $true -Notes 'keep me' -PassThru -Confirm:$false
        $r.Protected | Should -BeTrue
        $s.LoadManifest().Notes | Should -Be 'keep me'
        $s | Set-PbsSnapshot -Protected $false -Notes $null -Confirm:$false
        $s.IsProtected | Should -BeFalse
        $s.LoadManifest().Notes | Should -BeNullOrEmpty
        $s | Set-PbsSnapshot -Protected $true -WhatIf
        $s.IsProtected | Should -BeFalse
    }
}

Describe 'Update-PbsManifest' {
    It 'edits unprotected members by scriptblock, -Notes and -Property' {
        $ds = New-LifecycleStore
        $s = @(Get-TestSnapshot $ds '' 'vm/100')[-1]
        $m = $s | Update-PbsManifest { $_.Notes = 'from script' } -PassThru -Confirm:$false
        $m.Notes | Should -Be 'from script'
        $s | Update-PbsManifest -Notes 'plain' -Property @{ 'ticket' = 'OPS-1'; 'count' = 3; 'tags' = @('a', 'b'); 'verify_state' = $null } -Confirm:$false
        $after = $s.LoadManifest()
        $after.Notes | Should -Be 'plain'
        $after.Unprotected['ticket'].ToString() | Should -Be 'OPS-1'
        $after.Unprotected['count'].ToString() | Should -Be '3'
        $after.Unprotected['tags'].ToJsonString() | Should -Be '["a","b"]'
        $after.VerifyState | Should -BeNullOrEmpty
        $s | Update-PbsManifest -Notes 'never' -WhatIf
        $s.LoadManifest().Notes | Should -Be 'plain'
    }

    It 'refuses edits to the signed part of an encrypted snapshot' {
        $ds = New-LifecycleStore
        $s = @(Get-TestSnapshot $ds 'prod' 'host/vault')[0]
        $before = [System.IO.File]::ReadAllBytes($s.ManifestPath)
        $s | Update-PbsManifest {
            $_.AddFile([PbsDatastore.Core.Formats.ManifestFile]::new('x.blob', 'None', 1, ('0' * 64)))
        } -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'SignedManifestChange*'
        [System.IO.File]::ReadAllBytes($s.ManifestPath) | Should -Be $before
        $s | Update-PbsManifest { throw 'boom' } -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ManifestScriptFailed*'
    }

    It 'waits for a manifest lock held by another process, then fails cleanly' {
        $ds = New-LifecycleStore '3.2.4'
        $s = @(Get-TestSnapshot $ds '' 'vm/100')[0]
        $lockPath = [PbsDatastore.Core.Hierarchy.BackupLocks]::LegacyManifestLock($s)
        ([PbsDatastore.Core.Hierarchy.BackupLocks]::LockManifest($s, $null)).Dispose()
        $holder = Start-Holder $lockPath
        try {
            $s | Update-PbsManifest -Notes 'blocked' -Confirm:$false -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].FullyQualifiedErrorId | Should -BeLike 'LockBusy*'
            "$($err[0])" | Should -Match 'unable to acquire manifest lock'
        }
        finally { Stop-Holder $holder }
        $s.LoadManifest().Notes | Should -BeNullOrEmpty
    }

    It 'loses no update from 20 concurrent processes and keeps the signature valid' {
        $ds = New-LifecycleStore
        $s = @(Get-TestSnapshot $ds 'prod' 'host/vault')[0]
        $cmd = @(Get-ChildPwshCommand)
        $exe, $prefix = $cmd[0], @($cmd | Select-Object -Skip 1)
        $script = @"
Import-Module '$($script:Module)'
Add-Type -Path '$(Join-Path (Split-Path $script:Module) 'PbsDatastore.Core.dll')'
`$ds = [PbsDatastore.Core.Hierarchy.Datastore]::Open('$($ds.Path)', '$($ds.Name)')
`$s = `$ds.Group([PbsDatastore.Core.Hierarchy.BackupNamespace]::Parse('prod'), 'Host', 'vault').Snapshot('$($s.DirectoryName)')
Update-PbsManifest -BackupSnapshot `$s -Property @{ "key-`$env:UPDATE_INDEX" = [int]`$env:UPDATE_INDEX } -LockTimeout 120 -Confirm:`$false -ErrorAction Stop
"@
        $procs = foreach ($i in 1..20) {
            $psi = [System.Diagnostics.ProcessStartInfo]::new($exe)
            foreach ($a in $prefix + @('-NoProfile', '-NonInteractive', '-Command', $script)) { $psi.ArgumentList.Add($a) }
            $psi.Environment['UPDATE_INDEX'] = "$i"
            $psi.RedirectStandardError = $true
            [System.Diagnostics.Process]::Start($psi)
        }
        foreach ($p in $procs) { $p.WaitForExit(); $p.StandardError.ReadToEnd() | Should -BeNullOrEmpty; $p.ExitCode | Should -Be 0 }
        $m = $s.LoadManifest()
        foreach ($i in 1..20) { $m.Unprotected["key-$i"].ToString() | Should -Be "$i" }
        $crypt = [PbsDatastore.Core.Formats.KeyConfig]::Load($KeyFile).Decrypt()
        { $m.CheckSignature($crypt) } | Should -Not -Throw
        $m.Signature | Should -Be ($Expected.store.snapshots | Where-Object { $_.path -eq $s.RelativePath }).manifest.signature
    }
}

Describe 'Remove-PbsUnlistedFile' {
    It 'removes files the manifest does not list, never the manifest, log or marker' {
        $ds = New-LifecycleStore
        $s = Get-TestSnapshot $ds '' 'ct/200' | Where-Object IsProtected
        Set-Content (Join-Path $s.FullPath 'root.pxar.tmp_didx') ''
        $s | Remove-PbsUnlistedFile -WhatIf
        Join-Path $s.FullPath 'root.pxar.tmp_didx' | Should -Exist
        $removed = $s | Remove-PbsUnlistedFile -PassThru -Confirm:$false
        $removed | Should -Be (Join-Path $s.FullPath 'root.pxar.tmp_didx')
        $s.IsProtected | Should -BeTrue
        $s.ListFiles() | Should -Be ($Expected.store.snapshots | Where-Object { $_.path -eq $s.RelativePath }).backup_files_listed_by_pbs
    }
}
