using System.Runtime.InteropServices;
using System.Security;
using PbsDatastore.Core.Formats;

namespace PbsDatastore.Infrastructure;

/// <summary>Opens a PBS key file (-KeyFile, -Password) into the key the core decrypts and digests with.</summary>
internal static class KeyFiles
{
    public static CryptConfig Load(string path, SecureString? password)
    {
        var key = KeyConfig.Load(path);
        if (password is null || !key.NeedsPassword) return key.Decrypt();
        var ptr = Marshal.SecureStringToGlobalAllocUnicode(password);
        try
        {
            unsafe { return key.Decrypt(new ReadOnlySpan<char>((char*)ptr, password.Length)); }
        }
        finally
        {
            Marshal.ZeroFreeGlobalAllocUnicode(ptr);
        }
    }
}
