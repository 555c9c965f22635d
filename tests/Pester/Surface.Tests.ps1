# The interactive surface as a PowerShell user meets it: one parameter vocabulary, -Datastore failures with their
# documented ErrorId and a recommended action, completion of numeric IDs and paths, -PassThru returning the Get-
# types, help with a syntax and an online link, what a stop with Ctrl+C says, and a repository free of file names
# with control characters.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $cmdlets = @(Get-Command -Module PbsDatastore -CommandType Cmdlet | ForEach-Object Name)
    # One call per cmdlet with a -Datastore parameter, every other mandatory parameter given; -WhatIf where it
    # changes things (the datastore must fail first anyway).
    $datastoreCalls = @(
        @{ Name = 'Get-PbsBackupGroup'; Call = { param($d) Get-PbsBackupGroup $d } }
        @{ Name = 'Get-PbsChunk'; Call = { param($d) Get-PbsChunk $d -Digest ('0' * 64) } }
        @{ Name = 'Get-PbsChunkReference'; Call = { param($d) Get-PbsChunkReference $d -Bad } }
        @{ Name = 'Get-PbsGarbageCollectionStatus'; Call = { param($d) Get-PbsGarbageCollectionStatus $d } }
        @{ Name = 'Get-PbsIndex'; Call = { param($d) Get-PbsIndex $d vm 100 2024-03-01T10:00:00Z } }
        @{ Name = 'Get-PbsManifest'; Call = { param($d) Get-PbsManifest $d vm 100 2024-03-01T10:00:00Z } }
        @{ Name = 'Get-PbsNamespace'; Call = { param($d) Get-PbsNamespace $d } }
        @{ Name = 'Get-PbsSnapshot'; Call = { param($d) Get-PbsSnapshot $d } }
        @{ Name = 'Get-PbsUnreferencedChunk'; Call = { param($d) Get-PbsUnreferencedChunk $d } }
        @{ Name = 'Invoke-PbsGarbageCollection'; Call = { param($d) Invoke-PbsGarbageCollection $d -WhatIf } }
        @{ Name = 'Invoke-PbsPrune'; Call = { param($d) Invoke-PbsPrune $d -KeepLast 1 -WhatIf } }
        @{ Name = 'Move-PbsBackupGroup'; Call = { param($d) Move-PbsBackupGroup $d vm 100 -TargetNamespace x -WhatIf } }
        @{ Name = 'Move-PbsNamespace'; Call = { param($d) Move-PbsNamespace $d -Namespace prod -TargetNamespace x -WhatIf } }
        @{ Name = 'New-PbsNamespace'; Call = { param($d) New-PbsNamespace $d x -WhatIf } }
        @{ Name = 'New-PbsSnapshot'; Call = { param($d) New-PbsSnapshot $d -BackupType host -BackupId x -Path /etc/os-release -WhatIf } }
        @{ Name = 'Remove-PbsNamespace'; Call = { param($d) Remove-PbsNamespace $d x -WhatIf } }
        @{ Name = 'Set-PbsDatastore'; Call = { param($d) Set-PbsDatastore $d -Comment x -WhatIf } }
        @{ Name = 'Test-PbsDatastore'; Call = { param($d) Test-PbsDatastore $d -WhatIf } }
    )
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Store = Get-PristineStore
    $script:Ds = Get-PbsDatastore -Path $Store
    $script:Roots = Set-TestRoots
    $script:Cfg = Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 'datastore.cfg'
    Set-Content $Cfg "datastore: store1`n`tpath $Store`n"
    $script:Common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
    $script:ModulePath = (Get-Module PbsDatastore).Path

    function script:Complete([string] $Line) {
        (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches.CompletionText
    }

    # The error a call ends with (terminating or not).
    function script:Get-CallError([scriptblock] $Call, $Argument) {
        $err = $null
        try { $null = & $Call $Argument -ErrorVariable err -ErrorAction SilentlyContinue -WarningAction SilentlyContinue 6>$null }
        catch { return $_ }
        return @($err)[0]
    }

    # Runs a script in a child pwsh with the module loaded (as a user's terminal does, with a console host) and
    # returns its output lines. -Interrupt: sends SIGINT (Ctrl+C) once the script printed 'started' and some
    # seconds passed.
    function script:Invoke-Child([string] $Script, [int] $Interrupt = 0) {
        $cmd = @(Get-ChildPwshCommand)
        $psi = [System.Diagnostics.ProcessStartInfo]::new($cmd[0])
        $prologue = "`$PSStyle.OutputRendering = 'PlainText'; Import-Module '$ModulePath'; "
        foreach ($a in @($cmd | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $prologue + $Script)) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $p = [System.Diagnostics.Process]::Start($psi)
        try {
            $errors = $p.StandardError.ReadToEndAsync()
            $lines = [System.Collections.Generic.List[string]]::new()
            if ($Interrupt) {
                while ($null -ne ($line = $p.StandardOutput.ReadLine()) -and $line -ne 'started') { $lines.Add($line) }
                Start-Sleep -Seconds $Interrupt
                $p.HasExited | Should -BeFalse -Because 'the command must still run when Ctrl+C comes'
                & kill -s INT $p.Id
            }
            $lines.AddRange([string[]]($p.StandardOutput.ReadToEnd() -split "`n"))
            $p.WaitForExit(60000) | Should -BeTrue
            return @($lines) + @($errors.Result -split "`n")
        }
        finally { if (-not $p.HasExited) { $p.Kill($true) }; $p.Dispose() }
    }
}

