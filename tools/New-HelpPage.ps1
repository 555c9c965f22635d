# Writes a PlatyPS-schema help page skeleton (docs/<Cmdlet>.md) for every cmdlet of the built module that has no
# page yet: SYNTAX per parameter set and a yaml block per parameter come from the cmdlet's metadata; the prose
# parts are left as {{ ... }} placeholders, which the help test rejects until they are written.
# Usage: pwsh tools/New-HelpPage.ps1 [-Name Get-PbsFoo]   (after ./build.ps1 Build)
param([string[]] $Name = '*')

$ErrorActionPreference = 'Stop'
$root = (Resolve-Path (Join-Path $PSScriptRoot '..')).Path
Import-Module (Join-Path $root 'out/PbsDatastore/PbsDatastore.psd1') -Force
$common = [System.Management.Automation.PSCmdlet]::CommonParameters
$standard = @{
    WhatIf  = 'Shows what the cmdlet would do without changing anything on disk.'
    Confirm = 'Prompts for confirmation before each change.'
}

foreach ($cmd in Get-Command -Module PbsDatastore -CommandType Cmdlet -Name $Name) {
    $page = Join-Path $root "docs/$($cmd.Name).md"
    if (Test-Path $page) { continue }
    $sb = [System.Text.StringBuilder]::new()
    $null = $sb.Append(@"
---
external help file: PbsDatastore.dll-Help.xml
Module Name: PbsDatastore
online version:
schema: 2.0.0
---

# $($cmd.Name)

## SYNOPSIS
{{ One sentence: what it does. }}

## SYNTAX


"@)
    foreach ($set in $cmd.ParameterSets) {
        $title = if ($cmd.ParameterSets.Count -gt 1) { $set.Name + $(if ($set.IsDefault) { ' (Default)' }) } else { 'All' }
        # Wrapped at parameter boundaries so every line of the page stays within 120 columns.
        $lines = [System.Collections.Generic.List[string]]@($cmd.Name)
        foreach ($token in [regex]::Matches($set.ToString(), '\[[^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*\]|\S+').Value) {
            if ($lines[-1].Length + $token.Length + 1 -gt 116) { $lines.Add(' ') }
            $lines[-1] += " $token"
        }
        $null = $sb.Append("### $title`n" + '```' + "`n$($lines -join "`n")`n" + '```' + "`n`n")
    }
    $null = $sb.Append("## DESCRIPTION`n{{ What it does, how it relates to PBS. }}`n`n## EXAMPLES`n`n### Example 1`n``````powershell`n{{ command }}`n```````n`n{{ What it shows. }}`n`n## PARAMETERS`n`n")
    foreach ($p in $cmd.Parameters.Values | Where-Object { $_.Name -notin $common } | Sort-Object Name) {
        # One entry per parameter: its sets listed together, the metadata of the first set.
        foreach ($set in @($p.ParameterSets.GetEnumerator())[0]) {
            $m = $set.Value
            $sets = if ($set.Key -eq '__AllParameterSets') { '(All)' } else { ($p.ParameterSets.Keys | Sort-Object) -join ', ' }
            $pipeline = @(if ($m.ValueFromPipeline) { 'ByValue' }; if ($m.ValueFromPipelineByPropertyName) { 'ByPropertyName' })
            $wild = [bool]($p.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
            $text = if ($standard[$p.Name]) { $standard[$p.Name] } else { '{{ What it is. }}' }
            $null = $sb.Append(@"
### -$($p.Name)
$text

``````yaml
Type: $($p.ParameterType.Name)
Parameter Sets: $sets
Aliases: $($p.Aliases -join ', ')

Required: $($m.IsMandatory)
Position: $(if ($m.Position -ge 0) { $m.Position } else { 'Named' })
Default value: None
Accept pipeline input: $(if ($pipeline) { "True ($($pipeline -join ', '))" } else { 'False' })
Accept wildcard characters: $wild
``````


"@)
        }
    }
    $null = $sb.Append(@"
### CommonParameters
This cmdlet supports the common parameters: -Debug, -ErrorAction, -ErrorVariable, -InformationAction,
-InformationVariable, -OutBuffer, -OutVariable, -PipelineVariable, -ProgressAction, -Verbose, -WarningAction and
-WarningVariable. For more information, see about_CommonParameters.

## INPUTS

## OUTPUTS

$(($cmd.OutputType | ForEach-Object { "### $($_.Name)`n" }) -join "`n")
## NOTES

## RELATED LINKS

[about_PbsDatastore](about_PbsDatastore.md)
"@)
    Set-Content $page $sb.ToString() -NoNewline
    Write-Host "wrote $page"
}
