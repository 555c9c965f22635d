using System.Security.Cryptography;
using PbsDatastore.Core.Formats;

namespace PbsDatastore.Bench;

/// <summary>
/// DataBlob decode with digest check, per kind, on 4 MiB of half-compressible data. Floors: SHA-256 alone (the
/// digest every decode must compute) plus, for encrypted kinds, .NET's AesGcm with a standard 12-byte nonce —
/// what the cipher costs where the platform can do it (PBS's 16-byte IV forces BouncyCastle).
/// </summary>
public sealed class DataBlobBench : IBenchmark
{
    private const int Size = 4 * 1024 * 1024;
    private const int Rounds = 8;

    public string Name => "datablob";

    public IEnumerable<BenchRow> Run(BenchContext context)
    {
        var data = new byte[Size];
        var random = new Random(1);
        for (var i = 0; i < Size; i += 64) random.NextBytes(data.AsSpan(i, 32)); // half random, half zero
        var crypt = new CryptConfig(RandomNumberGenerator.GetBytes(32));

        var shaFloor = Rate(() => SHA256.HashData(data));
        var gcmFloor = Rate(() =>
        {
            using var aes = new AesGcm(crypt.Key, 16);
            var cipher = new byte[Size];
            aes.Encrypt(new byte[12], data, cipher, new byte[16]);
        });
        var encFloor = 1 / (1 / shaFloor + 1 / gcmFloor);

        foreach (var (label, key, compress) in new[] { ("plain", (CryptConfig?)null, false), ("compressed", null, true), ("encrypted", crypt, false), ("encrypted+compressed", crypt, true) })
        {
            var blob = DataBlob.Encode(data, key, compress);
            var digest = DataBlob.ComputeDigest(data, key);
            var raw = blob.Raw.ToArray();
            var rate = Rate(() => DataBlob.FromRaw(raw).Decode(key, digest));
            var floor = key is null ? shaFloor : encFloor;
            yield return new BenchRow(Name, $"decode+digest {label} ({blob.Kind.ToPbsName()})", rate, "MB/s", floor,
                key is null ? "SHA-256 alone" : "SHA-256 + AesGcm (12-byte nonce)") { Ratio = floor / rate };
            var encodeRate = Rate(() => DataBlob.Encode(data, key, compress));
            yield return new BenchRow(Name, $"encode {label}", encodeRate, "MB/s", floor, "same floor") { Ratio = floor / encodeRate };
        }
    }

    private static double Rate(Action action)
    {
        action(); // warm-up
        var elapsed = BenchContext.Time(() =>
        {
            for (var i = 0; i < Rounds; i++) action();
        });
        return Rounds * (double)Size / (1024 * 1024) / elapsed.TotalSeconds;
    }
}
