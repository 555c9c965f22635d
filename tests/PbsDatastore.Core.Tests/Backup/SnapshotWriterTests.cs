using System.Security.Cryptography;
using System.Text.Json.Nodes;
using PbsDatastore.Core.Backup;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.Backup;

/// <summary>Writing snapshots (New-PbsSnapshot's core) and reading them back (Export-PbsArchive's core).</summary>
[Collection(IngestCollection.Name)]
public class SnapshotWriterTests
{
    private static CryptConfig FixtureKey() => KeyConfig.Load(ReferenceStore.KeyFile).Decrypt();

    private static byte[] Input(int length, bool zeros, int seed)
    {
        var data = new byte[length];
        if (!zeros)
        {
            // Compressible but not trivially: random words from a small alphabet.
            var random = new Random(seed);
            for (var i = 0; i < length; i++)
                data[i] = (byte)(random.Next(4) == 0 ? random.Next(256) : 'a' + random.Next(8));
        }
        return data;
    }

    public static TheoryData<string, int, bool, bool> RoundTripCases()
    {
        var cases = new TheoryData<string, int, bool, bool>();
        foreach (var encrypted in new[] { false, true })
        {
            cases.Add("empty.conf.blob", 0, false, encrypted);
            cases.Add("one.conf.blob", 1, false, encrypted);
            cases.Add("small.log.blob", 70000, false, encrypted);
            foreach (var (name, length, zeros) in new[]
            {
                ("one.img.fidx", 1, false), ("odd.img.fidx", 3 * 65536 + 12345, false), ("big.img.fidx", 9 << 20, false),
                ("zeros.img.fidx", (8 << 20) + 65536, true),
                ("one.bin.didx", 1, false), ("odd.bin.didx", 3 * 65536 + 12345, false), ("big.bin.didx", 9 << 20, false),
                ("zeros.bin.didx", 5 << 20, true),
            })
                cases.Add(name, length, zeros, encrypted);
        }
        return cases;
    }

    [Theory]
    [MemberData(nameof(RoundTripCases))]
    public void ExportReturnsWhatWasWritten(string archive, int length, bool zeros, bool encrypted)
    {
        var crypt = encrypted ? FixtureKey() : null;
        var input = Input(length, zeros, length);
        BackupSnapshot snapshot;
        using (var writer = SnapshotWriter.Begin(SharedStore.Datastore, BackupNamespace.Root, BackupType.Host, SharedStore.NewId("rt"), 1_700_000_000,
                   Authid.RootPam, crypt, NullTaskState.Instance))
        {
            Add(writer, archive, input, chunkSize: 65536);
            snapshot = writer.Finish();
        }

        var output = new MemoryStream();
        var result = ArchiveExporter.Export(snapshot, archive, output, crypt, NullTaskState.Instance);
        Assert.Equal(input, output.ToArray());
        Assert.Equal(length, result.Size);
        AssertManifestMatchesFiles(snapshot, crypt);
        AssertChunksAreIntact(snapshot, crypt);
    }

    private static ArchiveWriteResult Add(SnapshotWriter writer, string archive, byte[] input, int chunkSize) => ArchiveNames.TypeOf(archive) switch
    {
        ArchiveType.FixedIndex => writer.AddFixedIndex(archive, new MemoryStream(input), input.Length, chunkSize),
        ArchiveType.DynamicIndex => writer.AddDynamicIndex(archive, new MemoryStream(input), chunkSize),
        _ => writer.AddBlob(archive, new MemoryStream(input)),
    };

    /// <summary>Every manifest entry's size and csum equal what is on disk; a signed manifest verifies with the key.</summary>
    internal static void AssertManifestMatchesFiles(BackupSnapshot snapshot, CryptConfig? crypt)
    {
        var manifest = BackupManifest.Load(snapshot.ManifestPath);
        Assert.Equal(crypt is null ? null : crypt.Fingerprint, manifest.KeyFingerprint);
        if (crypt != null)
        {
            Assert.Equal(manifest.ComputeSignature(crypt), manifest.Signature);
            manifest.CheckSignature(crypt);
        }
        else
            Assert.Null(manifest.Signature);
        foreach (var file in manifest.Files)
        {
            var path = Path.Combine(snapshot.FullPath, file.Filename);
            Assert.Equal(crypt is null ? CryptMode.None : CryptMode.Encrypt, file.CryptMode);
            if (ArchiveNames.TypeOf(file.Filename) == ArchiveType.Blob)
            {
                var raw = File.ReadAllBytes(path);
                Assert.Equal(file.Size, (ulong)raw.Length);
                Assert.Equal(file.Csum, Convert.ToHexStringLower(SHA256.HashData(raw)));
            }
            else
            {
                var index = IndexFile.Open(path);
                Assert.Equal(file.Size, (ulong)index.IndexBytes);
                Assert.Equal(file.Csum, Convert.ToHexStringLower(index.ComputeCsum()));
                Assert.True(index.CsumMatches);
            }
        }
        Assert.Empty(Directory.GetFiles(snapshot.FullPath, "*.tmp_*"));
    }

