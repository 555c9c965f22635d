using System.Management.Automation;
using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Infrastructure;

/// <summary>How the move cmdlets report a move: an error per group that stayed, the results with -PassThru.</summary>
internal static class MoveResults
{
    public static void Write(Cmdlet cmdlet, MoveResult result, bool passThru)
    {
        foreach (var g in result.Groups)
        {
            if (g.Failure is { } failure) cmdlet.WriteError(ErrorRecords.From(failure, g.Source.FullPath));
            if (passThru) cmdlet.WriteObject(g);
        }
    }
}
