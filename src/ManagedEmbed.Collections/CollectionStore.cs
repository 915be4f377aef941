using System.Text;

namespace ManagedEmbed.Collections;

/// <summary>
/// A directory holding collections, one subdirectory each (ChromaDB's PersistentClient). Open it writable (one
/// writer process per collection, enforced by lock files) or read-only (never blocks, never writes).
/// </summary>
public sealed class CollectionStore : IDisposable
{
    internal const string LockFileName = "LOCK";
    private const string MarkerName = "membed-store";
    private const string MarkerText = "membed collection store, format 1\n";
    private readonly Dictionary<string, Collection> _open = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private bool _disposed;

    private CollectionStore(string root, bool readOnly, CollectionOptions opts) { Root = root; IsReadOnly = readOnly; Options = opts; }

    /// <summary>The store directory.</summary>
    public string Root { get; }
    /// <summary>True when opened read-only.</summary>
    public bool IsReadOnly { get; }
    /// <summary>The options applied to every collection.</summary>
    public CollectionOptions Options { get; }

    /// <summary>
    /// Opens (writable: creating if missing) the store at <paramref name="path"/>. Read-only stores require an
    /// existing store and take no locks.
    /// </summary>
    public static CollectionStore Open(string path, bool readOnly = false, CollectionOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var opts = options ?? CollectionOptions.Default;
        string root = Path.GetFullPath(path);
        // Said plainly: the runtime's wording would be "The file '…' already exists."
        if (File.Exists(root)) throw new ManagedEmbedException($"collection store {root} is a file, not a directory");
        string marker = Path.Combine(root, MarkerName);
        if (File.Exists(marker))
        {
            string text = File.ReadAllText(marker);
            if (text != MarkerText) throw new ManagedEmbedException($"{root} has an unsupported store format ({text.Trim()})");
        }
        else if (readOnly)
            throw new ManagedEmbedException(Directory.Exists(root) ? $"{root} is not a membed collection store" : $"collection store {root} does not exist");
        else
        {
            // A crash while initializing can leave only the marker's temporary file behind.
            if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any(e => Path.GetFileName(e) != MarkerName + ".tmp"))
                throw new ManagedEmbedException($"{root} is not empty and not a membed collection store");
            Directory.CreateDirectory(root);
            FileSys.AtomicWrite(opts.FileOps, marker, Encoding.UTF8.GetBytes(MarkerText));
            string? parent = Path.GetDirectoryName(root);
            if (parent is not null) opts.FileOps.FsyncDirectory(parent);
        }
        if (!readOnly)
        {
            // Finish deletions cut short by a crash: the rename under the collection's lock already removed them.
            foreach (var d in Directory.EnumerateDirectories(root, ".deleted-*"))
            {
                try { Directory.Delete(d, true); }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
        }
        return new CollectionStore(root, readOnly, opts);
    }

