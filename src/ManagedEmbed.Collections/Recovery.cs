namespace ManagedEmbed.Collections;

/// <summary>What a <see cref="RecoveryFinding"/> found.</summary>
public enum RecoveryFindingKind
{
    /// <summary>
    /// An incomplete record at the end of the write-ahead log (it runs past the end of the file, or the tail is
    /// shorter than a record header or all zero bytes): a write cut short by a crash, which was never acknowledged.
    /// A writable open moves it to a quarantine file and continues.
    /// </summary>
    TornTail,
    /// <summary>
    /// A complete-length record (or a record with a damaged header) at the end of the log that fails its checksum,
    /// with no valid record after it. It may be an acknowledged write damaged on disk, so a writable open refuses
    /// until <see cref="CollectionStore.RepairCollection"/> quarantines it; read-only opens show the data before it.
    /// </summary>
    CorruptTail,
    /// <summary>The collection cannot be opened at all (e.g. damage followed by valid records, a damaged manifest or
    /// segment); <see cref="RecoveryFinding.Reason"/> holds the error. Repair does not handle this kind.</summary>
    Unreadable,
}

/// <summary>One piece of damage found while opening, checking or repairing a collection.</summary>
public sealed class RecoveryFinding
{
    /// <summary>The collection's name.</summary>
    public required string Collection { get; init; }
    /// <summary>The damaged file (full path), or the collection directory for <see cref="RecoveryFindingKind.Unreadable"/>.</summary>
    public required string File { get; init; }
    /// <summary>Byte offset where the damage starts (-1 when not applicable).</summary>
    public required long Offset { get; init; }
    /// <summary>Number of bytes from <see cref="Offset"/> to the end of the file (-1 when not applicable).</summary>
    public required long Length { get; init; }
    /// <summary>The kind of damage.</summary>
    public required RecoveryFindingKind Kind { get; init; }
    /// <summary>The specific reason, e.g. "record extends past end of file" or "payload checksum mismatch".</summary>
    public required string Reason { get; init; }
    /// <summary>Number of log records in the damaged bytes when known (a torn or damaged tail holds at most one write).</summary>
    public int? Records { get; init; }
    /// <summary>Where the damaged bytes were moved before the log was cut; null when nothing was changed on disk.</summary>
    public string? QuarantineFile { get; init; }

    /// <summary>One line describing the finding and what was done about it.</summary>
    public override string ToString()
    {
        if (Kind == RecoveryFindingKind.Unreadable) return $"collection '{Collection}' cannot be opened: {Reason}";
        string what = Kind == RecoveryFindingKind.TornTail
            ? "a torn (incomplete, never acknowledged) write"
            : "a complete record that fails its checksum (possibly an acknowledged write)";
        string recs = Records is int n ? $"{n} record{(n == 1 ? "" : "s")}" : "unknown number of records";
        string where = $"{File} at offset {Offset}, {Length} bytes, {recs} ({Reason})";
        if (QuarantineFile is not null) return $"collection '{Collection}': dropped {what} from {where}; the bytes were moved to {QuarantineFile}";
        string advice = Kind == RecoveryFindingKind.TornTail
            ? "the next writable open moves it to a quarantine file"
            : "showing the data before it; writable opens refuse until a repair (CollectionStore.RepairCollection) quarantines it";
        return $"collection '{Collection}': ignored {what} at the end of {where}; nothing changed on disk ({advice})";
    }
}

/// <summary>What opening (or checking, or repairing) a collection found and did. Libraries never print: callers
/// decide how to surface these (the CLI prints one <c>membed: warning:</c> line per finding).</summary>
public sealed class RecoveryReport
{
    /// <summary>A report without findings.</summary>
    public static RecoveryReport Clean { get; } = new([]);

    /// <summary>Creates a report.</summary>
    public RecoveryReport(IReadOnlyList<RecoveryFinding> findings) => Findings = findings;

    /// <summary>The findings, in the order they were found.</summary>
    public IReadOnlyList<RecoveryFinding> Findings { get; }

    /// <summary>True when nothing was found.</summary>
    public bool IsClean => Findings.Count == 0;
}
