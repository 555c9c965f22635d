# The nightly report: one Context per datastore (per host when the results carry PSComputerName), failing where
# prune, garbage collection or verification did, and for a host that returned nothing. Run by Nightly-Host.ps1 and Nightly-Fleet.ps1 with -Data.
param(
    # The results of Nightly-Host.ps1 (through remoting: deserialized, with PSComputerName).
    [object[]] $Results,
    # The hosts Nightly-Fleet.ps1 asked: each must have returned results.
    [string[]] $Hosts = @(),
    # Invoke-Command's errors, reported with the host they name.
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
    $asked = @($Hosts | ForEach-Object { @{ Name = $_ } })
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
    Context 'host <Name>' -ForEach $asked {
        It 'returned results' {
            $errors = @($HostErrors | Where-Object { "$($_.OriginInfo.PSComputerName) $($_.TargetObject) $_" -match [regex]::Escape($Name) })
            @($Results | Where-Object PSComputerName -EQ $Name) | Should -Not -BeNullOrEmpty -Because ($errors -join '; ')
        }
    }
}
