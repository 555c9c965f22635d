using PbsDatastore.Core.Formats;

namespace PbsDatastore.Core.Memory;

/// <summary>
/// A chunk store whose listing is fetched per slice of the digest space (an S3 bucket's, one request per 1,000
/// objects): a pass over a slice lists it first and keeps only the digests the pass asks about, so that the listing
/// holds no more than the pass's own set, whatever the store's size.
/// </summary>
public interface ISliceListing
{
    /// <summary>What one kept object costs, to size the passes with.</summary>
    int BytesPerObject { get; }

    /// <summary>
    /// Lists the chunk and `.bad` objects of <paramref name="range"/> (whole prefix directories) whose digest
    /// <paramref name="keep"/> accepts, in place of the previous slice; lookups outside it find nothing.
    /// <paramref name="keep"/> is asked once per digest, told whether the digest has `.bad` objects, and a kept
    /// digest keeps all its objects (so that a lookup of its chunk or of its `.bad` files finds them).
    /// <paramref name="expected"/> (the digests kept, about) sizes the listing once instead of growing it.
    /// </summary>
    void ListSlice(DigestRange range, KeepDigest keep, long expected = 0);
}

/// <summary>Whether a slice listing keeps the objects of <paramref name="digest"/>, which has `.bad` objects when <paramref name="hasBad"/>.</summary>
public delegate bool KeepDigest(ChunkDigest digest, bool hasBad);