AfterAll {
    Remove-Item $Roots -Recurse -Force -ErrorAction SilentlyContinue
    Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT -ErrorAction SilentlyContinue
}

Describe 'One parameter vocabulary' {
    BeforeAll {
        $script:Parameters = foreach ($c in Get-Command -Module PbsDatastore -CommandType Cmdlet) {
            foreach ($p in $c.Parameters.Values | Where-Object Name -notin $Common) { [pscustomobject]@{ Cmdlet = $c.Name; Parameter = $p } }
        }
    }

    It 'takes -Datastore first (position 0) in every cmdlet and parameter set' {
        $datastore = @($Parameters | Where-Object { $_.Parameter.Name -eq 'Datastore' })
        $datastore.Count | Should -BeGreaterThan 15
        foreach ($d in $datastore) {
            foreach ($set in $d.Parameter.ParameterSets.GetEnumerator()) {
                $set.Value.Position | Should -Be 0 -Because "$($d.Cmdlet) -Datastore in set $($set.Key)"
            }
        }
    }

    It 'uses the long names, with the short ones as aliases everywhere' {
        $aliases = @{ BackupType = 'Type'; BackupId = 'Id'; BackupTime = 'Time' }
        foreach ($e in $Parameters) {
            $e.Parameter.Name | Should -Not -BeIn @('Type', 'Id', 'Time', 'Depth', 'Snapshot', 'Group') -Because "$($e.Cmdlet) names it"
            if ($aliases[$e.Parameter.Name]) {
                $e.Parameter.Aliases | Should -Contain $aliases[$e.Parameter.Name] -Because "$($e.Cmdlet) -$($e.Parameter.Name)"
            }
        }
        # The earlier names keep working.
        (Get-Command Get-PbsNamespace).Parameters['MaxDepth'].Aliases | Should -Contain 'Depth'
        (Get-Command Export-PbsArchive).Parameters['BackupSnapshot'].Aliases | Should -Contain 'Snapshot'
    }

    It 'gives each parameter name one type across cmdlets' {
        $Parameters | Where-Object { $_.Parameter.Name -in 'Datastore', 'Namespace', 'BackupType', 'BackupId', 'BackupTime', 'MaxDepth', 'KeyFile', 'Password', 'PassThru' } |
            Group-Object { $_.Parameter.Name } | ForEach-Object {
                @($_.Group.Parameter.ParameterType.FullName | Sort-Object -Unique).Count | Should -Be 1 -Because "-$($_.Name)"
            }
    }

    It 'binds the Get- objects given as arguments, not only from the pipeline' {
        $groups = Get-PbsBackupGroup $Ds vm
        $result = @(Invoke-PbsPrune -BackupGroup $groups -KeepLast 1 -WhatIf 6>$null)
        $result.Group | Sort-Object -Unique | Should -Be @('vm/100')
        @(Test-PbsSnapshot -BackupSnapshot (Get-PbsSnapshot $Ds vm 100) -Fast -WhatIf 6>$null).Count | Should -Be 3
    }
}

