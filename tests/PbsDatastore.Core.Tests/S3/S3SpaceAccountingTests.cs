using PbsDatastore.Core.Hierarchy;
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
}
