# Fleet use over SSH remoting, end to end: two throw-away sshd "hosts" on loopback (127.0.0.1 and 127.0.0.2, each
# with pwsh as its powershell subsystem and its own datastore.cfg and stores) run the module installed from the
# package with README's install commands. Results come back typed with PSComputerName, deserialized snapshots pipe
# back over the same session, -AsJob/-ThrottleLimit and stopping behave, and the nightly fleet runbook's Pester
# report names the store that failed. A machine where sshd cannot start fails here; nothing is skipped.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Roots = Set-TestRoots
    $script:Sshd = '/usr/sbin/sshd'
    foreach ($tool in $Sshd, (Get-Command ssh, ssh-keygen -ErrorAction SilentlyContinue).Source) {
        if (-not $tool -or -not (Test-Path $tool)) { throw "SSH remoting tests need openssh-server and openssh-client (.ci/run installs them); missing: $tool" }
    }
    if (@(Get-Command ssh, ssh-keygen -ErrorAction SilentlyContinue).Count -ne 2) { throw 'SSH remoting tests need ssh and ssh-keygen (openssh-client)' }

    # One home for both hosts, the module installed into it by README's commands from the package.
    $script:HostHome = Join-Path $Roots 'home'
    $script:Installed = Install-PbsPackageFromReadme $HostHome

    $ssh = Join-Path $Roots 'ssh'
    $null = New-Item -ItemType Directory $ssh
    ssh-keygen -q -t ed25519 -N '' -f (Join-Path $ssh 'host_key') -C 'throw-away host key'
    ssh-keygen -q -t ed25519 -N '' -f (Join-Path $ssh 'client_key') -C 'throw-away client key'
    if ($LASTEXITCODE -ne 0) { throw 'ssh-keygen failed' }
    Copy-Item (Join-Path $ssh 'client_key.pub') (Join-Path $ssh 'authorized_keys')
    $hostKey = (Get-Content (Join-Path $ssh 'host_key.pub') -Raw).Trim()
    $script:KnownHosts = Join-Path $ssh 'known_hosts'
    $script:User = [Environment]::UserName
    # sshd's privilege separation directory (Debian's package creates it at boot only).
    $null = New-Item -ItemType Directory '/run/sshd' -Force
    $pwsh = @(Get-ChildPwshCommand)
    $data = Join-Path $Roots 'disk.img'
    [System.IO.File]::WriteAllBytes($data, [byte[]](1..300000 | ForEach-Object { ($_ * 13) % 251 }))

    # A "host": its own datastore.cfg and run root with stores, an sshd on a free port whose powershell subsystem is
    # a wrapper that sets the host's roots and HOME and execs pwsh -sshs.
    function New-SshHost([string] $Address, [string] $Name, [string[]] $Stores) {
        $dir = Join-Path $Roots $Name
        $etc, $run = (Join-Path $dir 'etc'), (Join-Path $dir 'run')
        $null = New-Item -ItemType Directory $etc, $run
        $env:PBS_DATASTORE_CONFIG_ROOT, $env:PBS_DATASTORE_RUN_ROOT = $etc, $run
        foreach ($store in $Stores) {
            $null = New-PbsDatastore -Path (Join-Path $dir $store) -Name $store
            $null = New-PbsSnapshot $store -BackupType vm -BackupId "$Name-$store" -Path $data -BackupTime (Get-Date).AddDays(-1)
            $null = New-PbsSnapshot $store -BackupType vm -BackupId "$Name-$store" -Path $data
        }
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Parse($Address), 0)
        $listener.Start(); $port = $listener.LocalEndpoint.Port; $listener.Stop()
        $wrapper = Join-Path $dir 'pwsh-sshs.sh'
        $exec = ($pwsh | ForEach-Object { "'$_'" }) -join ' '
        Set-Content $wrapper @"
#!/bin/sh
export HOME='$HostHome' PBS_DATASTORE_CONFIG_ROOT='$etc' PBS_DATASTORE_RUN_ROOT='$run'
export POWERSHELL_TELEMETRY_OPTOUT=1 POWERSHELL_UPDATECHECK=Off DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
unset PSModulePath
exec $exec -sshs -NoLogo -NoProfile
"@
        chmod 755 $wrapper
        $config = Join-Path $dir 'sshd_config'
        Set-Content $config @"