Describe '-Datastore failures carry the documented ErrorId' {
    BeforeAll {
        $about = Get-Content (Join-Path $RepoRoot 'docs/about_PbsDatastore.md') -Raw
        $script:Documented = @([regex]::Matches($about, '(?m)^    ([A-Z][A-Za-z]+) +\w+') | ForEach-Object { $_.Groups[1].Value })
    }
    AfterEach { Set-Content $Cfg "datastore: store1`n`tpath $Store`n" }

    It 'covers every cmdlet with a -Datastore parameter' -TestCases @{ Covered = @($datastoreCalls.Name) } {
        $withDatastore = Get-Command -Module PbsDatastore -CommandType Cmdlet | Where-Object { $_.Parameters.ContainsKey('Datastore') } | ForEach-Object Name
        $withDatastore | Where-Object { $_ -notin $Covered } | Should -BeNullOrEmpty
    }

    It '<Name> reports an unknown name, a missing path and a broken datastore.cfg by id, with a fix' -ForEach $datastoreCalls {
        foreach ($case in @(
                @{ Argument = 'nosuch'; Id = 'DatastoreNotFound'; Category = 'ObjectNotFound' }
                @{ Argument = '/nonexistent/store'; Id = 'DatastoreNotFound'; Category = 'ObjectNotFound' }
                @{ Argument = 'store1'; Id = 'DatastoreConfigInvalid'; Category = 'InvalidData'; Cfg = "datastore store1`n" })) {
            if ($case.Cfg) { Set-Content $Cfg $case.Cfg }
            $e = Get-CallError $Call $case.Argument
            $e | Should -Not -BeNullOrEmpty -Because "$Name $($case.Argument)"
            $e.FullyQualifiedErrorId | Should -BeLike "$($case.Id),*" -Because "$Name $($case.Argument)"
            $case.Id | Should -BeIn $Documented
            "$($e.CategoryInfo.Category)" | Should -Be $case.Category
            $e.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
        }
    }

    It 'is caught by id in a try/catch' {
        $caught = try { Get-PbsSnapshot nosuch; 'not thrown' } catch { $_.FullyQualifiedErrorId.Split(',')[0] }
        $caught | Should -Be 'DatastoreNotFound'
        $caught = try { 'nosuch' | Get-PbsBackupGroup; 'not thrown' } catch { $_.FullyQualifiedErrorId.Split(',')[0] }
        $caught | Should -Be 'DatastoreNotFound'
    }
}

