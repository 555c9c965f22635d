# Bad input never crashes a cmdlet: every fixture file kind is mutated many times (truncated, bytes flipped, magic
# replaced, garbage appended or substituted, emptied) and everything the read cmdlets report must be a well-formed
# ErrorRecord: a stable ErrorId, a category other than NotSpecified, the resource as target, no raw .NET exception.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $snap = { param($pattern) $Expected.store.snapshots | Where-Object path -like $pattern | Select-Object -First 1 }
    $vm100 = & $snap 'vm/100/2024-03-03*'
    $vault = & $snap 'ns/prod/host/vault/*'
    $ct200 = & $snap 'ct/200/*'
    $smallest = { param($kind) $Expected.store.chunks | Where-Object kind -eq $kind | Sort-Object file_size | Select-Object -First 1 }
    $plainChunk = & $smallest 'compressed'
    $encChunk = & $smallest 'encrypted+compressed'
    $kinds = @(
        @{ Kind = 'chunk (compressed)'; File = $plainChunk.path; Run = 'chunk'; Digest = $plainChunk.digest }
        @{ Kind = 'chunk (encrypted)'; File = $encChunk.path; Run = 'chunk'; Digest = $encChunk.digest }
        @{ Kind = 'blob (uncompressed)'; File = "$($vm100.path)/qemu-server.conf.blob"; Run = 'blob' }
        @{ Kind = 'blob (compressed)'; File = "$($ct200.path)/pct.conf.blob"; Run = 'blob' }
        @{ Kind = 'blob (encrypted)'; File = "$($vault.path)/keyring.conf.blob"; Run = 'blob' }
        @{ Kind = 'fixed index'; File = "$($vm100.path)/drive-scsi0.img.fidx"; Run = 'index'; Snapshot = $vm100 }
        @{ Kind = 'dynamic index'; File = "$($ct200.path)/root.pxar.didx"; Run = 'index'; Snapshot = $ct200 }
        @{ Kind = 'manifest'; File = "$($vm100.path)/index.json.blob"; Run = 'manifest'; Snapshot = $vm100 }
        @{ Kind = 'signed manifest'; File = "$($vault.path)/index.json.blob"; Run = 'manifest'; Snapshot = $vault }
        @{ Kind = 'owner'; File = 'ns/prod/host/web01/owner'; Run = 'owner' }
        @{ Kind = 'datastore.cfg'; File = $null; Run = 'config' }
    )
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Store = Get-PristineStore
    $script:Roots = Set-TestRoots
    $script:Cfg = Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 'datastore.cfg'
    $script:CfgText = "datastore: store1`n`tcomment reference store`n`tgc-schedule daily`n`tkeep-daily 7`n`tmaintenance-mode type=read-only,message=disk%20swap`n`tpath $Store`n`ttuning chunk-order=none,sync-level=file`n"
    $script:Ds = Get-PbsDatastore -Path $Store
    $script:Iterations = 30

    # Mutation i of the original bytes: deterministic per kind and iteration.
    function script:Get-Mutation([byte[]] $Original, [int] $Seed) {
        $rng = [System.Random]::new($Seed)
        $b = [byte[]]$Original.Clone()
        switch ($Seed % 6) {
            0 { $n = $rng.Next($b.Length); $t = [byte[]]::new($n); [Array]::Copy($b, $t, $n); return , $t }  # truncated
            1 { foreach ($k in 1..(1 + $rng.Next(8))) { $b[$rng.Next($b.Length)] = [byte]$rng.Next(256) }; return , $b }
            2 { foreach ($k in 0..([Math]::Min(7, $b.Length - 1))) { $b[$k] = [byte]$rng.Next(256) }; return , $b }
            3 { $t = [byte[]]::new($b.Length + 1 + $rng.Next(64)); $rng.NextBytes($t); [Array]::Copy($b, $t, $b.Length); return , $t }
            4 { $junk = [byte[]]::new($rng.Next(8192)); $rng.NextBytes($junk); return , $junk }
            5 { return , [byte[]]::new(0) }
        }
    }

    # Everything a run reports: error records (non-terminating ones and a terminating one, if any).
    function script:Invoke-Collect([scriptblock] $Run) {
        $ErrorActionPreference = 'Continue'
        try { & $Run 2>&1 | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] } }
        catch { $_ }
    }

    function script:Assert-WellFormed($Record, [string] $Context) {
        $Record | Should -BeOfType [System.Management.Automation.ErrorRecord] -Because $Context
        $Record.FullyQualifiedErrorId | Should -Match '^[A-Z][A-Za-z]+,PbsDatastore\.Cmdlets\.' -Because "$Context - $($Record.Exception.GetType().FullName): $($Record.Exception.Message)"
        $Record.FullyQualifiedErrorId | Should -Not -Match '^UnexpectedError,' -Because $Context
        $Record.CategoryInfo.Category | Should -Not -Be 'NotSpecified' -Because $Context
        $Record.TargetObject | Should -Not -BeNullOrEmpty -Because $Context
        $Record.Exception.GetType().FullName | Should -BeIn @('PbsDatastore.Core.PbsException', 'System.Management.Automation.ItemNotFoundException') -Because $Context
    }
}

