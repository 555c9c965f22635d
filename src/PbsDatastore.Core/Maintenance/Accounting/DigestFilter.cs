using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Maintenance;

/// <summary>
/// A blocked Bloom filter over a table's digests: each digest sets three bits of one 64-bit word, so that a digest
/// the table does not hold is ruled out with one load instead of a probe of the table, which misses the caches.
/// At 32 bits per digest it errs for about 0.2% of foreign digests, and a group's filter (128 KiB for 30,000
/// chunks) stays in a core's L2 cache while the index bytes stream past; one bit per digest in a plain bit array
/// of L2's size would be evicted by that stream. It hashes the index entry's raw bytes, so a rejected digest is
/// never decoded. Built once the table is complete; read-only after.
/// </summary>
internal sealed class DigestFilter
{
    private const int BitsPerDigest = 32;

    // Fibonacci hashing with a multiplier other than the table's, so that the filter's bits do not follow its slots.
    private const ulong Multiplier = 0xD6E8FEB86659FD93UL;

    /// <summary>Entries hashed between two rounds of marking in the AVX-512 loop.</summary>
    private const int EntriesPerScan = 512;

    private readonly ulong[] _words;
    private readonly int _shift;

    public DigestFilter(ChunkDigestTable table)
    {
        // At least two words: the word is the hash's top bits, and a shift by 64 would keep them all.
        var words = Math.Max(2, table.Count * BitsPerDigest / 64);
        var log2 = 64 - BitOperations.LeadingZeroCount((ulong)words - 1);
        _words = new ulong[1L << log2];
        _shift = 64 - log2;
        Span<byte> raw = stackalloc byte[ChunkDigest.Size];
        for (var shard = 0; shard < table.ShardCount; shard++)
            foreach (ref readonly var entry in table.ShardSlots(shard))
                if (entry.State != 0)
                {
                    entry.Digest.WriteTo(raw);
                    var hash = Hash(in raw[0]);
                    _words[hash >> _shift] |= Mask(hash);
                }
    }

    public long AllocatedBytes => _words.LongLength * sizeof(ulong);

    /// <summary>Test seam: false keeps to the scalar loop where AVX-512 would hash eight entries at a time.</summary>
    internal static bool UseVectors { get; set; } = true;

    /// <summary>
    /// Sets <paramref name="bits"/> in the table's state of every digest of <paramref name="entries"/> (index
    /// entries of <paramref name="stride"/> bytes, the digest last) that the table holds; the filter rules out the
    /// rest without touching the table. This runs for every entry of every index outside the measured set: raw reads,
    /// no bounds checks (a word index is in range by construction: the hash's top bits count the words), and the
    /// 32-byte entries of a fixed index hashed eight at a time where AVX-512 allows.
    /// </summary>
    public unsafe void MarkHeld(ReadOnlySpan<byte> entries, int stride, ChunkDigestTable table, uint bits)
    {
        var count = entries.Length / stride;
        var i = 0;
        if (stride == ChunkDigest.Size && UseVectors && Avx512DQ.IsSupported)
        {
            // The hashing loop makes no call: a call would cost it its vector registers.
            var passed = stackalloc int[EntriesPerScan];
            fixed (byte* first = entries)
            fixed (ulong* words = _words)
                for (int n; (n = Math.Min(EntriesPerScan, (count - i) & ~7)) > 0; i += n)
                {
                    var found = ScanEights(first + (nint)i * ChunkDigest.Size, n, words, (ulong)_shift, passed);
                    for (var k = 0; k < found; k++) Mark(table, ref first[(nint)(i + passed[k]) * ChunkDigest.Size], bits);
                }
        }
        ref var filter = ref MemoryMarshal.GetArrayDataReference(_words);
        ref var digest = ref Unsafe.Add(ref MemoryMarshal.GetReference(entries), (nint)i * stride + stride - ChunkDigest.Size);
        for (; i < count; i++, digest = ref Unsafe.Add(ref digest, stride))
        {
            var hash = Hash(in digest);
            var mask = Mask(hash);
            if ((Unsafe.Add(ref filter, (nint)(hash >> _shift)) & mask) == mask) Mark(table, ref digest, bits);
        }
    }

    /// <summary>
    /// The filter's test of <paramref name="count"/> (a multiple of 8) fixed index entries: the hashes and masks of
    /// eight in one 512-bit register, then eight scalar word tests (a gather of the words is slower on the CPUs at
    /// hand). Writes the positions that pass to <paramref name="passed"/>; returns how many.
    /// </summary>
    private static unsafe int ScanEights(byte* entries, int count, ulong* words, ulong shift, int* passed)
    {
        // Of four digests in two registers: their first and their last 8 bytes, in lanes 0-3 (and again in 4-7).
        var firstWords = Vector512.Create(0UL, 4, 8, 12, 0, 4, 8, 12);
        var lastWords = Vector512.Create(3UL, 7, 11, 15, 3, 7, 11, 15);
        var multiplier = Vector512.Create(Multiplier);
        var shifts = Vector512.Create(shift);
        var low6 = Vector512.Create(63UL);
        var one = Vector512.Create(1UL);
        var word = stackalloc ulong[8];
        var mask = stackalloc ulong[8];
        var found = 0;
        for (var i = 0; i < count; i += 8)
        {
            var block = (ulong*)(entries + (nint)i * ChunkDigest.Size);
            var a = Avx512F.LoadVector512(block);
            var b = Avx512F.LoadVector512(block + 8);
            var c = Avx512F.LoadVector512(block + 16);
            var d = Avx512F.LoadVector512(block + 24);
            var low = Avx512F.PermuteVar8x64x2(a, firstWords, b) ^ Avx512F.PermuteVar8x64x2(a, lastWords, b);
            var high = Avx512F.PermuteVar8x64x2(c, firstWords, d) ^ Avx512F.PermuteVar8x64x2(c, lastWords, d);
            var hash = Avx512DQ.MultiplyLow(Vector512.Create(low.GetLower(), high.GetLower()), multiplier);
            Avx512F.Store(word, Avx512F.ShiftRightLogicalVariable(hash, shifts));
            // As Mask, where a vector shift does not count modulo 64.
            Avx512F.Store(mask, Avx512F.ShiftLeftLogicalVariable(one, hash & low6)
                | Avx512F.ShiftLeftLogicalVariable(one, Avx512F.ShiftRightLogical(hash, 6) & low6)
                | Avx512F.ShiftLeftLogicalVariable(one, Avx512F.ShiftRightLogical(hash, 12) & low6));
            for (var j = 0; j < 8; j++)
                if ((words[word[j]] & mask[j]) == mask[j]) passed[found++] = i + j;
        }
        return found;
    }

    private static void Mark(ChunkDigestTable table, ref byte digest, uint bits)
        => table.TryMark(new ChunkDigest(MemoryMarshal.CreateReadOnlySpan(ref digest, ChunkDigest.Size)), bits);

    // The first and last words, so that digests made alike at either end (tests) still spread.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Hash(ref readonly byte digest)
        => (Unsafe.ReadUnaligned<ulong>(in digest) ^ Unsafe.ReadUnaligned<ulong>(in Unsafe.Add(ref Unsafe.AsRef(in digest), 24))) * Multiplier;

    // The word comes from the top bits, the three bits from the low 18 (a shift counts modulo 64): independent
    // parts of the product, and the fewest instructions.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mask(ulong hash) => (1UL << (int)hash) | (1UL << (int)(hash >> 6)) | (1UL << (int)(hash >> 12));
}