Describe 'Errors say what to do, in the module''s own words' {
    BeforeAll {
        $script:Encrypted = ($Expected.store.chunks | Where-Object kind -eq 'encrypted+compressed' | Select-Object -First 1).digest
        $script:Fresh = New-TestStore
    }
    AfterAll { Remove-TestStore $Fresh }

    It 'names -Password for a protected key file and does not hang without a console to ask on' {
        $e = Get-CallError { param($d) Get-PbsChunk $d -Digest $Encrypted -KeyFile $ScryptKeyFile } $Ds
        $e.FullyQualifiedErrorId | Should -BeLike 'KeyPasswordRequired,*'
        $e.ErrorDetails.RecommendedAction | Should -Match '-Password'
    }

    It 'names -KeyFile for encrypted data without a key' {
        $vault = Get-PbsSnapshot $Ds -Namespace prod host vault -Latest
        $e = Get-CallError { param($s) Export-PbsArchive $s root.pxar -OutputStream ([System.IO.MemoryStream]::new()) } $vault
        $e.ErrorDetails.RecommendedAction | Should -Match '-KeyFile'
    }

    It 'points a protected snapshot to Set-PbsSnapshot -Protected:$false' {
        $protected = Get-PbsSnapshot $Fresh | Where-Object Protected | Select-Object -First 1
        $e = Get-CallError { param($s) Remove-PbsSnapshot $s -Confirm:$false } $protected
        $e.FullyQualifiedErrorId | Should -BeLike 'SnapshotProtected,*'
        $e.ErrorDetails.RecommendedAction | Should -Match 'Set-PbsSnapshot .*-Protected:\$false'
        $protected.Path | Should -Exist
    }

    It 'reports a key file that is not base64 without .NET''s wording' {
        $bad = Join-Path $Roots 'bad-key.json'
        Set-Content $bad '{"kdf":null,"created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","data":"not*base64"}'
        $e = Get-CallError { param($d) Get-PbsChunk $d -Digest $Encrypted -KeyFile $bad } $Ds
        "$e" | Should -Not -Match 'Base-64|The input is not'
        "$e" | Should -Match 'base64'
    }

    It 'does not double "warning" in warnings' {
        $w = $null
        $null = Invoke-PbsGarbageCollection $Ds -WhatIf -WarningVariable w -WarningAction SilentlyContinue 6>$null
        @($w).Count | Should -Be $Expected.gc_after_12h.missing_chunk_warnings
        $w | Where-Object { "$_" -match '^warning: ' } | Should -BeNullOrEmpty
    }

    It 'lists every group when one group''s notes are not UTF-8, with an error for that one' {
        [System.IO.File]::WriteAllBytes((Join-Path $Fresh 'vm/100/notes'), [byte[]](0x66, 0xff, 0xfe, 0x0a))
        $err = $null
        $groups = @(Get-PbsBackupGroup $Fresh -ErrorVariable err -ErrorAction SilentlyContinue)
        $groups.Count | Should -Be @($Expected.store.groups | Where-Object ns -eq '').Count
        ($groups | Where-Object Group -eq 'vm/100').Notes | Should -BeNullOrEmpty
        @($err).Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -BeLike 'ReadFailed,*'
        "$($err[0].TargetObject)" | Should -Match 'vm/100/notes$'
    }
}

Describe 'Completion of numeric IDs and of paths' {
    It 'completes the snapshot times of a numeric backup ID, not of another group' {
        $times = @($Expected.store.snapshots | Where-Object { $_.ns -eq 'prod' -and $_.type -eq 'vm' -and $_.id -eq '101' } |
            ForEach-Object { Split-Path -Leaf $_.path } | Sort-Object -Descending)
        $times.Count | Should -BeGreaterThan 0
        Complete 'Get-PbsSnapshot store1 -Namespace prod vm 101 ' | Should -Be $times
        Complete 'Get-PbsSnapshot -Datastore store1 -Namespace prod -BackupType vm -BackupId 101 -BackupTime ' | Should -Be $times
    }

    It 'completes the archive names of a snapshot with a numeric backup ID' {
        $s = $Expected.store.snapshots | Where-Object { $_.ns -eq 'prod' -and $_.type -eq 'vm' -and $_.id -eq '101' } | Select-Object -First 1
        $names = @($s.files.name | Where-Object { $_ -match '\.(fidx|didx)$' } | Sort-Object)
        @(Complete "Get-PbsIndex store1 -Namespace prod vm 101 $(Split-Path -Leaf $s.path) " | Sort-Object) | Should -Be $names
    }

    It 'completes a datastore path, absolute and relative to the PowerShell location' {
        $parent = Split-Path $Store
        Complete "Get-PbsSnapshot $parent/pbs-ref" | Should -Contain $Store
        Push-Location $parent
        try {
            @(Complete 'Get-PbsSnapshot ./pbs-ref') | Should -Match 'pbs-reference-store'
            # A relative path names the datastore for the completion of the next parameter, too.
            Complete 'Get-PbsBackupGroup ./pbs-reference-store -Namespace prod/' | Should -Be @('prod/db')
        }
        finally { Pop-Location }
    }
}

