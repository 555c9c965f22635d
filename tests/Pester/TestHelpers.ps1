# Shared by the Pester files: the built module, the fixtures beside the repo, fresh copies of the reference store.
$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$script:FixturesDir = (Resolve-Path (Join-Path $script:RepoRoot '../shared/fixtures')).Path
$script:Expected = Get-Content (Join-Path $script:FixturesDir 'pbs-reference-store.expected.json') -Raw | ConvertFrom-Json -AsHashtable
$script:KeyFile = Join-Path $script:FixturesDir 'pbs-reference-key.json'
$script:ScryptKeyFile = Join-Path $script:FixturesDir 'pbs-reference-key-scrypt.json'

function Import-PbsModuleUnderTest {
    $module = $env:PBSDATASTORE_MODULE
    if (-not $module) { $module = Join-Path $script:RepoRoot 'out/PbsDatastore/PbsDatastore.psd1' }
    Import-Module $module -Force -ErrorAction Stop
}

# Extracts the reference store into a new temp folder and returns the store path. Remove with Remove-TestStore.
function New-TestStore {
    $dir = Join-Path ([System.IO.Path]::GetTempPath()) ("pbs-pester-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
    $null = New-Item -ItemType Directory $dir
    tar -xzf (Join-Path $script:FixturesDir 'pbs-reference-store.tar.gz') -C $dir
    if ($LASTEXITCODE -ne 0) { throw "tar failed" }
    return (Join-Path $dir 'pbs-reference-store')
}

# The reference store extracted once per test run, for tests that only read it (or restore what they change).
# Its 65536 chunk directories make every extraction and, on a disk mounted with discard, every deletion slow;
# Invoke-PesterRun.ps1 removes this copy after the run.
function Get-PristineStore {
    if (-not $global:PbsPristineStore -or -not (Test-Path $global:PbsPristineStore)) { $global:PbsPristineStore = New-TestStore }
    return $global:PbsPristineStore
}

function Remove-TestStore([string] $StorePath) {
    # [IO.Directory]::Delete, not Remove-Item: the store has 65536 chunk directories and the provider is ~100x slower.
    if ($StorePath -and (Test-Path (Split-Path $StorePath -Parent))) {
        try { [System.IO.Directory]::Delete((Split-Path $StorePath -Parent), $true) } catch [System.IO.IOException] { }
    }
}

# Points the module's config and runtime roots at temp folders so no test touches /etc or /run.
function Set-TestRoots {
    $base = Join-Path ([System.IO.Path]::GetTempPath()) ("pbs-roots-" + [guid]::NewGuid().ToString('n').Substring(0, 12))
    $env:PBS_DATASTORE_CONFIG_ROOT = Join-Path $base 'etc'
    $env:PBS_DATASTORE_RUN_ROOT = Join-Path $base 'run'
    $null = New-Item -ItemType Directory $env:PBS_DATASTORE_CONFIG_ROOT, $env:PBS_DATASTORE_RUN_ROOT -Force
    return $base
}

# The command line that starts another pwsh like this one: the pwsh executable, or dotnet with pwsh.dll when this
# pwsh runs as a dotnet tool. Callers run: $c = @(Get-ChildPwshCommand); & $c[0] @($c | Select-Object -Skip 1) ...
function Get-ChildPwshCommand {
    $exe = [Environment]::ProcessPath
    if ([System.IO.Path]::GetFileNameWithoutExtension($exe) -eq 'pwsh') { return $exe }
    $exe, (Join-Path $PSHOME 'pwsh.dll')
}

# A second process holding a lock the way a PBS daemon does, returned once it reports the lock held; stop it with
# Stop-Holder. Start-Holder: flock(1) on a path (directory lock or lock file). Start-ChunkStoreLockHolder: the
# chunk store's .lock through the module's ProcessLocker, shared (a backup writer) or -Exclusive (a GC).
function Start-Holder([string] $Path, [switch] $Shared) {
    $psi = [System.Diagnostics.ProcessStartInfo]::new('flock')
    foreach ($a in @($(if ($Shared) { '-s' } else { '-x' }), $Path, '-c', 'echo locked; exec sleep 300')) { $psi.ArgumentList.Add($a) }
    Start-LockedChild $psi
}

function Start-ChunkStoreLockHolder([string] $Store, [switch] $Exclusive) {
    $module = (Get-Module PbsDatastore).Path
    $take = if ($Exclusive) { 'TryExclusive' } else { 'TryShared' }
    $script = "Import-Module '$module'; `$g = [PbsDatastore.Core.Locking.ProcessLocker]::For('$Store').$take(); 'locked'; Start-Sleep 120"
    $cmd = @(Get-ChildPwshCommand)
    $psi = [System.Diagnostics.ProcessStartInfo]::new($cmd[0])
    foreach ($a in @($cmd | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $script)) { $psi.ArgumentList.Add($a) }
    Start-LockedChild $psi
}

function Start-LockedChild([System.Diagnostics.ProcessStartInfo] $Psi) {
    $Psi.RedirectStandardOutput = $true
    $p = [System.Diagnostics.Process]::Start($Psi)
    $line = $p.StandardOutput.ReadLine()
    if ($line -ne 'locked') { Stop-Holder $p; throw "lock holder did not report the lock held: '$line'" }
    $p
}

function Stop-Holder($Process) { $Process.Kill($true); $Process.WaitForExit() }

# Runs pwsh -Command in a child process whose HOME is $HomePath (a clean home: PSResourceGet's repository list and
# the CurrentUser module path live under it), with PSModulePath computed afresh for that home. Returns the output
# lines (stdout and stderr) and the exit code.
function Invoke-PwshAtHome([string] $HomePath, [string] $Command, [string] $WorkingDirectory = $script:RepoRoot) {
    $cmd = @(Get-ChildPwshCommand)
    $psi = [System.Diagnostics.ProcessStartInfo]::new($cmd[0])
    foreach ($a in @($cmd | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-Command', $Command)) { $psi.ArgumentList.Add($a) }
    $psi.WorkingDirectory = $WorkingDirectory
    $psi.Environment['HOME'] = $HomePath
    foreach ($name in 'PSModulePath', 'XDG_DATA_HOME', 'XDG_CONFIG_HOME', 'XDG_CACHE_HOME') { $null = $psi.Environment.Remove($name) }
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $p = [System.Diagnostics.Process]::Start($psi)
    $stderr = $p.StandardError.ReadToEndAsync()
    $stdout = $p.StandardOutput.ReadToEnd()
    $p.WaitForExit()
    [pscustomobject]@{ Output = ($stdout + $stderr.Result); ExitCode = $p.ExitCode }
}

# README's Install commands, verbatim, in a child pwsh at the repository root (where build.ps1 Test left
# out/packages) with HOME at $HomePath. Returns the folder the module was installed to.
function Install-PbsPackageFromReadme([string] $HomePath) {
    $readme = Get-Content (Join-Path $script:RepoRoot 'README.md') -Raw
    $install = [regex]::Match($readme, '(?s)\n## Install\n.*?```powershell\n(.*?)```').Groups[1].Value
    if (-not $install) { throw "README.md has no powershell block under '## Install'" }
    $null = New-Item -ItemType Directory $HomePath -Force
    $r = Invoke-PwshAtHome $HomePath ($install + "`n'module: ' + (Get-Module PbsDatastore).ModuleBase")
    $base = [regex]::Match($r.Output, '(?m)^module: (.+)$').Groups[1].Value.Trim()
    if ($r.ExitCode -ne 0 -or -not $base) { throw "README's install commands failed (exit $($r.ExitCode)): $($r.Output)" }
    return $base
}
