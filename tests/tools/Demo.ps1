# A read-only tour of the reference datastore (written by PBS's own code) in a throwaway folder: what the module
# sees in it, as tables a person reads. Run through './build.ps1 Demo', which builds the module first.
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $Root
)

$ErrorActionPreference = 'Stop'
$fixtures = Join-Path $Root '../shared/fixtures'
$work = Join-Path ([System.IO.Path]::GetTempPath()) ("pbs-demo-" + [guid]::NewGuid().ToString('n').Substring(0, 8))
$null = New-Item -ItemType Directory $work

function Show([string] $Title, [string] $Command) {
    Write-Host ''
    Write-Host "== $Title" -ForegroundColor Cyan
    Write-Host "PS> $Command" -ForegroundColor Yellow
    # The views are made for 120 columns; a child process without a terminal would otherwise get 80.
    Invoke-Expression $Command | Out-String -Width 120 | ForEach-Object TrimEnd | Write-Host
}

try {
    tar -xzf (Join-Path $fixtures 'pbs-reference-store.tar.gz') -C $work
    if ($LASTEXITCODE -ne 0) { throw 'tar failed' }
    $store = Join-Path $work 'pbs-reference-store'
    # A private datastore.cfg naming the copy 'demo'; the machine's /etc/proxmox-backup is never read.
    $env:PBS_DATASTORE_CONFIG_ROOT = Join-Path $work 'etc'
    $env:PBS_DATASTORE_RUN_ROOT = Join-Path $work 'run'
    $null = New-Item -ItemType Directory $env:PBS_DATASTORE_CONFIG_ROOT, $env:PBS_DATASTORE_RUN_ROOT
    Set-Content (Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 'datastore.cfg') "datastore: demo`n`tcomment reference store (PBS 3.2.4)`n`tpath $store`n"
    $key = Join-Path $fixtures 'pbs-reference-key.json'

    Import-Module (Join-Path $ModulePath 'PbsDatastore.psd1')
    Write-Host "PbsDatastore $((Get-Module PbsDatastore).Version): a read-only tour of a copy of PBS's reference datastore in $store"

    Show 'The datastore, by its name in datastore.cfg' 'Get-PbsDatastore -Name demo'
    Show 'Its namespaces' 'Get-PbsNamespace demo -Recurse'
    Show 'Every backup group, with owner and last successful backup' 'Get-PbsNamespace demo -Recurse | Get-PbsBackupGroup'
    Show 'Every snapshot (sizes as PBS prints them, times local)' 'Get-PbsNamespace demo -Recurse | Get-PbsSnapshot'
    Show 'Snapshots whose last verification failed' "Get-PbsNamespace demo -Recurse | Get-PbsSnapshot | Where-Object Verification -eq 'failed'"
    Show 'The manifests of the encrypted, signed backups' 'Get-PbsSnapshot demo -Namespace prod -BackupType host | Get-PbsManifest | Format-List Snapshot, Signature, KeyFingerprint, Files'
    Show 'The index of a VM disk image' 'Get-PbsSnapshot demo vm 100 -Latest | Get-PbsIndex | Format-List'
    Show 'Its chunks: one stored once, referenced twice; a zero chunk that compresses to 62 bytes' "(Get-PbsSnapshot demo vm 100 -Latest | Get-PbsIndex).Entries | Get-PbsChunk -Datastore demo"
    Show 'Encrypted chunks, decrypted with the key file' "Get-PbsSnapshot demo -Namespace prod host vault -Latest | Get-PbsIndex -ArchiveName root.pxar.didx | ForEach-Object Entries | Select-Object -First 4 | Get-PbsChunk -Datastore demo -KeyFile '$key'"
    Show 'A chunk verify renamed to .bad (its CRC fails)' "Get-PbsChunk -Path '$store/.chunks/7059/*.bad' -ErrorAction SilentlyContinue"
    Show 'Bad input is a PowerShell error with an ErrorId, a category and a target' "Get-PbsBackupGroup demo vm '../etc' -ErrorAction Continue 2>&1 | ForEach-Object { `$_.FullyQualifiedErrorId; `$_.CategoryInfo.Category; `$_.TargetObject }"
    Write-Host ''
    Write-Host 'Nothing was changed: the tour only reads. Get-Help about_PbsDatastore explains the concepts.'
    exit 0
}
catch {
    Write-Host "demo failed: $_" -ForegroundColor Red
    exit 1
}
finally {
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
