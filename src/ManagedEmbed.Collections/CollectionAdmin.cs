namespace ManagedEmbed.Collections;

public sealed partial class Collection
{
    private EmbeddingFunctionSpec? _resolvedSpec; // what the installed generator's resolver reported (guarded by _embedGate)

    /// <summary>Collection metadata: the record rules, without null values.</summary>
    internal static void ValidateCollectionMetadata(IReadOnlyDictionary<string, MetadataValue> m) => ValidateMetadata(m, "the collection", allowNull: false);

    /// <summary>
    /// Records the embedding function by name: <paramref name="model"/> (an override), or the model behind a format-1
    /// path. A model that resolves to an unnamed directory is not recorded. Migration of a format-1 path is best
    /// effort (the collection stays readable and the error surfaces when something must be embedded); an explicit
    /// model's errors are thrown.
    /// </summary>
    internal void RecordEmbeddingFunction(string? model)
    {
        EmbeddingFunctionSpec? spec;
        try
        {
            lock (_embedGate)
            {
                if (Generator() is null) return;
                spec = _resolvedSpec;
            }
        }
        catch (ManagedEmbedException) when (model is null) { return; }
        if (spec is null || spec.IsPath) return;
        Publish(m =>
        {
            m.EmbeddingFunction = spec;
            m.LegacyModelPath = null;
            if (m.Dim == 0) m.Dim = spec.Dimension;
        });
        lock (_embedGate) _modelOverride = null; // the recorded model is now this one
    }

    /// <summary>Moves the collection's directory to <paramref name="newDir"/> (when given) and publishes the new name/metadata.</summary>
    internal void Modify(string? newDir, string? newName, IReadOnlyDictionary<string, MetadataValue>? metadata, string root)
    {
        Publish(m =>
        {
            if (newDir is not null)
            {
                // The directory rename is the commit point: its name is the collection's name (see the constructor).
                Directory.Move(_dir, newDir);
                _opts.FileOps.FsyncDirectory(root);
                _dir = newDir;
                m.Name = newName!;
            }
            if (metadata is not null) m.Metadata = metadata.Count == 0 ? null : new Dictionary<string, MetadataValue>(metadata, StringComparer.Ordinal);
        });
    }

    /// <summary>
    /// Publishes a manifest changed by <paramref name="change"/>, with no compaction running (a compaction publishes
    /// a manifest derived from the one it started from) and no write in progress.
    /// </summary>
    private void Publish(Action<Manifest> change)
    {
        _compactOne.Wait();
        try
        {
            lock (_writeGate)
            {
                CheckWritable();
                var m = _manifest.Derive();
                change(m);
                FileSys.AtomicWrite(_opts.FileOps, Path.Combine(_dir, Manifest.FileName), m.Serialize());
                _rw.EnterWriteLock();
                try { _manifest = m; }
                finally { _rw.ExitWriteLock(); }
            }
        }
        finally { _compactOne.Release(); }
    }
}
