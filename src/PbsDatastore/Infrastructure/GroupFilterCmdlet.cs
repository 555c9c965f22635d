using System.Management.Automation;
using PbsDatastore.Completion;

namespace PbsDatastore.Infrastructure;

/// <summary>
/// The group filter shared by the listing cmdlets: datastore and namespace, and optional backup type and id
/// (wildcards allowed), all bindable from the pipeline by property name.
/// </summary>
public abstract class GroupFilterCmdlet : NamespaceScopedCmdlet
{
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateSet("ct", "host", "vm")]
    [Alias("Type")]
    public string? BackupType { get; set; }

    [Parameter(Position = 2, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(BackupIdCompleter))]
    [SupportsWildcards]
    [Alias("Id")]
    public string? BackupId { get; set; }
}
