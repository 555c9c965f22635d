namespace PbsDatastore.Core.Formats;

/// <summary>How an archive was written: plain, encrypted (and signed), or plain but signed.</summary>
public enum CryptMode
{
    None,
    Encrypt,
    SignOnly,
}

/// <summary>PBS's spelling of <see cref="CryptMode"/> (<c>none</c>, <c>encrypt</c>, <c>sign-only</c>).</summary>
public static class CryptModes
{
    public static string ToPbsName(this CryptMode mode) => mode switch
    {
        CryptMode.Encrypt => "encrypt",
        CryptMode.SignOnly => "sign-only",
        _ => "none",
    };

    /// <summary>Parses PBS's spelling; returns false for anything else.</summary>
    public static bool TryParse(string? text, out CryptMode mode)
    {
        switch (text)
        {
            case "none": mode = CryptMode.None; return true;
            case "encrypt": mode = CryptMode.Encrypt; return true;
            case "sign-only": mode = CryptMode.SignOnly; return true;
            default: mode = CryptMode.None; return false;
        }
    }
}
