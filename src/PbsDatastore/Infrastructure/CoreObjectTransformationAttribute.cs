using System.Collections;
using System.Management.Automation;
using PbsDatastore.Objects;

namespace PbsDatastore.Infrastructure;

/// <summary>
/// Lets -BackupGroup, -BackupSnapshot and -BackupNamespace take the Get- cmdlets' objects as an argument too
/// (<c>-BackupGroup (Get-PbsBackupGroup store1 vm)</c>), not only from the pipeline by property name.
/// Anything else passes unchanged, for PowerShell's own conversion and binding.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class CoreObjectTransformationAttribute : ArgumentTransformationAttribute
{
    public override object? Transform(EngineIntrinsics engineIntrinsics, object? inputData)
    {
        var value = inputData is PSObject pso ? pso.BaseObject : inputData;
        if (value is IList list)
        {
            var items = new object?[list.Count];
            var changed = false;
            for (var i = 0; i < items.Length; i++)
            {
                items[i] = Unwrap(list[i]);
                changed |= !ReferenceEquals(items[i], list[i]);
            }
            return changed ? items : inputData;
        }
        return Unwrap(inputData);
    }

    private static object? Unwrap(object? item) => (item is PSObject p ? p.BaseObject : item) switch
    {
        SnapshotInfo s => s.BackupSnapshot,
        BackupGroupInfo g => g.BackupGroup,
        NamespaceInfo n => n.BackupNamespace,
        _ => item,
    };
}
