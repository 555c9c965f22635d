BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
}

Describe 'PbsDatastore module' {
    It 'imports from the built folder with a manifest' {
        $m = Get-Module PbsDatastore
        $m | Should -Not -BeNullOrEmpty
        $m.ModuleType | Should -Be 'Binary'
        $m.CompatiblePSEditions | Should -Contain 'Core'
    }

    It 'does not ship the reference System.Management.Automation assembly' {
        $dir = Split-Path (Get-Module PbsDatastore).Path
        Join-Path $dir 'System.Management.Automation.dll' | Should -Not -Exist
    }
}
