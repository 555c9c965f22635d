using System.Globalization;

namespace PbsDatastore.Core.Maintenance;

/// <summary>PBS's prune selection (<c>compute_prune_info</c>, spec §9.2) for the snapshots of one group.</summary>
public static class PruneSelection
{
    /// <summary>
    /// Marks every snapshot of one group, newest first as PBS returns them. Period keys use
    /// <paramref name="timeZone"/> (default: the local zone, as PBS uses the server's). The caller handles
    /// "no option keeps something" (PBS then keeps everything; <see cref="PruneOptions.KeepsSomething"/>).
    /// </summary>
    public static IReadOnlyList<PruneEntry<T>> Compute<T>(
        IEnumerable<T> snapshots, Func<T, PruneCandidate> describe, PruneOptions options, TimeZoneInfo? timeZone = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var zone = timeZone ?? TimeZoneInfo.Local;
        var list = snapshots.Select(s => (Snapshot: s, Candidate: describe(s)))
            .OrderByDescending(s => s.Candidate.BackupTime)
            .ToArray();
        var marks = new PruneMark?[list.Length];
        var keptBy = new PruneRule?[list.Length];

        // Only the newest snapshot may be an unfinished backup still in progress; older unfinished ones are debris.
        var keepUnfinished = true;
        for (var i = 0; i < list.Length; i++)
        {
            if (!list[i].Candidate.IsFinished)
                marks[i] = keepUnfinished ? PruneMark.KeepPartial : PruneMark.Remove;
            keepUnfinished = false;
        }

        var locals = new Lazy<DateTime[]>(() => list.Select(s => LocalTime(s.Candidate.BackupTime, zone)).ToArray());
        foreach (var rule in Enum.GetValues<PruneRule>())
        {
            if (options[rule] is not int count)
                continue;
            // keep-last's key is the snapshot itself (PBS uses its unique time string).
            Func<int, long> key = rule == PruneRule.KeepLast ? i => i : i => PeriodKey(rule, locals.Value[i]);
            MarkSelections(list, marks, keptBy, rule, count, key);
        }

        var result = new PruneEntry<T>[list.Length];
        for (var i = 0; i < list.Length; i++)
        {
            var (snapshot, candidate) = list[i];
            var mark = candidate.IsProtected ? PruneMark.Protected : marks[i] ?? PruneMark.Remove;
            result[i] = new PruneEntry<T>(snapshot, candidate, mark, mark == PruneMark.Keep ? keptBy[i] : null);
        }
        return result;
    }

    private static void MarkSelections<T>((T Snapshot, PruneCandidate Candidate)[] list, PruneMark?[] marks,
        PruneRule?[] keptBy, PruneRule rule, int count, Func<int, long> key)
    {
        // Periods already covered by an earlier rule's keep do not use up this rule's slots.
        var already = new HashSet<long>();
        for (var i = 0; i < list.Length; i++)
            if (marks[i] == PruneMark.Keep)
                already.Add(key(i));

        var chosen = new HashSet<long>();
        for (var i = 0; i < list.Length; i++)
        {
            if (marks[i] is not null)
                continue;
            if (list[i].Candidate.IsProtected)
            {
                marks[i] = PruneMark.Protected;
                continue;
            }
            var k = key(i);
            if (already.Contains(k))
                continue;
            if (chosen.Contains(k))
            {
                // An older snapshot of a period this rule kept: final, later rules skip it.
                marks[i] = PruneMark.Remove;
                continue;
            }
            if (chosen.Count >= count)
                return;
            chosen.Add(k);
            marks[i] = PruneMark.Keep;
            keptBy[i] = rule;
        }
    }

    private static long PeriodKey(PruneRule rule, DateTime local) => rule switch
    {
        PruneRule.KeepHourly => ((local.Year * 100L + local.Month) * 100 + local.Day) * 100 + local.Hour,
        PruneRule.KeepDaily => (local.Year * 100L + local.Month) * 100 + local.Day,
        PruneRule.KeepWeekly => ISOWeek.GetYear(local) * 100L + ISOWeek.GetWeekOfYear(local),
        PruneRule.KeepMonthly => local.Year * 100L + local.Month,
        PruneRule.KeepYearly => local.Year,
        _ => throw new ArgumentOutOfRangeException(nameof(rule)),
    };

    private static DateTime LocalTime(long backupTime, TimeZoneInfo zone)
    {
        try
        {
            return TimeZoneInfo.ConvertTime(DateTimeOffset.FromUnixTimeSeconds(backupTime), zone).DateTime;
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new PbsException("BackupTimeOutOfRange", PbsErrorKind.InvalidData,
                $"backup time {backupTime} cannot be converted to local time", backupTime, e);
        }
    }
}