ListenAddress ${Address}:$port
HostKey $ssh/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $ssh/authorized_keys
AllowUsers $User
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem powershell $wrapper
"@
        $log = Join-Path $dir 'sshd.log'
        $process = Start-Process $Sshd -ArgumentList '-D', '-e', '-f', $config -RedirectStandardError $log -PassThru
        $deadline = [DateTime]::UtcNow.AddSeconds(20)
        while ($true) {
            $client = [System.Net.Sockets.TcpClient]::new()
            try { $client.Connect($Address, $port); break } catch { } finally { $client.Dispose() }
            if ($process.HasExited -or [DateTime]::UtcNow -gt $deadline) {
                throw "sshd could not start on ${Address}:$port (exit $(if ($process.HasExited) { $process.ExitCode })): $(Get-Content $log -Raw)"
            }
            Start-Sleep -Milliseconds 100
        }
        Add-Content $KnownHosts "[$Address]:$port $hostKey"
        [pscustomobject]@{ Name = $Name; Address = $Address; Port = $port; Process = $process; Etc = $etc; Run = $run; Dir = $dir }
    }

    $script:Hosts = @(
        New-SshHost '127.0.0.1' 'pbs1' 'store1'
        New-SshHost '127.0.0.2' 'pbs2' 'store2', 'store3'
    )
    # store3 on pbs2 loses a chunk: its verification fails, and the nightly report must say so.
    $chunk = Get-ChildItem (Join-Path $Hosts[1].Dir 'store3/.chunks') -Recurse -File | Select-Object -First 1
    [System.IO.File]::Delete($chunk.FullName)

    # pwsh 7.6 drops Port and ConnectingTimeout from an -SSHConnection entry that has Options (it then dials port
    # 22 and gives up at once), so the port also goes to ssh as an option and the timeout is explicit.
    $script:Connections = @($Hosts | ForEach-Object {
        @{ HostName = $_.Address; Port = $_.Port; UserName = $User; KeyFilePath = (Join-Path $ssh 'client_key'); ConnectingTimeout = 30000
           Options = @{ UserKnownHostsFile = $KnownHosts; StrictHostKeyChecking = 'yes'; Port = "$($_.Port)" } }
    })
    # Opened in parallel: ordered by host for the tests below.
    $script:Sessions = @(New-PSSession -SSHConnection $Connections -ErrorAction Stop | Sort-Object ComputerName)
}

AfterAll {
    if ($Sessions) { $Sessions | Remove-PSSession }
    foreach ($h in $Hosts) { if (-not $h.Process.HasExited) { $h.Process.Kill(); $h.Process.WaitForExit() } }
    [System.IO.Directory]::Delete($Roots, $true)
    Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT -ErrorAction SilentlyContinue
}

