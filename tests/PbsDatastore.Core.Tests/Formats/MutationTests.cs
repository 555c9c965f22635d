using System.Buffers.Binary;
using System.IO.Hashing;
using PbsDatastore.Core.Formats;
using static PbsDatastore.Core.Tests.Formats.FormatFixtures;

namespace PbsDatastore.Core.Tests.Formats;

/// <summary>
/// Damaged fixture files of every kind must only ever produce <see cref="PbsException"/>s: truncation, flipped
/// bytes, wrong magics, appended garbage, and flips with a repaired CRC (so the decoder itself sees the damage).
/// </summary>
public class MutationTests
{
    private const int MutationsPerKind = 400;

    public static TheoryData<string> FileKinds => ["blob", "chunk", "encrypted-chunk"];

    [Theory]
    [MemberData(nameof(FileKinds))]
    public void MutatedFilesOnlyGivePbsExceptions(string kind)
    {
        var files = Samples(kind);
        Assert.NotEmpty(files);
        RunMutations(kind, files, MutateBlob, Pipeline);
    }

    /// <summary>Files of one kind from the expected JSON: (raw bytes, digest if a chunk).</summary>
    internal static List<(byte[] Raw, byte[]? Digest)> Samples(string kind) => kind switch
    {
        "blob" => [.. SnapshotBlobs.Select(b => (File.ReadAllBytes(StorePath(Path.Combine(b.Snapshot, (string)b.File["name"]!))), (byte[]?)null))],
        "chunk" => [.. Chunks.Where(c => !((string)c["kind"]!).StartsWith("encrypted")).Take(12).Select(ChunkSample)],
        "encrypted-chunk" => [.. Chunks.Where(c => ((string)c["kind"]!).StartsWith("encrypted")).Select(ChunkSample)],
        _ => throw new ArgumentException(kind),
    };

    internal delegate byte[] Mutator(byte[] original, Random random, out string how);

    /// <summary>Applies seeded random mutations to the samples and runs <paramref name="pipeline"/> on each result.</summary>
    internal static void RunMutations(string kind, List<(byte[] Raw, byte[]? Digest)> files, Mutator mutate, Action<(byte[] Raw, byte[]? Digest)> pipeline)
    {
        var random = new Random(kind.Aggregate(0x5eed, (h, c) => h * 31 + c)); // stable seed: failures reproduce
        var outcomes = new Dictionary<string, int>();
        var worker = Task.Run(() =>
        {
            for (var i = 0; i < MutationsPerKind; i++)
            {
                var (raw, digest) = files[i % files.Count];
                var mutated = mutate(raw, random, out var how);
                try
                {
                    pipeline((mutated, digest));
                    outcomes["ok"] = outcomes.GetValueOrDefault("ok") + 1;
                }
                catch (PbsException e)
                {
                    Assert.False(string.IsNullOrEmpty(e.ErrorId));
                    outcomes[e.ErrorId] = outcomes.GetValueOrDefault(e.ErrorId) + 1;
                }
                catch (Exception e)
                {
                    Assert.Fail($"{kind} mutation #{i} ({how}) threw {e.GetType().Name}: {e.Message}");
                }
            }
        });
        // Guard against hangs only; the loop normally takes well under a second.
        Assert.True(worker.Wait(TimeSpan.FromMinutes(2)), $"{kind} mutations did not finish");
        worker.GetAwaiter().GetResult();
        Assert.True(outcomes.Count > 1, $"{kind} mutations produced only {string.Join(",", outcomes.Keys)}");
    }

    private static (byte[], byte[]?) ChunkSample(System.Text.Json.Nodes.JsonObject c) =>
        (File.ReadAllBytes(StorePath((string)c["path"]!)), Convert.FromHexString((string)c["digest"]!));

    private static void Pipeline((byte[] Raw, byte[]? Digest) input)
    {
        var blob = DataBlob.FromRaw(input.Raw, "mutated");
        _ = blob.Inspect();
        blob.VerifyCrc();
        var data = blob.Decode(blob.Kind.IsEncrypted() ? Crypt : null, input.Digest);
        if (input.Digest is not null) blob.VerifyUnencrypted(data.Length, input.Digest);
    }

    /// <summary>Damage to a valid blob: truncation, flips, magics, garbage, some with the CRC repaired.</summary>
    internal static byte[] MutateBlob(byte[] raw, Random random, out string how)
    {
        var bytes = (byte[])raw.Clone();
        switch (random.Next(7))
        {
            case 0:
                how = "truncate";
                return bytes[..random.Next(bytes.Length)];
            case 1:
                how = "flip";
                FlipBytes(bytes, random);
                return bytes;
            case 2:
                how = "flip, CRC repaired";
                FlipBytes(bytes, random, from: DataBlob.KindOf(bytes)!.Value.HeaderSize());
                RepairCrc(bytes);
                return bytes;
            case 3:
                how = "other blob magic, CRC repaired";
                DataBlob.MagicOf((BlobKind)random.Next(4)).CopyTo(bytes, 0);
                if (DataBlob.KindOf(bytes)!.Value.HeaderSize() <= bytes.Length) RepairCrc(bytes);
                return bytes;
            case 4:
                how = "wrong magic";
                random.NextBytes(bytes.AsSpan(0, 8));
                return bytes;
            case 5:
                how = "garbage appended, CRC repaired";
                var longer = bytes.Concat(Enumerable.Range(0, random.Next(1, 64)).Select(_ => (byte)random.Next(256))).ToArray();
                RepairCrc(longer);
                return longer;
            default:
                how = "truncate, CRC repaired";
                var header = DataBlob.KindOf(bytes)!.Value.HeaderSize();
                var cut = bytes[..random.Next(header, bytes.Length)];
                RepairCrc(cut);
                return cut;
        }
    }

    internal static void FlipBytes(byte[] bytes, Random random, int from = 0)
    {
        if (bytes.Length <= from) return;
        for (var n = random.Next(1, 5); n > 0; n--)
            bytes[random.Next(from, bytes.Length)] ^= (byte)random.Next(1, 256);
    }

    internal static void RepairCrc(byte[] bytes)
    {
        var header = DataBlob.KindOf(bytes)?.HeaderSize() ?? DataBlob.PlainHeaderSize;
        if (bytes.Length >= header)
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), Crc32.HashToUInt32(bytes.AsSpan(header)));
    }
}
