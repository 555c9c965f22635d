using PbsDatastore.Core.Hierarchy;
using PbsDatastore.Core.Maintenance;
using PbsDatastore.Core.Memory;
using PbsDatastore.Core.S3;
using PbsDatastore.Core.Store;
using PbsDatastore.Core.Tests.Maintenance;
using PbsDatastore.Core.Tests.Support;

namespace PbsDatastore.Core.Tests.S3;

/// <summary>
/// Space accounting and chunk references on the reference store uploaded to an S3 bucket with every chunk evicted
/// from the cache: sizes and presence come from the bucket listing (the cache's markers are empty), so every
/// figure must equal the filesystem store's, checked against the expected JSON by the same tests.
/// </summary>
[Collection(S3ServerCollection.Name)]
public sealed class S3SpaceAccountingTests(S3TestServer server) : SpaceAccountingReferenceStoreTests
{
    private const string StoreName = "acctref";
    private static readonly object Gate = new();
    // One uploaded copy for all tests of the class (they only read); removed when the test process ends.
    private static TempDir? s_copy;

    protected override Datastore Open()
    {
        lock (Gate)
        {
            if (s_copy is null)
            {
                var copy = ReferenceStore.FreshCopy();
                using (var client = server.Client()) S3ReferenceStore.Upload(copy.StorePath, client, StoreName, evict: _ => true);
                AppDomain.CurrentDomain.ProcessExit += (_, _) => copy.Dispose();
                s_copy = copy;
            }
        }
        return Datastore.Open(s_copy.StorePath, StoreName, S3TestServer.DatastoreConfig(StoreName, s_copy.StorePath));
    }

    /// <summary>
    /// Measured in 2, 3 or 17 passes, each listing only its slice of the bucket and keeping its set's objects only:
    /// the figures of one pass byte for byte, with at most one more listing page per extra pass. The same for the
    /// lookup of missing chunks (whose results the base class's test compares with one pass and the expected JSON).
    /// </summary>
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(17)]
    public void Passes_over_slices_of_the_bucket_measure_as_one_pass(int passes)
    {
        using var store = Open();
        var client = ((S3Backend)store.Backend).Client;
        long ListRequests(Action run)
        {
            var before = client.Counters.Snapshot();
            run();
            return (client.Counters.Snapshot() - before).Get;
        }
        var oneLookup = ListRequests(() => FindMissingInPasses(store, 1, NullTaskState.Instance));
        Assert.InRange(ListRequests(() => FindMissingInPasses(store, passes, NullTaskState.Instance)), oneLookup, oneLookup + passes - 1);
        foreach (var members in new List<AccountingMember>[] { [new("store", "")], [new("vm/100", "vm/100"), new("db", "ns/prod/ns/db")] })
        {
            string Measure(int n, out long listRequests)
            {
                var before = client.Counters.Snapshot();
                var usage = SpaceAccounting.Measure(S3ChunkListing.Over(store.Backend, NullTaskState.Instance), members, NullTaskState.Instance, long.MaxValue, n);
                listRequests = (client.Counters.Snapshot() - before).Get;
                return System.Text.Json.JsonSerializer.Serialize(usage);
            }
            var one = Measure(1, out var oneRequests);
            Assert.Equal(one, Measure(passes, out var requests));
            Assert.InRange(requests, oneRequests, oneRequests + passes - 1);
        }
    }

    /// <summary>
    /// A listing that keeps the digests with `.bad` objects (what -Bad asks for) holds their `.bad` objects and their
    /// chunk objects, so that presence is known, and nothing else of the bucket.
    /// </summary>
    [Fact]
    public void A_listing_kept_by_bad_objects_holds_those_digests_whole_and_nothing_else()
    {
        using var store = Open();
        var listing = S3ChunkListing.Over(store.Backend, NullTaskState.Instance);
        ((ISliceListing)listing).ListSlice(DigestRange.All, (_, hasBad) => hasBad);
        var bad = ReferenceStore.Expected["store"]!["bad_files"]!.AsArray().Select(b => (string)b!["name"]!).ToList();
        var present = ReferenceStore.Expected["store"]!["chunks"]!.AsArray().Select(c => (string)c!["digest"]!).ToHashSet();
        var expected = bad.Concat(bad.Select(n => n[..64]).Distinct().Where(present.Contains)).Order(StringComparer.Ordinal);
        Assert.Equal(expected, listing.IterateChunks().Select(e => e.Name).Order(StringComparer.Ordinal));
    }
}
