# The README demo: a throwaway datastore, several generations of generated backups (deduplication shows),
# listing, prune (-WhatIf, then for real), garbage collection, verification, and an export compared with the
# original. No network, no root; everything lives in one temp folder that is removed at the end.
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $Root
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
Import-Module (Join-Path $ModulePath 'PbsDatastore.psd1')

$work = Join-Path ([System.IO.Path]::GetTempPath()) ("pbs-demo-" + [guid]::NewGuid().ToString('n').Substring(0, 8))
$null = New-Item -ItemType Directory $work
# PBS's config and runtime roots (datastore.cfg, lock files) go to the temp folder too: nothing touches /etc or /run.
$env:PBS_DATASTORE_CONFIG_ROOT = Join-Path $work 'etc'
$env:PBS_DATASTORE_RUN_ROOT = Join-Path $work 'run'
$null = New-Item -ItemType Directory $env:PBS_DATASTORE_CONFIG_ROOT, $env:PBS_DATASTORE_RUN_ROOT

function Step([string] $Text) { Write-Host ''; Write-Host "== $Text" -ForegroundColor Cyan }
function Show($Object) { $Object | Format-Table -AutoSize | Out-String -Width 120 | Write-Host }
# The chunk files of the store ([IO.Directory], not Get-ChildItem: .chunks has 65536 directories).
function Get-ChunkFiles([string] $Store) {
    foreach ($f in [System.IO.Directory]::EnumerateFiles((Join-Path $Store '.chunks'), '*', [System.IO.SearchOption]::AllDirectories)) {
        [System.IO.FileInfo]::new($f)
    }
}

# A VM's disk that changes a little every day, its config, and a container's file tree as one stream.
$random = [System.Random]::new(2024)
$disk = [byte[]]::new(24MB)
$random.NextBytes($disk)
[System.Array]::Clear($disk, 8MB, 6MB)              # a sparse region: all-zero chunks
$tree = [byte[]]::new(6MB)
$piece = [byte[]]::new(2048)
for ($i = 0; $i -lt $tree.Length; $i += 4096) { $random.NextBytes($piece); [System.Array]::Copy($piece, 0, $tree, $i, 2048) }
# Fills $Length bytes of $Bytes at $Offset with new random data.
function Set-RandomBytes([byte[]] $Bytes, [int] $Offset, [int] $Length) {
    $new = [byte[]]::new($Length)
    $random.NextBytes($new)
    [System.Array]::Copy($new, 0, $Bytes, $Offset, $Length)
}
# $Bytes with $Insert inserted at $Offset.
function Add-Bytes([byte[]] $Bytes, [int] $Offset, [byte[]] $Insert) {
    $result = [byte[]]::new($Bytes.Length + $Insert.Length)
    [System.Array]::Copy($Bytes, 0, $result, 0, $Offset)
    [System.Array]::Copy($Insert, 0, $result, $Offset, $Insert.Length)
    [System.Array]::Copy($Bytes, $Offset, $result, $Offset + $Insert.Length, $Bytes.Length - $Offset)
    return , $result
}

