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
            FileSys.AtomicWrite(marker, Encoding.UTF8.GetBytes(MarkerText));
            string? parent = Path.GetDirectoryName(root);
            if (parent is not null) FileSys.FsyncDirectory(parent);
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
        return new CollectionStore(root, readOnly, options ?? CollectionOptions.Default);
    }

    /// <summary>Collection names: 1–63 characters of [A-Za-z0-9._-], starting with a letter or digit.</summary>
    public static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 63 || !char.IsAsciiLetterOrDigit(name[0]) ||
            !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            throw new ManagedEmbedException($"invalid collection name '{name}': use 1-63 characters of A-Z a-z 0-9 . _ - starting with a letter or digit");
    }

    /// <summary>
    /// Creates a collection. <paramref name="model"/> is a sentence-transformers model directory used to embed
    /// documents and query texts when embeddings are not given.
    /// </summary>
    public Collection CreateCollection(string name, DistanceSpace space = DistanceSpace.Cosine, string? model = null)
    {
        ValidateName(name);
        lock (_gate)
        {
            CheckWritable();
            string dir = Path.Combine(Root, name);
            if (Directory.Exists(dir))
                throw new ManagedEmbedException(File.Exists(Path.Combine(dir, Manifest.FileName)) ? $"collection '{name}' already exists" : Damaged(name));
            string? modelDir = null;
            int dim = 0;
            if (model is not null)
            {
                modelDir = Path.GetFullPath(model);
                dim = ModelEmbedding.Dimension(modelDir);
            }
            string tmp = Path.Combine(Root, $".creating-{name}-{Guid.NewGuid():N}");
            Directory.CreateDirectory(tmp);
            var m = new Manifest { Name = name, Space = space, Model = modelDir, Dim = dim };
            Wal.Create(Path.Combine(tmp, Wal.FileName(0)), 0);
            FileSys.AtomicWrite(Path.Combine(tmp, Manifest.FileName), m.Serialize());
            try { Directory.Move(tmp, dir); }
            catch (IOException)
            {
                Directory.Delete(tmp, true);
                throw new ManagedEmbedException($"collection '{name}' already exists");
            }
            FileSys.FsyncDirectory(Root);
            return OpenCollection(name, dir);
        }
    }

    /// <summary>A collection directory without its MANIFEST: neither "unknown" nor "already exists" describes it.</summary>
    private string Damaged(string name) =>
        $"collection '{name}' in {Root} is damaged: its directory exists but its {Manifest.FileName} is missing; run 'membed collection repair --path {Root} --name {name}'";

    /// <summary>Opens an existing collection (the same instance on repeated calls).</summary>
    public Collection GetCollection(string name)
    {
        ValidateName(name);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_open.TryGetValue(name, out var c)) return c;
            string dir = Path.Combine(Root, name);
            if (!File.Exists(Path.Combine(dir, Manifest.FileName)))
                throw new ManagedEmbedException(Directory.Exists(dir) ? Damaged(name) : $"unknown collection '{name}' in {Root}");
            return OpenCollection(name, dir);
        }
    }

    /// <summary>Gets the collection, creating it when missing.</summary>
    public Collection GetOrCreateCollection(string name, DistanceSpace space = DistanceSpace.Cosine, string? model = null)
    {
        lock (_gate)
        {
            return Directory.Exists(Path.Combine(Root, name)) ? GetCollection(name) : CreateCollection(name, space, model);
        }
    }

    private Collection OpenCollection(string name, string dir)
    {
        FileStream? lk = null;
        if (!IsReadOnly) lk = AcquireLock(dir, name);
        try
        {
            var c = Collection.Load(dir, IsReadOnly, lk, Options);
            if (c.Model is not null) c.EmbeddingFunction = ModelEmbedding.Create(c.Model);
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
                throw new ManagedEmbedException(Directory.Exists(dir) ? Damaged(name) : $"unknown collection '{name}' in {Root}");
            if (_open.Remove(name, out var c)) c.Dispose();
            using (AcquireLock(dir, name))
            {
                // Rename first (atomic): the collection disappears as a whole even if the recursive delete is cut short.
                string trash = Path.Combine(Root, $".deleted-{name}-{Guid.NewGuid():N}");
                Directory.Move(dir, trash);
                FileSys.FsyncDirectory(Root);
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
