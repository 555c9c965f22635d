using System.Text.Json.Nodes;
using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Tests.Support;
using static PbsDatastore.Core.Tests.Formats.FormatFixtures;

namespace PbsDatastore.Core.Tests.Formats;

public class BackupManifestTests
{
    public static TheoryData<string> ManifestSnapshots => [.. Snapshots.Where(s => s.ContainsKey("manifest")).Select(s => (string)s["path"]!)];

    [Theory]
    [MemberData(nameof(ManifestSnapshots))]
    public void ManifestMatchesPbsFacts(string snapshot)
    {
        var expected = Snapshots.Single(s => (string)s["path"]! == snapshot);
        var path = StorePath(Path.Combine(snapshot, "index.json.blob"));
        var manifest = BackupManifest.Load(path);
        var json = expected["manifest"]!.AsObject();

        Assert.True(JsonNode.DeepEquals(json, manifest.ToJsonNode()));
        Assert.Equal((string)expected["manifest_text"]!, manifest.ToJson());
        // Re-encoding an unchanged manifest gives PBS's blob byte for byte (level-1 streaming zstd, plain blob).
        var reencoded = manifest.ToBlob();
        Assert.Equal((string)expected["manifest_blob"]!["kind"]!, reencoded.Kind.ToPbsName());
        Assert.Equal(Hex(File.ReadAllBytes(path)), Hex(reencoded.Raw));

        Assert.Equal((string)expected["type"]!, manifest.BackupType);
        Assert.Equal((string)expected["id"]!, manifest.BackupId);
        Assert.Equal((long)expected["time"]!, manifest.BackupTime);
        Assert.Equal((string?)json["signature"], manifest.Signature);
        Assert.Equal((string?)json["unprotected"]!["key-fingerprint"], manifest.KeyFingerprint);
        Assert.Equal((string?)json["unprotected"]!["notes"], manifest.Notes);
        Assert.Equal((string?)json["unprotected"]!["verify_state"]?["state"], manifest.VerifyState?.State);
        Assert.Equal((string?)json["unprotected"]!["verify_state"]?["upid"], manifest.VerifyState?.Upid);

        var files = json["files"]!.AsArray().Select(f => f!.AsObject()).ToList();
        Assert.Equal(files.Select(f => (string)f["filename"]!), manifest.Files.Select(f => f.Filename));
        foreach (var f in files)
        {
            var file = manifest.FindFile((string)f["filename"]!)!;
            Assert.Equal((string)f["crypt-mode"]!, file.CryptMode.ToPbsName());
            Assert.Equal((ulong)f["size"]!, file.Size);
            Assert.Equal((string)f["csum"]!, file.Csum);
        }
        // Each file entry of the snapshot listing agrees with the manifest.
        foreach (var f in expected["files"]!.AsArray().Select(f => f!.AsObject()).Where(f => f.ContainsKey("manifest_entry")))
            Assert.True(JsonNode.DeepEquals(f["manifest_entry"], files.Single(x => (string)x["filename"]! == (string)f["name"]!)));

        if (manifest.Signature is null)
        {
            Assert.False(expected.ContainsKey("manifest_signature_valid"));
            manifest.CheckSignature(Crypt); // unsigned manifests pass with or without a key
            manifest.CheckFingerprint(null);
        }
        else
        {
            Assert.Equal((string)expected["manifest_canonical_signed_json"]!, manifest.ToCanonicalSignedJson());
            Assert.Equal((string)expected["manifest_signature_recomputed"]!, manifest.ComputeSignature(Crypt));
            Assert.True((bool)expected["manifest_signature_valid"]!);
            Assert.Equal(manifest.Signature, manifest.ComputeSignature(ScryptCrypt));
            manifest.CheckSignature(Crypt);
            manifest.CheckSignature(null);
            manifest.CheckFingerprint(Crypt);
            Assert.Equal(Crypt.Fingerprint, manifest.KeyFingerprint);

            var otherKey = new CryptConfig(new byte[32]);
            Assert.Equal("ManifestWrongKey", Assert.Throws<PbsException>(() => manifest.CheckSignature(otherKey)).ErrorId);
            Assert.Equal("ManifestWrongKey", Assert.Throws<PbsException>(() => manifest.CheckFingerprint(otherKey)).ErrorId);
            Assert.Equal("ManifestNeedsKey", Assert.Throws<PbsException>(() => manifest.CheckFingerprint(null)).ErrorId);

            var changed = manifest.ToJsonNode();
            changed["backup-time"] = manifest.BackupTime + 1;
            var tampered = BackupManifest.Parse(changed.ToJsonString(), "t");
            var e = Assert.Throws<PbsException>(() => tampered.CheckSignature(Crypt));
            Assert.Equal(("ManifestBadSignature", "wrong signature in manifest", (object?)"t"), (e.ErrorId, e.Message, e.Target));

            // Unprotected data is outside the signature.
            manifest.Notes = "changed";
            manifest.CheckSignature(Crypt);
        }
    }

