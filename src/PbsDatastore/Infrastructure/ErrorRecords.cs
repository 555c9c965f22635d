using System.Management.Automation;
using PbsDatastore.Core;

namespace PbsDatastore.Infrastructure;

/// <summary>Turns core failures into ErrorRecords with a stable ErrorId, a cause-based category and the resource as target.</summary>
internal static class ErrorRecords
{
    public static ErrorCategory CategoryOf(PbsErrorKind kind) => kind switch
    {
        PbsErrorKind.InvalidData => ErrorCategory.InvalidData,
        PbsErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        PbsErrorKind.ObjectNotFound => ErrorCategory.ObjectNotFound,
        PbsErrorKind.ResourceBusy => ErrorCategory.ResourceBusy,
        PbsErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        PbsErrorKind.OperationStopped => ErrorCategory.OperationStopped,
        PbsErrorKind.ReadError => ErrorCategory.ReadError,
        PbsErrorKind.WriteError => ErrorCategory.WriteError,
        PbsErrorKind.SecurityError => ErrorCategory.SecurityError,
        PbsErrorKind.InvalidOperation => ErrorCategory.InvalidOperation,
        PbsErrorKind.ResourceExists => ErrorCategory.ResourceExists,
        PbsErrorKind.NotImplemented => ErrorCategory.NotImplemented,
        _ => ErrorCategory.NotSpecified,
    };

    public static ErrorRecord From(PbsException e, object? fallbackTarget = null)
    {
        var record = new ErrorRecord(e, e.ErrorId, CategoryOf(e.Kind), e.Target ?? fallbackTarget);
        if (RecommendedAction(e.ErrorId) is { } action)
            record.ErrorDetails = new ErrorDetails(e.Message) { RecommendedAction = action };
        return record;
    }

    /// <summary>What the user can do about an error, where there is a fix (shown by Get-Error, in $_.ErrorDetails).</summary>
    public static string? RecommendedAction(string errorId) => errorId switch
    {
        "DatastoreNotFound" or "DatastoreNotConfigured" or "DatastoreConfigNotFound"
            => "Give a datastore name from datastore.cfg (Get-PbsDatastore lists them, Tab completes them) or the path of a datastore directory.",
        "DatastoreConfigInvalid" or "InvalidDatastoreConfig"
            => "Correct datastore.cfg at the line the message names (PBS refuses the file too), or give the datastore by its path.",
        "NotADatastore" or "ChunkStoreNotFound"
            => "Give the directory that holds .chunks (the datastore's root), or create a datastore there with New-PbsDatastore.",
        "DatastoreInMaintenance"
            => "Wait until the maintenance is over; Set-PbsDatastore <name> -MaintenanceMode none ends it once nothing needs it any more.",
        "SnapshotProtected"
            => "Remove the protection first: Set-PbsSnapshot <datastore> <type> <id> <time> -Protected:$false.",
        "GroupPartiallyDeleted" or "NamespacePartiallyDeleted"
            => "Protected snapshots stayed: list them with Get-PbsSnapshot | Where-Object Protected, and clear it with Set-PbsSnapshot -Protected:$false.",
        "KeyPasswordRequired" or "KeyDecryptFailed"
            => "Give the key's password with -Password (Read-Host -AsSecureString reads one without echo).",
        "KeyRequired" or "BlobNeedsKey" or "ManifestNeedsKey"
            => "The data is encrypted: give its key file with -KeyFile (and -Password for a protected key).",
        "ManifestWrongKey" or "KeyFingerprintMismatch" or "BlobDecryptFailed"
            => "Give the key file the backup was made with (-KeyFile): its fingerprint is in Get-PbsManifest's KeyFingerprint.",
        "LockBusy" or "ChunkStoreInUse" or "GarbageCollectionRunning"
            => "A PBS task (backup, garbage collection, verify, prune) holds the lock: wait until it ends, then try again.",
        "SnapshotNotFound" or "SnapshotUnfinished" or "ManifestNotFound"
            => "List the snapshots with Get-PbsSnapshot (Tab completes -BackupTime).",
        "GroupNotFound" => "List the groups with Get-PbsBackupGroup (Tab completes -BackupId).",
        "NamespaceNotFound" => "List the namespaces with Get-PbsNamespace -Recurse (Tab completes -Namespace).",
        "ArchiveNotFound" => "List the archives with Get-PbsManifest (Tab completes -ArchiveName).",
        "AtimeSafetyCheckFailed"
            => "The file system does not update access times as garbage collection needs: mount it with relatime or strictatime.",
        "InvalidBackupTime" => "Give the time as YYYY-MM-DDTHH:MM:SSZ (UTC), a [datetime], or Tab-complete it.",
        "PermissionDenied" => "Run as a user that may access the datastore (root or PBS's backup user).",
        _ => null,
    };

    /// <summary>
    /// For exceptions the core did not classify (I/O, permissions): still a clean record with a stable id,
    /// never a raw stack trace.
    /// </summary>
    public static ErrorRecord FromUnexpected(Exception e, object? target)
    {
        var (id, category) = e switch
        {
            UnauthorizedAccessException => ("PermissionDenied", ErrorCategory.PermissionDenied),
            FileNotFoundException or DirectoryNotFoundException => ("PathNotFound", ErrorCategory.ObjectNotFound),
            IOException => ("IOError", ErrorCategory.ReadError),
            OperationCanceledException => ("OperationStopped", ErrorCategory.OperationStopped),
            _ => ("UnexpectedError", ErrorCategory.NotSpecified),
        };
        return new ErrorRecord(e, id, category, target);
    }
}
