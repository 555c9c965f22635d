# The nightly report: one Context per datastore (per host when the results carry PSComputerName), failing where
# prune, garbage collection or verification did. Run by Nightly-Host.ps1 and Nightly-Fleet.ps1 with -Data.
param(
    # The results of Nightly-Host.ps1 (through remoting: deserialized, with PSComputerName).
    [object[]] $Results,
    # Errors of hosts that could not be reached (Invoke-Command's error records).
    [object[]] $HostErrors = @()
)

BeforeDiscovery {
    $stores = @($Results | Group-Object { "$($_.PSComputerName)|$($_.Datastore)" } | ForEach-Object {
        $first = $_.Group[0]
        @{
            Name = if ($first.PSComputerName) { "$($first.PSComputerName): $($first.Datastore)" } else { "$($first.Datastore)" }
            Items = $_.Group
        }
    })
    $unreachable = @($HostErrors | ForEach-Object {
        @{ Name = if ($_.OriginInfo) { $_.OriginInfo.PSComputerName } else { "$($_.TargetObject)" }; Message = "$_" }
    })
}

Describe 'PBS nightly maintenance' {
    Context '<Name>' -ForEach $stores {
        BeforeAll {
            $failure = $Items | Where-Object { $_.PSObject.TypeNames -match 'PbsNightly.Failure' }
            $gc = $Items | Where-Object { $_.PSObject.TypeNames -match 'GarbageCollectionResult' }
            $verify = $Items | Where-Object { $_.PSObject.TypeNames -match 'SnapshotVerifyResult' }
        }
        It 'ran prune, garbage collection and verification' {
            $failure | Should -BeNullOrEmpty -Because "$($failure.Error)"
            $gc | Should -Not -BeNullOrEmpty
        }
        It 'found no missing chunks' {
            @($gc.MissingChunks).Count | Should -Be 0 -Because 'every chunk an index references must exist'
        }
        It 'verified every snapshot' {
            $bad = @($verify | Where-Object { "$($_.State)" -ne 'Ok' } | ForEach-Object { "$($_.Snapshot): $($_.Error)" })
            $bad | Should -BeNullOrEmpty
        }
    }
    Context 'host <Name>' -ForEach $unreachable {
        It 'was reached' { $Message | Should -BeNullOrEmpty }
    }
}
