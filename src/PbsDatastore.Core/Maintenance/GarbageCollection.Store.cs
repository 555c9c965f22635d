using System.Runtime.InteropServices;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Maintenance;

public static partial class GarbageCollection
{
    /// <summary>Descriptors of the datastore root and its <c>.chunks</c> directory, for *at calls on raw names.</summary>
    internal sealed class StoreHandle : IDisposable
    {
        private StoreHandle(string path, int storeFd, int chunksFd)
        {
            Path = path;
            StoreFd = storeFd;
            ChunksFd = chunksFd;
        }

        public string Path { get; }
        public int StoreFd { get; }
        public int ChunksFd { get; }

        public static StoreHandle Open(string storePath)
        {
            var storeFd = Libc.Open(storePath, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
            if (storeFd < 0)
            {
                var errno = Libc.LastErrno;
                throw errno is Libc.EACCES or Libc.EPERM
                    ? new PbsException("PermissionDenied", PbsErrorKind.PermissionDenied, $"unable to open datastore '{storePath}' - {Libc.StrError(errno)}", storePath)
                    : new PbsException("DatastoreNotFound", PbsErrorKind.ObjectNotFound, $"datastore path '{storePath}' is not an accessible directory - {Libc.StrError(errno)}", storePath);
            }
            var chunksFd = OpenRelative(storeFd, ".chunks");
            if (chunksFd < 0)
            {
                Libc.Close(storeFd);
                throw new PbsException("NotADatastore", PbsErrorKind.ObjectNotFound,
                    $"'{storePath}' is not a datastore: unable to open its chunk store '.chunks' - {Libc.StrError(-chunksFd)}", storePath);
            }
            return new StoreHandle(storePath, storeFd, chunksFd);
        }

        private static unsafe int OpenRelative(int dirFd, string name)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(name + "\0");
            fixed (byte* p = bytes) return Libc.OpenDirectoryAt(dirFd, p);
        }

        public void Dispose()
        {
            Libc.Close(ChunksFd);
            Libc.Close(StoreFd);
        }
    }

    /// <summary>A chunk digest as a hash-set key: 32 bytes, hashed by its first 8 (digests are uniformly random).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal readonly struct ChunkKey : IEquatable<ChunkKey>
    {
        private readonly ulong _a, _b, _c, _d;

        public ChunkKey(ReadOnlySpan<byte> digest)
        {
            _a = MemoryMarshal.Read<ulong>(digest);
            _b = MemoryMarshal.Read<ulong>(digest[8..]);
            _c = MemoryMarshal.Read<ulong>(digest[16..]);
            _d = MemoryMarshal.Read<ulong>(digest[24..32]);
        }

        public bool Equals(ChunkKey other) => _a == other._a && _b == other._b && _c == other._c && _d == other._d;
        public override bool Equals(object? obj) => obj is ChunkKey k && Equals(k);
        public override int GetHashCode() => (int)_a ^ (int)(_a >> 32);

        /// <summary>Writes the 64 lowercase hex digits.</summary>
        public void WriteHex(Span<byte> target)
        {
            Span<byte> raw = stackalloc byte[32];
            MemoryMarshal.Write(raw, in this);
            for (var i = 0; i < 32; i++)
            {
                target[2 * i] = Hex[raw[i] >> 4];
                target[2 * i + 1] = Hex[raw[i] & 15];
            }
        }

        public override string ToString()
        {
            Span<byte> hex = stackalloc byte[64];
            WriteHex(hex);
            return System.Text.Encoding.ASCII.GetString(hex);
        }

        /// <summary>Parses 64 lowercase hex digits (the only spelling phase 1 touches).</summary>
        public static bool TryParseLowerHex(ReadOnlySpan<byte> hex, out ChunkKey key)
        {
            key = default;
            if (hex.Length < 64) return false;
            Span<byte> raw = stackalloc byte[32];
            for (var i = 0; i < 32; i++)
            {
                var hi = LowerHexValue(hex[2 * i]);
                var lo = LowerHexValue(hex[2 * i + 1]);
                if ((hi | lo) < 0) return false;
                raw[i] = (byte)(hi << 4 | lo);
            }
            key = new ChunkKey(raw);
            return true;
        }

        private static int LowerHexValue(byte c) => c switch
        {
            >= (byte)'0' and <= (byte)'9' => c - '0',
            >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
            _ => -1,
        };

        private static ReadOnlySpan<byte> Hex => "0123456789abcdef"u8;
    }

    /// <summary>
    /// Writes <c>xxxx/&lt;64 hex&gt;[suffix]\0</c>, the chunk's path relative to <c>.chunks</c>, into <paramref name="target"/>;
    /// returns the length including the NUL.
    /// </summary>
    internal static int WriteChunkPath(in ChunkKey key, ReadOnlySpan<byte> suffix, Span<byte> target)
    {
        key.WriteHex(target[5..]);
        target[5..9].CopyTo(target);
        target[4] = (byte)'/';
        suffix.CopyTo(target[69..]);
        target[69 + suffix.Length] = 0;
        return 70 + suffix.Length;
    }
}
