namespace ManagedEmbed.Collections;

public sealed partial class Collection
{
    private EmbeddingFunctionSpec? _resolvedSpec; // what the installed generator's resolver reported (guarded by _embedGate)

    /// <summary>The HNSW parameters of this collection's segment index, or null (exact flat/IVF segments).</summary>
    public HnswSettings? Hnsw { get { _rw.EnterReadLock(); try { return _manifest.Hnsw; } finally { _rw.ExitReadLock(); } } }

    /// <summary>The collection's ChromaDB identity (recorded by a server), or null.</summary>
    public ChromaIdentity? ChromaIdentity { get { _rw.EnterReadLock(); try { return _manifest.Chroma; } finally { _rw.ExitReadLock(); } } }

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
    internal void Modify(string? newDir, string? newName, IReadOnlyDictionary<string, MetadataValue>? metadata, string root,
        HnswSettings? hnsw = null, ChromaIdentity? chroma = null)
    {
        Publish(m =>
        {
            if (hnsw is not null) m.Hnsw = hnsw;
            if (chroma is not null) m.Chroma = chroma;
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
    /// Folds a <c>chroma.json</c> sidecar (how earlier builds kept a collection's Chroma identity beside the manifest)
    /// into the manifest: its identity, and its metadata when the manifest has none; then removes the sidecar. A crash
    /// between the two steps leaves both, and the next open finishes (the manifest's identity wins). Read-only opens
    /// read the sidecar without writing.
    /// </summary>
    private void MigrateChromaSidecar()
    {
        string path = Path.Combine(_dir, ChromaSidecar.FileName);
        if (!File.Exists(path)) return;
        if (_manifest.Chroma is null)
        {
            var (identity, metadata, model) = ChromaSidecar.Read(path);
            void Fold(Manifest m)
            {
                m.Chroma = identity;
                m.Metadata ??= metadata;
                if (m.EmbeddingFunction is null) m.LegacyModelPath ??= model;
            }
            if (_readOnly)
            {
                Fold(_manifest);
                return;
            }
            Publish(Fold);
        }
        if (_readOnly) return;
        File.Delete(path);
        _opts.FileOps.FsyncDirectory(_dir);
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
                try
                {
                    _manifest = m;
                    if (m.Hnsw is { } h) _index?.SetSearchEf(h.SearchEf);
                }
                finally { _rw.ExitWriteLock(); }
            }
        }
        finally { _compactOne.Release(); }
    }
}
