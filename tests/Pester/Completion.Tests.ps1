# Tab completion through TabExpansion2, reading names from datastore.cfg and from the store on the command line.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Store = Get-PristineStore
    $script:Roots = Set-TestRoots
    Set-Content (Join-Path $env:PBS_DATASTORE_CONFIG_ROOT 'datastore.cfg') "datastore: store1`n`tpath $Store`n`ndatastore: other`n`tpath /nonexistent`n"

    function script:Complete([string] $Line) {
        (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches.CompletionText
    }
}

AfterAll {
    Remove-Item $Roots -Recurse -Force -ErrorAction SilentlyContinue
    Remove-Item Env:PBS_DATASTORE_CONFIG_ROOT, Env:PBS_DATASTORE_RUN_ROOT -ErrorAction SilentlyContinue
}

Describe 'Argument completion' {
    It 'completes datastore names from datastore.cfg' {
        Complete 'Get-PbsDatastore -Name ' | Should -Be @('store1', 'other')
        Complete 'Get-PbsSnapshot -Datastore st' | Should -Be @('store1')
    }

    It 'completes namespaces of the datastore on the command line' {
        Complete 'Get-PbsBackupGroup -Datastore store1 -Namespace ' | Should -Be @($Expected.store.namespaces.ns | Where-Object { $_ })
        Complete "Get-PbsBackupGroup -Datastore '$Store' -Namespace prod/" | Should -Be @('prod/db')
    }

    It 'completes backup types' {
        Complete 'Get-PbsSnapshot -Datastore store1 -BackupType ' | Should -Be @('ct', 'host', 'vm')
    }

    It 'completes backup ids of the namespace and type' {
        foreach ($ns in $Expected.store.namespaces.ns) {
            $expectedIds = @($Expected.store.groups | Where-Object ns -eq $ns | ForEach-Object id | Sort-Object)
            @(Complete "Get-PbsSnapshot -Datastore store1 -Namespace '$ns' -BackupId " | Sort-Object) | Should -Be $expectedIds
        }
        Complete 'Get-PbsSnapshot -Datastore store1 -Namespace prod -BackupType host -BackupId ' | Should -Be @('vault', 'web01')
    }

    It 'completes snapshot times of the group, newest first' {
        $times = @($Expected.store.snapshots | Where-Object { $_.ns -eq '' -and $_.type -eq 'vm' -and $_.id -eq '100' } |
            ForEach-Object { Split-Path -Leaf $_.path } | Sort-Object -Descending)
        Complete 'Get-PbsManifest -Datastore store1 -BackupType vm -BackupId 100 -BackupTime ' | Should -Be $times
    }

    It 'completes index archive names of the snapshot' {
        foreach ($s in $Expected.store.snapshots) {
            $line = "Get-PbsIndex -Datastore store1 -Namespace '$($s.ns)' -BackupType $($s.type) -BackupId $($s.id) -BackupTime $(Split-Path -Leaf $s.path) -ArchiveName "
            $names = @($s.files.name | Where-Object { $_ -match '\.(fidx|didx)$' } | Sort-Object)
            @(Complete $line | Sort-Object) | Should -Be $names -Because $line
        }
    }

    It 'completes nothing, without failing, for a datastore that cannot be opened' {
        Complete 'Get-PbsBackupGroup -Datastore other -Namespace ' | Should -BeNullOrEmpty
    }
}