Describe 'Remoting over SSH to two hosts' {
    It 'runs the module installed from the package on each host' {
        $bases = Invoke-Command -Session $Sessions { (Get-Module PbsDatastore -ListAvailable).ModuleBase }
        @($bases | Sort-Object -Unique) | Should -Be @($Installed)
    }

    It 'returns results typed and tagged with PSComputerName, which format and sort on the calling side' {
        $snaps = @(Invoke-Command -Session $Sessions { Get-PbsDatastore | Get-PbsSnapshot })
        $snaps.Count | Should -Be 6
        $snaps[0].PSObject.TypeNames[0] | Should -Be 'Deserialized.PbsDatastore.Objects.SnapshotInfo'
        @($snaps.PSComputerName | Sort-Object -Unique) | Should -Be @('127.0.0.1', '127.0.0.2')
        $snaps.BackupTime | Should -BeOfType [datetime]
        @($snaps | Where-Object BackupTime -GT (Get-Date).AddHours(-1)).Count | Should -Be 3
        ($snaps | Sort-Object BackupTime)[0].BackupTime | Should -BeLessThan ($snaps | Sort-Object BackupTime)[-1].BackupTime
        $table = $snaps | Sort-Object PSComputerName, BackupTime | Format-Table | Out-String -Width 80
        $table | Should -Match ([regex]::Escape($snaps[0].BackupTime.ToString('yyyy-MM-dd HH:mm:ss')))
        $table | Should -Match 'vm/pbs2-store3'
        $gc = @(Invoke-Command -Session $Sessions { Get-PbsDatastore | Invoke-PbsGarbageCollection -Confirm:$false })
        $gc.Count | Should -Be 3
        ($gc | Where-Object Datastore -EQ 'store3').MissingChunks.Count | Should -Be 1
        ($gc | Out-String -Width 80) | Should -Match 'store2'
    }

    It 'pipes a deserialized snapshot back into Test-PbsSnapshot over the same session' {
        $s = $Sessions[1]
        $snap = Invoke-Command -Session $s { Get-PbsSnapshot store3 -Latest }
        $snap.PSObject.TypeNames[0] | Should -BeLike 'Deserialized.*'
        $result = Invoke-Command -Session $s { $using:snap | Test-PbsSnapshot -Confirm:$false -WarningAction SilentlyContinue }
        $result.Snapshot | Should -Be $snap.Snapshot
        "$($result.State)" | Should -Be 'Failed' -Because 'store3 lost a chunk'
        $result.PSComputerName | Should -Be '127.0.0.2'
    }

    It 'runs -AsJob, one host at a time with -ThrottleLimit 1' {
        $job = Invoke-Command -Session $Sessions -AsJob -ThrottleLimit 1 {
            $start = [DateTime]::UtcNow
            $verified = @(Get-PbsDatastore | Test-PbsDatastore -Fast)
            [pscustomobject]@{ Start = $start; End = [DateTime]::UtcNow; Verified = $verified.Count }
        }
        @($job.ChildJobs).Count | Should -Be 2
        $runs = @($job | Receive-Job -Wait -AutoRemoveJob | Sort-Object Start)
        @($runs.PSComputerName | Sort-Object) | Should -Be @('127.0.0.1', '127.0.0.2')
        ($runs.Verified | Measure-Object -Sum).Sum | Should -Be 6
        $runs[1].Start | Should -BeGreaterOrEqual $runs[0].End -Because 'with -ThrottleLimit 1 the second host starts after the first'
    }

    It 'stops the remote operation cleanly when the caller is stopped (Ctrl+C)' {
        $s = $Sessions[0]
        $ps = [powershell]::Create().AddScript({
            param($session)
            Invoke-Command -Session $session { while ($true) { Test-PbsDatastore store1 -Confirm:$false | Out-Null } }
        }).AddArgument($s)
        $async = $ps.BeginInvoke()
        Start-Sleep -Seconds 3
        $async.IsCompleted | Should -BeFalse -Because 'the remote loop runs until stopped'
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $ps.Stop()
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 15
        $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        try { $null = $ps.EndInvoke($async) } catch [System.Management.Automation.PipelineStoppedException] { }
        $ps.Dispose()
        # The session survives, and no lock stays behind: a garbage collection (exclusive) runs at once.
        $s.State | Should -Be 'Opened'
        $gc = Invoke-Command -Session $s { Invoke-PbsGarbageCollection store1 -Confirm:$false }
        $gc.Datastore | Should -Be 'store1'
    }
}

