# README's runbook is real: run as its own Pester file against a datastore written and verified the night before,
# it passes; with a backup that has not been verified, it fails.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Roots = Set-TestRoots
    $readme = Get-Content (Join-Path $RepoRoot 'README.md') -Raw
    $block = [regex]::Match($readme, '(?s)A runbook as a Pester test.*?```powershell\n(.*?)```').Groups[1].Value
    $script:Runbook = Join-Path $Roots 'nightly.Tests.ps1'
    # The runbook imports the installed module; here it is the one under test.
    Set-Content $Runbook $block.Replace('Import-Module PbsDatastore', "Import-Module '$((Get-Module PbsDatastore).Path)'")
    $script:Store = New-PbsDatastore -Path (Join-Path $Roots 'store1') -Name store1
    $script:Data = Join-Path $Roots 'disk.img'
    [System.IO.File]::WriteAllBytes($Data, [byte[]](1..200000 | ForEach-Object { $_ % 251 }))

    # Runs the runbook with Invoke-Pester in a child pwsh (Pester does not nest) and returns its counts.
    function Invoke-Runbook {
        $cmd = @(Get-ChildPwshCommand)
        $exe, $prefix = $cmd[0], @($cmd | Select-Object -Skip 1)
        $command = "Import-Module '$((Get-Module Pester).Path)'; " +
            "`$r = Invoke-Pester -Path '$Runbook' -PassThru -Output None; '{0} {1}' -f `$r.PassedCount, `$r.FailedCount"
        $out = & $exe @prefix -NoProfile -NonInteractive -Command $command
        $passed, $failed = ($out | Select-Object -Last 1) -split ' '
        [pscustomobject]@{ Passed = [int]$passed; Failed = [int]$failed }
    }
}

AfterAll {
    [System.IO.Directory]::Delete($Roots, $true)
    Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT -ErrorAction SilentlyContinue
}

Describe "README's runbook" {
    It 'is found in README' {
        Get-Content $Runbook -Raw | Should -Match 'Describe'
    }
    It 'passes when last night''s backups finished and verified' {
        foreach ($id in 'web', 'db') {
            New-PbsSnapshot store1 -BackupType vm -BackupId $id -Path $Data | Out-Null
        }
        Get-PbsNamespace store1 -Recurse | Get-PbsSnapshot | Test-PbsSnapshot | Out-Null
        $r = Invoke-Runbook
        $r.Failed | Should -Be 0
        $r.Passed | Should -Be 2
    }
    It 'fails when one of them was not verified' {
        New-PbsSnapshot store1 -BackupType ct -BackupId 'mail' -Path $Data | Out-Null
        $r = Invoke-Runbook
        $r.Failed | Should -Be 1
    }
}

Describe "README's table of cmdlets" {
    It 'names every exported cmdlet, and nothing else' {
        $readme = Get-Content (Join-Path $RepoRoot 'README.md') -Raw
        $table = [regex]::Match($readme, '(?s)\| task \| cmdlets \|\n(.*?)\n\n').Groups[1].Value
        $named = [regex]::Matches($table, '`([A-Z][a-z]+-Pbs[A-Za-z]+)`') | ForEach-Object { $_.Groups[1].Value } | Sort-Object
        $named | Should -Be ((Get-Command -Module PbsDatastore).Name | Sort-Object) -Because 'the README table is where a user finds what the module can do'
    }
}
