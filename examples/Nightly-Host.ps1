<#
.SYNOPSIS
    Nightly maintenance of every datastore on this host: prune, garbage collection, verify; then a Pester report of
    what failed.
.DESCRIPTION
    Each datastore is maintained in its own runspace (ForEach-Object -Parallel), in PBS's order: prune first (so that
    garbage collection frees what prune removed), then garbage collection, then verification. Every result comes out
    typed, with a Datastore property naming its store, so it formats, sorts and pipes like the cmdlets' output.

    The results are checked by Nightly.Tests.ps1 (beside this script) and Pester writes a JUnit report to
    -ReportPath; the script exits 1 when something failed. With an empty -ReportPath it only emits the results:
    Nightly-Fleet.ps1 runs it so on every host over SSH remoting and makes one report for the fleet.
.EXAMPLE
    ./Nightly-Host.ps1 -ReportPath /var/log/pbs/nightly.xml
.EXAMPLE
    ./Nightly-Host.ps1 -Datastore store1 -KeepLast 3 -ReportPath '' | Format-Table
#>
[CmdletBinding()]
param(
    # Datastore names from datastore.cfg; all configured datastores by default.
    [string[]] $Datastore,
    # Prune options (PBS's keep-* rules).
    [int] $KeepLast = 0,
    [int] $KeepDaily = 7,
    [int] $KeepWeekly = 4,
    [int] $KeepMonthly = 6,
    # Datastores maintained at the same time.
    [int] $ThrottleLimit = 4,
    # The JUnit report; empty: only emit the results.
    [string] $ReportPath = 'pbs-nightly.xml'
)

Import-Module PbsDatastore -ErrorAction Stop
$keep = @{}
foreach ($rule in 'KeepLast', 'KeepDaily', 'KeepWeekly', 'KeepMonthly') {
    $value = Get-Variable $rule -ValueOnly
    if ($value -gt 0) { $keep[$rule] = $value }
}
$stores = if ($Datastore) { $Datastore } else { (Get-PbsDatastore).Name }

$results = $stores | ForEach-Object -ThrottleLimit $ThrottleLimit -Parallel {
    $name, $keep = $_, $using:keep
    Import-Module PbsDatastore
    # Errors and results name their datastore, whichever runspace they come from.
    function Stamp { process { $_ | Add-Member -NotePropertyName Datastore -NotePropertyValue $name -Force -PassThru } }
    try {
        $store = Get-PbsDatastore -Name $name -ErrorAction Stop
        Invoke-PbsPrune -Datastore $store @keep -Confirm:$false -ErrorAction Stop | Stamp
        Invoke-PbsGarbageCollection $store -Confirm:$false -ErrorAction Stop | Stamp
        Test-PbsDatastore $store -Confirm:$false -WarningAction SilentlyContinue -ErrorAction Stop | Stamp
    }
    catch {
        # One failing store must not stop the others; its error is reported with the store as target.
        [pscustomobject]@{ PSTypeName = 'PbsNightly.Failure'; Datastore = $name; Error = "$_"; ErrorId = $_.FullyQualifiedErrorId }
    }
}

if (-not $ReportPath) { return $results }

exit (& (Join-Path $PSScriptRoot 'Invoke-NightlyReport.ps1') -Data @{ Results = $results } -ReportPath $ReportPath)
