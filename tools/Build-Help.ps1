# Compiles the PlatyPS-schema markdown in docs/ to the help files Get-Help reads: en-US/PbsDatastore.dll-Help.xml
# (MAML, one command per cmdlet page) and en-US/about_*.help.txt. PlatyPS itself is not available here; pwsh ships
# Markdig, which parses the pages.
param([Parameter(Mandatory)] [string] $Root)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$docs = Join-Path $Root 'docs'
$outDir = Join-Path $Root 'en-US'
if (-not (Test-Path $docs)) { return }
$null = New-Item -ItemType Directory $outDir -Force

if (-not ('Markdig.Markdown' -as [type])) { Add-Type -Path (Join-Path $PSHOME 'Markdig.Signed.dll') }
$pipeline = [Markdig.MarkdownExtensions]::UseYamlFrontMatter([Markdig.MarkdownPipelineBuilder]::new()).Build()

# A page as a flat list of (kind, level, text, info) items: headings, paragraphs/lists, fenced code.
function Read-Page([string] $Path) {
    $text = (Get-Content $Path -Raw) -replace "`r`n", "`n"
    $doc = [Markdig.Markdown]::Parse($text, $pipeline)
    foreach ($block in $doc) {
        $source = $text.Substring($block.Span.Start, $block.Span.Length)
        switch ($block.GetType().Name) {
            'YamlFrontMatterBlock' { }
            'HeadingBlock' { [pscustomobject]@{ Kind = 'Heading'; Level = $block.Level; Text = $source.TrimStart('#').Trim(); Info = '' } }
            'FencedCodeBlock' {
                $lines = foreach ($line in $block.Lines.Lines) { if ($null -ne $line.Slice.Text) { $line.Slice.ToString() } }
                [pscustomobject]@{ Kind = 'Code'; Level = 0; Text = ($lines -join "`n").TrimEnd(); Info = "$($block.Info)" }
            }
            default { [pscustomobject]@{ Kind = 'Text'; Level = 0; Text = $source.Trim(); Info = '' } }
        }
    }
}

# Splits a page into its H2 sections; each holds the items up to the next H2.
function Get-Sections($Items) {
    $sections = [ordered]@{}
    $current = $null
    foreach ($item in $Items) {
        if ($item.Kind -eq 'Heading' -and $item.Level -eq 2) { $current = $item.Text.ToUpperInvariant(); $sections[$current] = [System.Collections.Generic.List[object]]::new() }
        elseif ($item.Kind -eq 'Heading' -and $item.Level -eq 1) { $sections['#NAME'] = @($item) }
        elseif ($current) { $sections[$current].Add($item) }
    }
    return $sections
}

# Splits a section into its H3 subsections: name -> items.
function Get-Subsections($Items) {
    $subs = [System.Collections.Generic.List[object]]::new()
    foreach ($item in $Items) {
        if ($item.Kind -eq 'Heading' -and $item.Level -eq 3) { $subs.Add([pscustomobject]@{ Name = $item.Text; Items = [System.Collections.Generic.List[object]]::new() }) }
        elseif ($subs.Count) { $subs[$subs.Count - 1].Items.Add($item) }
    }
    return $subs
}

# Markdown inline markup reduced to what a console shows.
function ConvertTo-PlainText([string] $Text) {
    $t = $Text -replace '\[([^\]]+)\]\([^)]*\)', '$1'
    $t = $t -replace '(?<![\w*])\*\*?([^*\n]+)\*\*?(?![\w*])', '$1'
    $t = $t -replace '`([^`]+)`', '$1'
    return $t
}

function Get-Paragraphs($Items) {
    foreach ($item in $Items) {
        if ($item.Kind -eq 'Text') {
            # A paragraph is one line in MAML: Get-Help wraps it; list items stay separate lines.
            if ($item.Text -match '^\s*[-*] ') {
                foreach ($li in ($item.Text -split "`n(?=\s*[-*] )")) { ConvertTo-PlainText (($li -split "`n" | ForEach-Object Trim) -join ' ') }
            }
            else { ConvertTo-PlainText (($item.Text -split "`n" | ForEach-Object Trim) -join ' ') }
        }
        elseif ($item.Kind -eq 'Code') { $item.Text }
    }
}