Describe '-PassThru returns what the Get- cmdlets return; every change has -WhatIf' {
    BeforeAll { $script:Fresh = New-TestStore }
    AfterAll { Remove-TestStore $Fresh }

    It 'Set-PbsSnapshot -PassThru returns a snapshot as Get-PbsSnapshot does' {
        $s = Get-PbsSnapshot $Fresh vm 100 -Latest
        $r = $s | Set-PbsSnapshot -Protected $true -PassThru -Confirm:$false
        $r | Should -BeOfType ([PbsDatastore.Objects.SnapshotInfo])
        $r.Protected | Should -BeTrue
        $r.BackupTime | Should -Be $s.BackupTime
    }

    It 'Set-PbsBackupGroup and Set-PbsBackupOwner -PassThru return groups as Get-PbsBackupGroup does' {
        $g = Get-PbsBackupGroup $Fresh ct 200
        ($g | Set-PbsBackupGroup -Notes "web`nfarm" -PassThru -Confirm:$false).Comment | Should -Be 'web'
        $o = $g | Set-PbsBackupOwner 'backup@pbs' -PassThru -Confirm:$false
        $o | Should -BeOfType ([PbsDatastore.Objects.BackupGroupInfo])
        $o.Owner | Should -Be 'backup@pbs'
    }

    It 'New-PbsNamespace returns a namespace as Get-PbsNamespace does' {
        New-PbsNamespace $Fresh 'prod/new' -Confirm:$false | Should -BeOfType ([PbsDatastore.Objects.NamespaceInfo])
    }

    It 'Update-PbsManifest -PassThru returns a manifest as Get-PbsManifest does' {
        $m = Get-PbsSnapshot $Fresh vm 100 -Latest | Update-PbsManifest -Notes 'checked' -PassThru -Confirm:$false
        $m | Should -BeOfType ([PbsDatastore.Objects.ManifestInfo])
        $m.Notes | Should -Be 'checked'
    }

    It 'Remove-PbsSnapshot -PassThru returns each removed snapshot' {
        $s = Get-PbsSnapshot $Fresh vm 100 | Where-Object { -not $_.Protected } | Select-Object -First 1
        $r = $s | Remove-PbsSnapshot -PassThru -Confirm:$false
        $r | Should -BeOfType ([PbsDatastore.Objects.SnapshotInfo])
        $r.Snapshot | Should -Be $s.Snapshot
        $s.Path | Should -Not -Exist
        (Get-Command Remove-PbsSnapshot).OutputType.Type | Should -Contain ([PbsDatastore.Objects.SnapshotInfo])
    }

    It 'Export-PbsArchive -WhatIf writes nothing' {
        $out = Join-Path $Roots 'exported.img'
        Get-PbsSnapshot $Fresh vm 100 -Latest | Export-PbsArchive -ArchiveName drive-scsi0.img -Destination $out -WhatIf 6>$null
        $out | Should -Not -Exist
    }

    It 'Remove-PbsNamespace -WhatIf says that the groups of a namespace stay without -Recurse' {
        $out = Invoke-Child "Remove-PbsNamespace '$Fresh' prod -WhatIf"
        ($out -join ' ') | Should -Match 'group\(s\) in it or below stay'
        ($out -join ' ') | Should -Not -Match 'Remove empty namespace'
    }
}