    /// <summary>Every chunk the snapshot's indexes reference decodes to its digest, with the right crypt mode and length.</summary>
    internal static void AssertChunksAreIntact(BackupSnapshot snapshot, CryptConfig? crypt)
    {
        foreach (var file in Directory.GetFiles(snapshot.FullPath, "*idx"))
        {
            var index = IndexFile.Open(file);
            for (var i = 0; i < index.Count; i++)
            {
                var digest = index.DigestAt(i).ToString();
                var blob = DataBlob.Load(Path.Combine(snapshot.Datastore.Path, ".chunks", digest[..4], digest));
                Assert.Equal(crypt is null ? CryptMode.None : CryptMode.Encrypt, blob.Kind.CryptMode());
                Assert.Equal(index.ChunkLength(i), blob.Decode(crypt, index.GetDigest(i)).Length);
            }
        }
    }

    /// <summary>Every file under a chunk name is a whole blob (CRC); plain ones decode to the digest they are named by.</summary>
    internal static void AssertNoTornChunks(Datastore store)
    {
        foreach (var file in Directory.EnumerateFiles(Path.Combine(store.Path, ".chunks"), "*", SearchOption.AllDirectories))
        {
            if (!ChunkDigest.TryParse(Path.GetFileName(file), out var digest)) continue;
            var blob = DataBlob.Load(file);
            if (!blob.Kind.IsEncrypted())
                blob.Decode(null, digest);
        }
    }

    [Fact]
    public void EmptyIndexesAreRefusedBecausePbsCannotReadThem()
    {
        using var writer = SnapshotWriter.Begin(SharedStore.Datastore, BackupNamespace.Root, BackupType.Host, SharedStore.NewId("empty"), 1_700_000_000,
            Authid.RootPam, null, NullTaskState.Instance);
        Assert.Equal("EmptyImage", Assert.Throws<PbsException>(() => writer.AddFixedIndex("e.img.fidx", new MemoryStream(), 0)).ErrorId);
        Assert.Equal("EmptyArchive", Assert.Throws<PbsException>(() => writer.AddDynamicIndex("e.pxar.didx", new MemoryStream())).ErrorId);
        Assert.Empty(Directory.GetFiles(writer.Snapshot.FullPath));
    }

    [Fact]
    public void SecondGenerationReusesTheBaseChunks()
    {
        var id = SharedStore.NewId("gen");
        var disk = Input(3 << 20, false, 1001);
        var stream = Input(3 << 20, false, 1002);
        var (first, firstDigests) = WriteGeneration(SharedStore.Datastore, id, 1_700_000_000, disk, stream);

        // Generation 2: one 64 KiB block of the disk changed, the stream got a few bytes inserted in the middle.
        disk.AsSpan(65536 * 7, 65536).Fill(0x5a);
        var stream2 = stream[..(1 << 20)].Concat("inserted"u8.ToArray()).Concat(stream[(1 << 20)..]).ToArray();
        var (second, secondDigests) = WriteGeneration(SharedStore.Datastore, id, 1_700_086_400, disk, stream2);

        Assert.Equal(1, second["disk.img.fidx"].NewChunks);
        Assert.InRange(second["data.bin.didx"].NewChunks, 1, 3);
        Assert.True(second["data.bin.didx"].ReusedChunks > first["data.bin.didx"].ChunkCount - 4);
        // Exactly the chunks the base did not have were uploaded.
        Assert.Equal(secondDigests.Except(firstDigests).Count(), second["disk.img.fidx"].NewChunks + second["data.bin.didx"].NewChunks);
    }