    [Fact]
    public void UnprotectedEditsKeepEverythingElse()
    {
        var snapshot = Snapshots.First(s => s["manifest"]?["unprotected"]?["verify_state"] is not null);
        var manifest = BackupManifest.Load(StorePath(Path.Combine((string)snapshot["path"]!, "index.json.blob")));
        manifest.VerifyState = new VerifyState("failed", "UPID:x");
        manifest.Notes = "line one\nline \"two\" é";
        manifest.Unprotected["custom"] = new JsonObject { ["z"] = 1, ["a"] = new JsonArray() };

        var reread = BackupManifest.FromBlob(DataBlob.FromRaw(manifest.ToBlob().Raw.ToArray()));
        Assert.Equal(new VerifyState("failed", "UPID:x"), reread.VerifyState);
        Assert.Equal("line one\nline \"two\" é", reread.Notes);
        Assert.Contains("\"custom\": {\n      \"a\": [],\n      \"z\": 1\n    },", reread.ToJson());
        Assert.Contains("\"notes\": \"line one\\nline \\\"two\\\" é\"", reread.ToJson());
        var expected = snapshot["manifest"]!.DeepClone().AsObject();
        expected["unprotected"]!["verify_state"] = new JsonObject { ["state"] = "failed", ["upid"] = "UPID:x" };
        expected["unprotected"]!["notes"] = "line one\nline \"two\" é";
        expected["unprotected"]!["custom"] = new JsonObject { ["a"] = new JsonArray(), ["z"] = 1 };
        Assert.True(JsonNode.DeepEquals(expected, reread.ToJsonNode()));

        reread.Notes = null;
        reread.VerifyState = null;
        Assert.Null(BackupManifest.Parse(reread.ToJson()).Notes);
        Assert.False(reread.Unprotected.ContainsKey("verify_state"));
    }

    [Fact]
    public void PbsSignatureTestVector()
    {
        // pbs-datastore.md §5.6 (PBS's own manifest test).
        var crypt = new CryptConfig(Convert.FromHexString("28cdb1a3bef39396c3860e00d448fe7a0efd8244486ab6feb30457681d31597e"));
        Assert.Equal("12:b9:b7:74:bb:3d:89:95:2b:97:cb:c2:82:f0:0c:14:2b:83:ba:7f:96:62:6a:a1:5a:44:9a:63:e8:91:fe:25", crypt.Fingerprint);
        var manifest = BackupManifest.Create("host", "elsa", 1593179765);
        manifest.AddFile(new ManifestFile("test1.img.fidx", CryptMode.Encrypt, 200, string.Concat(Enumerable.Repeat("01", 32))));
        manifest.AddFile(new ManifestFile("abc.blob", CryptMode.None, 200, string.Concat(Enumerable.Repeat("02", 32))));
        manifest.Unprotected["note"] = "This is not protected by the signature.";
        Assert.Equal("{\"backup-id\":\"elsa\",\"backup-time\":1593179765,\"backup-type\":\"host\",\"files\":[{\"crypt-mode\":\"encrypt\",\"csum\":\"0101010101010101010101010101010101010101010101010101010101010101\",\"filename\":\"test1.img.fidx\",\"size\":200},{\"crypt-mode\":\"none\",\"csum\":\"0202020202020202020202020202020202020202020202020202020202020202\",\"filename\":\"abc.blob\",\"size\":200}]}",
            manifest.ToCanonicalSignedJson());
        manifest.Sign(crypt);
        Assert.Equal("d7b446fb7db081662081d4b40fedd858a1d6307a5aff4ecff7d5bf4fd35679e9", manifest.Signature);
        Assert.Equal(crypt.Fingerprint, manifest.KeyFingerprint);
        BackupManifest.Parse(manifest.ToJson()).CheckSignature(crypt);
    }