function ConvertFrom-YamlBlock([string] $Yaml) {
    $map = @{}
    foreach ($line in $Yaml -split "`n") {
        if ($line -match '^([A-Za-z ]+):\s*(.*)$') { $map[$Matches[1].Trim()] = $Matches[2].Trim() }
    }
    return $map
}

# The project's home (the manifest's ProjectUri); the help pages are its docs/ folder, and relative links between
# pages point there.
$ProjectUri = 'https://github.com/pbsdatastore/PbsDatastore'
$DocsUri = "$ProjectUri/blob/main/docs"

# The page's "online version" from its front matter (required: Get-Help -Online opens it).
function Get-OnlineUri([string] $Path) {
    if ((Get-Content $Path -Raw) -match '(?m)^online version:[ \t]*(https://\S+)[ \t]*\r?$') { return $Matches[1] }
    throw "${Path}: the front matter needs 'online version: $DocsUri/$([System.IO.Path]::GetFileName($Path))'"
}

$maml = 'http://schemas.microsoft.com/maml/2004/10'
$command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
$dev = 'http://schemas.microsoft.com/maml/dev/2004/10'

function Add-Paras([System.Xml.XmlWriter] $W, [string[]] $Paragraphs) {
    $W.WriteStartElement('maml', 'description', $maml)
    foreach ($p in $Paragraphs) { $W.WriteElementString('maml', 'para', $maml, $p) }
    $W.WriteEndElement()
}

function Write-Parameter([System.Xml.XmlWriter] $W, $P) {
    $W.WriteStartElement('command', 'parameter', $command)
    $W.WriteAttributeString('required', $P.Required.ToString().ToLowerInvariant())
    $W.WriteAttributeString('variableLength', 'true')
    $W.WriteAttributeString('globbing', $P.Globbing.ToString().ToLowerInvariant())
    $W.WriteAttributeString('pipelineInput', $P.Pipeline)
    $W.WriteAttributeString('position', $P.Position)
    $W.WriteAttributeString('aliases', $P.Aliases)
    $W.WriteElementString('maml', 'name', $maml, $P.Name)
    Add-Paras $W $P.Description
    if ($P.Type -ne 'SwitchParameter') {
        $W.WriteStartElement('command', 'parameterValue', $command)
        $W.WriteAttributeString('required', 'true')
        $W.WriteAttributeString('variableLength', 'false')
        $W.WriteString($P.Type)
        $W.WriteEndElement()
    }
    $W.WriteStartElement('dev', 'type', $dev)
    $W.WriteElementString('maml', 'name', $maml, $P.Type)
    $W.WriteElementString('maml', 'uri', $maml, '')
    $W.WriteEndElement()
    $W.WriteElementString('dev', 'defaultValue', $dev, $P.Default)
    $W.WriteEndElement()
}

