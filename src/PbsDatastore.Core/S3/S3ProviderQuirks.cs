namespace PbsDatastore.Core.S3;

/// <summary>Provider quirks PBS knows (addendum §4.1).</summary>
[Flags]
public enum S3ProviderQuirks
{
    None = 0,
    /// <summary>`skip-if-none-match-header`: the provider rejects `If-None-Match: *`, so no-replace uploads overwrite.</summary>
    SkipIfNoneMatchHeader = 1,
    /// <summary>`delete-objects-via-delete-object`: no DeleteObjects; delete one object per request.</summary>
    DeleteObjectsViaDeleteObject = 2,
}
