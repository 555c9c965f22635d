using System.Management.Automation;
using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Infrastructure;

/// <summary>
/// -BackupTime takes the snapshot directory name (2024-03-01T10:00:00Z), a DateTime/DateTimeOffset or epoch
/// seconds; everything becomes the directory-name form the core parses with PBS's rules.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class BackupTimeTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject pso ? pso.BaseObject : inputData;
        return value switch
        {
            DateTimeOffset dto => BackupTime.Format(dto.ToUnixTimeSeconds()),
            DateTime dt => BackupTime.Format(new DateTimeOffset(dt.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(dt, DateTimeKind.Local) : dt).ToUnixTimeSeconds()),
            long or int => BackupTime.Format(Convert.ToInt64(value)),
            _ => value!,
        };
    }
}
