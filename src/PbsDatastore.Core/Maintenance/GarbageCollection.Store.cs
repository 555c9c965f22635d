using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Native;

namespace PbsDatastore.Core.Maintenance;

public static partial class GarbageCollection
{
    /// <summary>Descriptors of the datastore root and its <c>.chunks</c> directory, for *at calls on raw names.</summary>
    internal sealed class StoreHandle : IDisposable
    {
        private StoreHandle(string path, int storeFd, int chunksFd, Func<string, int>? faults)
        {
            Path = path;
            StoreFd = storeFd;
            ChunksFd = chunksFd;
            Faults = faults;
        }

        public string Path { get; }
        public int StoreFd { get; }
        public int ChunksFd { get; }

        /// <summary>See <see cref="GarbageCollectionOptions.Faults"/>.</summary>
        public Func<string, int>? Faults { get; }

        /// <summary>The injected errno for an operation on <paramref name="relativeZ"/> (NUL-terminated, relative to the datastore), or 0.</summary>
        public int FaultAt(ReadOnlySpan<byte> relativeZ)
            => Faults is null ? 0 : Faults(System.Text.Encoding.UTF8.GetString(relativeZ[..relativeZ.IndexOf((byte)0)]));

        /// <summary>The injected errno for a path relative to <c>.chunks</c>, or 0.</summary>
        public int ChunkFaultAt(ReadOnlySpan<byte> chunkRelativeZ)
            => Faults is null ? 0 : Faults(".chunks/" + System.Text.Encoding.UTF8.GetString(chunkRelativeZ[..chunkRelativeZ.IndexOf((byte)0)]));

        public static StoreHandle Open(string storePath, Func<string, int>? faults = null)
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
            return new StoreHandle(storePath, storeFd, chunksFd, faults);
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

    /// <summary>
    /// Reads a whole index file by its raw path relative to the datastore, without updating its atime where
    /// allowed; null when it vanished. Other failures abort with PBS's <c>can't open index</c> message.
    /// <paramref name="spare"/> is reused when it has the file's length (consecutive snapshots of one disk have
    /// equal-sized indexes), so marking does not churn the large-object heap with one array per index.
    /// </summary>
    internal static unsafe byte[]? ReadIndexFile(StoreHandle store, byte[] relativePathZ, string displayPath, byte[]? spare)
    {
        // O_NONBLOCK: a FIFO named like an index must not hang the GC (it then reads as empty and fails to parse).
        var fd = -store.FaultAt(relativePathZ);
        if (fd == 0)
            fixed (byte* p = relativePathZ) fd = Libc.OpenReadNoAtime(store.StoreFd, p, Libc.O_NONBLOCK);
        if (fd == -Libc.ENOENT) return null;
        if (fd < 0)
            throw new PbsException("GcIndexOpenFailed", PbsErrorKind.ReadError, $"can't open index {displayPath} - {Libc.StrError(-fd)}", displayPath);
        try
        {
            Libc.Statx st;
            byte emptyPath = 0;
            if (Libc.StatxAt(fd, &emptyPath, Libc.AT_EMPTY_PATH, Libc.STATX_BASIC_STATS, &st) != 0)
                throw IndexUnreadable(displayPath, Libc.StrError(Libc.LastErrno));
            if (st.Size > (ulong)Array.MaxLength)
                throw IndexUnreadable(displayPath, $"index file too large ({st.Size})");
            var data = spare?.Length == (int)st.Size ? spare : GC.AllocateUninitializedArray<byte>((int)st.Size);
            var done = 0;
            fixed (byte* b = data)
            {
                while (done < data.Length)
                {
                    var n = Libc.Read(fd, b + done, data.Length - done);
                    if (n < 0 && Libc.LastErrno == Libc.EINTR) continue;
                    if (n < 0) throw IndexUnreadable(displayPath, Libc.StrError(Libc.LastErrno));
                    if (n == 0) break;
                    done += (int)n;
                }
            }
            // The file shrank while being read: what was read is the file now.
            return done == data.Length ? data : data[..done];
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    internal static PbsException IndexUnreadable(string path, string detail, Exception? inner = null)
        => new("GcIndexUnreadable", PbsErrorKind.InvalidData, $"can't read index '{path}' - {detail}", path, inner);

    /// <summary>Whether a name's first 64 bytes are lowercase hex: the only spelling phase 1 touches.</summary>
    internal static bool TryParseLowerHex(ReadOnlySpan<byte> name, out ChunkDigest digest)
    {
        digest = default;
        if (name.Length < 64) return false;
        foreach (var c in name[..64])
            if (c is >= (byte)'A' and <= (byte)'F') return false;
        return ChunkDigest.TryParseAscii(name[..64], out digest);
    }

    /// <summary>
    /// Writes <c>xxxx/&lt;64 hex&gt;[suffix]\0</c>, the chunk's path relative to <c>.chunks</c>, into <paramref name="target"/>;
    /// returns the length including the NUL.
    /// </summary>
    internal static int WriteChunkPath(in ChunkDigest digest, ReadOnlySpan<byte> suffix, Span<byte> target)
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
}