    private static (Dictionary<string, ArchiveWriteResult> Archives, HashSet<string> Digests) WriteGeneration(Datastore store, string id,
        long time, byte[] disk, byte[] stream)
    {
        using var writer = SnapshotWriter.Begin(store, BackupNamespace.Root, BackupType.Vm, id, time, Authid.RootPam, null, NullTaskState.Instance);
        writer.AddBlob("qemu-server.conf.blob", new MemoryStream("memory: 512\n"u8.ToArray()));
        writer.AddFixedIndex("disk.img.fidx", new MemoryStream(disk), disk.Length, 65536);
        writer.AddDynamicIndex("data.bin.didx", new MemoryStream(stream), 65536);
        var snapshot = writer.Finish();
        AssertManifestMatchesFiles(snapshot, null);
        return (writer.Archives.ToDictionary(a => a.Name), ReferencedChunkFiles(snapshot).Select(Path.GetFileName).ToHashSet()!);
    }

    /// <summary>The chunk files the snapshot's indexes reference.</summary>
    private static IEnumerable<string> ReferencedChunkFiles(BackupSnapshot snapshot)
        => Directory.GetFiles(snapshot.FullPath, "*idx").Select(IndexFile.Open)
            .SelectMany(index => Enumerable.Range(0, index.Count).Select(i => index.DigestAt(i).ToString()))
            .Distinct()
            .Select(d => Path.Combine(snapshot.Datastore.Path, ".chunks", d[..4], d));

    [Fact]
    public void ExistingChunksAreNotRewritten()
    {
        var data = Input(1 << 20, false, 1003);
        BackupSnapshot Write()
        {
            using var writer = SnapshotWriter.Begin(SharedStore.Datastore, BackupNamespace.Root, BackupType.Ct, SharedStore.NewId("dup"),
                1_700_000_000, Authid.RootPam, null, NullTaskState.Instance);
            writer.AddDynamicIndex("root.pxar.didx", new MemoryStream(data), 65536);
            var snapshot = writer.Finish();
            Assert.Equal(writer.Archives[0].ChunkCount, writer.Archives[0].NewChunks);
            return snapshot;
        }
        static Dictionary<string, (long, DateTime, long)> Stat(IEnumerable<string> files)
            => files.ToDictionary(f => f, f => (new FileInfo(f).Length, File.GetLastWriteTimeUtc(f), Inode(f)));
        var files = ReferencedChunkFiles(Write()).ToList();
        var before = Stat(files);
        // Another group: no base to skip known chunks, so every chunk goes through PBS's insert, which keeps them.
        Write();
        Assert.Equal(before, Stat(files));
    }

    private static long Inode(string path)
    {
        Assert.Equal(0, Native.Libc.TryStat(path, out var st));
        return (long)st.Inode;
    }

    [Fact]
    public void OlderOrEqualTimeIsRefused()
    {
        var id = SharedStore.NewId("vm");
        WriteGeneration(SharedStore.Datastore, id, 1_700_000_000, [1, 2, 3], [4, 5, 6]);
        var e = Assert.Throws<PbsException>(() => SnapshotWriter.Begin(SharedStore.Datastore, BackupNamespace.Root, BackupType.Vm, id,
            1_700_000_000, Authid.RootPam, null, NullTaskState.Instance));
        Assert.Equal("BackupTimeNotNewer", e.ErrorId);
    }

    [Fact]
    public void AnotherOwnerIsRefused()
    {
        var id = SharedStore.NewId("vm");
        WriteGeneration(SharedStore.Datastore, id, 1_700_000_000, [1, 2, 3], [4, 5, 6]);
        var e = Assert.Throws<PbsException>(() => SnapshotWriter.Begin(SharedStore.Datastore, BackupNamespace.Root, BackupType.Vm, id,
            1_700_100_000, Authid.Parse("backup@pbs"), null, NullTaskState.Instance));
        Assert.Equal("BackupOwnerMismatch", e.ErrorId);
    }

    [Fact]
    public void FailedInputLeavesNoSnapshot()
    {
        var writer = SnapshotWriter.Begin(SharedStore.Datastore, BackupNamespace.Root, BackupType.Host, SharedStore.NewId("fail"), 1_700_000_000,
            Authid.RootPam, null, NullTaskState.Instance);
        var dir = writer.Snapshot.FullPath;
        var e = Assert.Throws<PbsException>(() => writer.AddDynamicIndex("x.pxar.didx", new FailingStream(3 << 20), 65536));
        Assert.Equal("InputReadFailed", e.ErrorId);
        writer.Dispose();
        Assert.False(Directory.Exists(dir));
        AssertNoTornChunks(SharedStore.Datastore);
    }