Describe 'What the output says' {
    It 'shows an unfinished snapshot as unfinished, not as a running verification' {
        $s = Get-PbsSnapshot $Ds -Namespace prod/db vm 400
        $s.Finished | Should -BeFalse
        ($s | Out-String -Width 80) | Should -Match 'unfinished'
        ($s | Out-String -Width 80) | Should -Not -Match 'runn'
    }

    It 'counts the chunks checked per snapshot, including those verified earlier in the same run' {
        $results = @(Get-PbsNamespace $Ds -Recurse | Get-PbsSnapshot | Test-PbsSnapshot -WhatIf -ErrorAction SilentlyContinue -WarningAction SilentlyContinue 6>$null)
        $checked = 0
        foreach ($r in $results | Where-Object State -eq 'Ok') {
            $snap = $Expected.store.snapshots | Where-Object { $_.ns -eq $r.Namespace -and $_.path -like "*$($r.Snapshot)" }
            $indexes = $snap.files | Where-Object { $_.name -match '\.(fidx|didx)$' -and $_.name -in $snap.manifest.files.filename }
            $distinct = ($indexes | ForEach-Object { @($_.index.entries.digest | Sort-Object -Unique).Count } | Measure-Object -Sum).Sum
            $r.ChunksChecked | Should -Be $distinct -Because $r.Snapshot
            if ($r.ChunksLoaded -lt $distinct) { $checked++ }
        }
        $checked | Should -BeGreaterThan 0 -Because 'some snapshots share chunks verified before them'
    }

    It 'gives garbage collection status rows the datastore, state and duration; a zero UPID time is no date' {
        $s = Get-PbsGarbageCollectionStatus $Ds
        $s.Datastore | Should -Be $Ds.Name
        $s.State | Should -Be 'ok'
        $s.Upid | Should -Be $Expected.store.gc_status_file.parsed.upid
        $s.LastRun | Should -BeNullOrEmpty
        ($s | Out-String -Width 80) | Should -Not -Match '1970'
    }

    It 'times a collection from its UPID to the end of the run' {
        $fresh = New-TestStore
        try {
            $r = Invoke-PbsGarbageCollection $fresh -WarningAction SilentlyContinue 6>$null
            $s = Get-PbsGarbageCollectionStatus $fresh
            $s.State | Should -Be 'ok'
            $s.LastRun | Should -BeGreaterThan (Get-Date).AddMinutes(-10)
            $s.Duration | Should -BeOfType ([TimeSpan])
            $s.Duration | Should -BeLessOrEqual ($r.Phase1Duration + $r.Phase2Duration + [TimeSpan]::FromSeconds(5))
        }
        finally { Remove-TestStore $fresh }
    }

    It 'shows datastore usage as statvfs reports it (df)' {
        $df = (& df -B1 --output=size,used,avail $Store)[1].Trim() -split '\s+' | ForEach-Object { [long]$_ }
        $Ds.Total | Should -Be $df[0]
        # Other processes write to the same file system meanwhile: used and available may move a little.
        # A double: Max(64MB, …) would pick the Int32 overload, which a disk over 214 GB overflows.
        $slack = [Math]::Max([double]64MB, $df[0] / 100)
        [Math]::Abs($Ds.Used - $df[1]) | Should -BeLessThan $slack
        [Math]::Abs($Ds.Available - $df[2]) | Should -BeLessThan $slack
    }

    It 'keeps the lock scheme out of Format-List *' {
        ($Ds | Format-List * | Out-String) | Should -Not -Match 'Locking'
    }
}

Describe 'Help' {
    It '<_> has a syntax and an online version' -ForEach $cmdlets {
        $help = Get-Help $_
        ($help.syntax | Out-String).Trim() | Should -Match "^$_ "
        @($help.relatedLinks.navigationLink)[0].uri | Should -Be "https://github.com/pbsdatastore/PbsDatastore/blob/main/docs/$_.md"
    }
}

Describe 'Verify progress below file level' {
    It 'shows the chunks of the archive being verified, and completes that bar' {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript("Import-Module '$ModulePath'").AddStatement()
            $null = $ps.AddScript('param($s) Test-PbsSnapshot -BackupSnapshot (Get-PbsSnapshot $s ct 200) -WhatIf -WarningAction SilentlyContinue').AddParameter('s', $Store)
            $null = $ps.Invoke()
            $bar = @($ps.Streams.Progress | Where-Object ActivityId -eq ([PbsDatastore.Core.Maintenance.ChunkVerifier]::ChunkProgressId))
        }
        finally { $ps.Dispose() }
        $chunks = @($bar | Where-Object RecordType -eq 'Processing')
        # root.pxar.didx of ct/200 has 27 chunks: records at chunk 0 and 16.
        $chunks | Where-Object Activity -eq 'Verify root.pxar.didx' | ForEach-Object StatusDescription | Should -Contain '16 of 27 chunks'
        $chunks | Where-Object { $_.PercentComplete -lt 0 -or $_.PercentComplete -gt 100 } | Should -BeNullOrEmpty
        $bar[-1].RecordType | Should -Be 'Completed'
    }
}

