using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace PbsDatastore.Core.Formats;

/// <summary>
/// A 32-byte chunk digest (SHA-256, keyed for encrypted chunks) as a value: cheap to copy, hash and compare, so
/// digest sets over millions of index entries need no per-entry allocation. Text form is 64 lowercase hex digits.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct ChunkDigest : IEquatable<ChunkDigest>, IComparable<ChunkDigest>
{
    public const int Size = 32;

    // Big-endian words, so ordering by words is ordering by bytes (and by hex name).
    private readonly ulong _w0, _w1, _w2, _w3;

    public ChunkDigest(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Size)
            throw new PbsException("InvalidDigest", PbsErrorKind.InvalidArgument, $"digest must be {Size} bytes, got {bytes.Length}");
        _w0 = BinaryPrimitives.ReadUInt64BigEndian(bytes);
        _w1 = BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
        _w2 = BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]);
        _w3 = BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]);
    }

    /// <summary>Parses 64 hex digits (either case, as PBS's chunk-name test accepts).</summary>
    public static ChunkDigest Parse(ReadOnlySpan<char> hex)
        => TryParse(hex, out var digest)
            ? digest
            : throw new PbsException("InvalidDigest", PbsErrorKind.InvalidArgument, $"'{hex}' is not a 64-digit hex digest", hex.ToString());

    public static bool TryParse(ReadOnlySpan<char> hex, out ChunkDigest digest)
    {
        Span<byte> bytes = stackalloc byte[Size];
        if (hex.Length != 2 * Size || Convert.FromHexString(hex, bytes, out _, out var written) != System.Buffers.OperationStatus.Done || written != Size)
        {
            digest = default;
            return false;
        }
        digest = new ChunkDigest(bytes);
        return true;
    }

    /// <summary>Parses 64 ASCII hex bytes (a raw directory entry name).</summary>
    public static bool TryParseAscii(ReadOnlySpan<byte> hex, out ChunkDigest digest)
    {
        Span<char> chars = stackalloc char[2 * Size];
        if (hex.Length != 2 * Size)
        {
            digest = default;
            return false;
        }
        for (var i = 0; i < chars.Length; i++) chars[i] = (char)hex[i];
        return TryParse(chars, out digest);
    }

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, _w0);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _w1);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _w2);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _w3);
    }

    public byte[] ToArray()
    {
        var bytes = new byte[Size];
        WriteTo(bytes);
        return bytes;
    }

    /// <summary>Index (0..65535) of the `.chunks` prefix directory: the first two digest bytes.</summary>
    public int PrefixIndex => (int)(_w0 >> 48);

    /// <summary>The first 8 bytes, big-endian: where the digest lies in the digest space.</summary>
    public ulong LeadingWord => _w0;

    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Size];
        WriteTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    public bool Equals(ChunkDigest other) => _w0 == other._w0 && _w1 == other._w1 && _w2 == other._w2 && _w3 == other._w3;
    public override bool Equals(object? obj) => obj is ChunkDigest other && Equals(other);
    // Digests are uniformly distributed: mixing two words is plenty.
    public override int GetHashCode() => (int)(_w1 ^ (_w1 >> 32) ^ _w3);
    public int CompareTo(ChunkDigest other)
    {
        var c = _w0.CompareTo(other._w0);
        if (c != 0) return c;
        c = _w1.CompareTo(other._w1);
        if (c != 0) return c;
        c = _w2.CompareTo(other._w2);
        return c != 0 ? c : _w3.CompareTo(other._w3);
    }

    public static bool operator ==(ChunkDigest a, ChunkDigest b) => a.Equals(b);
    public static bool operator !=(ChunkDigest a, ChunkDigest b) => !a.Equals(b);
}