try {
    Step 'Create a datastore'
    $store = New-PbsDatastore -Path (Join-Path $work 'store')
    Write-Host "datastore at $($store.Path)"

    Step 'Back up five days of a VM and a container (New-PbsSnapshot)'
    $start = [DateTimeOffset]::new(2026, 1, 1, 22, 0, 0, [TimeSpan]::Zero)
    $rows = foreach ($day in 0..4) {
        # Each day a few MiB of the disk change and the container's tree gets a file inserted in the middle.
        Set-RandomBytes $disk ((($day * 5) % 20) * 1MB) 1MB
        $tree = Add-Bytes $tree 3MB ([System.Text.Encoding]::UTF8.GetBytes("log line of day $day`n" * 200))
        [System.IO.File]::WriteAllBytes((Join-Path $work 'drive-scsi0.img'), $disk)
        [System.IO.File]::WriteAllText((Join-Path $work 'qemu-server.conf'), "memory: 2048`ncores: 2`nname: web`n")
        $time = $start.AddDays($day)
        $vm = New-PbsSnapshot -Datastore $store -BackupType vm -BackupId 100 -BackupTime $time -ChunkSize 1MB -Verbose:$false `
            -Path (Join-Path $work 'drive-scsi0.img'), (Join-Path $work 'qemu-server.conf')
        $ct = New-PbsSnapshot -Datastore $store -BackupType ct -BackupId 200 -BackupTime $time -ChunkSize 256KB `
            -InputStream ([System.IO.MemoryStream]::new($tree)) -ArchiveName root.pxar
        $chunks = @(Get-ChunkFiles $store.Path).Count
        [pscustomobject]@{ Day = $time.ToString('yyyy-MM-dd'); VmSnapshot = $vm.Snapshot; CtSnapshot = $ct.Snapshot; ChunksInStore = $chunks }
    }
    Show $rows
    $logical = (Get-PbsSnapshot -Datastore $store | Measure-Object -Property Size -Sum).Sum
    $onDisk = (Get-ChunkFiles $store.Path | Measure-Object -Property Length -Sum).Sum
    Write-Host ("{0:N1} MiB backed up, {1:N1} MiB of chunks on disk: deduplication and compression factor {2:N1}" -f ($logical / 1MB), ($onDisk / 1MB), ($logical / $onDisk))

    Step 'Groups and snapshots (Get-PbsBackupGroup, Get-PbsSnapshot)'
    Show (Get-PbsBackupGroup -Datastore $store)
    Show (Get-PbsSnapshot -Datastore $store -BackupType vm -BackupId 100)

    Step 'Prune keeping the last 2 snapshots per group: first -WhatIf, then for real (Invoke-PbsPrune)'
    Show (Get-PbsBackupGroup -Datastore $store | Invoke-PbsPrune -KeepLast 2 -WhatIf)
    $null = Get-PbsBackupGroup -Datastore $store | Invoke-PbsPrune -KeepLast 2 -Confirm:$false
    Show (Get-PbsSnapshot -Datastore $store)

    Step 'Garbage collection (Invoke-PbsGarbageCollection)'
    Write-Host 'Right after a prune, unreferenced chunks are still within PBS''s 24 h 5 min grace period:'
    Show (Invoke-PbsGarbageCollection -Datastore $store -SkipAtimeCheck -WarningAction SilentlyContinue)
    Write-Host 'Two days later (the demo moves every chunk''s access time back two days), GC removes them:'
    $twoDaysAgo = [DateTime]::UtcNow.AddDays(-2)
    Get-ChunkFiles $store.Path | ForEach-Object { $_.LastAccessTimeUtc = $twoDaysAgo }
    Show (Invoke-PbsGarbageCollection -Datastore $store -SkipAtimeCheck -WarningAction SilentlyContinue)

    Step 'Verify every snapshot (Test-PbsSnapshot)'
    Show (Get-PbsSnapshot -Datastore $store | Test-PbsSnapshot)

    Step 'Export the newest disk image and compare it with the original (Export-PbsArchive)'
    $latest = Get-PbsSnapshot -Datastore $store -BackupType vm -BackupId 100 | Sort-Object BackupTime | Select-Object -Last 1
    $restored = Join-Path $work 'restored.img'
    Show ($latest | Export-PbsArchive -ArchiveName drive-scsi0.img -Destination $restored)
    $same = (Get-FileHash $restored).Hash -eq (Get-FileHash (Join-Path $work 'drive-scsi0.img')).Hash
    Write-Host "restored image identical to the original: $same"
    if (-not $same) { exit 1 }
    exit 0
}
finally {
    try { [System.IO.Directory]::Delete($work, $true) } catch [System.IO.IOException] { }
}
