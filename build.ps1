#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests, benchmarks and demonstrates the PbsDatastore module.
.DESCRIPTION
    Build  publishes the cmdlet assembly with its dependencies, compiles help to MAML and lays out the importable
           module at out/PbsDatastore/PbsDatastore.psd1.
    Package builds and packs the module as out/packages/PbsDatastore.<version>.nupkg, which Install-PSResource
           installs from a folder registered as a repository (README's Install section).
    Test   builds and packages, runs the xunit tests of the core and the Pester tests of the cmdlets (in a child pwsh), and ends
           with one line 'N passed, N failed' over both. Exits non-zero on any failure or when no test ran.
    Bench  runs the benchmarks (each figure beside a floor measured in the same run). With -Scale, only the scale
           benchmark: GC, accounting, fast verify and chunk references on stores of 1 M and 10 M chunks, time and
           peak RSS per chunk beside their floors (opt-in, not in CI). As root it mounts a tmpfs for the stores
           (unmounted afterwards); PBS_BENCH_SCALE_DIR names another directory.
    Demo   writes, lists, prunes, garbage-collects, verifies and restores backups on a throwaway datastore.
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Package', 'Test', 'Bench', 'Demo', 'Help')]
    [string] $Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',

    # Runs only the Pester files whose name matches (for quick iterations).
    [string] $PesterFilter = '*',

    # Skips the xunit part of Test.
    [switch] $SkipCore,

    # Bench: only the scale benchmark (stores of 1 M and 10 M chunks; many minutes, several GiB of memory).
    [switch] $Scale
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$env:POWERSHELL_TELEMETRY_OPTOUT = '1'
$env:POWERSHELL_UPDATECHECK = 'Off'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'

$Root = $PSScriptRoot
$OutDir = Join-Path $Root 'out'
$ModuleDir = Join-Path $OutDir 'PbsDatastore'
$PackageDir = Join-Path $OutDir 'packages'
$ToolsDir = Join-Path $Root '.tools'
$Rid = [System.Runtime.InteropServices.RuntimeInformation]::RuntimeIdentifier

function Invoke-Native {
    param([string] $File, [string[]] $Arguments)
    & $File @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$File $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

# A child pwsh: the module is binary and cannot be unloaded, so every test or demo run gets a fresh process.
function Get-ChildPwsh {
    $exe = Join-Path $PSHOME 'pwsh'
    if ((Test-Path $exe) -and [System.IO.Path]::GetFileNameWithoutExtension((Get-Process -Id $PID).Path) -eq 'pwsh') {
        return @($exe)
    }
    # Under 'dotnet tool run pwsh' the process is dotnet.
    return @('dotnet', (Join-Path $PSHOME 'pwsh.dll'))
}

# Runs a command in a child pwsh. With -Capture returns its output; otherwise shows it and returns the exit code.
function Invoke-ChildPwsh {
    param([string] $Command, [switch] $Capture)
    $child = @(Get-ChildPwsh)
    $rest = @($child | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $Command)
    if ($Capture) { return (& $child[0] @rest) }
    & $child[0] @rest | Out-Host
    return $LASTEXITCODE
}

function Invoke-Build {
    Write-Host "== Build ($Configuration, $Rid)"
    if (Test-Path $ModuleDir) { Remove-Item $ModuleDir -Recurse -Force }
    Invoke-Native dotnet @('publish', (Join-Path $Root 'src/PbsDatastore/PbsDatastore.csproj'), '-c', $Configuration,
        '-r', $Rid, '--self-contained', 'false', '-o', $ModuleDir, '-nologo', '-v', 'quiet', '-p:GenerateDocumentationFile=false')
    Copy-Item (Join-Path $Root 'PbsDatastore.psd1'), (Join-Path $Root 'LICENSE') $ModuleDir
    Copy-Item (Join-Path $Root 'src/PbsDatastore/PbsDatastore.types.ps1xml') $ModuleDir
    Copy-FormatData (Join-Path $Root 'src/PbsDatastore/PbsDatastore.format.ps1xml') (Join-Path $ModuleDir 'PbsDatastore.format.ps1xml')
    Invoke-HelpBuild
    $helpOut = Join-Path $Root 'en-US'
    if (Test-Path $helpOut) { Copy-Item $helpOut $ModuleDir -Recurse -Force }
    # The compile-time reference assembly must never ship.
    Remove-Item (Join-Path $ModuleDir 'System.Management.Automation.dll') -ErrorAction SilentlyContinue
    Assert-ManifestExports
    Write-Host "   module: $(Join-Path $ModuleDir 'PbsDatastore.psd1')"
}

# Every view also selects the Deserialized.<type> of its types, so that objects coming back from jobs, remote
# sessions and Import-Clixml get the same views (the source file names each type once).
function Copy-FormatData([string] $Source, [string] $Destination) {
    $xml = [xml]::new()
    $xml.PreserveWhitespace = $true
    $xml.Load($Source)
    foreach ($node in @($xml.SelectNodes('//ViewSelectedBy/TypeName'))) {
        if ($node.InnerText.StartsWith('Deserialized.')) { continue }
        $twin = $node.CloneNode($true)
        $twin.InnerText = "Deserialized.$($node.InnerText)"
        $null = $node.ParentNode.InsertAfter($twin, $node)
    }
    $xml.Save($Destination)
}

# The .nupkg Install-PSResource installs; its metadata (version, tags, URIs, release notes) comes from the manifest.
function Invoke-Package {
    Write-Host '== Package'
    if (Test-Path $PackageDir) { Remove-Item $PackageDir -Recurse -Force }
    $null = New-Item -ItemType Directory $PackageDir
    Compress-PSResource -Path $ModuleDir -DestinationPath $PackageDir
    $nupkg = Get-ChildItem $PackageDir -Filter 'PbsDatastore.*.nupkg' | Select-Object -First 1
    if (-not $nupkg) { throw "Compress-PSResource wrote no PbsDatastore package to $PackageDir" }
    Write-Host "   package: $($nupkg.FullName)"
}

# CmdletsToExport is explicit in the manifest; the build fails when it and the assembly's cmdlets disagree.
function Assert-ManifestExports {
    $dll = Join-Path $ModuleDir 'PbsDatastore.dll'
    $defined = @(Invoke-ChildPwsh -Capture "(Import-Module '$dll' -PassThru).ExportedCmdlets.Keys" | Where-Object { $_ } | Sort-Object)
    $listed = @((Import-PowerShellDataFile (Join-Path $Root 'PbsDatastore.psd1')).CmdletsToExport | Sort-Object)
    $diff = Compare-Object $defined $listed
    if ($diff) {
        throw "PbsDatastore.psd1 CmdletsToExport differs from the assembly: $(($diff | ForEach-Object { "$($_.InputObject) ($(if ($_.SideIndicator -eq '<=') { 'not listed' } else { 'no such cmdlet' }))" }) -join ', ')"
    }
}

function Invoke-HelpBuild {
    $script = Join-Path $Root 'tools/Build-Help.ps1'
    if (Test-Path $script) { & $script -Root $Root }
}

function Get-Pester {
    $pesterPsd1 = Get-ChildItem (Join-Path $ToolsDir 'packages/pester') -Recurse -Filter Pester.psd1 -ErrorAction SilentlyContinue |
        Select-Object -First 1
    if (-not $pesterPsd1) {
        Invoke-Native dotnet @('restore', (Join-Path $Root 'tests/tools/tools.csproj'), '-nologo', '-v', 'quiet')
        $pesterPsd1 = Get-ChildItem (Join-Path $ToolsDir 'packages/pester') -Recurse -Filter Pester.psd1 | Select-Object -First 1
    }
    return $pesterPsd1.FullName
}

function Invoke-CoreTests {
    Write-Host '== xunit (PbsDatastore.Core)'
    $results = Join-Path $OutDir 'TestResults'
    if (Test-Path $results) { Remove-Item $results -Recurse -Force }
    & dotnet test (Join-Path $Root 'tests/PbsDatastore.Core.Tests/PbsDatastore.Core.Tests.csproj') -c $Configuration -nologo `
        --logger 'trx;LogFileName=core.trx' --logger 'console;verbosity=minimal' --results-directory $results | Out-Host
    $trx = Join-Path $results 'core.trx'
    if (-not (Test-Path $trx)) { return [pscustomobject]@{ Passed = 0; Failed = 1 } }
    $counters = ([xml](Get-Content $trx -Raw)).TestRun.ResultSummary.Counters
    return [pscustomobject]@{ Passed = [int]$counters.passed; Failed = [int]$counters.failed + [int]$counters.error + [int]$counters.timeout }
}

function Invoke-PesterTests {
    Write-Host '== Pester (cmdlets)'
    $pester = Get-Pester
    $summary = Join-Path $OutDir 'pester-summary.json'
    Remove-Item $summary -ErrorAction SilentlyContinue
    $runner = Join-Path $Root 'tests/tools/Invoke-PesterRun.ps1'
    $null = Invoke-ChildPwsh "& '$runner' -PesterPath '$pester' -ModulePath '$ModuleDir' -TestsPath '$(Join-Path $Root 'tests/Pester')' -Filter '$PesterFilter' -SummaryPath '$summary'"
    if (-not (Test-Path $summary)) { return [pscustomobject]@{ Passed = 0; Failed = 1 } }
    return Get-Content $summary -Raw | ConvertFrom-Json
}

# Tests extract the reference store (65536 chunk directories) many times; on a disk-backed /tmp creating and
# deleting them dominates the run, so test scratch goes to tmpfs when the machine has one.
function Use-TestScratch {
    if ($env:PBS_TEST_TMPDIR) { $base = $env:PBS_TEST_TMPDIR }
    elseif (Test-Path '/dev/shm' -PathType Container) { $base = '/dev/shm' }
    else { return }
    $scratch = Join-Path $base "pbsdatastore-test-$PID"
    try { $null = New-Item -ItemType Directory $scratch -Force } catch { return }
    $env:TMPDIR = $scratch
    return $scratch
}

# The scale benchmark's stores, 10 M chunk names, go to a tmpfs of their own when this runs as root: /dev/shm has too
# few inodes (every link takes one), and on disk the names do not stay cached, so stat times would measure the disk.
# The links cost kernel memory (about 4 GiB for 10 M), not the mount's size. Unmounted afterwards, also on failure.
function Mount-ScaleTmpfs {
    if ($env:PBS_BENCH_SCALE_DIR -or -not $IsLinux -or (& id -u) -ne '0') { return $null }
    $dir = "/mnt/pbsdatastore-scale-$PID"
    $null = New-Item -ItemType Directory $dir -Force
    & mount -t tmpfs -o 'size=20g,nr_inodes=14m' tmpfs $dir
    if ($LASTEXITCODE -ne 0) {
        Remove-Item $dir
        Write-Warning "could not mount a tmpfs at $dir; the scale benchmark picks its own place"
        return $null
    }
    $env:PBS_BENCH_SCALE_DIR = $dir
    return $dir
}

function Dismount-ScaleTmpfs([string] $Dir) {
    Remove-Item Env:PBS_BENCH_SCALE_DIR -ErrorAction SilentlyContinue
    & umount $Dir
    if ($LASTEXITCODE -eq 0) { Remove-Item $Dir } else { Write-Warning "could not unmount $Dir" }
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Package' { Invoke-Build; Invoke-Package }
    'Help' { Invoke-HelpBuild }
    'Test' {
        Invoke-Build
        Invoke-Package
        $scratch = Use-TestScratch
        $core = if ($SkipCore) { [pscustomobject]@{ Passed = 0; Failed = 0 } } else { Invoke-CoreTests }
        $pester = Invoke-PesterTests
        $passed = $core.Passed + $pester.Passed
        $failed = $core.Failed + $pester.Failed
        Write-Host "xunit: $($core.Passed) passed, $($core.Failed) failed; Pester: $($pester.Passed) passed, $($pester.Failed) failed"
        # rm, not Remove-Item: some tests leave names that are not UTF-8, which PowerShell cannot address.
        if ($scratch) { & rm -rf -- $scratch }
        Write-Host "$passed passed, $failed failed"
        if ($failed -gt 0 -or $passed -eq 0) { exit 1 }
        exit 0
    }
    'Bench' {
        Invoke-Build
        $bench = Join-Path $Root 'tests/PbsDatastore.Bench/PbsDatastore.Bench.csproj'
        $benchArgs = @('run', '--project', $bench, '-c', 'Release', '--', $Root)
        $mount = $null
        if ($Scale) {
            $benchArgs += '--scale'
            $mount = Mount-ScaleTmpfs
        }
        try { Invoke-Native dotnet $benchArgs }
        finally { if ($mount) { Dismount-ScaleTmpfs $mount } }
    }
    'Demo' {
        Invoke-Build
        $demo = Join-Path $Root 'tools/Demo.ps1'
        exit (Invoke-ChildPwsh "& '$demo' -ModulePath '$ModuleDir' -Root '$Root'")
    }
}