function Write-Command([System.Xml.XmlWriter] $W, [string] $Path) {
    $sections = Get-Sections (Read-Page $Path)
    $name = $sections['#NAME'][0].Text
    foreach ($required in 'SYNOPSIS', 'SYNTAX', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS') {
        if (-not $sections.Contains($required)) { throw "${Path}: section '## $required' missing" }
    }

    $parameters = [ordered]@{}
    foreach ($sub in Get-Subsections $sections['PARAMETERS']) {
        if ($sub.Name -eq 'CommonParameters') { continue }
        $yaml = $sub.Items | Where-Object { $_.Kind -eq 'Code' -and $_.Info -eq 'yaml' } | Select-Object -First 1
        if (-not $yaml) { throw "${Path}: parameter $($sub.Name) has no yaml block" }
        $y = ConvertFrom-YamlBlock $yaml.Text
        $pname = $sub.Name.TrimStart('-')
        $position = if ($y['Position'] -and $y['Position'] -ne 'Named') { $y['Position'] } else { 'named' }
        $parameters[$pname] = [pscustomobject]@{
            Name        = $pname
            Description = @(Get-Paragraphs ($sub.Items | Where-Object { $_ -ne $yaml }))
            Type        = $y['Type']
            Sets        = @(($y['Parameter Sets'] ?? '(All)') -split ',\s*')
            Aliases     = if ($y['Aliases']) { $y['Aliases'] } else { 'none' }
            Required    = $y['Required'] -eq 'True'
            Position    = $position
            Default     = if ($y['Default value']) { $y['Default value'] } else { 'None' }
            Pipeline    = if ($y['Accept pipeline input']) { $y['Accept pipeline input'] } else { 'False' }
            Globbing    = $y['Accept wildcard characters'] -eq 'True'
        }
    }

    $W.WriteStartElement('command', 'command', $command)
    $W.WriteAttributeString('xmlns', 'maml', $null, $maml)
    $W.WriteAttributeString('xmlns', 'dev', $null, $dev)
    $W.WriteStartElement('command', 'details', $command)
    $W.WriteElementString('command', 'name', $command, $name)
    $W.WriteElementString('command', 'verb', $command, $name.Split('-')[0])
    $W.WriteElementString('command', 'noun', $command, $name.Split('-', 2)[1])
    Add-Paras $W @(Get-Paragraphs $sections['SYNOPSIS'])
    $W.WriteEndElement()
    Add-Paras $W @(Get-Paragraphs $sections['DESCRIPTION'])

    # One syntax item per parameter set, parameters in the order the page's SYNTAX block lists them. A cmdlet with one
    # parameter set has no "### Set" subsections: its SYNTAX section is that one set.
    $W.WriteStartElement('command', 'syntax', $command)
    $sets = @(Get-Subsections $sections['SYNTAX'])
    if (-not $sets) { $sets = @([pscustomobject]@{ Name = ''; Items = $sections['SYNTAX'] }) }
    foreach ($set in $sets) {
        $code = $set.Items | Where-Object Kind -eq 'Code' | Select-Object -First 1
        if (-not $code) { throw "${Path}: SYNTAX has no code block" }
        $W.WriteStartElement('command', 'syntaxItem', $command)
        $W.WriteElementString('maml', 'name', $maml, $name)
        foreach ($m in [regex]::Matches($code.Text, '(?<=[\s\[])-(\w+)')) {
            $p = $parameters[$m.Groups[1].Value]
            if ($p) { Write-Parameter $W $p }
        }
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'parameters', $command)
    foreach ($p in $parameters.Values) { Write-Parameter $W $p }
    $W.WriteEndElement()

    foreach ($kind in @(@('INPUTS', 'inputTypes', 'inputType'), @('OUTPUTS', 'returnValues', 'returnValue'))) {
        if (-not $sections.Contains($kind[0])) { continue }
        $W.WriteStartElement('command', $kind[1], $command)
        foreach ($sub in Get-Subsections $sections[$kind[0]]) {
            $W.WriteStartElement('command', $kind[2], $command)
            $W.WriteStartElement('dev', 'type', $dev)
            $W.WriteElementString('maml', 'name', $maml, $sub.Name)
            $W.WriteEndElement()
            Add-Paras $W @(Get-Paragraphs $sub.Items)
            $W.WriteEndElement()
        }
        $W.WriteEndElement()
    }

    if ($sections.Contains('NOTES')) {
        $W.WriteStartElement('maml', 'alertSet', $maml)
        $W.WriteStartElement('maml', 'alert', $maml)
        foreach ($p in Get-Paragraphs $sections['NOTES']) { $W.WriteElementString('maml', 'para', $maml, $p) }
        $W.WriteEndElement()
        $W.WriteEndElement()
    }

    $W.WriteStartElement('command', 'examples', $command)
    foreach ($ex in Get-Subsections $sections['EXAMPLES']) {
        $code = @($ex.Items | Where-Object Kind -eq 'Code')
        $W.WriteStartElement('command', 'example', $command)
        $W.WriteElementString('maml', 'title', $maml, "--------- $($ex.Name) ---------")
        $W.WriteElementString('dev', 'code', $dev, (($code | ForEach-Object Text) -join "`n"))
        $W.WriteStartElement('dev', 'remarks', $dev)
        foreach ($p in Get-Paragraphs ($ex.Items | Where-Object Kind -eq 'Text')) { $W.WriteElementString('maml', 'para', $maml, $p) }
        $W.WriteEndElement()
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    # Get-Help -Online opens the first link with a URI: the page's online version, as PlatyPS puts it. Links to other
    # pages (Get-PbsSnapshot.md, about_PbsDatastore.md) point at the same pages online.
    $W.WriteStartElement('command', 'relatedLinks', $command)
    $links = [System.Collections.Generic.List[object]]::new()
    $links.Add(@('Online Version:', (Get-OnlineUri $Path)))
    if ($sections.Contains('RELATED LINKS')) {
        foreach ($item in $sections['RELATED LINKS'] | Where-Object Kind -eq 'Text') {
            foreach ($line in $item.Text -split "`n") {
                if ($line -notmatch '^\s*(?:[-*]\s*)?(?:\[([^\]]+)\]\(([^)]*)\)|(\S.*))\s*$') { continue }
                $text, $uri = ($Matches[1] ?? $Matches[3]), ($Matches[2] ?? '')
                if ($uri -match '^[\w.-]+\.md$') { $uri = "$DocsUri/$uri" }
                $links.Add(@($text, $uri))
            }
        }
    }
    foreach ($link in $links) {
        $W.WriteStartElement('maml', 'navigationLink', $maml)
        $W.WriteElementString('maml', 'linkText', $maml, $link[0])
        $W.WriteElementString('maml', 'uri', $maml, $link[1])
        $W.WriteEndElement()
    }
    $W.WriteEndElement()
    $W.WriteEndElement()
}

# about_ topics: headings upper-cased at the margin, everything else indented four spaces (the about_ layout).
function ConvertTo-AboutText([string] $Path) {
    $sb = [System.Text.StringBuilder]::new()
    foreach ($item in Read-Page $Path) {
        switch ($item.Kind) {
            'Heading' {
                if ($item.Level -eq 1) { $null = $sb.AppendLine('TOPIC').AppendLine("    $($item.Text)").AppendLine() }
                else { $null = $sb.AppendLine($item.Text.ToUpperInvariant()) }
            }
            'Code' { foreach ($l in $item.Text -split "`n") { $null = $sb.AppendLine("        $l".TrimEnd()) }; $null = $sb.AppendLine() }
            default {
                foreach ($l in $item.Text -split "`n") { $null = $sb.AppendLine(("    " + (ConvertTo-PlainText $l)).TrimEnd()) }
                $null = $sb.AppendLine()
            }
        }
    }
    return $sb.ToString()
}

$settings = [System.Xml.XmlWriterSettings]@{ Indent = $true; Encoding = [System.Text.UTF8Encoding]::new($false) }
$writer = [System.Xml.XmlWriter]::Create((Join-Path $outDir 'PbsDatastore.dll-Help.xml'), $settings)
try {
    $writer.WriteStartDocument()
    $writer.WriteStartElement('helpItems', 'http://msh')
    $writer.WriteAttributeString('schema', 'maml')
    foreach ($page in Get-ChildItem $docs -Filter '*-*.md' | Sort-Object Name) { Write-Command $writer $page.FullName }
    $writer.WriteEndElement()
    $writer.WriteEndDocument()
}
finally { $writer.Dispose() }

foreach ($about in Get-ChildItem $docs -Filter 'about_*.md') {
    Set-Content (Join-Path $outDir ($about.BaseName + '.help.txt')) (ConvertTo-AboutText $about.FullName) -NoNewline
}
