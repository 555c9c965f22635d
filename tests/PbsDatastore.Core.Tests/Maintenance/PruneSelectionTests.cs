using System.Globalization;
using System.Text.Json.Nodes;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Maintenance;

/// <summary>
/// PBS's compute_prune_info: the fixture's prune_vectors (made by PBS with TZ=UTC) and PBS's tests/prune.rs (spec
/// §9.4), evaluated in UTC and, with the inputs shifted by the zone's offset, in fixed-offset zones of both signs
/// (same local keys, so the same marks are expected). DST behaviour is checked separately.
/// </summary>
public class PruneSelectionTests
{
    /// <summary>Zones without DST over the test data (Nepal since 1986, Colombia since 1993).</summary>
    public static readonly string[] Zones = ["UTC", "Asia/Kathmandu", "America/Bogota"];

    private static JsonArray Vectors => ReferenceStore.Expected["prune_vectors"]!.AsArray();

    public static TheoryData<string, string> VectorCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var vector in Vectors)
            foreach (var zone in Zones)
                data.Add((string)vector!["name"]!, zone);
        return data;
    }

    [Fact]
    public void FixtureHasTheElevenVectors() => Assert.Equal(11, Vectors.Count);

    [Theory]
    [MemberData(nameof(VectorCases))]
    public void PruneVectorGivesPbsMarks(string name, string zoneId)
    {
        var vector = Vectors.Single(v => (string)v!["name"]! == name)!;
        Assert.Equal("UTC", (string)vector["output"]!["tz"]!);
        var input = vector["input"]!.AsObject();
        var candidates = input["backups"]!.AsArray().Select(b => b is JsonObject o
            ? new PruneCandidate((long)o["time"]!, (bool?)o["finished"] ?? true, (bool?)o["protected"] ?? false)
            : new PruneCandidate((long)b!, true, false)).ToList();
        var options = new PruneOptions
        {
            KeepLast = (int?)input["keep-last"],
            KeepHourly = (int?)input["keep-hourly"],
            KeepDaily = (int?)input["keep-daily"],
            KeepWeekly = (int?)input["keep-weekly"],
            KeepMonthly = (int?)input["keep-monthly"],
            KeepYearly = (int?)input["keep-yearly"],
        };
        var output = vector["output"]!;
        Assert.Equal((bool)output["keeps_something"]!, options.KeepsSomething);

        var zone = TimeZoneInfo.FindSystemTimeZoneById(zoneId);
        var plan = PruneSelection.Compute(candidates, c => Shift(c, zone), options, zone);

        var expected = output["results"]!.AsArray();
        Assert.Equal(expected.Count, plan.Count);
        for (var i = 0; i < plan.Count; i++)
        {
            var e = expected[i]!;
            var at = $"{name} #{i} {(string)e["time_string"]!}";
            Assert.True((long)e["time"]! == plan[i].Snapshot.BackupTime, at);
            Assert.True((bool)e["finished"]! == plan[i].Candidate.IsFinished, at);
            Assert.True((bool)e["protected"]! == plan[i].Candidate.IsProtected, at);
            Assert.True((string)e["mark"]! == plan[i].Mark.ToPbsName(), $"{at}: {plan[i].Mark.ToPbsName()}");
            Assert.True((bool)e["keep"]! == (!options.KeepsSomething || plan[i].Keep), at);
            Assert.Equal(plan[i].Mark == PruneMark.Keep, plan[i].KeptBy is not null);
        }
    }

    // ---- spec §9.4: PBS tests/prune.rs and the additional examples -----------------------------------------

    public sealed record Case(string Name, string[] Input, PruneOptions Options, string[]? Removed = null,
        string[]? Kept = null, string[]? Marks = null)
    {
        public override string ToString() => Name;
    }

    private static readonly string[] Protected = ["2019-11-15T09:39:15Z P", "2019-11-15T10:39:15Z", "2019-11-15T10:49:15Z", "2019-11-15T10:59:15Z P"];
    private static readonly string[] Hourly = ["2019-11-15T09:39:15Z", "2019-11-15T10:49:15Z", "2019-11-15T10:59:15Z", "2019-11-15T11:39:15Z", "2019-11-15T11:49:15Z", "2019-11-15T11:59:15Z"];
    private static readonly string[] Simple2 = ["2018-11-15T11:59:15Z", "2019-11-15T11:59:15Z", "2019-11-21T11:59:15Z", "2019-11-22T11:59:15Z", "2019-11-29T11:59:15Z", "2019-12-01T11:59:15Z", "2019-12-02T11:59:15Z", "2019-12-03T11:59:15Z", "2019-12-04T11:59:15Z"];
    private static readonly string[] Simple = ["2019-12-02T11:59:15Z", "2019-12-03T11:59:15Z", "2019-12-04T11:59:15Z", "2019-12-04T12:59:15Z"];
    private static readonly string[] AllButNewest = ["2019-12-02T11:59:15Z", "2019-12-03T11:59:15Z", "2019-12-04T11:59:15Z"];

    public static readonly Case[] SpecCases =
    [
        new("A keep-last 1", Protected, new() { KeepLast = 1 }, Removed: ["2019-11-15T10:39:15Z"], Marks: ["protected", "keep", "remove", "protected"]),
        new("A keep-hourly 1", Protected, new() { KeepHourly = 1 }, Removed: ["2019-11-15T10:39:15Z"], Marks: ["protected", "keep", "remove", "protected"]),
        new("B keep-hourly 3", Hourly, new() { KeepHourly = 3 }, Removed: ["2019-11-15T10:49:15Z", "2019-11-15T11:39:15Z", "2019-11-15T11:49:15Z"], Kept: ["2019-11-15T09:39:15Z", "2019-11-15T10:59:15Z", "2019-11-15T11:59:15Z"]),
        new("B keep-hourly 2", Hourly, new() { KeepHourly = 2 }, Kept: ["2019-11-15T10:59:15Z", "2019-11-15T11:59:15Z"]),
        new("C daily 1", Simple2, new() { KeepDaily = 1 }, Kept: ["2019-12-04T11:59:15Z"]),
        new("C last 1 daily 1", Simple2, new() { KeepLast = 1, KeepDaily = 1 }, Kept: ["2019-12-03T11:59:15Z", "2019-12-04T11:59:15Z"]),
        new("C daily 1 weekly 1", Simple2, new() { KeepDaily = 1, KeepWeekly = 1 }, Kept: ["2019-12-01T11:59:15Z", "2019-12-04T11:59:15Z"]),
        new("C daily 1 weekly 1 monthly 1", Simple2, new() { KeepDaily = 1, KeepWeekly = 1, KeepMonthly = 1 }, Kept: ["2019-11-22T11:59:15Z", "2019-12-01T11:59:15Z", "2019-12-04T11:59:15Z"]),
        new("C monthly 1 yearly 1", Simple2, new() { KeepMonthly = 1, KeepYearly = 1 }, Kept: ["2018-11-15T11:59:15Z", "2019-12-04T11:59:15Z"]),
        new("D last 4", Simple, new() { KeepLast = 4 }, Removed: []),
        new("D last 3", Simple, new() { KeepLast = 3 }, Removed: ["2019-12-02T11:59:15Z"]),
        new("D last 2", Simple, new() { KeepLast = 2 }, Removed: ["2019-12-02T11:59:15Z", "2019-12-03T11:59:15Z"]),
        new("D last 1", Simple, new() { KeepLast = 1 }, Removed: AllButNewest),
        new("D last 0", Simple, new() { KeepLast = 0 }, Removed: Simple),
        new("D last 2 daily 2", Simple, new() { KeepLast = 2, KeepDaily = 2 }, Removed: []),
        new("D daily 3", Simple, new() { KeepDaily = 3 }, Removed: ["2019-12-04T11:59:15Z"]),
        new("D daily 2", Simple, new() { KeepDaily = 2 }, Removed: ["2019-12-02T11:59:15Z", "2019-12-04T11:59:15Z"]),
        new("D weekly 5", Simple, new() { KeepWeekly = 5 }, Removed: AllButNewest),
        new("D daily 1 weekly 5", Simple, new() { KeepDaily = 1, KeepWeekly = 5 }, Removed: AllButNewest),
        new("D monthly 6", Simple, new() { KeepMonthly = 6 }, Removed: AllButNewest),
        new("D yearly 7", Simple, new() { KeepYearly = 7 }, Removed: AllButNewest),
        new("D weekly 5 monthly 6 yearly 7", Simple, new() { KeepWeekly = 5, KeepMonthly = 6, KeepYearly = 7 }, Removed: AllButNewest),
        new("extra unfinished", ["2019-12-04T12:59:15Z U", "2019-12-04T11:59:15Z", "2019-12-03T11:59:15Z U", "2019-12-02T11:59:15Z"], new() { KeepLast = 1 }, Marks: ["keep-partial", "keep", "remove", "remove"]),
        new("extra unfinished protected", ["2019-12-04T12:59:15Z U P", "2019-12-04T11:59:15Z"], new() { KeepLast = 1 }, Marks: ["protected", "keep"]),
        new("extra protected no slot", ["2019-12-04T11:59:15Z", "2019-12-03T11:59:15Z P", "2019-12-02T11:59:15Z"], new() { KeepDaily = 2 }, Marks: ["keep", "protected", "keep"]),
    ];

    public static TheoryData<string, string> SpecCaseNames()
    {
        var data = new TheoryData<string, string>();
        foreach (var c in SpecCases)
            foreach (var zone in Zones)
                data.Add(c.Name, zone);
        return data;
    }

    [Theory]
    [MemberData(nameof(SpecCaseNames))]
    public void SpecCaseGivesPbsMarks(string name, string zoneId)
    {
        var c = SpecCases.Single(x => x.Name == name);
        var zone = TimeZoneInfo.FindSystemTimeZoneById(zoneId);
        var input = c.Input.Select(s =>
        {
            var parts = s.Split(' ');
            return (Time: parts[0], Candidate: new PruneCandidate(Epoch(parts[0]), !parts.Contains("U"), parts.Contains("P")));
        }).ToList();

        var plan = PruneSelection.Compute(input, s => Shift(s.Candidate, zone), c.Options, zone);

        var oldestFirst = plan.Reverse().ToList();
        if (c.Removed is not null)
            Assert.Equal(c.Removed, oldestFirst.Where(e => !e.Keep).Select(e => e.Snapshot.Time));
        if (c.Kept is not null)
            Assert.Equal(c.Kept, oldestFirst.Where(e => e.Keep).Select(e => e.Snapshot.Time));
        if (c.Marks is not null)
            Assert.Equal(c.Marks, plan.Select(e => e.Mark.ToPbsName()));
    }

    // ---- local time with DST: PBS converts each backup time to local time, so keys follow the wall clock ----

    [Fact]
    public void DayBoundaryFollowsTheLocalZone()
    {
        var berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        // 2024-01-14T23:59:59Z and 2024-01-15T00:00:00Z are one local day (CET, +01:00) in Berlin.
        var times = new[] { "2024-01-13T18:30:00Z", "2024-01-14T18:30:00Z", "2024-01-14T23:59:59Z", "2024-01-15T00:00:00Z" };
        var options = new PruneOptions { KeepDaily = 3 };
        Assert.Equal(["2024-01-15T00:00:00Z", "2024-01-14T23:59:59Z", "2024-01-13T18:30:00Z"], Kept(times, options, TimeZoneInfo.Utc));
        Assert.Equal(["2024-01-15T00:00:00Z", "2024-01-14T18:30:00Z", "2024-01-13T18:30:00Z"], Kept(times, options, berlin));
    }

    [Fact]
    public void RepeatedHourAtDstEndIsOneHourlyPeriod()
    {
        var berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        // 2023-10-29 00:30Z = 02:30 CEST and 01:30Z = 02:30 CET: the same local hour.
        var times = new[] { "2023-10-28T23:30:00Z", "2023-10-29T00:30:00Z", "2023-10-29T01:30:00Z", "2023-10-29T02:30:00Z" };
        var options = new PruneOptions { KeepHourly = 3 };
        Assert.Equal(["2023-10-29T02:30:00Z", "2023-10-29T01:30:00Z", "2023-10-29T00:30:00Z"], Kept(times, options, TimeZoneInfo.Utc));
        Assert.Equal(["2023-10-29T02:30:00Z", "2023-10-29T01:30:00Z", "2023-10-28T23:30:00Z"], Kept(times, options, berlin));
    }

    [Fact]
    public void IsoWeekFollowsTheLocalZone()
    {
        var tokyo = TimeZoneInfo.FindSystemTimeZoneById("Asia/Tokyo");
        // Sunday 2021-01-03T20:00Z is Monday 05:00 in Tokyo: ISO week 2021/01 there, 2020/53 in UTC.
        var times = new[] { "2021-01-03T10:00:00Z", "2021-01-03T20:00:00Z", "2021-01-04T10:00:00Z" };
        var options = new PruneOptions { KeepWeekly = 2 };
        Assert.Equal(["2021-01-04T10:00:00Z", "2021-01-03T20:00:00Z"], Kept(times, options, TimeZoneInfo.Utc));
        Assert.Equal(["2021-01-04T10:00:00Z", "2021-01-03T10:00:00Z"], Kept(times, options, tokyo));
    }

    [Fact]
    public void KeptByNamesTheRuleThatKept()
    {
        var input = Simple2.Select(s => new PruneCandidate(Epoch(s), true, false));
        var plan = PruneSelection.Compute(input, c => c, new PruneOptions { KeepDaily = 1, KeepWeekly = 1, KeepMonthly = 1 }, TimeZoneInfo.Utc);
        Assert.Equal([PruneRule.KeepDaily, PruneRule.KeepWeekly, PruneRule.KeepMonthly],
            plan.Where(e => e.Keep).Select(e => e.KeptBy!.Value));
    }

    [Fact]
    public void RetentionStringAndKeepsSomething()
    {
        var options = new PruneOptions { KeepLast = 2, KeepDaily = 0, KeepYearly = 1 };
        Assert.Equal("--keep-last 2 --keep-yearly 1", options.ToRetentionString());
        Assert.True(options.KeepsSomething);
        Assert.False(new PruneOptions { KeepLast = 0 }.KeepsSomething);
        Assert.False(new PruneOptions().KeepsSomething);
        var e = Assert.Throws<PbsException>(() => new PruneOptions { KeepWeekly = -1 });
        Assert.Equal("InvalidPruneOption", e.ErrorId);
    }

    [Fact]
    public void UnconvertibleBackupTimeIsPbsException()
    {
        var e = Assert.Throws<PbsException>(() => PruneSelection.Compute([long.MaxValue], t => new PruneCandidate(t, true, false),
            new PruneOptions { KeepDaily = 1 }, TimeZoneInfo.Utc));
        Assert.Equal("BackupTimeOutOfRange", e.ErrorId);
    }

    private static string[] Kept(string[] times, PruneOptions options, TimeZoneInfo zone) =>
        PruneSelection.Compute(times, t => new PruneCandidate(Epoch(t), true, false), options, zone)
            .Where(e => e.Keep).Select(e => e.Snapshot).ToArray();

    private static long Epoch(string time) =>
        DateTimeOffset.Parse(time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).ToUnixTimeSeconds();

    /// <summary>The instant whose wall clock in <paramref name="zone"/> reads what the UTC wall clock read.</summary>
    private static PruneCandidate Shift(PruneCandidate c, TimeZoneInfo zone) =>
        c with { BackupTime = c.BackupTime - (long)zone.GetUtcOffset(DateTimeOffset.FromUnixTimeSeconds(c.BackupTime)).TotalSeconds };
}
