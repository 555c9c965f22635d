using System.Collections;
using System.Management.Automation;
using System.Text.Json.Nodes;
using PbsDatastore.Core;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Infrastructure;
using PbsDatastore.Objects;

namespace PbsDatastore.Cmdlets;

/// <summary>
/// PBS's update_manifest: manifest lock (up to 5 s), load, modify, atomic replace. A scriptblock receives the
/// manifest as `$_` (and first argument); -Notes and -Property edit `unprotected` members. For a signed
/// (encrypted) snapshot only `unprotected` may change; anything else is refused and nothing is written.
/// </summary>
[Cmdlet(VerbsData.Update, "PbsManifest", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Edit")]
[OutputType(typeof(ManifestInfo))]
public sealed class UpdatePbsManifest : PbsCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [IdentityTransformation(typeof(BackupSnapshot))]
    public BackupSnapshot BackupSnapshot { get; set => field = Hold(value); } = null!;

    /// <summary>Runs with the manifest (BackupManifest) as `$_` while the manifest lock is held.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "ScriptBlock")]
    public ScriptBlock ScriptBlock { get; set; } = null!;

    /// <summary>Snapshot notes (`unprotected.notes`); `$null` removes them.</summary>
    [Parameter(ParameterSetName = "Edit")]
    [AllowNull, AllowEmptyString]
    public string? Notes { get; set; }

    /// <summary>`unprotected` members to set (strings, numbers, booleans, hashtables, arrays); a `$null` value removes the member.</summary>
    [Parameter(ParameterSetName = "Edit")]
    public Hashtable? Property { get; set; }

    /// <summary>How long to wait for the manifest lock, in seconds (PBS's own wait: 5).</summary>
    [Parameter]
    [ValidateRange(0, 3600)]
    public double LockTimeout { get; set; } = 5;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var s = BackupSnapshot;
        if (!ShouldProcess(s.ManifestPath, "Update manifest")) return;
        TryInvoke(s.ManifestPath, () =>
        {
            s.UpdateManifest(Modify, TimeSpan.FromSeconds(LockTimeout));
            if (PassThru) WriteObject(Readers.Manifest(s));
        });
    }

    private void Modify(BackupManifest manifest)
    {
        if (ParameterSetName == "ScriptBlock")
        {
            try { ScriptBlock.InvokeWithContext(null, [new PSVariable("_", manifest)], manifest); }
            catch (RuntimeException e)
            {
                throw new PbsException("ManifestScriptFailed", PbsErrorKind.InvalidOperation,
                    $"the manifest script failed, nothing was written: {e.Message}", BackupSnapshot.ManifestPath, e);
            }
            return;
        }
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Notes))) manifest.Notes = Notes;
        if (Property == null) return;
        foreach (DictionaryEntry e in Property)
        {
            var key = e.Key?.ToString() ?? "";
            var value = ToJson(e.Value, key);
            if (value == null) manifest.Unprotected.Remove(key);
            else manifest.Unprotected[key] = value;
        }
    }

    private static JsonNode? ToJson(object? value, string key)
    {
        value = value is PSObject p ? p.BaseObject : value;
        return value switch
        {
            null => null,
            string s => JsonValue.Create(s),
            bool b => JsonValue.Create(b),
            byte or sbyte or short or ushort or int or uint or long => JsonValue.Create(Convert.ToInt64(value)),
            ulong u => JsonValue.Create(u),
            float or double or decimal => JsonValue.Create(Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture)),
            JsonNode n => n.DeepClone(),
            IDictionary d => new JsonObject(d.Cast<DictionaryEntry>().Select(x =>
                KeyValuePair.Create<string, JsonNode?>(x.Key?.ToString() ?? "", ToJson(x.Value, key) ?? throw NullInside(key)))),
            IEnumerable list => new JsonArray(list.Cast<object?>().Select(x => ToJson(x, key) ?? throw NullInside(key)).ToArray()),
            _ => throw new PbsException("InvalidManifestProperty", PbsErrorKind.InvalidArgument,
                $"manifest property '{key}': cannot store a {value.GetType().Name} (use strings, numbers, booleans, hashtables or arrays)", key),
        };
    }

    private static PbsException NullInside(string key)
        => new("InvalidManifestProperty", PbsErrorKind.InvalidArgument, $"manifest property '{key}': null is only allowed as the whole value (removes it)", key);
}
