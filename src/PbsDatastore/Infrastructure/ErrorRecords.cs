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
        => new(e, e.ErrorId, CategoryOf(e.Kind), e.Target ?? fallbackTarget);

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
