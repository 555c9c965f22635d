using System.Globalization;

namespace PbsDatastore.Core.Maintenance;

/// <summary>PBS's verify progress over groups and the snapshots of the current group (spec §8.6).</summary>
public readonly record struct StoreProgress(int DoneGroups, int TotalGroups, int DoneSnapshots, int GroupSnapshots)
{
    /// <summary>0 … 1: done groups plus the done share of the current group.</summary>
    public double Percentage
    {
        get
        {
            if (TotalGroups == 0)
                return 0;
            var p = (double)DoneGroups / TotalGroups;
            if (GroupSnapshots > 0)
                p += 1.0 / TotalGroups * ((double)DoneSnapshots / GroupSnapshots);
            return p;
        }
    }

    /// <summary>PBS's display, e.g. <c>42.86% (3/7 groups, 1/2 snapshots in group #4)</c>.</summary>
    public override string ToString()
    {
        var p = (Percentage * 100).ToString("F2", CultureInfo.InvariantCulture);
        var current = DoneGroups < TotalGroups ? DoneGroups + 1 : DoneGroups;
        if (GroupSnapshots == 0)
            return $"{p}% ({DoneGroups}/{TotalGroups} groups)";
        if (TotalGroups == 1)
            return $"{p}% ({DoneSnapshots}/{GroupSnapshots} snapshots)";
        if (DoneSnapshots == GroupSnapshots)
            return $"{p}% ({current}/{TotalGroups} groups)";
        return $"{p}% ({DoneGroups}/{TotalGroups} groups, {DoneSnapshots}/{GroupSnapshots} snapshots in group #{current})";
    }
}