Describe 'Ctrl+C' {
    It 'says that verification was stopped and how far it got' {
        $out = Invoke-Child -Interrupt 3 ("[Console]::Out.WriteLine('started'); 1..100000 | ForEach-Object { '$Store' } | " +
            "Test-PbsDatastore -WhatIf -ErrorAction SilentlyContinue -WarningAction SilentlyContinue | Out-Null; 'not stopped'")
        $text = $out -join ' '
        $text | Should -Match 'Test-PbsDatastore was stopped \(Ctrl\+C\)\. Results of \d+ snapshot\(s\) were written'
        [regex]::Matches($text, 'was stopped \(Ctrl\+C\)').Count | Should -Be 1
        $text | Should -Not -Match 'not stopped'
    }

    # StopProcessing comes on its own thread, at any point of the command's jobs: each order is played here on the
    # class where the two sides meet (internal, so through reflection). The pipeline ends every command
    # (CommandEnded, from Dispose; ...Stopping: the pipeline is stopping, as when PowerShell disposes the command
    # before calling its StopProcessing). Returns what was said and whether the job was cancelled.
    BeforeAll {
        function script:Invoke-StopSteps([string[]] $Steps) {
            $assembly = [PbsDatastore.Infrastructure.PbsCmdlet].Assembly
            $reportType = $assembly.GetType('PbsDatastore.Infrastructure.StopReport', $true)
            $jobType = $assembly.GetType('PbsDatastore.Infrastructure.TaskStateAdapter', $true)
            $said = [System.Collections.Generic.List[object]]::new()
            $report = [Activator]::CreateInstance($reportType, [object[]] @([Action[string]] { param($step) $said.Add($step) }.GetNewClosure()))
            $job = [Activator]::CreateInstance($jobType, [object[]] @(-1))
            try {
                $null = $jobType.GetMethod('Log').Invoke($job, @('verifying vm/100'))
                foreach ($step in $Steps) {
                    $arguments = switch ($step) { { $_ -like 'Job*' } { @(, $job) } 'CommandEnded' { @($false) } 'CommandEndedStopping' { @($true) } default { @() } }
                    $null = $reportType.GetMethod($step -replace 'Stopping$').Invoke($report, $arguments)
                }
                [pscustomobject]@{ Said = @($said); Cancelled = $jobType.GetProperty('Cancellation').GetValue($job).IsCancellationRequested }
            }
            finally { $null = $jobType.GetMethod('Dispose').Invoke($job, @()) }
        }
    }

    It 'is reported once, whichever comes first (<Order>)' -ForEach @(
        @{ Order = 'stop between two jobs, then the next job'; Steps = 'Stop', 'JobStarted', 'JobEnded', 'CommandEnded'; Said = 'verifying vm/100' }
        @{ Order = 'stop during a job that fails or ends just then'; Steps = 'JobStarted', 'Stop', 'JobEnded', 'CommandEnded'; Said = 'verifying vm/100' }
        @{ Order = 'stop after the last job'; Steps = 'JobStarted', 'JobEnded', 'Stop', 'CommandEnded'; Said = $null }
        @{ Order = 'stop while no job ran'; Steps = 'Stop', 'CommandEnded'; Said = $null }
        @{ Order = 'Ctrl+C twice during a job'; Steps = 'JobStarted', 'Stop', 'Stop', 'JobEnded', 'CommandEnded'; Said = 'verifying vm/100' }
        @{ Order = 'disposed while stopping, StopProcessing after'; Steps = 'JobStarted', 'JobEnded', 'CommandEndedStopping', 'Stop'; Said = $null }
    ) {
        $run = Invoke-StopSteps $Steps
        $run.Said.Count | Should -Be 1
        $run.Said[0] | Should -Be $Said
        $run.Cancelled | Should -Be ($Steps.IndexOf('Stop') -lt $Steps.IndexOf('JobEnded')) -Because 'a job the stop came before or during is cancelled'
    }

    It 'says nothing when no Ctrl+C came' {
        $run = Invoke-StopSteps 'JobStarted', 'JobEnded', 'CommandEnded'
        $run.Said.Count | Should -Be 0
        $run.Cancelled | Should -BeFalse
    }
}

Describe 'Repository' {
    It 'tracks no file whose name has a control character' {
        # -z: NUL-separated, so a name with a newline stays one name (PowerShell splits native output at newlines).
        $raw = (& git -C $RepoRoot ls-files -z) -join "`n"
        $LASTEXITCODE | Should -Be 0
        $names = $raw -split "`0" | Where-Object { $_ }
        @($names).Count | Should -BeGreaterThan 100
        $names | Where-Object { $_ -match '[\x00-\x1f\x7f]' } | Should -BeNullOrEmpty
    }
}
