# Default views: every table fits 80 columns (the width of Pester, CI and cron logs, and of many terminals) without
# wrapping a header or cutting a key value, keeps them at 120, and the views keep the objects numeric.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-PbsModuleUnderTest
    $script:Store = Get-PristineStore
    $script:Ds = Get-PbsDatastore -Path $Store
}

Describe 'Table views' {
    It 'every table view fits 80 columns: sized columns, at most one unsized last column, labels within widths' {
        $formatFile = Join-Path (Split-Path (Get-Module PbsDatastore).Path) 'PbsDatastore.format.ps1xml'
        $views = ([xml](Get-Content $formatFile -Raw)).Configuration.ViewDefinitions.View | Where-Object { $_.TableControl }
        $views.Count | Should -BeGreaterThan 20
        foreach ($view in $views) {
            $headers = @($view.TableControl.TableHeaders.TableColumnHeader)
            $unsized = @($headers | Where-Object { -not $_.Width })
            $unsized.Count | Should -BeLessOrEqual 1 -Because "view $($view.Name) may leave only its last column unsized"
            if ($unsized) {
                $headers[-1].Width | Should -BeNullOrEmpty -Because "view $($view.Name): the unsized column comes last"
                # Wider consoles give it the rest: a right-aligned one would drift away from the others.
                $headers[-1].Alignment | Should -Not -Be 'Right' -Because "view $($view.Name): its unsized column is text"
            }
            foreach ($h in $headers | Where-Object Width) {
                $h.Label.Length | Should -BeLessOrEqual ([int]$h.Width) -Because "view $($view.Name) column $($h.Label) would wrap its header"
            }
            # A console of 80 columns gives a table 79; the unsized column needs at least its label.
            $used = ($headers | ForEach-Object { if ($_.Width) { [int]$_.Width } else { $_.Label.Length } } | Measure-Object -Sum).Sum + $headers.Count - 1
            $used | Should -BeLessOrEqual 79 -Because "view $($view.Name)"
        }
    }

    # Keys: the values a reader needs whole, for each object.
    It '<Command> fits <Width> columns with no wrapped header and no cut key value' -ForEach @(
        foreach ($width in 80, 120) {
            @{ Width = $width; Command = 'Get-PbsDatastore'; Run = { $Ds }; Keys = { $_.Name } }
            @{ Width = $width; Command = 'Get-PbsNamespace'; Run = { $Ds | Get-PbsNamespace -Recurse }; Keys = { $_.Datastore.Name; if ($_.Namespace) { $_.Namespace } } }
            @{ Width = $width; Command = 'Get-PbsBackupGroup'; Run = { $Ds | Get-PbsNamespace -Recurse | Get-PbsBackupGroup }; Keys = { $_.Group; $_.Owner } }
            @{ Width = $width; Command = 'Get-PbsSnapshot'; Run = { $Ds | Get-PbsNamespace -Recurse | Get-PbsSnapshot }; Keys = { $_.Group; if (-not $_.Finished) { 'unfinished' } else { $_.Verification } } }
            @{ Width = $width; Command = 'Get-PbsManifest'; Run = { $Ds | Get-PbsNamespace -Recurse | Get-PbsSnapshot | Get-PbsManifest }; Keys = { $_.Snapshot; $_.VerifyState } }
            @{ Width = $width; Command = 'Get-PbsIndex'; Run = { $Ds | Get-PbsNamespace -Recurse | Get-PbsSnapshot | Get-PbsIndex }; Keys = { $_.ArchiveName; $_.Snapshot.ToString() } }
            @{ Width = $width; Command = 'Get-PbsChunk'; Run = { Get-PbsChunk $Ds -Digest $Expected.store.chunks.digest }; Keys = { $_.Digest } }
            @{ Width = $width; Command = 'Measure-PbsDatastore'; Run = { $Ds | Get-PbsNamespace -Recurse | Get-PbsBackupGroup | Measure-PbsDatastore }; Keys = { $_.Datastore } }
            @{ Width = $width; Command = 'Measure-PbsDatastore members'; Run = { ($Ds | Get-PbsNamespace -Recurse | Get-PbsSnapshot | Measure-PbsDatastore).Members }; Keys = { $_.Name } }
            @{ Width = $width; Command = 'Get-PbsChunkReference'; Run = { Get-PbsChunkReference $Ds -Bad }; Keys = { $_.Digest } }
            @{ Width = $width; Command = 'Get-PbsChunkReference uses'; Run = { (Get-PbsChunkReference $Ds -Digest $Expected.store.chunks.digest).Uses }; Keys = { (("$($_.Snapshot)" -split '/') | Select-Object -Last 3) -join '/'; $_.Archive; "$($_.Digest)" } }
            @{ Width = $width; Command = 'Invoke-PbsGarbageCollection'; Run = { Invoke-PbsGarbageCollection $Ds -WhatIf -WarningAction SilentlyContinue 6>$null }; Keys = { $_.Datastore; $_.State } }
            @{ Width = $width; Command = 'Get-PbsGarbageCollectionStatus'; Run = { Get-PbsGarbageCollectionStatus $Ds }; Keys = { $_.Datastore; $_.State } }
            @{ Width = $width; Command = 'Get-PbsUnreferencedChunk'; Run = { Get-PbsUnreferencedChunk $Ds -WarningAction SilentlyContinue }; Keys = { $_.Digest } }
            @{ Width = $width; Command = 'Test-PbsSnapshot'; Keys = { $_.Snapshot; $_.State.ToString().ToLowerInvariant() }; Run = {
                    $Ds | Get-PbsNamespace -Recurse | Get-PbsSnapshot |
                        Test-PbsSnapshot -WhatIf -ErrorAction SilentlyContinue -WarningAction SilentlyContinue 6>$null } }
            @{ Width = $width; Command = 'Invoke-PbsPrune'; Run = { Invoke-PbsPrune $Ds -KeepLast 1 -WhatIf 6>$null }; Keys = { $_.Group; $_.Mark; $_.KeptBy } }
        }
    ) {
        $objects = @(& $Run)
        $objects.Count | Should -BeGreaterThan 0
        # A console of N columns gives tables N - 1: the last column stays free so the cursor never wraps.
        $text = $objects | Out-String -Width ($Width - 1)
        $lines = $text -split "`r?`n"
        $lines | Where-Object { $_.TrimEnd().Length -ge $Width } | Should -BeNullOrEmpty
        # A table, not a list: each header line stands alone between a blank line and its dashes line.
        $dashes = @(0..($lines.Count - 1) | Where-Object { $lines[$_] -match '^-+( +-+)*\s*$' })
        $dashes.Count | Should -BeGreaterThan 0
        foreach ($i in $dashes) {
            $lines[$i - 2].Trim() | Should -BeNullOrEmpty -Because "the header '$($lines[$i - 1].Trim())' must not wrap"
            # Each dash run lies under a label that is not cut either.
            foreach ($m in [regex]::Matches($lines[$i], '-+')) {
                $label = $lines[$i - 1].Substring($m.Index, [Math]::Min($m.Length, [Math]::Max(0, $lines[$i - 1].Length - $m.Index))).Trim()
                $label | Should -Not -Match '…'
            }
        }
        foreach ($key in $objects | ForEach-Object $Keys | Where-Object { "$_" }) {
            $text | Should -Match ([regex]::Escape("$key")) -Because "$Command must show '$key' whole at $Width columns"
        }
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

    It 'formats <Bytes> with 2 decimals as <Text> (table columns)' -ForEach @(
        @{ Bytes = 0; Text = '0 B' }, @{ Bytes = 9000; Text = '8.79 KiB' }, @{ Bytes = 1GB + 103MB; Text = '1.1 GiB' },
        @{ Bytes = 1MB - 1; Text = '1024 KiB' }, @{ Bytes = 4394304; Text = '4.19 MiB' }
    ) {
        [PbsDatastore.Core.HumanByte]::Format([long]$Bytes, 2) | Should -Be $Text
    }
}
