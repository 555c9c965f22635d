# README's main command runs tools/Demo.ps1 (build.ps1 Demo); running it here keeps it from rotting.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:ModuleDir = Split-Path (Get-Module PbsDatastore).Path
}

Describe 'The README demo' {
    It 'runs to the end in a fresh process and restores the image unchanged' {
        $child = @(Get-ChildPwshCommand)
        $demo = Join-Path $RepoRoot 'tools/Demo.ps1'
        $output = & $child[0] @($child | Select-Object -Skip 1) -NoProfile -NonInteractive -File $demo -ModulePath $ModuleDir -Root $RepoRoot 2>&1
        $text = $output -join "`n"
        $LASTEXITCODE | Should -Be 0 -Because $text
        $text | Should -Match 'restored image identical to the original: True'
        # Every step printed its table, and no line is wider than the 120 columns the views are made for.
        foreach ($step in 'Create a datastore', 'Back up five days', 'Groups and snapshots', 'Prune', 'Garbage collection', 'Verify', 'Export') {
            $text | Should -Match "== $step"
        }
        $output | Where-Object { "$_".TrimEnd().Length -gt 120 } | Should -BeNullOrEmpty
    }
}
