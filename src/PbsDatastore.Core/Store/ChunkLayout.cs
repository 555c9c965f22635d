using System.Text;
using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Store;

/// <summary>
/// PBS's chunk-store layout, named once: <c>.chunks</c> with 65536 prefix directories <c>0000</c>..<c>ffff</c>, a
/// chunk at <c>.chunks/&lt;first 4 hex&gt;/&lt;64 hex&gt;</c>, a bad chunk with <c>.N.bad</c> appended.
/// </summary>
public static class ChunkLayout
{
    public const int PrefixCount = 65536;
    public const string ChunkDirName = ".chunks";
    public const string LockFileName = ".lock";

    /// <summary>The suffixes GC touches for a missing chunk (<c>.0.bad</c> … <c>.9.bad</c>), as raw bytes.</summary>
    public static readonly byte[][] BadSuffixes = Enumerable.Range(0, 10).Select(n => Encoding.ASCII.GetBytes($".{n}.bad")).ToArray();

    public static string PrefixDirName(int prefixIndex) => prefixIndex.ToString("x4");

    /// <summary>Writes the 4 lowercase hex digits of a prefix index.</summary>
    public static void WritePrefix(int prefixIndex, Span<byte> target)
    {
        ReadOnlySpan<byte> hex = "0123456789abcdef"u8;
        target[0] = hex[(prefixIndex >> 12) & 15];
        target[1] = hex[(prefixIndex >> 8) & 15];
        target[2] = hex[(prefixIndex >> 4) & 15];
        target[3] = hex[prefixIndex & 15];
    }

    /// <summary>
    /// Writes <c>xxxx/&lt;64 hex&gt;[suffix]\0</c>, the chunk's path relative to <c>.chunks</c>, into
    /// <paramref name="target"/> (at least 70 bytes plus the suffix); returns the length including the NUL.
    /// </summary>
    public static int WriteChunkPath(in ChunkDigest digest, ReadOnlySpan<byte> suffix, Span<byte> target)
    {
        Span<byte> raw = stackalloc byte[ChunkDigest.Size];
        digest.WriteTo(raw);
        // Vectorized; once per chunk in GC's mark and in space accounting.
        Convert.TryToHexStringLower(raw, target[5..69], out _);
        target[5..9].CopyTo(target);
        target[4] = (byte)'/';
        suffix.CopyTo(target[69..]);
        target[69 + suffix.Length] = 0;
        return 70 + suffix.Length;
    }

    /// <summary>
    /// PBS 3.2.4's chunk-name test on a raw entry name: exactly 64 or 70 bytes, the first 64 ASCII hex digits (either
    /// case); bad iff it ends with `.bad`. Nothing else is looked at (so `&lt;hex&gt;zzzzzz` passes as a chunk);
    /// GC figures depend on exactly this.
    /// </summary>
    public static bool IsChunkName(ReadOnlySpan<byte> name, out bool isBad)
    {
        isBad = false;
        if (name.Length != 64 && name.Length != 70) return false;
        foreach (var b in name[..64])
            if (!char.IsAsciiHexDigit((char)b)) return false;
        isBad = name.EndsWith(".bad"u8);
        return true;
    }

    /// <summary>
    /// A chunk writer's temp file: <c>&lt;64 hex&gt;.tmp_XXXXXX</c> (PBS's and <see cref="AtomicFile"/>'s
    /// <c>replace_file</c> name for a chunk), left behind when the writer was killed.
    /// </summary>
    public static bool IsChunkTempName(ReadOnlySpan<byte> name)
    {
        if (name.Length <= 69 || !name[64..].StartsWith(".tmp_"u8)) return false;
        foreach (var b in name[..64])
            if (!char.IsAsciiHexDigit((char)b)) return false;
        return true;
    }

    /// <summary>Whether a name's first 64 bytes are lowercase hex: the only spelling GC's phase 1 touches.</summary>
    public static bool TryParseLowerHex(ReadOnlySpan<byte> name, out ChunkDigest digest)
    {
        digest = default;
        if (name.Length < 64) return false;
        foreach (var c in name[..64])
            if (c is >= (byte)'A' and <= (byte)'F') return false;
        return ChunkDigest.TryParseAscii(name[..64], out digest);
    }
}
