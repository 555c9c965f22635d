using System.Text;

namespace PbsDatastore.Core.Maintenance;

/// <summary>The six keep rules, in the fixed order PBS applies them.</summary>
public enum PruneRule
{
    KeepLast,
    KeepHourly,
    KeepDaily,
    KeepWeekly,
    KeepMonthly,
    KeepYearly,
}

/// <summary>
/// PBS's keep options (keep-last … keep-yearly). A null value means the rule is not set; 0 is accepted because
/// PBS's algorithm accepts it (the API's minimum of 1 is the caller's business).
/// </summary>
public sealed record PruneOptions
{
    private readonly int? _keepLast, _keepHourly, _keepDaily, _keepWeekly, _keepMonthly, _keepYearly;

    public int? KeepLast { get => _keepLast; init => _keepLast = Checked(value, "keep-last"); }
    public int? KeepHourly { get => _keepHourly; init => _keepHourly = Checked(value, "keep-hourly"); }
    public int? KeepDaily { get => _keepDaily; init => _keepDaily = Checked(value, "keep-daily"); }
    public int? KeepWeekly { get => _keepWeekly; init => _keepWeekly = Checked(value, "keep-weekly"); }
    public int? KeepMonthly { get => _keepMonthly; init => _keepMonthly = Checked(value, "keep-monthly"); }
    public int? KeepYearly { get => _keepYearly; init => _keepYearly = Checked(value, "keep-yearly"); }

    /// <summary>The value of one rule (null when not set).</summary>
    public int? this[PruneRule rule] => rule switch
    {
        PruneRule.KeepLast => KeepLast,
        PruneRule.KeepHourly => KeepHourly,
        PruneRule.KeepDaily => KeepDaily,
        PruneRule.KeepWeekly => KeepWeekly,
        PruneRule.KeepMonthly => KeepMonthly,
        PruneRule.KeepYearly => KeepYearly,
        _ => throw new ArgumentOutOfRangeException(nameof(rule)),
    };

    /// <summary>
    /// PBS's <c>keeps_something</c>: some rule has a value above 0. When false, PBS's prune operations keep
    /// everything (<c>No prune selection - keeping all files.</c>) instead of applying the marks.
    /// </summary>
    public bool KeepsSomething => Enum.GetValues<PruneRule>().Any(r => this[r] > 0);

    /// <summary>The <c>--keep-… n</c> part of PBS's <c>retention options:</c> log line (only values above 0).</summary>
    public string ToRetentionString()
    {
        var text = new StringBuilder();
        foreach (var rule in Enum.GetValues<PruneRule>())
        {
            if (this[rule] is int n && n > 0)
                text.Append(text.Length == 0 ? "" : " ").Append("--").Append(rule.ToPbsName()).Append(' ').Append(n);
        }
        return text.ToString();
    }

    private static int? Checked(int? value, string name) => value is < 0
        ? throw new PbsException("InvalidPruneOption", PbsErrorKind.InvalidArgument, $"{name} must not be negative ({value})", name)
        : value;
}

public static class PruneRuleExtensions
{
    /// <summary>The option name PBS uses (<c>keep-last</c>, <c>keep-hourly</c>, …).</summary>
    public static string ToPbsName(this PruneRule rule) => rule switch
    {
        PruneRule.KeepLast => "keep-last",
        PruneRule.KeepHourly => "keep-hourly",
        PruneRule.KeepDaily => "keep-daily",
        PruneRule.KeepWeekly => "keep-weekly",
        PruneRule.KeepMonthly => "keep-monthly",
        PruneRule.KeepYearly => "keep-yearly",
        _ => throw new ArgumentOutOfRangeException(nameof(rule)),
    };
}