AfterAll {
    Remove-Item $Roots -Recurse -Force -ErrorAction SilentlyContinue
    Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT -ErrorAction SilentlyContinue
}

Describe 'Mutated <Kind>' -ForEach $kinds {
    BeforeAll {
        $script:Target = if ($File) { Join-Path $Store $File } else { $Cfg }
        $script:Original = if ($File) { [System.IO.File]::ReadAllBytes($Target) } else { [System.Text.Encoding]::UTF8.GetBytes($CfgText) }
        $script:Runs = switch ($Run) {
            'chunk' { @({ Get-PbsChunk $Ds -Digest $Digest }, { Get-PbsChunk $Ds -Digest $Digest -KeyFile $KeyFile }) }
            'blob' { @({ Get-PbsChunk -Path $Target }, { Get-PbsChunk -Path $Target -KeyFile $KeyFile }) }
            'index' {
                @({ Get-PbsIndex -Path $Target },
                  { Get-PbsIndex $Ds -Namespace $Snapshot.ns $Snapshot.type $Snapshot.id $Snapshot.time_string })
            }
            'manifest' {
                @({ Get-PbsManifest $Ds -Namespace $Snapshot.ns $Snapshot.type $Snapshot.id $Snapshot.time_string },
                  { Get-PbsSnapshot $Ds -Namespace $Snapshot.ns $Snapshot.type $Snapshot.id })
            }
            'owner' { @({ Get-PbsBackupGroup $Ds -Namespace prod host web01 }, { Get-PbsSnapshot $Ds -Namespace prod host web01 }) }
            'config' { @({ Get-PbsDatastore -Name store1 -ConfigPath $Cfg }, { Get-PbsDatastore -ConfigPath $Cfg }) }
        }
    }

    It 'reads the unmutated file without error' {
        [System.IO.File]::WriteAllBytes($Target, $Original)
        foreach ($r in $Runs) { @(Invoke-Collect $r).Count | Should -Be 0 -Because "$r" }
    }

    It 'reports only well-formed errors for every mutation' {
        $seen = 0
        try {
            foreach ($i in 0..($Iterations - 1)) {
                [System.IO.File]::WriteAllBytes($Target, (Get-Mutation $Original ($i + 7919 * $Kind.Length)))
                foreach ($r in $Runs) {
                    foreach ($e in @(Invoke-Collect $r)) {
                        $seen++
                        Assert-WellFormed $e "$Kind mutation $i, $r"
                    }
                }
            }
        }
        finally {
            # The store is the run's shared copy: leave it as it was.
            if ($File) { [System.IO.File]::WriteAllBytes($Target, $Original) }
        }
        $seen | Should -BeGreaterThan 0 -Because 'the mutations must be noticed'
    }
}