Describe 'The nightly fleet runbook (examples/Nightly-Fleet.ps1)' {
    BeforeAll {
        $reportFile = Join-Path $Roots 'fleet.xml'
        # The connections as literal hashtables: through Export-Clixml the nested Options would come back wrapped in a
        # PSObject, which -SSHConnection ignores.
        $literal = ($Connections | ForEach-Object {
            $o = $_.Options
            "@{ HostName = '$($_.HostName)'; Port = $($_.Port); UserName = '$($_.UserName)'; KeyFilePath = '$($_.KeyFilePath)'; ConnectingTimeout = $($_.ConnectingTimeout); " +
            "Options = @{ UserKnownHostsFile = '$($o.UserKnownHostsFile)'; StrictHostKeyChecking = '$($o.StrictHostKeyChecking)'; Port = '$($o.Port)' } }"
        }) -join ",`n"
        $runbook = Join-Path $RepoRoot 'examples/Nightly-Fleet.ps1'
        # The caller runs at the hosts' home, with the module installed there (the runbook imports it for its views).
        $driver = Join-Path $Roots 'run-fleet.ps1'
        Set-Content $driver @"
Import-Module '$((Get-Module Pester).Path)'
`$connections = @(
$literal
)
& '$runbook' -SSHConnection `$connections -ThrottleLimit 2 -ReportPath '$reportFile'
exit `$LASTEXITCODE
"@
        $script:Run = Invoke-PwshAtHome $HostHome "& '$driver'" -WorkingDirectory $Roots
        if (-not (Test-Path $reportFile)) { throw "the runbook wrote no report (exit $($Run.ExitCode)): $($Run.Output)" }
        $report = [xml](Get-Content $reportFile -Raw)
        $script:Cases = @($report.SelectNodes('//testcase') | ForEach-Object {
            [pscustomobject]@{ Name = $_.name; Failed = $null -ne $_.failure } })
    }

    It 'exits 1 because a store failed' {
        $Run.ExitCode | Should -Be 1 -Because $Run.Output
    }
    It 'shows the typed results of both hosts with the module''s views' {
        $Run.Output | Should -Match 'PSComputerName: 127\.0\.0\.1'
        $Run.Output | Should -Match 'PSComputerName: 127\.0\.0\.2'
        $Run.Output | Should -Match 'vm/pbs2-store3'
    }
    It 'reports every store of every host' {
        foreach ($store in '127.0.0.1: store1', '127.0.0.2: store2', '127.0.0.2: store3') {
            @($Cases | Where-Object Name -Like "*$store*").Count | Should -Be 3 -Because "$store has its three checks"
        }
        foreach ($address in '127.0.0.1', '127.0.0.2') {
            @($Cases | Where-Object Name -Like "*host $address*returned results*").Count | Should -Be 1
        }
    }
    It 'fails exactly the checks of the store that lost a chunk' {
        $failed = @($Cases | Where-Object Failed)
        $failed.Name | Should -Not -BeNullOrEmpty
        $failed | ForEach-Object { $_.Name | Should -BeLike '*127.0.0.2: store3*' }
        $failed.Name -join "`n" | Should -Match 'verified every snapshot'
        $failed.Name -join "`n" | Should -Match 'found no missing chunks'
    }
}

Describe 'The nightly single-host runbook (examples/Nightly-Host.ps1)' {
    BeforeAll {
        # pbs2's stores, maintained on this machine with the module installed at the hosts' home.
        $reportFile = Join-Path $Roots 'host.xml'
        $env:PBS_DATASTORE_CONFIG_ROOT, $env:PBS_DATASTORE_RUN_ROOT = $Hosts[1].Etc, $Hosts[1].Run
        $script:Run = Invoke-PwshAtHome $HostHome ("Import-Module '$((Get-Module Pester).Path)'; " +
            "& '$(Join-Path $RepoRoot 'examples/Nightly-Host.ps1')' -ThrottleLimit 2 -ReportPath '$reportFile'; exit `$LASTEXITCODE") -WorkingDirectory $Roots
        if (-not (Test-Path $reportFile)) { throw "the runbook wrote no report (exit $($Run.ExitCode)): $($Run.Output)" }
        $script:Cases = @(([xml](Get-Content $reportFile -Raw)).SelectNodes('//testcase') | ForEach-Object {
            [pscustomobject]@{ Name = $_.name; Failed = $null -ne $_.failure } })
    }

    It 'maintains both stores in parallel and fails only the broken one' {
        $Run.ExitCode | Should -Be 1 -Because $Run.Output
        @($Cases | Where-Object Name -Like '*store2*').Count | Should -Be 3
        @($Cases | Where-Object Name -Like '*store2*' | Where-Object Failed) | Should -BeNullOrEmpty
        @($Cases | Where-Object Name -Like '*store3*' | Where-Object Failed).Count | Should -Be 2
    }
}
