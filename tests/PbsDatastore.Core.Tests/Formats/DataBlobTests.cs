using System.Text;
using System.Text.Json.Nodes;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Tests.Support;
using static PbsDatastore.Core.Tests.Formats.FormatFixtures;

namespace PbsDatastore.Core.Tests.Formats;

public class DataBlobTests
{
    public static TheoryData<string> ChunkPaths => [.. Chunks.Select(c => (string)c["path"]!)];

    public static TheoryData<string> BadFilePaths => [.. BadFiles.Select(c => (string)c["path"]!)];

    public static TheoryData<string, string> SnapshotBlobFiles
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var b in SnapshotBlobs) data.Add(b.Snapshot, (string)b.File["name"]!);
            return data;
        }
    }

    public static TheoryData<string> BlobVectorNames =>
        [.. ReferenceStore.Expected["vectors"]!.AsObject().Where(v => v.Value is JsonObject o && o.ContainsKey("blobs")).Select(v => v.Key)];

    [Theory]
    [MemberData(nameof(ChunkPaths))]
    public void ChunkMatchesPbsFacts(string path)
    {
        var expected = Chunks.Single(c => (string)c["path"]! == path);
        var digest = Convert.FromHexString((string)expected["digest"]!);
        Assert.Equal((string)expected["digest"]!, Path.GetFileName(path));

        var blob = CheckHeader(StorePath(path), expected);
        var decodedLen = (long)expected["decoded_len"]!;
        if (blob.Kind.IsEncrypted())
        {
            Assert.Equal("BlobNeedsKey", Assert.Throws<PbsException>(() => blob.Decode(null, digest)).ErrorId);
            foreach (var crypt in new[] { Crypt, ScryptCrypt })
            {
                var data = blob.Decode(crypt, digest);
                Assert.Equal(decodedLen, data.Length);
                Assert.Equal((string)expected["decoded_sha256"]!, Sha256Hex(data));
                Assert.Equal(digest, DataBlob.ComputeDigest(data, crypt));
            }
            blob.VerifyUnencrypted(0, ReadOnlySpan<byte>.Empty); // encrypted chunks pass unchecked, as on the server
        }
        else
        {
            var data = blob.Decode(null, digest);
            Assert.Equal(decodedLen, data.Length);
            Assert.Equal((string)expected["decoded_sha256"]!, Sha256Hex(data));
            blob.VerifyUnencrypted(decodedLen, digest);
            blob.VerifyUnencrypted(decodedLen, ChunkDigest.Parse((string)expected["digest"]!));
            Assert.Equal(data, blob.Decode(null, ChunkDigest.Parse((string)expected["digest"]!)));
            Assert.Equal("BlobSizeMismatch", Assert.Throws<PbsException>(() => blob.VerifyUnencrypted(decodedLen + 1, digest)).ErrorId);
        }
        Assert.True((bool)expected["digest_ok"]!);
    }

    [Theory]
    [MemberData(nameof(BadFilePaths))]
    public void BadFileMatchesPbsFacts(string path)
    {
        var expected = BadFiles.Single(c => (string)c["path"]! == path);
        var digest = Convert.FromHexString(((string)expected["name"]!)[..64]);
        var raw = File.ReadAllBytes(StorePath(path));
        var blob = DataBlob.FromRaw(raw, path);
        CheckInfo(blob.Inspect(), raw, expected);

        if ((bool)expected["crc_ok"]!)
            DataBlob.Load(StorePath(path));
        else
            Assert.Equal("BlobCrcMismatch", Assert.Throws<PbsException>(() => DataBlob.Load(StorePath(path))).ErrorId);

        if (expected["decode_error"] is { } error)
        {
            Assert.Equal("detected chunk with wrong digest.", (string)error!);
            var e = Assert.Throws<PbsException>(() => blob.Decode(null, digest));
            Assert.Equal("BlobDigestMismatch", e.ErrorId);
            Assert.Equal((string)error!, e.Message);
        }
        else
        {
            var data = blob.Decode(null, digest);
            Assert.Equal((long)expected["decoded_len"]!, data.Length);
            Assert.Equal((string)expected["decoded_sha256"]!, Sha256Hex(data));
        }
    }

    [Theory]
    [MemberData(nameof(SnapshotBlobFiles))]
    public void SnapshotBlobMatchesPbsFacts(string snapshot, string name)
    {
        var (_, file, expected) = SnapshotBlobs.Single(b => b.Snapshot == snapshot && (string)b.File["name"]! == name);
        var path = StorePath(Path.Combine(snapshot, name));
        Assert.Equal((long)file["file_size"]!, new FileInfo(path).Length);
        Assert.Equal((string)file["sha256"]!, Sha256Hex(File.ReadAllBytes(path)));

        var blob = CheckHeader(path, expected);
        foreach (var crypt in blob.Kind.IsEncrypted() ? new CryptConfig?[] { Crypt, ScryptCrypt } : [null])
        {
            var data = blob.Decode(crypt);
            Assert.Equal((long)expected["decoded_len"]!, data.Length);
            Assert.Equal((string)expected["decoded_sha256"]!, Sha256Hex(data));
            if (expected["decoded_text"] is { } text)
                Assert.Equal((string)text!, Encoding.UTF8.GetString(data));
        }
    }

    [Fact]
    public void ManifestBlobsMatchPbsFacts()
    {
        var manifests = Snapshots.Where(s => s.ContainsKey("manifest_blob")).ToList();
        Assert.NotEmpty(manifests);
        foreach (var s in manifests)
        {
            var blob = CheckHeader(StorePath(Path.Combine((string)s["path"]!, "index.json.blob")), s["manifest_blob"]!.AsObject());
            var data = blob.Decode();
            Assert.Equal((long)s["manifest_blob"]!["decoded_len"]!, data.Length);
            Assert.Equal((string)s["manifest_text"]!, Encoding.UTF8.GetString(data));
        }
    }

    [Theory]
    [MemberData(nameof(BlobVectorNames))]
    public void EncoderReproducesPbsVectors(string name)
    {
        var vector = ReferenceStore.Expected["vectors"]![name]!.AsObject();
        var blobs = vector["blobs"]!.AsArray().Select(b => b!.AsObject()).ToList();
        var input = ReferenceStore.Expected["vectors"]![name + "_input_hex"] is { } hex
            ? Convert.FromHexString((string)hex!)
            : Convert.FromHexString((string)blobs.Single(b => (string)b["call"]! == "encode(compress=false)")["blob_hex"]!)[12..];
        Assert.Equal((long)vector["input_len"]!, input.Length);
        Assert.Equal((string)vector["input_sha256"]!, Sha256Hex(input));
        Assert.Equal((string)vector["digest_plain"]!, Hex(DataBlob.ComputeDigest(input, null)));
        Assert.Equal((string)vector["digest_keyed"]!, Hex(DataBlob.ComputeDigest(input, Crypt)));

        Assert.Equal(4, blobs.Count);
        foreach (var b in blobs)
        {
            var call = (string)b["call"]!;
            var expectedRaw = Convert.FromHexString((string)b["blob_hex"]!);
            var crypt = call.Contains("crypt") ? Crypt : null;
            var compress = call.Contains("compress=true");

            var encoded = DataBlob.Encode(input, crypt, compress, crypt is null ? default : expectedRaw.AsSpan(12, 16));
            Assert.Equal(Hex(expectedRaw), Hex(encoded.Raw));
            Assert.Equal((string)b["kind"]!, encoded.Kind.ToPbsName());
            Assert.Equal((long)b["blob_len"]!, encoded.Raw.Length);
            Assert.Equal((uint)b["crc32"]!, encoded.StoredCrc);
            Assert.Equal((uint)b["crc32_of_bytes_after_header"]!, encoded.ComputeCrc());

            // The PBS bytes decode to the input, and their zstd framing is as recorded.
            var blob = DataBlob.FromRaw(expectedRaw);
            blob.VerifyCrc();
            Assert.Equal(input, blob.Decode(crypt, DataBlob.ComputeDigest(input, crypt)));
            byte[]? zstdPayload = blob.Kind switch
            {
                BlobKind.Compressed => blob.Payload.ToArray(),
                BlobKind.EncryptedCompressed => DecryptPayload(blob, crypt!),
                _ => null,
            };
            if (b["decrypted_payload_len"] is { } plen)
                Assert.Equal((long)plen!, DecryptPayload(blob, crypt!).Length);
            if (b["zstd_frame"] is JsonObject frame)
            {
                var descriptor = zstdPayload![4];
                Assert.Equal((string)frame["frame_header_descriptor"]!, $"0x{descriptor:x2}");
                Assert.Equal((bool)frame["single_segment"]!, (descriptor & 0x20) != 0);
                Assert.Equal((int)frame["frame_content_size_flag"]!, descriptor >> 6);
                Assert.Equal((bool)frame["content_checksum"]!, (descriptor & 0x04) != 0);
                Assert.Equal((int)frame["dictionary_id_flag"]!, descriptor & 0x03);
            }

            // Without an explicit IV, encrypted encodes differ each time but still decode.
            var fresh = DataBlob.Encode(input, crypt, compress);
            Assert.Equal(encoded.Kind, fresh.Kind);
            Assert.Equal(input, DataBlob.FromRaw(fresh.Raw.ToArray()).Decode(crypt));
        }
    }

    [Fact]
    public void SpecVectorsForKeyZeroToThirtyOne()
    {
        // pbs-datastore.md §2.9: PBS's own test key and the blobs computed from it.
        var crypt = new CryptConfig(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
        Assert.Equal("0e:ab:d4:46:0b:6e:b9:ca:34:50:23:de:e2:b7:78:c7:90:e5:4a:16:83:b9:65:9c:0a:57:ae:19:90:90:15:9b", crypt.Fingerprint);
        Assert.Equal("0e:ab:d4:46:0b:6e:b9:ca", crypt.ShortFingerprint);
        Assert.Equal("7c2c013efd07f3b25717a485263343cd4d292a4b65c200bb3b18ea227abe225c", Hex(crypt.IdKey));
        Assert.Equal("d213f9b52d680fbe05942a8b5540377dd5f627132c2889e5389f690b683f1d7f", Hex(crypt.ComputeDigest([])));

        var text = "Proxmox Backup test chunk"u8.ToArray();
        var plain = DataBlob.Encode(text, null, compress: false);
        Assert.Equal("42ab3807be8370a1cdc771ef50726f786d6f78204261636b75702074657374206368756e6b", Hex(plain.Raw));
        Assert.Equal("5ed16607ae94661c02b899d48b2f68d88832348b1467bdd6e7e7b27f8eaf2cf0", Hex(DataBlob.ComputeDigest(text, null)));

        var iv = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();
        var encrypted = DataBlob.Encode(text, crypt, compress: false, iv);
        Assert.Equal("7b6785be222d4cf0e0c776bb000102030405060708090a0b0c0d0e0fdbe33d358422b8f07ad182ad716a1f1f371ecf0e548b3208df9eb84220d40cc731c01f8104e5a62d2f", Hex(encrypted.Raw));
        var digest = Convert.FromHexString("012fec06daacdd135b62997a983398d9f4803b4080a44ce408e20277f26405f6");
        Assert.Equal(text, DataBlob.FromRaw(encrypted.Raw.ToArray()).Decode(crypt, digest));
    }

    [Fact]
    public void DecoderAcceptsConcatenatedFramesAndEmptyEncryptedPayload()
    {
        var a = DataBlob.Encode(new byte[5000], null, compress: true);
        Assert.Equal(BlobKind.Compressed, a.Kind);
        var frames = a.Payload.ToArray().Concat(a.Payload.ToArray()).ToArray();
        var raw = DataBlob.MagicOf(BlobKind.Compressed).Concat(new byte[4]).Concat(frames).ToArray();
        BitConverter.TryWriteBytes(raw.AsSpan(8), System.IO.Hashing.Crc32.HashToUInt32(frames));
        Assert.Equal(new byte[10000], DataBlob.FromRaw(raw).Decode());

        // PBS 3.2.8+ writes plain compressed blobs with the single-shot encoder (frame with content size).
        var bulk = Zstd.CompressBulk(new byte[5000]);
        var bulkRaw = DataBlob.MagicOf(BlobKind.Compressed).Concat(new byte[4]).Concat(bulk).ToArray();
        Assert.Equal(0x20, bulk[4] & 0x20);
        Assert.Equal(new byte[5000], DataBlob.FromRaw(bulkRaw).Decode());

        var empty = DataBlob.Encode([], Crypt, compress: true);
        Assert.Equal(DataBlob.EncryptedHeaderSize, empty.Raw.Length);
        Assert.Empty(DataBlob.FromRaw(empty.Raw.ToArray()).Decode(Crypt));
    }

    [Fact]
    public void BadInputGivesStableErrorIds()
    {
        var chunk = Chunks.First(c => (string)c["kind"]! == "compressed");
        var raw = File.ReadAllBytes(StorePath((string)chunk["path"]!));

        Assert.Equal("BlobTooShort", Assert.Throws<PbsException>(() => DataBlob.FromRaw(raw[..11])).ErrorId);
        Assert.Equal("BlobTooShort", Assert.Throws<PbsException>(() => DataBlob.FromRaw([.. DataBlob.MagicOf(BlobKind.Encrypted), .. new byte[35]])).ErrorId);
        var badMagic = (byte[])raw.Clone();
        badMagic[0] ^= 1;
        Assert.Equal("BlobBadMagic", Assert.Throws<PbsException>(() => DataBlob.FromRaw(badMagic)).ErrorId);
        var badCrc = (byte[])raw.Clone();
        badCrc[^1] ^= 1;
        var e = Assert.Throws<PbsException>(() => DataBlob.FromRaw(badCrc, "x").VerifyCrc());
        Assert.Equal(("BlobCrcMismatch", PbsErrorKind.InvalidData, (object?)"x"), (e.ErrorId, e.Kind, e.Target));
        Assert.Equal("BlobDecompressFailed", Assert.Throws<PbsException>(() => DataBlob.FromRaw(badCrc).Decode()).ErrorId);
        Assert.Equal("BlobNotFound", Assert.Throws<PbsException>(() => DataBlob.Load("/nonexistent/blob")).ErrorId);
        Assert.Equal("BlobTooLarge", Assert.Throws<PbsException>(() => DataBlob.Encode(new byte[DataBlob.MaxDataSize + 1], null, false)).ErrorId);

        var encrypted = File.ReadAllBytes(StorePath((string)Chunks.First(c => ((string)c["kind"]!).StartsWith("encrypted"))["path"]!));
        var wrongKey = new CryptConfig(new byte[32]);
        Assert.Equal("BlobDecryptFailed", Assert.Throws<PbsException>(() => DataBlob.FromRaw(encrypted).Decode(wrongKey)).ErrorId);

        // A zstd bomb beyond PBS's 128 MiB data limit is refused, not decoded without bound.
        var bomb = DataBlob.Encode(new byte[DataBlob.MaxDataSize], null, compress: true).Payload.ToArray();
        var twoBombs = DataBlob.MagicOf(BlobKind.Compressed).Concat(new byte[4]).Concat(bomb).Concat(bomb).ToArray();
        Assert.Equal("BlobTooLarge", Assert.Throws<PbsException>(() => DataBlob.FromRaw(twoBombs).Decode()).ErrorId);
    }

    private static DataBlob CheckHeader(string path, JsonObject expected)
    {
        var raw = File.ReadAllBytes(path);
        CheckInfo(DataBlob.Inspect(path), raw, expected);
        var blob = DataBlob.Load(path);
        Assert.Equal(raw, blob.Raw.ToArray());
        return blob;
    }

    private static void CheckInfo(BlobInfo info, byte[] raw, JsonObject expected)
    {
        Assert.Equal((string)expected["kind"]!, info.Kind.ToPbsName());
        Assert.Equal((string)expected["magic_hex"]!, Hex(DataBlob.MagicOf(info.Kind)));
        Assert.Equal((long)expected["file_size"]!, info.FileSize);
        Assert.Equal((int)expected["payload_offset"]!, info.HeaderSize);
        Assert.Equal((uint)expected["crc32_stored"]!, info.StoredCrc);
        Assert.Equal((uint)expected["crc32_computed"]!, info.ComputedCrc);
        Assert.Equal((bool)expected["crc_ok"]!, info.CrcOk);
        Assert.Equal((string)expected["sha256"]!, Sha256Hex(raw));
        Assert.Equal((string?)expected["iv_hex"], info.Iv is null ? null : Hex(info.Iv));
        Assert.Equal((string?)expected["tag_hex"], info.Tag is null ? null : Hex(info.Tag));
        if (info.DecodedSize is { } size && expected["decoded_len"] is { } len)
            Assert.Equal((long)len!, size);
    }

    private static byte[] DecryptPayload(DataBlob blob, CryptConfig crypt)
    {
        // Decode the ciphertext as if uncompressed to see the plaintext payload (the zstd frame for compressed kinds).
        var raw = blob.Raw.ToArray();
        DataBlob.MagicOf(BlobKind.Encrypted).CopyTo(raw, 0);
        return DataBlob.FromRaw(raw).Decode(crypt);
    }
}