    [Fact]
    public void CancellationLeavesNoSnapshot()
    {
        using var cancel = new CancellationTokenSource();
        var state = new RecordingTaskState(cancel.Token);
        var writer = SnapshotWriter.Begin(SharedStore.Datastore, BackupNamespace.Root, BackupType.Host, SharedStore.NewId("stop"), 1_700_000_000,
            Authid.RootPam, null, state);
        var dir = writer.Snapshot.FullPath;
        var input = new CancellingStream(Input(4 << 20, false, 1004), 1 << 20, cancel);
        var e = Assert.Throws<PbsException>(() => writer.AddFixedIndex("d.img.fidx", input, input.Length, 65536));
        Assert.Equal("OperationStopped", e.ErrorId);
        writer.Dispose();
        Assert.False(Directory.Exists(dir));
        Assert.Contains(state.Warnings, w => w.Contains("removed unfinished snapshot"));
    }

    [Fact]
    public void ExportNamesTheBadChunk()
    {
        BackupSnapshot snapshot;
        using (var writer = SnapshotWriter.Begin(SharedStore.Datastore, BackupNamespace.Root, BackupType.Vm, SharedStore.NewId("bad"), 1_700_000_000,
                   Authid.RootPam, null, NullTaskState.Instance))
        {
            writer.AddFixedIndex("d.img.fidx", new MemoryStream(Input(4 * 65536, false, 1005)), 4 * 65536, 65536);
            snapshot = writer.Finish();
        }
        var index = IndexFile.Open(Path.Combine(snapshot.FullPath, "d.img.fidx"));
        var victim = index.DigestAt(2).ToString();
        var path = Path.Combine(SharedStore.Datastore.Path, ".chunks", victim[..4], victim);

        // A chunk with a valid CRC but other content (another chunk's file): digest mismatch.
        var other = index.DigestAt(1).ToString();
        File.Copy(Path.Combine(SharedStore.Datastore.Path, ".chunks", other[..4], other), path, overwrite: true);
        var e = Assert.Throws<PbsException>(() => ArchiveExporter.Export(snapshot, "d.img", Stream.Null, null, NullTaskState.Instance));
        Assert.Contains(victim, e.Message);
        Assert.Equal(victim, e.Target);

        // A flipped payload byte: CRC error.
        var bytes = File.ReadAllBytes(path);
        bytes[^1] ^= 0xff;
        File.WriteAllBytes(path, bytes);
        e = Assert.Throws<PbsException>(() => ArchiveExporter.Export(snapshot, "d.img", Stream.Null, null, NullTaskState.Instance));
        Assert.Contains(victim, e.Message);

        // A missing chunk.
        File.Delete(path);
        e = Assert.Throws<PbsException>(() => ArchiveExporter.Export(snapshot, "d.img", Stream.Null, null, NullTaskState.Instance));
        Assert.Contains(victim, e.Message);
        Assert.Equal(victim, e.Target);
    }

    [Fact]
    public void EncryptedArchiveNeedsItsKey()
    {
        BackupSnapshot snapshot;
        using (var writer = SnapshotWriter.Begin(SharedStore.Datastore, BackupNamespace.Root, BackupType.Host, SharedStore.NewId("enc"), 1_700_000_000,
                   Authid.RootPam, FixtureKey(), NullTaskState.Instance))
        {
            writer.AddDynamicIndex("root.pxar.didx", new MemoryStream(Input(100000, false, 1006)), 65536);
            snapshot = writer.Finish();
        }
        Assert.ThrowsAny<PbsException>(() => ArchiveExporter.Export(snapshot, "root.pxar", Stream.Null, null, NullTaskState.Instance));
        var otherKey = new CryptConfig(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
        Assert.ThrowsAny<PbsException>(() => ArchiveExporter.Export(snapshot, "root.pxar", Stream.Null, otherKey, NullTaskState.Instance));
    }

    private sealed class FailingStream(int failAfter) : Stream
    {
        private int _position;
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position >= failAfter) throw new IOException("simulated read error");
            var n = Math.Min(count, failAfter - _position);
            Random.Shared.NextBytes(buffer.AsSpan(offset, n));
            _position += n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Cancels the task (as Ctrl+C would) once <c>cancelAt</c> bytes were read.</summary>
    private sealed class CancellingStream(byte[] data, int cancelAt, CancellationTokenSource cancel) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (Position >= cancelAt) cancel.Cancel();
            return base.Read(buffer, offset, count);
        }
        public override int Read(Span<byte> buffer)
        {
            if (Position >= cancelAt) cancel.Cancel();
            return base.Read(buffer);
        }
    }
}
