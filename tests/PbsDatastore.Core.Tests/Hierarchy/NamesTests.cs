using PbsDatastore.Core.Hierarchy;

namespace PbsDatastore.Core.Tests.Hierarchy;

public class NamesTests
{
    [Theory]
    [InlineData("100", true)]
    [InlineData("web01.example.com", true)]
    [InlineData("_under-score", true)]
    [InlineData("", false)]
    [InlineData(".", false)]
    [InlineData("..", false)]
    [InlineData("../etc", false)]
    [InlineData("a/b", false)]
    [InlineData("-dash", false)]
    [InlineData(".hidden", false)]
    [InlineData("a b", false)]
    [InlineData("a\0b", false)]
    [InlineData("a\nb", false)]
    [InlineData("vm\n", false)]   // .NET's `$` would accept this
    [InlineData("a\x7f", false)]
    [InlineData("ä", false)]
    public void Backup_ids_follow_pbs_regex(string id, bool valid)
    {
        Assert.Equal(valid, PbsNames.IsValidBackupId(id));
        if (valid) Assert.Equal(id, PbsNames.ValidateBackupId(id));
        else
        {
            var e = Assert.Throws<PbsException>(() => PbsNames.ValidateBackupId(id));
            Assert.Equal("InvalidBackupId", e.ErrorId);
            Assert.Equal(PbsErrorKind.InvalidArgument, e.Kind);
            Assert.DoesNotContain('\0', e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
    }

    [Fact]
    public void Over_long_backup_id_is_rejected()
    {
        Assert.True(PbsNames.IsValidBackupId(new string('a', 255)));
        Assert.Equal("InvalidBackupId", Assert.Throws<PbsException>(() => PbsNames.ValidateBackupId(new string('a', 256))).ErrorId);
    }

    [Theory]
    [InlineData("", "", "")]
    [InlineData("a", "a", "ns/a")]
    [InlineData("a/b/c", "a/b/c", "ns/a/ns/b/ns/c")]
    [InlineData("1/2/3/4/5/6/7", "1/2/3/4/5/6/7", "ns/1/ns/2/ns/3/ns/4/ns/5/ns/6/ns/7")]
    public void Namespaces_parse_and_map_to_paths(string text, string name, string path)
    {
        var ns = BackupNamespace.Parse(text);
        Assert.Equal(name, ns.Name);
        Assert.Equal(path, ns.RelativePath);
        Assert.Equal(ns, BackupNamespace.FromPath(path));
        Assert.Equal(ns, BackupNamespace.FromPath(path + (path.Length > 0 ? "/" : "")));
    }

    [Theory]
    [InlineData("1/2/3/4/5/6/7/8")]
    [InlineData("a//b")]
    [InlineData("/a")]
    [InlineData("a/")]
    [InlineData("..")]
    [InlineData("a/../b")]
    [InlineData("a\0")]
    [InlineData("a\tb")]
    [InlineData("-a")]
    public void Bad_namespaces_are_rejected(string text)
    {
        var e = Assert.Throws<PbsException>(() => BackupNamespace.Parse(text));
        Assert.Equal("InvalidNamespace", e.ErrorId);
        Assert.False(BackupNamespace.TryParse(text, out _));
    }

    [Fact]
    public void Namespace_length_limit_counts_like_pbs()
    {
        var c = new string('x', 31);
        var ns = BackupNamespace.Parse(string.Join('/', Enumerable.Repeat(c, 7)));  // 7*31+6 = 223
        Assert.Equal(7, ns.Depth);
        Assert.Contains("too deep", Assert.Throws<PbsException>(() => ns.Child("a")).Message);
        var longNs = BackupNamespace.Parse(new string('a', 200));
        Assert.Contains("length exceeded", Assert.Throws<PbsException>(() => longNs.Child(new string('b', 56))).Message);
        Assert.Equal(256, longNs.Child(new string('b', 55)).Name.Length);
        Assert.Equal("InvalidNamespace", Assert.Throws<PbsException>(() => BackupNamespace.FromPath("xs/a")).ErrorId);
    }

    [Theory]
    [InlineData("2020-06-26T13:56:05Z", 1593179765L)]
    [InlineData("0000-01-01T00:00:00Z", -62167219200L)]
    [InlineData("9999-12-31T23:59:59Z", 253402300799L)]
    [InlineData("0099-12-31T23:59:59Z", -59011459201L)]
    [InlineData("2005-12-31T23:59:60Z", 1136073600L)]
    [InlineData("2021-02-31T00:00:00Z", 1614729600L)]   // rolls into March
    [InlineData("2021-00-10T00:00:00Z", 1607558400L)]   // month 0 = December before
    [InlineData("2021-03-00T00:00:00Z", 1614470400L)]   // day 0 = last day of February
    [InlineData("2020-06-26T15:56:05+02:00", 1593179765L)]
    [InlineData("2020-06-26T11:56:05-02:00", 1593179765L)]
    public void Times_parse_like_pbs(string text, long epoch)
    {
        Assert.Equal(epoch, BackupTime.Parse(text));
    }

    [Theory]
    [InlineData("2020-06-26T13:56:05")]
    [InlineData("2020-06-26T13:56:05z")]
    [InlineData("2020-13-26T13:56:05Z")]
    [InlineData("2020-06-32T13:56:05Z")]
    [InlineData("2020-06-26T24:00:00Z")]
    [InlineData("2020-06-26T13:60:05Z")]
    [InlineData("2020-06-26T13:56:61Z")]
    [InlineData("2020-06-26 13:56:05Z")]
    [InlineData("2020-06-26T13:56:05+24:00")]
    [InlineData("2020-06-2٣T13:56:05Z")]
    [InlineData("")]
    public void Bad_times_fail_cleanly(string text)
    {
        Assert.False(BackupTime.TryParse(text, out _));
        Assert.Equal("InvalidBackupTime", Assert.Throws<PbsException>(() => BackupTime.Parse(text)).ErrorId);
    }

    [Fact]
    public void Times_format_as_directory_names()
    {
        Assert.Equal("2020-06-26T13:56:05Z", BackupTime.Format(1593179765));
        Assert.Equal("0000-01-01T00:00:00Z", BackupTime.Format(-62167219200));
        Assert.Equal("9999-12-31T23:59:59Z", BackupTime.Format(253402300799));
        Assert.Equal("1969-12-31T23:59:59Z", BackupTime.Format(-1));
        Assert.Throws<PbsException>(() => BackupTime.Format(253402300800));
        Assert.True(BackupTime.IsCanonical("2024-03-01T10:00:00Z"));
        Assert.False(BackupTime.IsCanonical("2021-02-31T00:00:00Z"));
        var rnd = new Random(1);
        for (var i = 0; i < 2000; i++)
        {
            var t = rnd.NextInt64(-62167219200, 253402300800);
            Assert.Equal(t, BackupTime.Parse(BackupTime.Format(t)));
            if (t >= -62135596800) // DateTime cannot show year 0
                Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(t).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'"), BackupTime.Format(t));
        }
    }

    [Theory]
    [InlineData("root@pam", "root", "pam", null)]
    [InlineData("backup@pbs!token1", "backup", "pbs", "token1")]
    [InlineData("user@example@pve", "user@example", "pve", null)]
    [InlineData("we!rd@pbs", "we!rd", "pbs", null)]
    [InlineData("we!rd@pbs!tok", "we!rd", "pbs", "tok")]
    public void Authids_parse_like_pbs(string text, string user, string realm, string? token)
    {
        var a = Authid.Parse(text);
        Assert.Equal(user, a.User);
        Assert.Equal(realm, a.Realm);
        Assert.Equal(token, a.TokenName);
        Assert.Equal(text, a.ToString());
    }

    [Theory]
    [InlineData("root")]
    [InlineData("@pam")]
    [InlineData("root@pa")]
    [InlineData("root@pam!")]
    [InlineData("root@pam!bad token")]
    [InlineData("ro ot@pam")]
    [InlineData("ro:ot@pam")]
    [InlineData("ro/ot@pam")]
    [InlineData("../x@pam")]
    [InlineData("ro\0ot@pam")]
    [InlineData("root@pam\n")]
    [InlineData("root@-pam")]
    [InlineData("")]
    public void Bad_authids_are_rejected(string text)
    {
        Assert.False(Authid.TryParse(text, out _));
        Assert.Equal("InvalidAuthid", Assert.Throws<PbsException>(() => Authid.Parse(text)).ErrorId);
    }

    [Fact]
    public void Owner_check_lets_a_user_act_for_its_tokens()
    {
        var token = Authid.Parse("backup@pbs!token1");
        Assert.True(token.Permits(Authid.Parse("backup@pbs")));
        Assert.True(token.Permits(token));
        Assert.False(token.Permits(Authid.Parse("backup@pbs!token2")));
        Assert.False(Authid.Parse("backup@pbs").Permits(token));
    }

    [Fact]
    public void Backup_types_parse_case_sensitively()
    {
        Assert.Equal(BackupType.Vm, BackupTypes.Parse("vm"));
        Assert.Equal("InvalidBackupType", Assert.Throws<PbsException>(() => BackupTypes.Parse("VM")).ErrorId);
        Assert.Equal(["ct", "host", "vm"], BackupTypes.All.Select(t => t.ToPbsString()));
    }
}
