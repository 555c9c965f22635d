<#
.SYNOPSIS
    Runs Nightly.Tests.ps1 over nightly results and writes its JUnit report; returns 0 when everything passed, else 1.
    Shared by Nightly-Host.ps1 and Nightly-Fleet.ps1.
#>
param(
    # Nightly.Tests.ps1's parameters: Results, and for a fleet Hosts and HostErrors.
    [Parameter(Mandatory)] [hashtable] $Data,
    [Parameter(Mandatory)] [string] $ReportPath
)
$pester = New-PesterConfiguration
$pester.Run.Container = New-PesterContainer -Path (Join-Path $PSScriptRoot 'Nightly.Tests.ps1') -Data $Data
$pester.Run.PassThru = $true
$pester.Output.Verbosity = 'Detailed'
$pester.TestResult.Enabled = $true
$pester.TestResult.OutputFormat = 'JUnitXml'
$pester.TestResult.OutputPath = $ReportPath
$run = Invoke-Pester -Configuration $pester
[int]($run.Result -ne 'Passed')
