# README's runbook is real: copied verbatim and run as its own Pester file after README's install commands on a
# clean HOME, against a datastore written and verified the night before, it passes; with a backup that has not been
# verified, it fails.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Roots = Set-TestRoots
    $readme = Get-Content (Join-Path $RepoRoot 'README.md') -Raw
    $block = [regex]::Match($readme, '(?s)A runbook as a Pester test.*?```powershell\n(.*?)```').Groups[1].Value
    $script:Runbook = Join-Path $Roots 'nightly.Tests.ps1'
    # Verbatim: the runbook imports the module README's install commands installed into a clean HOME.
    Set-Content $Runbook $block
    $script:CleanHome = Join-Path $Roots 'home'
    $script:Installed = Install-PbsPackageFromReadme $CleanHome
    $script:Store = New-PbsDatastore -Path (Join-Path $Roots 'store1') -Name store1
    $script:Data = Join-Path $Roots 'disk.img'
    [System.IO.File]::WriteAllBytes($Data, [byte[]](1..200000 | ForEach-Object { $_ % 251 }))

    # Runs the runbook with Invoke-Pester in a child pwsh (Pester does not nest) at the clean HOME; returns its counts.
    function Invoke-Runbook {
        $command = "Import-Module '$((Get-Module Pester).Path)'; " +
            "`$r = Invoke-Pester -Path '$Runbook' -PassThru -Output None; '{0} {1}' -f `$r.PassedCount, `$r.FailedCount"
        $out = (Invoke-PwshAtHome $CleanHome $command -WorkingDirectory $Roots).Output -split "`n" | Where-Object { $_ -match '^\d+ \d+$' }
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
    It 'imports the module README''s install commands installed from the package into a clean HOME' {
        $Installed | Should -BeLike "$CleanHome/*"
        $manifest = Import-PowerShellDataFile (Join-Path $RepoRoot 'PbsDatastore.psd1')
        Split-Path $Installed -Leaf | Should -Be $manifest.ModuleVersion
        Test-Path (Join-Path $Installed 'PbsDatastore.format.ps1xml') | Should -BeTrue
        Test-Path (Join-Path $Installed 'LICENSE') | Should -BeTrue
        @(Get-ChildItem $Installed -Recurse -Include *.csproj, *.cs, project.assets.json) | Should -BeNullOrEmpty -Because 'the package holds the built module only'
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
