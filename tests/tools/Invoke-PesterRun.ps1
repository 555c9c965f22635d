# Runs the Pester suite in this (child) process against the built module and writes the counters as JSON.
param(
    [Parameter(Mandatory)] [string] $PesterPath,
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $TestsPath,
    [string] $Filter = '*',
    [Parameter(Mandatory)] [string] $SummaryPath
)
$ErrorActionPreference = 'Stop'
Import-Module $PesterPath -Force
$env:PBSDATASTORE_MODULE = Join-Path $ModulePath 'PbsDatastore.psd1'
$config = New-PesterConfiguration
$config.Run.Path = @(Get-ChildItem $TestsPath -Filter "$Filter.Tests.ps1" | ForEach-Object FullName)
$config.Run.PassThru = $true
$config.Output.RenderMode = 'Plaintext'
$config.Output.Verbosity = 'Normal'
$result = Invoke-Pester -Configuration $config
# The shared read-only store of TestHelpers.ps1 (Get-PristineStore), extracted at most once per run.
if ($global:PbsPristineStore) { [System.IO.Directory]::Delete((Split-Path $global:PbsPristineStore -Parent), $true) }
$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
[pscustomobject]@{ Passed = $result.PassedCount; Failed = $failed } | ConvertTo-Json | Set-Content $SummaryPath
