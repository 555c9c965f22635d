namespace PbsDatastore.Core.Hierarchy;

/// <summary>
/// A PBS Auth-ID: a user `name@realm` or an API token `name@realm!token`. Parsed exactly as PBS does: split at the
/// last `@`; a `!` after it starts the token name. User names may contain `@` and `!` but no whitespace, `:`, `/`
/// or control characters; realm is SAFE_ID of 3…32 characters; token name is SAFE_ID.
/// </summary>
public sealed class Authid : IEquatable<Authid>
{
    /// <summary>The API schema's length limit (3…64), which PBS's parser itself does not enforce.</summary>
    public const int MaxLength = 64;

    private Authid(string user, string realm, string? tokenName)
    {
        User = user;
        Realm = realm;
        TokenName = tokenName;
    }

    public static readonly Authid RootPam = Parse("root@pam");

    /// <summary>User name part (before the last `@` of the user id).</summary>
    public string User { get; }

    public string Realm { get; }

    /// <summary>Token name, or null for a plain user.</summary>
    public string? TokenName { get; }

    public bool IsToken => TokenName != null;

    /// <summary>`name@realm` (for a token: the user that owns it).</summary>
    public string Userid => $"{User}@{Realm}";

    public override string ToString() => IsToken ? $"{Userid}!{TokenName}" : Userid;

    public static Authid Parse(string? text)
        => TryParse(text, out var id, out var error) ? id!
            : throw new PbsException("InvalidAuthid", PbsErrorKind.InvalidArgument,
                $"invalid auth id {PbsNames.Quote(text)} - {error}", text);

    public static bool TryParse(string? text, out Authid? authid) => TryParse(text, out authid, out _);

    private static bool TryParse(string? text, out Authid? authid, out string error)
    {
        authid = null;
        if (text == null) { error = "not a valid user id"; return false; }
        var at = text.LastIndexOf('@');
        if (at < 0) { error = "not a valid user id"; return false; }
        string userPart = text;
        string? token = null;
        var bang = text.LastIndexOf('!');
        if (bang > at)
        {
            if (bang == text.Length - 1) { error = "empty token name in userid"; return false; }
            userPart = text[..bang];
            token = text[(bang + 1)..];
        }
        var uat = userPart.LastIndexOf('@');
        var name = userPart[..uat];
        var realm = userPart[(uat + 1)..];
        if (!PbsNames.UserName().IsMatch(name)) { error = "invalid user name in user id"; return false; }
        if (realm.Length < 3 || realm.Length > 32 || !PbsNames.IsSafeId(realm)) { error = "invalid realm in user id"; return false; }
        if (token != null && !PbsNames.IsSafeId(token)) { error = "invalid token name"; return false; }
        authid = new Authid(name, realm, token);
        error = "";
        return true;
    }

    /// <summary>
    /// PBS's owner check for a group owned by this Auth-ID: <paramref name="actor"/> passes if it is the same
    /// Auth-ID, or if this is an API token and the actor is the user owning it.
    /// </summary>
    public bool Permits(Authid actor)
        => Equals(actor) || (IsToken && !actor.IsToken && Userid == actor.Userid);

    public bool Equals(Authid? other) => other is not null && ToString() == other.ToString();
    public override bool Equals(object? obj) => Equals(obj as Authid);
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(ToString());
}
