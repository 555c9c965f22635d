namespace PbsDatastore.Core;

/// <summary>Why an operation failed, independent of PowerShell; the cmdlet layer maps it to an ErrorCategory.</summary>
public enum PbsErrorKind
{
    InvalidData,
    InvalidArgument,
    ObjectNotFound,
    ResourceBusy,
    PermissionDenied,
    OperationStopped,
    ReadError,
    WriteError,
    SecurityError,
    InvalidOperation,
    ResourceExists,
    NotImplemented,
}

/// <summary>
/// The one exception type the core throws for expected failures (bad data, busy locks, missing paths).
/// ErrorId is stable so scripts and the about topic can refer to it; Target is the resource at fault.
/// </summary>
public class PbsException : Exception
{
    public PbsException(string errorId, PbsErrorKind kind, string message, object? target = null, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Kind = kind;
        Target = target;
    }

    public string ErrorId { get; }
    public PbsErrorKind Kind { get; }
    public object? Target { get; }
}
