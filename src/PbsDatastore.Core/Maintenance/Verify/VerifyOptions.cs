using PbsDatastore.Core.Formats;
using PbsDatastore.Core.Memory;

namespace PbsDatastore.Core.Maintenance;

/// <summary>What a verify run does besides reading (spec §8).</summary>
public sealed record VerifyOptions
{
    /// <summary>PBS's fast index verification: chunks must exist; nothing is loaded, renamed or written.</summary>
    public bool Fast { get; init; }

    /// <summary>With a key, encrypted chunks are also decrypted and checked against their keyed digest, and
    /// signed manifests are checked.</summary>
    public CryptConfig? Key { get; init; }

    /// <summary>PBS's <c>ignore-verified</c>: skip snapshots that carry a verify state (see <see cref="OutdatedAfterDays"/>).</summary>
    public bool IgnoreVerified { get; init; }

    /// <summary>PBS's <c>outdated-after</c> (days): with <see cref="IgnoreVerified"/>, re-verify older states.</summary>
    public int? OutdatedAfterDays { get; init; }

    /// <summary>PBS's <c>read-threads</c> (1–32): threads loading chunks. Null: the datastore's
    /// <c>default-verification-readers</c> tuning, else 1.</summary>
    public int? ReadThreads { get; init; }

    /// <summary>PBS's <c>verify-threads</c> (1–32): threads decoding and checking chunks. Null: the datastore's
    /// <c>default-verification-workers</c> tuning, else 4.</summary>
    public int? VerifyThreads { get; init; }

    /// <summary>Check only: no <c>.bad</c> renames, no <c>verify_state</c> written.</summary>
    public bool DryRun { get; init; }

    /// <summary>
    /// Bytes the set of chunks verified in this run may hold (a chunk shared by many snapshots is checked once);
    /// beyond it part of the set is forgotten and those chunks are checked again when met again.
    /// </summary>
    public long MemoryLimit { get; init; } = DigestPartitions.DefaultMemoryLimit;

    /// <summary>The user the task's UPID names.</summary>
    public string AuthId { get; init; } = "root@pam";
}