    [Fact]
    public void CanonicalJsonVector()
    {
        var vector = ReferenceStore.Expected["vectors"]!["canonical_json_example"]!;
        Assert.Equal((string)vector["canonical"]!, CanonicalJson.Serialize(vector["input_ok"]));
        var e = Assert.Throws<PbsException>(() => CanonicalJson.Serialize(vector["input"]));
        Assert.Equal(("CanonicalJsonNull", (string)vector["error"]!), (e.ErrorId, e.Message));
    }

    [Fact]
    public void CanonicalJsonEscapingOrderingAndNumbers()
    {
        var node = JsonNode.Parse("{\"\uFB01\":1,\"\uD83D\uDE00\":2,\"b\":[1.0,1e20,-5,18446744073709551615,0.5],\"a\":\"\\u0001\\b\\u007f/<>\\u00e9\",\"\":{}}");
        Assert.Equal("{\"\":{},\"a\":\"\\u0001\\b\u007f/<>é\",\"b\":[1.0,1e20,-5,18446744073709551615,0.5],\"\uFB01\":1,\"\uD83D\uDE00\":2}", CanonicalJson.Serialize(node));
        Assert.Equal("[\n  {},\n  [],\n  null\n]", CanonicalJson.SerializePretty(JsonNode.Parse("[{},[],null]")));
    }

    [Fact]
    public void MalformedManifestsAreRejected()
    {
        var good = (string)Snapshots.First(s => s.ContainsKey("manifest_text"))["manifest_text"]!;
        foreach (var text in new[]
                 {
                     "", "null", "[]", "{", good[..^1], good.Replace("\"ct\"", "\"xx\""), good.Replace("\"backup-time\": ", "\"backup-time\": -0.5 + "),
                     good.Replace("\"files\": [", "\"files\": [1,"), good.Replace("\"size\": 193", "\"size\": -1"), good.Replace("\"none\"", "\"plain\""),
                     good.Replace("\"signature\": null", "\"signature\": 5"), good.Replace("\"unprotected\": {", "\"unprotected\": [], \"x\": {"),
                     good.Replace("de3740963e3cca84", "de3740963e3cca8"), "{\"a\":1,\"a\":2}", "\xff\xfe",
                 })
        {
            var e = Assert.Throws<PbsException>(() => BackupManifest.Parse(text, "m"));
            Assert.Equal(("ManifestInvalid", PbsErrorKind.InvalidData, (object?)"m"), (e.ErrorId, e.Kind, e.Target));
        }
    }

    [Fact]
    public void MutatedManifestsOnlyGivePbsExceptions()
    {
        var blobs = Snapshots.Where(s => s.ContainsKey("manifest"))
            .Select(s => (File.ReadAllBytes(StorePath(Path.Combine((string)s["path"]!, "index.json.blob"))), (byte[]?)null)).ToList();
        MutationTests.RunMutations("manifest", blobs, MutationTests.MutateBlob, input => ManifestPipeline(input.Raw));

        // Damage the JSON itself and store it correctly, so the parser and the typed checks see the damage.
        var texts = blobs.Select(b => (DataBlob.FromRaw(b.Item1).Decode(), (byte[]?)null)).ToList();
        MutationTests.RunMutations("manifest-json", texts, MutateJson, input => ManifestPipeline(DataBlob.Encode(input.Raw, null, compress: true).Raw.ToArray()));
    }

    private static byte[] MutateJson(byte[] text, Random random, out string how)
    {
        var bytes = text.ToList();
        const string tokens = "{}[]\",:-.0123456789e ntfu\\\u00ff";
        switch (random.Next(4))
        {
            case 0:
                how = "truncate";
                return text[..random.Next(text.Length)];
            case 1:
                how = "flip";
                var flipped = (byte[])text.Clone();
                MutationTests.FlipBytes(flipped, random);
                return flipped;
            case 2:
                how = "token replaced";
                for (var n = random.Next(1, 4); n > 0; n--)
                    bytes[random.Next(bytes.Count)] = (byte)tokens[random.Next(tokens.Length)];
                return [.. bytes];
            default:
                how = "range removed";
                var start = random.Next(bytes.Count);
                bytes.RemoveRange(start, Math.Min(bytes.Count - start, random.Next(1, 40)));
                return [.. bytes];
        }
    }

    private static void ManifestPipeline(byte[] raw)
    {
        var blob = DataBlob.FromRaw(raw, "mutated");
        blob.VerifyCrc();
        var manifest = BackupManifest.FromBlob(blob);
        _ = manifest.ToJson();
        manifest.CheckFingerprint(Crypt);
        manifest.CheckSignature(Crypt);
        _ = manifest.ToCanonicalSignedJson();
        _ = manifest.ToBlob();
    }
}
