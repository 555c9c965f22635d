<#
.SYNOPSIS
    Nightly maintenance of every datastore of every PBS host over SSH remoting (prune, garbage collection, verify),
    then one Pester report of what failed.
.DESCRIPTION
    Runs Nightly-Host.ps1 (results only) on every host through PowerShell remoting over SSH (New-PSSession -HostName or
    -SSHConnection; each host needs pwsh as its sshd 'powershell' subsystem and PbsDatastore installed). The results
    come back typed and tagged with PSComputerName; Nightly.Tests.ps1 turns them into a JUnit report at -ReportPath,
    with a failing test for each store that failed and each host that could not be reached. Exits 1 when something
    failed. Ctrl+C stops the remote runs.
.EXAMPLE
    ./Nightly-Fleet.ps1 -HostName pbs1, pbs2 -ReportPath /var/log/pbs/fleet.xml
.EXAMPLE
    ./Nightly-Fleet.ps1 -SSHConnection @{ HostName = 'pbs1'; UserName = 'backup'; KeyFilePath = '~/.ssh/pbs' } -ThrottleLimit 8
#>
[CmdletBinding(DefaultParameterSetName = 'HostName')]
param(
    [Parameter(Mandatory, ParameterSetName = 'HostName')]
    [string[]] $HostName,
    # Per-host connection settings, as New-PSSession -SSHConnection takes them.
    [Parameter(Mandatory, ParameterSetName = 'SSHConnection')]
    [hashtable[]] $SSHConnection,
    # Prune options for every store (Nightly-Host.ps1's parameters).
    [hashtable] $Keep = @{ KeepDaily = 7; KeepWeekly = 4; KeepMonthly = 6 },
    # Hosts maintained at the same time.
    [int] $ThrottleLimit = 32,
    [string] $ReportPath = 'pbs-fleet.xml'
)

# The caller needs the module too: its views format the results that come back.
Import-Module PbsDatastore -ErrorAction Stop
# One session per host (Invoke-Command takes -ThrottleLimit with sessions only); a host that cannot be reached
# gets none, and its error goes to the report.
$connect = if ($HostName) { @{ HostName = $HostName } } else { @{ SSHConnection = $SSHConnection } }
$sessions = @(New-PSSession @connect -ErrorAction SilentlyContinue -ErrorVariable hostErrors)
$hosts = if ($HostName) { $HostName } else { $SSHConnection | ForEach-Object { $_.HostName } }

# Nightly-Host.ps1's parameters by position: Datastore (all), KeepLast, KeepDaily, KeepWeekly, KeepMonthly,
# ThrottleLimit, ReportPath (empty: results only).
$arguments = @($null, [int]$Keep.KeepLast, [int]$Keep.KeepDaily, [int]$Keep.KeepWeekly, [int]$Keep.KeepMonthly, 4, '')
$results = @()
if ($sessions) {
    try {
        $results = Invoke-Command -Session $sessions -ThrottleLimit $ThrottleLimit -FilePath (Join-Path $PSScriptRoot 'Nightly-Host.ps1') `
            -ArgumentList $arguments -ErrorAction SilentlyContinue -ErrorVariable +hostErrors
    }
    finally { $sessions | Remove-PSSession }
}
$results | Sort-Object PSComputerName, Datastore | Format-Table -GroupBy PSComputerName | Out-Host

exit (& (Join-Path $PSScriptRoot 'Invoke-NightlyReport.ps1') -ReportPath $ReportPath -Data @{
    Results = $results
    # A host that returned nothing (unreachable, module missing) fails the report too, with its errors.
    Hosts = $hosts
    HostErrors = $hostErrors
})
