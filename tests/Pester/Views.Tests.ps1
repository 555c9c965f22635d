# Default views: every table fits 120 columns whatever the console width, and the views keep the objects numeric.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Store = Get-PristineStore
    $script:Ds = Get-PbsDatastore -Path $Store
}

Describe 'Table views' {
    It 'every table view of the module gives every column a width and fits 120 columns' {
        $formatFile = Join-Path (Split-Path (Get-Module PbsDatastore).Path) 'PbsDatastore.format.ps1xml'
        $views = ([xml](Get-Content $formatFile -Raw)).Configuration.ViewDefinitions.View | Where-Object { $_.TableControl }
        $views.Count | Should -BeGreaterThan 0
        foreach ($view in $views) {
            $widths = @($view.TableControl.TableHeaders.TableColumnHeader | ForEach-Object { [int]$_.Width })
            $widths | Should -Not -Contain 0 -Because "every column of view $($view.Name) needs a width"
            (($widths | Measure-Object -Sum).Sum + $widths.Count - 1) | Should -BeLessOrEqual 120 -Because "view $($view.Name)"
        }
    }

    It '<Command> output at the default view fits 120 columns on a wide console' -ForEach @(
        @{ Command = 'Get-PbsSnapshot'; Run = { $Ds | Get-PbsNamespace -Recurse | Get-PbsSnapshot } }
        @{ Command = 'Get-PbsBackupGroup'; Run = { $Ds | Get-PbsNamespace -Recurse | Get-PbsBackupGroup } }
        @{ Command = 'Get-PbsNamespace'; Run = { $Ds | Get-PbsNamespace -Recurse } }
        @{ Command = 'Get-PbsManifest'; Run = { $Ds | Get-PbsNamespace -Recurse | Get-PbsSnapshot | Get-PbsManifest } }
        @{ Command = 'Get-PbsIndex'; Run = { $Ds | Get-PbsNamespace -Recurse | Get-PbsSnapshot | Get-PbsIndex } }
        @{ Command = 'Get-PbsChunk'; Run = { Get-PbsChunk $Ds -Digest $Expected.store.chunks.digest } }
        @{ Command = 'Measure-PbsDatastore'; Run = { $Ds | Get-PbsNamespace -Recurse | Get-PbsBackupGroup | Measure-PbsDatastore } }
        @{ Command = 'Measure-PbsDatastore members'; Run = { ($Ds | Get-PbsNamespace -Recurse | Get-PbsSnapshot | Measure-PbsDatastore).Members } }
        @{ Command = 'Get-PbsChunkReference'; Run = { Get-PbsChunkReference $Ds -Bad } }
        @{ Command = 'Get-PbsChunkReference uses'; Run = { (Get-PbsChunkReference $Ds -Digest $Expected.store.chunks.digest).Uses } }
        @{ Command = 'Invoke-PbsGarbageCollection'; Run = { Invoke-PbsGarbageCollection $Ds -WhatIf -WarningAction SilentlyContinue 6>$null } }
        @{ Command = 'Get-PbsGarbageCollectionStatus'; Run = { Get-PbsGarbageCollectionStatus $Ds } }
        @{ Command = 'Get-PbsUnreferencedChunk'; Run = { Get-PbsUnreferencedChunk $Ds -WarningAction SilentlyContinue } }
        @{ Command = 'Test-PbsSnapshot'; Run = {
                $Ds | Get-PbsNamespace -Recurse | Get-PbsSnapshot |
                    Test-PbsSnapshot -WhatIf -ErrorAction SilentlyContinue -WarningAction SilentlyContinue 6>$null } }
        @{ Command = 'Invoke-PbsPrune'; Run = { Invoke-PbsPrune -Datastore $Ds -KeepLast 1 -WhatIf 6>$null } }
    ) {
        $objects = @(& $Run)
        $objects.Count | Should -BeGreaterThan 0
        $lines = ($objects | Out-String -Width 250) -split "`n"
        $lines | Where-Object { $_.TrimEnd().Length -gt 120 } | Should -BeNullOrEmpty
        # A table, not a list: the header line is followed by a dashes line.
        $lines | Where-Object { $_ -match '^-+ ' } | Should -Not -BeNullOrEmpty
    }

    It 'has a view for every output type of every exported cmdlet' {
        $viewed = (Get-FormatData -TypeName * | Where-Object { $_.TypeNames -like 'PbsDatastore.*' }).TypeNames
        $outputs = Get-Command -Module PbsDatastore -CommandType Cmdlet | ForEach-Object OutputType | ForEach-Object Type |
            Where-Object { $_ -and $_ -ne [string] } | ForEach-Object FullName | Sort-Object -Unique
        $outputs.Count | Should -BeGreaterThan 10
        $outputs | Where-Object { $_ -notin $viewed } | Should -BeNullOrEmpty
    }

    It 'shows sizes as PBS prints them while the property stays numeric' {
        $s = Get-PbsSnapshot $Ds vm 100 -Latest
        $s.Size | Should -BeOfType [long]
        ($s | Out-String) | Should -Match '\d+(\.\d+)? (B|KiB|MiB|GiB)'
    }
}

Describe 'HumanByte' {
    It 'formats <Bytes> as <Text>' -ForEach @(
        @{ Bytes = 0; Text = '0 B' }, @{ Bytes = 987; Text = '987 B' }, @{ Bytes = 1022; Text = '1022 B' },
        @{ Bytes = 1024; Text = '1 KiB' }, @{ Bytes = 9000; Text = '8.789 KiB' }, @{ Bytes = 10000000; Text = '9.537 MiB' },
        @{ Bytes = 1GB + 103MB; Text = '1.101 GiB' }, @{ Bytes = 1GB + 128MB; Text = '1.125 GiB' },
        @{ Bytes = 2 * 1PB + 512TB; Text = '2.5 PiB' }
    ) {
        [PbsDatastore.Core.HumanByte]::Format([long]$Bytes) | Should -Be $Text
    }
}
