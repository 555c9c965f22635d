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
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData) => ToDirectoryName(inputData);

    /// <summary>The directory-name form of a time; anything else (a directory name) is returned as it is.</summary>
    public static string ToDirectoryName(object input)
    {
        var value = input is PSObject pso ? pso.BaseObject : input;
        return value switch
        {
            DateTimeOffset dto => BackupTime.Format(dto.ToUnixTimeSeconds()),
            DateTime dt => BackupTime.Format(new DateTimeOffset(dt.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(dt, DateTimeKind.Local) : dt).ToUnixTimeSeconds()),
            long or int => BackupTime.Format(Convert.ToInt64(value)),
            _ => value?.ToString()!,
        };
    }
}
