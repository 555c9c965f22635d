namespace PbsDatastore.Core.Maintenance;

/// <summary>What the selection needs to know of a snapshot.</summary>
/// <param name="BackupTime">Backup time, seconds since the epoch.</param>
/// <param name="IsFinished">The snapshot has its manifest.</param>
/// <param name="IsProtected">The snapshot has its <c>.protected</c> marker.</param>
public readonly record struct PruneCandidate(long BackupTime, bool IsFinished, bool IsProtected);
