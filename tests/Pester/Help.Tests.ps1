# Every exported cmdlet has real help (synopsis, description, examples, every parameter described) and every
# example runs against an extracted reference store.
BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $cmdlets = @(Get-Command -Module PbsDatastore -CommandType Cmdlet | ForEach-Object Name)
    $examples = foreach ($name in $cmdlets) {
        $i = 0
        foreach ($ex in @((Get-Help $name -Full).examples.example)) {
            $i++
            @{ Cmdlet = $name; Number = $i; Code = $ex.code; Title = $ex.title.Trim(' -') }
        }
    }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Common = [System.Management.Automation.PSCmdlet]::CommonParameters
}

Describe 'Help of <_>' -ForEach $cmdlets {
    BeforeAll {
        $script:Name = $_
        $script:Help = Get-Help $Name -Full
    }

    It 'has a synopsis of its own' {
        $Help.Synopsis | Should -Not -BeNullOrEmpty
        # Without MAML, Get-Help makes the synopsis up from the syntax.
        $Help.Synopsis | Should -Not -Match "^\s*$([regex]::Escape($Name))\s"
    }

    It 'has a description' {
        ($Help.description.Text -join '').Trim() | Should -Not -BeNullOrEmpty
    }

    It 'has at least one example' {
        @($Help.examples.example).Count | Should -BeGreaterThan 0
    }

    It 'describes every parameter' {
        foreach ($p in (Get-Command $Name).Parameters.Keys | Where-Object { $_ -notin $Common }) {
            $ph = Get-Help $Name -Parameter $p
            ($ph.description.Text -join '').Trim() | Should -Not -BeNullOrEmpty -Because "parameter -$p of $Name needs a description"
        }
    }

    It 'names no parameter the cmdlet does not have' {
        $actual = (Get-Command $Name).Parameters.Keys
        foreach ($p in @($Help.parameters.parameter)) { $actual | Should -Contain $p.name }
    }

    It 'lists its output type' {
        @($Help.returnValues.returnValue).Count | Should -BeGreaterThan 0
    }
}

Describe 'about_PbsDatastore' {
    It 'is found by Get-Help' {
        (Get-Help about_PbsDatastore | Out-String) | Should -Match 'GARBAGE COLLECTION'
    }
}

Describe 'ErrorId table of about_PbsDatastore' {
    BeforeAll {
        # The ids the code raises: the first string of a PbsException (directly or through a small factory such as
        # Invalid("BlobCrcMismatch", ...)), an id chosen by errno, the not-found and unreadable ids a config file
        # reader is given (SectionConfig.ReadText), and the cmdlet layer's own ErrorRecords.
        $patterns = @(
            '"([A-Z][A-Za-z]+)"\s*,\s*(?:PbsErrorKind|ErrorCategory)\.'
            '\?\s*"([A-Z][A-Za-z]+)"\s*:\s*"([A-Z][A-Za-z]+)"'
            '\b(?:Invalid|Bad|Error|Fail\w*|PbsException|new)\(\s*"([A-Z][A-Za-z]+)"\s*,'
            '\bReadText\([^,()]+,\s*"([A-Z][A-Za-z]+)"\s*,\s*"([A-Z][A-Za-z]+)"'
        )
        $sources = Get-ChildItem (Join-Path $RepoRoot 'src') -Recurse -Filter *.cs | Get-Content -Raw
        $script:Raised = @(foreach ($p in $patterns) {
                foreach ($m in [regex]::Matches(($sources -join "`n"), $p)) {
                    $m.Groups | Select-Object -Skip 1 | Where-Object Success | ForEach-Object Value
                }
            }) | Sort-Object -Unique
        $about = Get-Content (Join-Path $RepoRoot 'docs/about_PbsDatastore.md') -Raw
        $section = $about.Substring($about.IndexOf('## ERRORS'))
        $section = $section.Substring(0, $section.IndexOf('## ', 3))
        $script:Documented = @([regex]::Matches($section, '(?m)^    ([A-Z][A-Za-z]+) +(\w+)') |
            ForEach-Object { $_.Groups[1].Value } | Where-Object { $_ -ne 'ErrorId' })
    }
    It 'finds the ids the code raises' {
        $Raised.Count | Should -BeGreaterThan 100
    }
    It 'documents every ErrorId the code raises' {
        $Raised | Where-Object { $_ -notin $Documented } | Should -BeNullOrEmpty
    }
    It 'documents no ErrorId the code does not raise, and each once' {
        $Documented | Where-Object { $_ -notin $Raised } | Should -BeNullOrEmpty
        $Documented | Group-Object | Where-Object Count -gt 1 | ForEach-Object Name | Should -BeNullOrEmpty
    }
}
Describe 'Help source pages' {
    It 'keeps every line within 120 columns' {
        foreach ($page in Get-ChildItem (Join-Path $RepoRoot 'docs') -Filter *.md) {
            $n = 0
            foreach ($line in Get-Content $page.FullName) {
                $n++
                $line.Length | Should -BeLessOrEqual 120 -Because "$($page.Name) line $n"
            }
        }
    }
}

Describe 'Examples run against the reference store' {
    BeforeAll {
        # A copy of its own: the examples of the lifecycle cmdlets change the store.
        $script:Store = New-TestStore
        $script:Roots = Set-TestRoots
        $script:NewStoreParent = Join-Path $Roots 'new'
        Set-Content (Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 'datastore.cfg') "datastore: store1`n`tpath $Store`n"
        $env:PBS_KEY_PASSWORD = $Expected.key.scrypt_password
        # The pages name the paths a PBS host has; the test maps them onto the extracted store and the fixtures.
        $script:Placeholders = [ordered]@{
            '/mnt/datastore/store1'              = $Store
            '/mnt/datastore/'                    = "$NewStoreParent/"
            '/etc/proxmox-backup/datastore.cfg'  = Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 'datastore.cfg'
            '/root/pbs-key-protected.json'       = $ScryptKeyFile
            '/root/pbs-key.json'                 = $KeyFile
        }
    }

    AfterAll {
        # Holds the store New-PbsDatastore's example created (65536 directories): Remove-Item would take minutes.
        [System.IO.Directory]::Delete($Roots, $true)
        Remove-TestStore $Store
        Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT, Env:PBS_KEY_PASSWORD -ErrorAction SilentlyContinue
    }

    It '<Cmdlet> example <Number> runs without error' -ForEach $examples {
        $code = $Code
        foreach ($k in $Placeholders.Keys) { $code = $code.Replace($k, $Placeholders[$k]) }
        $ErrorActionPreference = 'Stop'
        $ConfirmPreference = 'None'
        # The reference store is damaged on purpose; the examples' warnings about it would only flood the log.
        $WarningPreference = 'SilentlyContinue'
        { $null = & ([scriptblock]::Create($code)) 6>$null | Out-String } | Should -Not -Throw -Because $code
    }
}
