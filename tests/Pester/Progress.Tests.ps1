# Long operations report progress through the TaskState adapter: every bar they open ends with a Completed record,
# percentages stay within 0..100, and stopping the pipeline (Ctrl+C) ends the command promptly without harm.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Store = New-TestStore
    $script:Roots = Set-TestRoots
    $script:ModulePath = (Get-Module PbsDatastore).Path

    # Runs a script in a fresh runspace with the module loaded and returns the progress records it wrote.
    function Invoke-WithProgress([string] $Script, [hashtable] $Arguments) {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript("Import-Module '$ModulePath'; `$ConfirmPreference = 'None'; `$WarningPreference = 'SilentlyContinue'").AddStatement()
            $null = $ps.AddScript($Script)
            foreach ($k in $Arguments.Keys) { $null = $ps.AddParameter($k, $Arguments[$k]) }
            $null = $ps.Invoke()
            return , @($ps.Streams.Progress)
        }
        finally { $ps.Dispose() }
    }
}

AfterAll {
    Remove-TestStore $Store
    [System.IO.Directory]::Delete($Roots, $true)
    Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT -ErrorAction SilentlyContinue
}

Describe 'Progress of <Command>' -ForEach @(
    @{ Command = 'Invoke-PbsGarbageCollection'; Script = 'param($s) Invoke-PbsGarbageCollection $s -WhatIf' }
    @{ Command = 'Get-PbsUnreferencedChunk'; Script = 'param($s) Get-PbsUnreferencedChunk $s' }
    @{ Command = 'Test-PbsDatastore'; Script = 'param($s) Test-PbsDatastore $s -ErrorAction SilentlyContinue' }
    @{ Command = 'Test-PbsSnapshot'; Script = 'param($s) Get-PbsNamespace $s -Recurse | Get-PbsSnapshot | Test-PbsSnapshot -ErrorAction SilentlyContinue' }
    @{ Command = 'New-PbsDatastore'; Script = 'param($s) New-PbsDatastore -Path (Join-Path $env:PBS_DATASTORE_RUN_ROOT "new-store")' }
) {
    BeforeAll {
        $script:Records = Invoke-WithProgress $Script @{ s = $Store }
    }
    It 'reports progress' {
        $Records.Count | Should -BeGreaterThan 0
    }
    It 'ends every bar it opens with a Completed record' {
        foreach ($bar in $Records | Group-Object ActivityId) {
            $bar.Group[-1].RecordType | Should -Be ([System.Management.Automation.ProgressRecordType]::Completed) -Because "bar '$($bar.Group[0].Activity)'"
        }
    }
    It 'keeps percentages within 0..100' {
        $Records | Where-Object { $_.PercentComplete -lt -1 -or $_.PercentComplete -gt 100 } | Should -BeNullOrEmpty
    }
}

Describe 'Stopping a long operation (Ctrl+C)' {
    It 'stops verification promptly and leaves every snapshot as it was' {
        $before = Get-ChildItem $Store -Recurse -File -Force | Where-Object FullName -notmatch '/\.chunks/' |
            ForEach-Object { "$($_.FullName) $($_.Length) $($_.LastWriteTimeUtc.Ticks)" }
        $ps = [powershell]::Create()
        try {
            # Loaded beforehand, not as a first statement: stopping a batch and disposing it races in PowerShell
            # (the batch's next step touches the closing runspace and takes the process down).
            $null = $ps.AddScript("Import-Module '$ModulePath'; `$WarningPreference = 'SilentlyContinue'").Invoke()
            $ps.Commands.Clear()
            # Enough work that the stop lands while it runs: the datastore verified again and again.
            $null = $ps.AddScript('param($s) 1..100000 | ForEach-Object { $s } | Test-PbsDatastore -WhatIf -ErrorAction SilentlyContinue').AddParameter('s', $Store)
            $async = $ps.BeginInvoke()
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while ($ps.Streams.Progress.Count -lt 3 -and -not $async.IsCompleted -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
            $async.IsCompleted | Should -BeFalse -Because 'the run must still be going when it is stopped'
            $ps.Stop()
            $ps.InvocationStateInfo.State | Should -Be ([System.Management.Automation.PSInvocationState]::Stopped)
        }
        finally { $ps.Dispose() }
        $after = Get-ChildItem $Store -Recurse -File -Force | Where-Object FullName -notmatch '/\.chunks/' |
            ForEach-Object { "$($_.FullName) $($_.Length) $($_.LastWriteTimeUtc.Ticks)" }
        $after | Should -Be $before
    }
}