    /// <summary>Collection names: 1–63 characters of [A-Za-z0-9._-], starting with a letter or digit.</summary>
    public static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 63 || !char.IsAsciiLetterOrDigit(name[0]) ||
            !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            throw new ManagedEmbedException($"invalid collection name '{name}': use 1-63 characters of A-Z a-z 0-9 . _ - starting with a letter or digit");
    }

    /// <summary>ChromaDB's collection metadata key for the distance space ("l2", "ip" or "cosine").</summary>
    public const string SpaceKey = "hnsw:space";

    /// <summary>
    /// Creates a collection. <paramref name="model"/> names the model that embeds documents and query texts when
    /// embeddings are not given (a model id such as <c>sentence-transformers/all-MiniLM-L6-v2</c>, resolved through
    /// <see cref="CollectionOptions.EmbeddingFunctionResolver"/>; the collection records its name, width,
    /// normalization and weights fingerprint, never a path); null makes a bring-your-own-vectors collection.
    /// <paramref name="space"/> defaults to the metadata's <c>hnsw:space</c>, else cosine. <paramref name="hnsw"/>
    /// defaults to the metadata's <c>hnsw:M</c>, <c>hnsw:construction_ef</c> and <c>hnsw:search_ef</c> (see
    /// <see cref="HnswSettings"/>); none of them: exact flat/IVF segments. <paramref name="chroma"/> records the
    /// collection's ChromaDB identity (a server's); such a collection takes its dimension from its first record.
    /// </summary>
    public Collection CreateCollection(string name, DistanceSpace? space = null, string? model = null, IReadOnlyDictionary<string, MetadataValue>? metadata = null,
        HnswSettings? hnsw = null, ChromaIdentity? chroma = null)
    {
        ValidateName(name);
        var sp = SpaceOf(space, metadata);
        hnsw ??= HnswSettings.FromMetadata(metadata);
        hnsw?.Validate();
        lock (_gate)
        {
            CheckWritable();
            string dir = Path.Combine(Root, name);
            if (Directory.Exists(dir))
                throw File.Exists(Path.Combine(dir, Manifest.FileName)) ? new ManagedEmbedException($"collection '{name}' already exists") : new CollectionDamagedException(Root, name, Damaged(name));
            ResolvedEmbeddingFunction? ef = model is null ? null : ResolveForRecord(model);
            try
            {
                var c = CreateCore(name, dir, sp, ef?.Spec, metadata, hnsw, chroma);
                if (ef is not null) c.SetModelOverride(null, ef);
                ef = null;
                return c;
            }
            finally { ef?.Generator.Dispose(); }
        }
    }

    /// <summary>The space named by <paramref name="space"/> and/or the metadata's hnsw:space (they must agree); cosine by default.</summary>
    internal static DistanceSpace SpaceOf(DistanceSpace? space, IReadOnlyDictionary<string, MetadataValue>? metadata)
    {
        if (metadata is not null) Collection.ValidateCollectionMetadata(metadata);
        if (metadata is null || !metadata.TryGetValue(SpaceKey, out var v) || v.Kind == MetadataKind.Null) return space ?? DistanceSpace.Cosine;
        if (v.Kind != MetadataKind.String || v.AsString is not ("l2" or "ip" or "cosine"))
            throw new ManagedEmbedException($"collection metadata \"{SpaceKey}\" must be \"l2\", \"ip\" or \"cosine\", got {v}");
        var fromMeta = Manifest.ParseSpace(v.AsString);
        if (space is { } s && s != fromMeta)
            throw new ManagedEmbedException($"the space {Manifest.SpaceName(s)} disagrees with the collection metadata \"{SpaceKey}\": \"{v.AsString}\"");
        return fromMeta;
    }

    /// <summary>Resolves a model for recording in a new collection: it must have a name, not just a directory.</summary>
    private ResolvedEmbeddingFunction ResolveForRecord(string model)
    {
        var resolver = Options.EmbeddingFunctionResolver ?? throw new EmbeddingFunctionException(
            $"cannot use model '{model}': the store was opened without an embedding function resolver (CollectionOptions.EmbeddingFunctionResolver)", EmbeddingFunctionProblem.NoResolver);
        var r = resolver.Resolve(model);
        if (r.Spec.IsPath)
        {
            r.Generator.Dispose();
            throw new EmbeddingFunctionException($"model directory {r.Spec.Model} has no model name (it was not fetched into the model cache); " +
                "collections record their model by name so that they open on other machines: place it in the model cache as ORG/NAME and name it so",
                EmbeddingFunctionProblem.UnnamedModel);
        }
        return r;
    }

    private Collection CreateCore(string name, string dir, DistanceSpace space, EmbeddingFunctionSpec? ef, IReadOnlyDictionary<string, MetadataValue>? metadata,
        HnswSettings? hnsw, ChromaIdentity? chroma)
    {
        string tmp = Path.Combine(Root, $".creating-{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tmp);
        var m = new Manifest
        {
            // A Chroma collection takes its dimension from its first record, as Chroma's (clients may bring vectors
            // of any width); the recorded model's width is still checked whenever it embeds.
            Name = name, Space = space, EmbeddingFunction = ef, Dim = chroma is null ? ef?.Dimension ?? 0 : 0,
            Metadata = metadata is null || metadata.Count == 0 ? null : new Dictionary<string, MetadataValue>(metadata, StringComparer.Ordinal),
            Hnsw = hnsw, Chroma = chroma,
        };
        Wal.Create(Options.FileOps, Path.Combine(tmp, Wal.FileName(0)), 0);
        FileSys.AtomicWrite(Options.FileOps, Path.Combine(tmp, Manifest.FileName), m.Serialize());
        try { Directory.Move(tmp, dir); }
        catch (IOException)
        {
            Directory.Delete(tmp, true);
            throw new ManagedEmbedException($"collection '{name}' already exists");
        }
        Options.FileOps.FsyncDirectory(Root);
        return OpenCollection(name, dir);
    }

    /// <summary>A collection directory without its MANIFEST: neither "unknown" nor "already exists" describes it.</summary>
    private string Damaged(string name) =>
        $"collection '{name}' in {Root} is damaged: its directory exists but its {Manifest.FileName} is missing";

    /// <summary>
    /// Opens an existing collection (the same instance on repeated calls). <paramref name="model"/> overrides the
    /// recorded model knowingly (its weights fingerprint is not checked; its width must match); on a writable store it
    /// is recorded when the collection had no model by name yet (a bring-your-own-vectors or format-1 collection).
    /// Without it, a format-1 collection (model recorded by path) opened writable with a resolver is migrated: the
    /// path's model, when it has a name, is recorded by name.
    /// </summary>
    public Collection GetCollection(string name, string? model = null)
    {
        ValidateName(name);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_open.TryGetValue(name, out var c))
            {
                string dir = Path.Combine(Root, name);
                if (!File.Exists(Path.Combine(dir, Manifest.FileName)))
                    throw Directory.Exists(dir) ? new CollectionDamagedException(Root, name, Damaged(name)) : new ManagedEmbedException($"unknown collection '{name}' in {Root}");
                c = OpenCollection(name, dir);
            }
            if (model is not null) c.SetModelOverride(model);
            if (!IsReadOnly && c.EmbeddingFunction is null && (model is not null || c.LegacyModelPath is not null) && Options.EmbeddingFunctionResolver is not null)
                c.RecordEmbeddingFunction(model);
            return c;
        }
    }

    /// <summary>
    /// Gets the collection, creating it when missing (ChromaDB's get_or_create_collection). For an existing
    /// collection the arguments are not applied (nor compared), as in ChromaDB.
    /// </summary>
    public Collection GetOrCreateCollection(string name, DistanceSpace? space = null, string? model = null, IReadOnlyDictionary<string, MetadataValue>? metadata = null)
    {
        ValidateName(name);
        lock (_gate)
        {
            return File.Exists(Path.Combine(Root, name, Manifest.FileName)) ? GetCollection(name) : CreateCollection(name, space, model, metadata);
        }
    }

    /// <summary>
    /// Renames a collection (its directory: atomic) and/or replaces its metadata (ChromaDB's modify). The metadata's
    /// <c>hnsw:space</c>, if any, must equal the collection's space: a space cannot change once vectors are stored.
    /// As in ChromaDB, the metadata's other <c>hnsw:*</c> keys do not change the index; <paramref name="hnsw"/> does
    /// (ChromaDB's configuration update): search ef at once, M and construction ef from the next compaction, which
    /// rebuilds the segment's graph. <paramref name="chroma"/> replaces the ChromaDB identity (a server's rename).
    /// </summary>
    public void ModifyCollection(string name, string? newName = null, IReadOnlyDictionary<string, MetadataValue>? metadata = null,
        HnswSettings? hnsw = null, ChromaIdentity? chroma = null)
    {
        hnsw?.Validate();
        ValidateName(name);
        if (newName is not null) ValidateName(newName);
        lock (_gate)
        {
            CheckWritable();
            var c = GetCollection(name);
            if (metadata is not null)
            {
                var sp = SpaceOf(null, metadata);
                if (metadata.ContainsKey(SpaceKey) && sp != c.Space)
                    throw new ManagedEmbedException($"collection '{name}' has space {Manifest.SpaceName(c.Space)}; the space cannot be changed once created");
            }
            string? newDir = null;
            if (newName is not null && newName != name)
            {
                newDir = Path.Combine(Root, newName);
                if (Directory.Exists(newDir)) throw new ManagedEmbedException($"collection '{newName}' already exists");
            }
            c.Modify(newDir, newName, metadata, Root, hnsw, chroma);
            if (newName is not null && newName != name)
            {
                _open.Remove(name);
                _open[newName] = c;
            }
        }
    }

    private Collection OpenCollection(string name, string dir)
    {
        FileStream? lk = null;
        if (!IsReadOnly) lk = AcquireLock(dir, name);
        try
        {
            var c = Collection.Load(dir, IsReadOnly, lk, Options);
            _open[name] = c;
            return c;
        }
        catch
        {
            lk?.Dispose();
            throw;
        }
    }

    private static FileStream AcquireLock(string dir, string name)
    {
        try
        {
            // FileShare.None is an exclusive advisory lock (flock) on Unix and a share-mode lock on Windows; it is
            // released by the kernel when the process dies, so a killed writer never leaves a stale lock.
            return new FileStream(Path.Combine(dir, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new ManagedEmbedException($"collection '{name}' is locked by another process (only one writer at a time; open the store read-only to read)");
        }
    }

    /// <summary>
    /// Checks a collection without changing anything on disk (no lock is taken, nothing is written): opens it
    /// read-only and reports every finding — a torn or damaged log tail, or why it cannot be opened at all. Works on
    /// read-only and writable stores. While another process is writing, a record being appended can show as a torn tail.
    /// </summary>
    public RecoveryReport CheckCollection(string name)
    {
        ValidateName(name);
        ObjectDisposedException.ThrowIf(_disposed, this);
        string dir = Path.Combine(Root, name);
        if (!File.Exists(Path.Combine(dir, Manifest.FileName))) throw new ManagedEmbedException($"unknown collection '{name}' in {Root}");
        try
        {
            using var c = Collection.Load(dir, readOnly: true, lockFile: null, Options);
            return c.RecoveryReport;
        }
        catch (ManagedEmbedException e)
        {
            return new RecoveryReport([new RecoveryFinding
            {
                Collection = name, File = dir, Offset = -1, Length = -1, Kind = RecoveryFindingKind.Unreadable, Reason = e.Message,
            }]);
        }
    }

    /// <summary>
    /// Repairs a damaged log tail: under the collection's writer lock, moves the damaged bytes at the end of the
    /// write-ahead log (torn, or a complete record failing its checksum) to a quarantine file beside it — written and
    /// fsynced before the log is cut — and reports exactly what was dropped. A healthy collection is left unchanged
    /// (clean report). Damage that is not at the tail (valid records follow it) or in the manifest or a segment is
    /// not repaired: this throws with the reason. The collection must not be open in this store.
    /// </summary>
    public RecoveryReport RepairCollection(string name)
    {
        ValidateName(name);
        lock (_gate)
        {
            CheckWritable();
            if (_open.ContainsKey(name)) throw new ManagedEmbedException($"collection '{name}' is open in this store; dispose the store and repair it before opening it");
            string dir = Path.Combine(Root, name);
            if (!File.Exists(Path.Combine(dir, Manifest.FileName))) throw new ManagedEmbedException($"unknown collection '{name}' in {Root}");
            var lk = AcquireLock(dir, name);
            Collection c;
            try { c = Collection.Load(dir, readOnly: false, lk, Options, repair: true); }
            catch { lk.Dispose(); throw; }
            using (c) return c.RecoveryReport;
        }
    }

    /// <summary>Names of all collections, sorted.</summary>
    public IReadOnlyList<string> ListCollections()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Directory.EnumerateDirectories(Root)
            .Where(d => File.Exists(Path.Combine(d, Manifest.FileName)))
            .Select(d => Path.GetFileName(d)!)
            .Where(n => n.Length > 0 && char.IsAsciiLetterOrDigit(n[0]))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Deletes a collection and its files. Fails when another process is writing to it.</summary>
    public void DeleteCollection(string name)
    {
        ValidateName(name);
        lock (_gate)
        {
            CheckWritable();
            string dir = Path.Combine(Root, name);
            if (!File.Exists(Path.Combine(dir, Manifest.FileName)))
                throw Directory.Exists(dir) ? new CollectionDamagedException(Root, name, Damaged(name)) : new ManagedEmbedException($"unknown collection '{name}' in {Root}");
            if (_open.Remove(name, out var c)) c.Dispose();
            using (AcquireLock(dir, name))
            {
                // Rename first (atomic): the collection disappears as a whole even if the recursive delete is cut short.
                string trash = Path.Combine(Root, $".deleted-{name}-{Guid.NewGuid():N}");
                Directory.Move(dir, trash);
                Options.FileOps.FsyncDirectory(Root);
                Directory.Delete(trash, true);
            }
        }
    }

    private void CheckWritable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (IsReadOnly) throw new ManagedEmbedException($"store {Root} was opened read-only");
    }

    /// <summary>Closes every collection opened through this store (releasing their writer locks).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var c in _open.Values) c.Dispose();
            _open.Clear();
        }
    }
}
