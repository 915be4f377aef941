using System.Text;
using ManagedEmbed.Kernels;
using Microsoft.Extensions.AI;

namespace ManagedEmbed.Collections;

/// <summary>
/// A named set of records (id, document, metadata, embedding) persisted in its own directory. All public members are
/// thread-safe: one writer at a time (calls are serialized), any number of concurrent readers, and a reader sees each
/// write entirely or not at all. A writable collection holds an exclusive lock file for its lifetime; dispose it (or
/// its store) to release the lock.
/// </summary>
public sealed partial class Collection : IDisposable
{
    /// <summary>Maximum id length in UTF-8 bytes.</summary>
    public const int MaxIdBytes = 512;
    /// <summary>Maximum metadata key length in UTF-8 bytes.</summary>
    public const int MaxKeyBytes = 256;

    private string _dir;                        // changes only on rename (under the write gate and the compaction lock)
    private readonly CollectionOptions _opts;
    private readonly bool _readOnly;
    private FileStream? _lock;
    private readonly ReaderWriterLockSlim _rw = new(LockRecursionPolicy.NoRecursion);
    private readonly object _writeGate = new();

    // State below: mutated only by the writer under _rw write lock; read under _rw read lock.
    private Manifest _manifest;
    private List<Rec?> _rows = new();          // insertion order; null = deleted or superseded
    private Dictionary<string, int> _idToRow = new(StringComparer.Ordinal);
    private MetaColumns _cols = new();          // metadata by column, for filter scans
    private int _baseRows;                      // rows [0, _baseRows) live in the segment (and its index)
    private int _deadBase;                      // dead rows among them
    private int _dim;
    private ulong _nextSeq;
    private SegmentIndex? _index;
    private long _segmentBytes;
    private WalWriter? _wal;
    private string? _failed;
    private bool _disposed;
    private readonly ByteWriter _enc = new(1 << 16);
    private readonly object _embedGate = new();
    private IEmbeddingGenerator<string, Embedding<float>>? _generator; // set by the caller, or resolved on first use
    private bool _ownsGenerator;
    private string? _modelOverride;

    internal Collection(string dir, Manifest manifest, bool readOnly, FileStream? lockFile, CollectionOptions opts)
    {
        _dir = dir;
        // The directory's name is the collection's name: a rename cut short by a crash (directory moved, manifest
        // not yet rewritten) is a completed rename.
        manifest.Name = Path.GetFileName(dir);
        _manifest = manifest;
        _readOnly = readOnly;
        _lock = lockFile;
        _opts = opts;
    }

    /// <summary>The collection's name.</summary>
    public string Name => _manifest.Name;
    /// <summary>The distance space.</summary>
    public DistanceSpace Space => _manifest.Space;
    /// <summary>
    /// The embedding function recorded for this collection (model name, dimension, normalization, weights fingerprint),
    /// or null for a bring-your-own-vectors collection.
    /// </summary>
    public EmbeddingFunctionSpec? EmbeddingFunction { get { _rw.EnterReadLock(); try { return _manifest.EmbeddingFunction; } finally { _rw.ExitReadLock(); } } }

    /// <summary>
    /// A model directory recorded by a collection written before membed recorded models by name (format 1), or null.
    /// Such a collection still opens; the path is resolved as a model id would be, and a writable open with a resolver
    /// records the model by name (<see cref="CollectionStore.GetCollection(string, string?)"/>).
    /// </summary>
    public string? LegacyModelPath { get { _rw.EnterReadLock(); try { return _manifest.LegacyModelPath; } finally { _rw.ExitReadLock(); } } }

    /// <summary>True when documents and query texts can be embedded (a recorded model, an override, or a generator).</summary>
    public bool HasEmbeddingFunction => _generator is not null || _modelOverride is not null || _manifest.EmbeddingFunction is not null || _manifest.LegacyModelPath is not null;

    /// <summary>The collection's metadata (ChromaDB's collection metadata, e.g. <c>hnsw:space</c>); empty when none.</summary>
    public IReadOnlyDictionary<string, MetadataValue> Metadata
    {
        get { _rw.EnterReadLock(); try { return _manifest.Metadata is { } m ? new Dictionary<string, MetadataValue>(m, StringComparer.Ordinal) : new Dictionary<string, MetadataValue>(); } finally { _rw.ExitReadLock(); } }
    }
    /// <summary>The embedding dimension (0 until the first record arrives in a collection without a model).</summary>
    public int Dimension { get { _rw.EnterReadLock(); try { return _dim; } finally { _rw.ExitReadLock(); } } }
    /// <summary>True when opened through a read-only store.</summary>
    public bool IsReadOnly => _readOnly;
    /// <summary>Kind of the compacted segment's index: "none", "flat", "ivf" or "hnsw".</summary>
    public string IndexKind { get { _rw.EnterReadLock(); try { return _index?.Kind ?? "none"; } finally { _rw.ExitReadLock(); } } }

    /// <summary>
    /// What opening found at the end of the write-ahead log and what was done about it (torn tails moved to a
    /// quarantine file on writable opens, damaged tails ignored on read-only opens). Clean on a healthy open.
    /// </summary>
    public RecoveryReport RecoveryReport { get; private set; } = RecoveryReport.Clean;

    /// <summary>The error of the last failed automatic compaction (null when the last one succeeded).</summary>
    public string? LastCompactionError { get; private set; }

    /// <summary>
    /// The generator computing embeddings from documents and query texts when none are given (ChromaDB's
    /// embedding_function). Resolved on first use from <see cref="EmbeddingFunction"/> through the store's
    /// <see cref="CollectionOptions.EmbeddingFunctionResolver"/>, which loads no model until something is embedded.
    /// Setting it replaces the recorded model knowingly (no fingerprint check; the width must still match). A
    /// generator set here is not disposed by the collection.
    /// </summary>
    public IEmbeddingGenerator<string, Embedding<float>>? EmbeddingGenerator
    {
        get { lock (_embedGate) return _generator; }
        set
        {
            lock (_embedGate)
            {
                if (_ownsGenerator) _generator?.Dispose();
                _generator = value;
                _ownsGenerator = false;
            }
        }
    }

    /// <summary>The resolver of the store that opened this collection.</summary>
    internal IEmbeddingFunctionResolver? Resolver => _opts.EmbeddingFunctionResolver;

    /// <summary>Uses <paramref name="model"/> instead of the recorded one (knowingly: its fingerprint is not checked).</summary>
    internal void SetModelOverride(string? model, ResolvedEmbeddingFunction? resolved = null)
    {
        lock (_embedGate)
        {
            if (model == _modelOverride && resolved is null) return;
            if (_ownsGenerator) _generator?.Dispose();
            _generator = null;
            _ownsGenerator = false;
            _modelOverride = model;
            if (resolved is not null) Accept(resolved, overridden: model is not null);
        }
    }

    /// <summary>The generator to embed with, resolving it on first use; null when the collection has no embedding function.</summary>
    private IEmbeddingGenerator<string, Embedding<float>>? Generator()
    {
        lock (_embedGate)
        {
            if (_generator is not null) return _generator;
            var recorded = _manifest.EmbeddingFunction;
            string? legacy = _manifest.LegacyModelPath;
            string? model = _modelOverride ?? recorded?.Model ?? legacy;
            if (model is null) return null;
            var resolver = Resolver ?? throw new EmbeddingFunctionException(
                $"collection '{Name}' embeds with {model}, but its store was opened without an embedding function resolver (CollectionOptions.EmbeddingFunctionResolver); pass embeddings instead",
                EmbeddingFunctionProblem.NoResolver);
            ResolvedEmbeddingFunction r;
            try { r = resolver.Resolve(model); }
            catch (ManagedEmbedException e) when (_modelOverride is null && recorded is null)
            {
                throw new EmbeddingFunctionException($"collection '{Name}' was written by an older membed and names its model by a directory path, {legacy}, which cannot be loaded here ({e.Message}); " +
                    "open it with the model overridden by name (e.g. sentence-transformers/all-MiniLM-L6-v2) to use and record that model", EmbeddingFunctionProblem.LegacyPathUnavailable, e);
            }
            Accept(r, overridden: _modelOverride is not null);
            return _generator;
        }
    }

    /// <summary>Checks a resolved model against the record and installs it (disposing it when refused). Caller holds _embedGate.</summary>
    private void Accept(ResolvedEmbeddingFunction r, bool overridden)
    {
        try { CheckSpec(r.Spec, overridden); }
        catch
        {
            r.Generator.Dispose();
            throw;
        }
        _generator = r.Generator;
        _ownsGenerator = true;
        _resolvedSpec = r.Spec;
    }

    /// <summary>
    /// The model found must produce vectors of the collection's width, and (unless overridden knowingly) carry the
    /// recorded weights fingerprint: other weights of the same width would silently give incomparable vectors.
    /// </summary>
    internal void CheckSpec(EmbeddingFunctionSpec found, bool overridden)
    {
        int dim = Dimension;
        var recorded = _manifest.EmbeddingFunction;
        if (dim != 0 && found.Dimension != dim)
            throw new EmbeddingFunctionException(
                $"model {found.Model} produces {found.Dimension}-dimensional embeddings, but collection '{Name}' holds {dim}-dimensional ones", EmbeddingFunctionProblem.DimensionMismatch);
        if (!overridden && recorded?.Fingerprint is { } fp && found.Fingerprint != fp)
            throw new EmbeddingFunctionException(
                $"collection '{Name}' was built with {recorded.Model} whose weights have fingerprint {fp}, but the model found here has {found.Fingerprint ?? "no fingerprint"} " +
                "(different weights give incomparable embeddings); override the model knowingly to use it anyway", EmbeddingFunctionProblem.FingerprintMismatch);
    }

    // ---------------------------------------------------------------- loading

    internal static Collection Load(string dir, bool readOnly, FileStream? lockFile, CollectionOptions opts, bool repair = false)
    {
        // Readers race with compaction (files of an older generation can vanish between reading the manifest and
        // opening them): retry from the manifest.
        for (int attempt = 0; ; attempt++)
        {
            var m = Manifest.Read(dir);
            var c = new Collection(dir, m, readOnly, lockFile, opts);
            try
            {
                c.LoadState(repair);
                c.MigrateChromaSidecar();
                return c;
            }
            catch (FileNotFoundException) when (readOnly && attempt < 20)
            {
                Thread.Sleep(10 * (attempt + 1));
            }
            catch (FileNotFoundException e)
            {
                throw new ManagedEmbedException($"collection '{m.Name}' is damaged: a file named by its manifest is missing ({Path.GetFileName(e.FileName)})");
            }
        }
    }

    private void LoadState(bool repair)
    {
        var m = _manifest;
        _dim = m.Dim;
        if (m.Segment is { } s)
        {
            var rows = Segment.Read(_dir, s, m.Dim);
            _rows = new List<Rec?>(rows.Count + 1024);
            foreach (var r in rows)
            {
                if (!_idToRow.TryAdd(r.Id, _rows.Count)) throw new ManagedEmbedException($"segment of collection '{m.Name}' holds id '{r.Id}' twice; refusing to open");
                _cols.Set(_rows.Count, r.Metadata);
                _rows.Add(r);
            }
            _baseRows = rows.Count;
            _segmentBytes = s.DocsBytes + s.IndexBytes;
            _index = SegmentIndex.Load(_dir, s, m.Space, m.Dim, m.Hnsw);
            if (_opts.IvfNprobe > 0) _index?.SetNprobe(_opts.IvfNprobe);
        }
        _nextSeq = m.NextSeq;
        string walPath = Path.Combine(_dir, Wal.FileName(m.WalGeneration));
        var scan = Wal.Read(walPath, m.WalGeneration, b =>
        {
            if (b.Seq != _nextSeq) throw new ManagedEmbedException($"write-ahead log {walPath}: record sequence {b.Seq}, expected {_nextSeq}; refusing to open");
            if (b.Puts.Count > 0)
            {
                if (_dim == 0) _dim = b.Dim;
                else if (b.Dim != _dim) throw new ManagedEmbedException($"write-ahead log {walPath}: record dimension {b.Dim} differs from {_dim}; refusing to open");
            }
            ApplyBatch(b);
            _nextSeq++;
        });
        if (scan.Damage is { } d)
        {
            string? quarantine = null;
            if (!_readOnly)
            {
                // A complete record failing its checksum may be an acknowledged write that rotted: only an explicit
                // repair may drop it. A torn tail was never acknowledged, but its bytes are still kept, not destroyed.
                if (d.Kind == RecoveryFindingKind.CorruptTail && !repair)
                    throw new CollectionDamagedException(Path.GetDirectoryName(_dir) ?? ".", m.Name, $"collection '{m.Name}' refuses to open for writing: {Finding(walPath, d, null)}; " +
                        "data before it is intact and readable read-only; a repair (CollectionStore.RepairCollection) quarantines it");
                quarantine = Wal.Quarantine(_opts.FileOps, walPath, d.Offset);
            }
            RecoveryReport = new RecoveryReport([Finding(walPath, d, quarantine)]);
        }
        if (!_readOnly)
        {
            _wal = new WalWriter(_opts.FileOps, walPath, scan.ValidLength, scan.Version);
            RemoveOrphans();
        }
    }

    private RecoveryFinding Finding(string walPath, Wal.TailDamage d, string? quarantine) => new()
    {
        Collection = _manifest.Name, File = walPath, Offset = d.Offset, Length = d.FileLength - d.Offset,
        Kind = d.Kind, Reason = d.Reason, Records = d.Records, QuarantineFile = quarantine,
    };

    private void RemoveOrphans()
    {
        var keep = new HashSet<string>(StringComparer.Ordinal) { Manifest.FileName, CollectionStore.LockFileName, Wal.FileName(_manifest.WalGeneration) };
        if (_manifest.Segment is { } s) { keep.Add(s.Docs); keep.Add(s.Index); }
        bool any = false;
        foreach (var f in Directory.EnumerateFiles(_dir))
        {
            string n = Path.GetFileName(f);
            if (keep.Contains(n) || (n.Contains(Wal.QuarantineMarker, StringComparison.Ordinal) && !n.EndsWith(".tmp", StringComparison.Ordinal))) continue;
            if (n.StartsWith("wal-", StringComparison.Ordinal) || n.StartsWith("seg-", StringComparison.Ordinal) || n.EndsWith(".tmp", StringComparison.Ordinal))
            {
                File.Delete(f);
                any = true;
            }
        }
        if (any) _opts.FileOps.FsyncDirectory(_dir);
    }

    /// <summary>
    /// Predicate "row is live and matches the filters"; the where clause runs on the metadata columns when every key
    /// it names has one, else on each record's metadata. Caller holds the read lock or the write gate.
    /// </summary>
    private Func<int, bool> RowFilter(WhereFilter? where, WhereDocumentFilter? wd)
    {
        if (where is not null && where.IsAll) where = null;
        var w = where?.Bind(_cols);
        var rows = _rows;
        if (where is null && wd is null) return row => rows[row] is not null;
        if (wd is null && w is not null) return row => rows[row] is not null && w(row);
        return row => rows[row] is { } r
            && (where is null || (w is not null ? w(row) : where.Matches(r.Metadata)))
            && (wd is null || wd.Matches(r.Document));
    }

    /// <summary>The stored vector of a live row: its own array, or in place in the segment index.</summary>
    private ReadOnlySpan<float> Vec(int row) => _rows[row]!.Vector ?? _index!.Vector(row);

    private void ApplyBatch(WalBatch b)
    {
        foreach (var id in b.Deletes) Kill(id);
        foreach (var r in b.Puts)
        {
            Kill(r.Id);
            _idToRow[r.Id] = _rows.Count;
            _cols.Set(_rows.Count, r.Metadata);
            _rows.Add(r);
        }
    }

    private void Kill(string id)
    {
        if (!_idToRow.Remove(id, out int row)) return;
        _rows[row] = null;
        if (row < _baseRows) _deadBase++;
    }

    // ---------------------------------------------------------------- public reads

    /// <summary>Number of live records.</summary>
    public int Count()
    {
        _rw.EnterReadLock();
        try { CheckOpen(); return _idToRow.Count; }
        finally { _rw.ExitReadLock(); }
    }

    /// <summary>The first <paramref name="limit"/> records in insertion order.</summary>
    public GetResult Peek(int limit = 10) => Get(limit: limit, include: Include.Documents | Include.Metadatas | Include.Embeddings);

    /// <summary>
    /// Records by id and/or filter. With <paramref name="ids"/>, results follow the given order and unknown ids are
    /// skipped; otherwise insertion order. <paramref name="offset"/>/<paramref name="limit"/> apply after filtering.
    /// </summary>
    public GetResult Get(IReadOnlyList<string>? ids = null, WhereFilter? where = null, WhereDocumentFilter? whereDocument = null,
        int? limit = null, int offset = 0, Include include = Include.Documents | Include.Metadatas)
    {
        if (limit is < 0) throw new ManagedEmbedException("limit must be >= 0");
        if (offset < 0) throw new ManagedEmbedException("offset must be >= 0");
        if (ids is not null) foreach (var id in ids) ValidateId(id);
        var outIds = new List<string>();
        var docs = (include & Include.Documents) != 0 ? new List<string?>() : null;
        var metas = (include & Include.Metadatas) != 0 ? new List<IReadOnlyDictionary<string, MetadataValue>?>() : null;
        var embs = (include & Include.Embeddings) != 0 ? new List<float[]>() : null;
        _rw.EnterReadLock();
        try
        {
            CheckOpen();
            int skipped = 0, taken = 0, max = limit ?? int.MaxValue;
            var accept = RowFilter(where, whereDocument);
            IEnumerable<int> candidates = ids is null ? Enumerable.Range(0, _rows.Count) : ids.Select(id => _idToRow.TryGetValue(id, out int r) ? r : -1);
            foreach (int row in candidates)
            {
                if (taken >= max) break;
                if (row < 0 || !accept(row)) continue;
                var rec = _rows[row]!;
                if (skipped < offset) { skipped++; continue; }
                taken++;
                outIds.Add(rec.Id);
                docs?.Add(rec.Document);
                metas?.Add(CopyMeta(rec.Metadata));
                embs?.Add(Vec(row).ToArray());
            }
        }
        finally { _rw.ExitReadLock(); }
        return new GetResult { Ids = outIds, Documents = docs, Metadatas = metas, Embeddings = embs };
    }

    private static Dictionary<string, MetadataValue>? CopyMeta(MetaMap? m) =>
        m is null ? null : new Dictionary<string, MetadataValue>(m, StringComparer.Ordinal);

    /// <summary>
    /// Nearest neighbours of each query (texts embedded by the collection's model, or explicit embeddings), best
    /// first, at most <paramref name="nResults"/> per query, restricted by the filters. With
    /// <paramref name="minScore"/>, only results whose similarity score is at or above it are returned; the score is
    /// 1 − distance for cosine (= cosine similarity) and ip (= dot product), and 1 − distance/2 for l2 (= cosine
    /// similarity for unit-length vectors). With <paramref name="ids"/> (ChromaDB's query <c>ids</c>), only those
    /// records are candidates (unknown ids are ignored), ranked exactly.
    /// </summary>
    public QueryResult Query(IReadOnlyList<string>? queryTexts = null, IReadOnlyList<float[]>? queryEmbeddings = null, int nResults = 10,
        WhereFilter? where = null, WhereDocumentFilter? whereDocument = null,
        Include include = Include.Documents | Include.Metadatas | Include.Distances, double? minScore = null, IReadOnlyList<string>? ids = null)
    {
        if (ids is not null) foreach (var id in ids) ValidateId(id);
        if ((queryTexts is null) == (queryEmbeddings is null)) throw new ManagedEmbedException("query needs exactly one of query texts or query embeddings");
        if (nResults < 1) throw new ManagedEmbedException("n_results must be >= 1");
        if (minScore is { } ms && !double.IsFinite(ms)) throw new ManagedEmbedException("min score must be a finite number");
        float[][] queries;
        if (queryTexts is not null)
        {
            if (queryTexts.Count == 0) throw new ManagedEmbedException("query texts must not be empty");
            for (int i = 0; i < queryTexts.Count; i++) ValidateText(queryTexts[i] ?? throw new ManagedEmbedException($"query text {i} is null"), $"query text {i}");
            queries = EmbedTexts(queryTexts, "query texts");
        }
        else
        {
            if (queryEmbeddings!.Count == 0) throw new ManagedEmbedException("query embeddings must not be empty");
            queries = queryEmbeddings.Select(q => (float[])(q ?? throw new ManagedEmbedException("query embedding is null")).Clone()).ToArray();
        }
        var outIds = new List<IReadOnlyList<string>>();
        var docs = (include & Include.Documents) != 0 ? new List<IReadOnlyList<string?>>() : null;
        var metas = (include & Include.Metadatas) != 0 ? new List<IReadOnlyList<IReadOnlyDictionary<string, MetadataValue>?>>() : null;
        var dists = (include & Include.Distances) != 0 ? new List<IReadOnlyList<float>>() : null;
        var embs = (include & Include.Embeddings) != 0 ? new List<IReadOnlyList<float[]>>() : null;
        _rw.EnterReadLock();
        try
        {
            CheckOpen();
            for (int qi = 0; qi < queries.Length; qi++)
            {
                var q = queries[qi];
                if (_dim != 0 && q.Length != _dim) throw new ManagedEmbedException($"query embedding {qi} has dimension {q.Length}, collection '{Name}' has {_dim}");
                CheckVector(q, $"query embedding {qi}");
                if (Space == DistanceSpace.Cosine) NormalizeOrThrow(q, $"query embedding {qi}");
                var hits = _idToRow.Count == 0 ? [] : ids is not null ? SearchAmong(q, nResults, ids, where, whereDocument) : Search(q, nResults, where, whereDocument);
                if (minScore is { } min) hits = hits.Where(h => Score(h.Dist) >= min).ToList();
                outIds.Add(hits.Select(h => _rows[h.Row]!.Id).ToList());
                docs?.Add(hits.Select(h => _rows[h.Row]!.Document).ToList());
                metas?.Add(hits.Select(h => (IReadOnlyDictionary<string, MetadataValue>?)CopyMeta(_rows[h.Row]!.Metadata)).ToList());
                dists?.Add(hits.Select(h => h.Dist).ToList());
                embs?.Add(hits.Select(h => Vec(h.Row).ToArray()).ToList());
            }
        }
        finally { _rw.ExitReadLock(); }
        return new QueryResult { Ids = outIds, Documents = docs, Metadatas = metas, Distances = dists, Embeddings = embs };
    }

    /// <summary>The similarity score compared with a query's min score (see <see cref="Query"/>).</summary>
    public double Score(float distance) => Space == DistanceSpace.L2 ? 1.0 - distance / 2.0 : 1.0 - distance;

    // ---------------------------------------------------------------- public writes

    /// <summary>
    /// Adds new records. Every id must be new (use <see cref="Upsert"/> to overwrite). Embeddings are computed from the
    /// documents by the collection's model when omitted. All-or-nothing: on any error nothing is written.
    /// </summary>
    public void Add(IReadOnlyList<string> ids, IReadOnlyList<string?>? documents = null,
        IReadOnlyList<IReadOnlyDictionary<string, MetadataValue>?>? metadatas = null, IReadOnlyList<float[]>? embeddings = null)
        => Write(WriteKind.Add, ids, documents, metadatas, embeddings);

    /// <summary>
    /// Adds new ids and updates existing ones (update semantics: given documents/embeddings replace, given metadata
    /// keys are merged into the stored metadata and a <see cref="MetadataValue.Null"/> value removes a key).
    /// </summary>
    public void Upsert(IReadOnlyList<string> ids, IReadOnlyList<string?>? documents = null,
        IReadOnlyList<IReadOnlyDictionary<string, MetadataValue>?>? metadatas = null, IReadOnlyList<float[]>? embeddings = null)
        => Write(WriteKind.Upsert, ids, documents, metadatas, embeddings);

    /// <summary>
    /// Updates existing records (every id must exist). A new document without an embedding is re-embedded by the
    /// model; without a model the old embedding is kept. Metadata is merged (null value removes a key).
    /// </summary>
    public void Update(IReadOnlyList<string> ids, IReadOnlyList<string?>? documents = null,
        IReadOnlyList<IReadOnlyDictionary<string, MetadataValue>?>? metadatas = null, IReadOnlyList<float[]>? embeddings = null)
        => Write(WriteKind.Update, ids, documents, metadatas, embeddings);

    /// <summary>
    /// Deletes the given ids (unknown ids are ignored) and/or every record matching the filters; at least one of
    /// them is required. Returns how many records were deleted. All-or-nothing.
    /// </summary>
    public int Delete(IReadOnlyList<string>? ids = null, WhereFilter? where = null, WhereDocumentFilter? whereDocument = null)
    {
        if (ids is null && where is null && whereDocument is null) throw new ManagedEmbedException("delete needs ids or a where/where_document filter");
        if (ids is not null) foreach (var id in ids) ValidateId(id);
        lock (_writeGate)
        {
            CheckWritable();
            var del = new List<string>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var accept = RowFilter(where, whereDocument);
            IEnumerable<int> candidates = ids is null ? Enumerable.Range(0, _rows.Count) : ids.Select(id => _idToRow.TryGetValue(id, out int r) ? r : -1);
            foreach (int row in candidates)
            {
                if (row < 0 || !accept(row)) continue;
                var rec = _rows[row]!;
                if (seen.Add(rec.Id)) del.Add(rec.Id);
            }
            if (del.Count == 0) return 0;
            Commit(new WalBatch { Dim = _dim, Deletes = del });
            return del.Count;
        }
    }

    private enum WriteKind { Add, Upsert, Update }

    private void Write(WriteKind kind, IReadOnlyList<string> ids, IReadOnlyList<string?>? documents,
        IReadOnlyList<IReadOnlyDictionary<string, MetadataValue>?>? metadatas, IReadOnlyList<float[]>? embeddings)
    {
        string op = kind.ToString().ToLowerInvariant();
        ArgumentNullException.ThrowIfNull(ids);
        int n = ids.Count;
        if (n == 0) throw new ManagedEmbedException($"{op}: ids must not be empty");
        if (documents is not null && documents.Count != n) throw new ManagedEmbedException($"{op}: {documents.Count} documents for {n} ids");
        if (metadatas is not null && metadatas.Count != n) throw new ManagedEmbedException($"{op}: {metadatas.Count} metadatas for {n} ids");
        if (embeddings is not null && embeddings.Count != n) throw new ManagedEmbedException($"{op}: {embeddings.Count} embeddings for {n} ids");
        var seen = new HashSet<string>(n, StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
        {
            ValidateId(ids[i]);
            if (!seen.Add(ids[i])) throw new ManagedEmbedException($"{op}: duplicate id '{ids[i]}' in one call");
            if (documents?[i] is { } d) ValidateText(d, $"document of id '{ids[i]}'");
            if (metadatas?[i] is { } m) ValidateMetadata(m, $"id '{ids[i]}'", allowNull: kind != WriteKind.Add);
        }
        float[][]? vecs = null;
        if (embeddings is not null)
        {
            vecs = new float[n][];
            for (int i = 0; i < n; i++)
            {
                var e = embeddings[i] ?? throw new ManagedEmbedException($"{op}: embedding of id '{ids[i]}' is null");
                CheckVector(e, $"embedding of id '{ids[i]}'");
                vecs[i] = (float[])e.Clone();
                if (i > 0 && vecs[i].Length != vecs[0].Length) throw new ManagedEmbedException($"{op}: embedding of id '{ids[i]}' has dimension {vecs[i].Length}, others have {vecs[0].Length}");
                if (vecs[i].Length == 0) throw new ManagedEmbedException($"{op}: embedding of id '{ids[i]}' is empty");
            }
        }

        lock (_writeGate)
        {
            CheckWritable();
            // Existence checks and merges read state only the writer (us, under the gate) can change.
            var existing = new Rec?[n];
            var existingRow = new int[n];
            for (int i = 0; i < n; i++)
            {
                existing[i] = _idToRow.TryGetValue(ids[i], out int row) ? _rows[row] : null;
                existingRow[i] = existing[i] is null ? -1 : row;
                if (kind == WriteKind.Add && existing[i] is not null) throw new ManagedEmbedException($"add: id '{ids[i]}' already exists (use upsert to overwrite)");
                if (kind == WriteKind.Update && existing[i] is null) throw new ManagedEmbedException($"update: id '{ids[i]}' does not exist");
            }
            if (vecs is null)
            {
                // Embed the documents of new records and of records whose document changes.
                var need = new List<int>();
                for (int i = 0; i < n; i++)
                {
                    bool newDoc = documents?[i] is not null;
                    if (existing[i] is null || (newDoc && HasEmbeddingFunction)) need.Add(i);
                }
                if (need.Count > 0)
                {
                    if (!HasEmbeddingFunction)
                        throw new ManagedEmbedException($"{op}: embeddings are required for id '{ids[need[0]]}': collection '{Name}' has no embedding function (it was created without a model)");
                    var texts = need.Select(i => documents?[i] ?? throw new ManagedEmbedException($"{op}: id '{ids[i]}' needs a document or an embedding")).ToList();
                    var computed = EmbedTexts(texts, $"{op} documents");
                    vecs = new float[n][];
                    for (int j = 0; j < need.Count; j++) vecs[need[j]] = computed[j];
                }
            }
            int dim = _dim;
            if (vecs is not null)
            {
                foreach (var v in vecs)
                {
                    if (v is null) continue;
                    if (dim == 0) dim = v.Length;
                    if (v.Length != dim) throw new ManagedEmbedException($"{op}: embedding dimension {v.Length} does not match collection '{Name}' dimension {dim}");
                }
                if (Space == DistanceSpace.Cosine)
                    for (int i = 0; i < n; i++) if (vecs[i] is { } v) NormalizeOrThrow(v, $"embedding of id '{ids[i]}'");
            }
            var batch = new WalBatch { Dim = dim };
            for (int i = 0; i < n; i++)
            {
                var old = existing[i];
                var meta = metadatas?[i];
                Dictionary<string, MetadataValue>? merged = old?.Metadata is null ? null : new Dictionary<string, MetadataValue>(old.Metadata, StringComparer.Ordinal);
                if (meta is not null)
                {
                    merged ??= new Dictionary<string, MetadataValue>(StringComparer.Ordinal);
                    foreach (var (k, v) in meta)
                        if (v.Kind == MetadataKind.Null) merged.Remove(k); else merged[KeyPool.Intern(k)] = v;
                }
                if (merged is { Count: 0 }) merged = null;
                batch.Puts.Add(new Rec
                {
                    Id = ids[i],
                    Document = documents?[i] ?? old?.Document,
                    Metadata = merged is null ? null : MetaMap.From(merged),
                    Vector = vecs?[i] ?? Vec(existingRow[i]).ToArray(),
                });
            }
            Commit(batch);
        }
    }

    /// <summary>Logs (fsync) then applies one batch; compacts when the log has grown enough. Caller holds the gate.</summary>
    private void Commit(WalBatch batch)
    {
        batch.Seq = _nextSeq;
        Wal.Encode(batch, _enc, _wal!.Version);
        try { _wal!.Append(_enc.Span); }
        catch (WalUnrestorableException e)
        {
            _failed = e.Message;
            throw;
        }
        _rw.EnterWriteLock();
        try
        {
            if (batch.Puts.Count > 0 && _dim == 0) _dim = batch.Dim;
            ApplyBatch(batch);
            _nextSeq++;
        }
        finally { _rw.ExitWriteLock(); }
        _sinceSnapshot?.Add(batch);
        if (_enc.Length > (1 << 24)) _enc.Clear(); // don't pin a huge buffer after a huge batch
        long walBytes = _wal.Length - Wal.HeaderSize;
        // Automatic compaction runs in the background; the write above is already durable and applied, and a failed
        // compaction leaves the old generation authoritative (reported in LastCompactionError, retried later).
        if (_compaction is null && walBytes >= _opts.CompactionMinWalBytes && walBytes >= _opts.CompactionRatio * _segmentBytes)
            StartBackgroundCompaction();
    }

    // ---------------------------------------------------------------- validation

    internal static void ValidateId(string id)
    {
        if (id is null) throw new ManagedEmbedException("id must not be null");
        if (id.Length == 0) throw new ManagedEmbedException("id must not be empty");
        ValidateText(id, "id");
        int bytes = Encoding.UTF8.GetByteCount(id);
        if (bytes > MaxIdBytes) throw new ManagedEmbedException($"id '{id[..Math.Min(40, id.Length)]}…' is {bytes} UTF-8 bytes; the maximum is {MaxIdBytes}");
    }

    internal static void ValidateText(string s, string what)
    {
        // Lone surrogates cannot be encoded as UTF-8.
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
            if (char.IsSurrogate(c)) throw new ManagedEmbedException($"{what} is not valid Unicode (unpaired surrogate at index {i}); text must be valid UTF-8");
        }
    }

    private static void ValidateMetadata(IReadOnlyDictionary<string, MetadataValue> m, string owner, bool allowNull)
    {
        foreach (var (k, v) in m)
        {
            if (string.IsNullOrEmpty(k)) throw new ManagedEmbedException($"metadata of {owner}: empty key");
            if (k.StartsWith('$')) throw new ManagedEmbedException($"metadata of {owner}: key '{k}' must not start with '$'");
            ValidateText(k, $"metadata key of {owner}");
            if (Encoding.UTF8.GetByteCount(k) > MaxKeyBytes) throw new ManagedEmbedException($"metadata of {owner}: key longer than {MaxKeyBytes} bytes");
            switch (v.Kind)
            {
                case MetadataKind.Null when !allowNull: throw new ManagedEmbedException($"metadata of {owner}: key '{k}' has a null value (null only removes keys in update/upsert)");
                case MetadataKind.String: ValidateText(v.AsString, $"metadata '{k}' of {owner}"); break;
                case MetadataKind.Float when !double.IsFinite(v.AsFloat): throw new ManagedEmbedException($"metadata of {owner}: key '{k}' is not a finite number");
                case MetadataKind.List:
                    foreach (var x in v.AsList)
                    {
                        if (x.Kind == MetadataKind.String) ValidateText(x.AsString, $"metadata '{k}' of {owner}");
                        if (x.Kind == MetadataKind.Float && !double.IsFinite(x.AsFloat)) throw new ManagedEmbedException($"metadata of {owner}: list '{k}' holds a non-finite number");
                    }
                    break;
            }
        }
    }

    /// <summary>Largest norm accepted in the l2 and ip spaces: beyond it a squared distance or a dot product overflows float32 to Inf.</summary>
    private const double MaxNorm = 1e18;
    /// <summary>The smallest normal float32 (2^-126); below it precision is lost and 1/norm overflows float32.</summary>
    private const double MinNormalFloat = 1.1754943508222875e-38;

    /// <summary>
    /// Every value finite, and a norm the space can use: cosine divides by the norm, so it must be a normal float
    /// (a subnormal vector such as [1e-45, …] normalized to Inf, which then broke every query and compaction); l2 and
    /// ip square or multiply coordinates, so the norm must stay well below the float32 range.
    /// </summary>
    private void CheckVector(float[] v, string what)
    {
        if (v.Length == 0) return; // reported by the dimension checks
        double s = 0;
        for (int i = 0; i < v.Length; i++)
        {
            if (!float.IsFinite(v[i])) throw new ManagedEmbedException($"{what} contains {(float.IsNaN(v[i]) ? "NaN" : "Inf")} at index {i}");
            s += (double)v[i] * v[i];
        }
        double norm = Math.Sqrt(s);
        if (Space == DistanceSpace.Cosine)
        {
            if (s == 0) throw new ManagedEmbedException($"{what} is the zero vector, which has no cosine direction");
            if (norm < MinNormalFloat)
                throw new ManagedEmbedException($"{what} has norm {norm.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)}, too small to normalize (below the smallest normal float32, 1.18E-38)");
        }
        else if (norm > MaxNorm)
            throw new ManagedEmbedException($"{what} has norm {norm.ToString("G3", System.Globalization.CultureInfo.InvariantCulture)}, too large for the {SpaceName(Space)} space (distances would overflow float32; the limit is 1E+18)");
    }

    private static string SpaceName(DistanceSpace s) => s switch { DistanceSpace.L2 => "l2", DistanceSpace.InnerProduct => "ip", _ => "cosine" };

    /// <summary>Scales to unit norm in double precision (the vector passed <see cref="CheckVector"/>, so the result is finite).</summary>
    private static void NormalizeOrThrow(float[] v, string what)
    {
        double s = 0;
        foreach (float x in v) s += (double)x * x;
        if (s == 0) throw new ManagedEmbedException($"{what} is the zero vector, which has no cosine direction");
        double inv = 1.0 / Math.Sqrt(s);
        for (int i = 0; i < v.Length; i++) v[i] = (float)(v[i] * inv);
    }

    /// <summary>
    /// Embeds <paramref name="texts"/> with the collection's own embedding function (resolved on first use, its weights
    /// fingerprint checked against the record), as add and query do for documents and query texts.
    /// </summary>
    /// <exception cref="EmbeddingFunctionException">The recorded model cannot be used (fingerprint or width mismatch, no resolver).</exception>
    public float[][] Embed(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        CheckOpen();
        for (int i = 0; i < texts.Count; i++) ValidateText(texts[i] ?? throw new ManagedEmbedException($"text {i} is null"), $"text {i}");
        return texts.Count == 0 ? [] : EmbedTexts(texts, "texts");
    }

    private float[][] EmbedTexts(IReadOnlyList<string> texts, string what)
    {
        var g = Generator() ?? throw new ManagedEmbedException($"{what} need an embedding function: collection '{Name}' was created without a model (pass embeddings instead)");
        // The seam is asynchronous; the store's API is synchronous (a write holds the writer gate while it embeds).
        var gen = g.GenerateAsync(texts).GetAwaiter().GetResult();
        if (gen.Count != texts.Count) throw new ManagedEmbedException($"embedding function returned {gen.Count} vectors for {texts.Count} texts");
        var r = new float[gen.Count][];
        for (int i = 0; i < r.Length; i++)
        {
            r[i] = gen[i].Vector.ToArray();
            CheckVector(r[i], "computed embedding");
        }
        return r;
    }

    private void CheckOpen()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
    }

    private void CheckWritable()
    {
        CheckOpen();
        if (_readOnly) throw new ManagedEmbedException($"collection '{Name}' was opened read-only");
        if (_failed is not null) throw new ManagedEmbedException($"collection '{Name}' stopped accepting writes after an I/O failure ({_failed}); reopen it");
    }

    /// <summary>Closes the log and releases the writer lock.</summary>
    public void Dispose()
    {
        if (!_disposed && !_readOnly) WaitForCompaction(); // let a running compaction publish (it needs the gate)
        lock (_writeGate)
        {
            _rw.EnterWriteLock();
            try
            {
                if (_disposed) return;
                _disposed = true;
                _wal?.Dispose();
                _lock?.Dispose();
                _lock = null;
                lock (_embedGate)
                {
                    if (_ownsGenerator) _generator?.Dispose();
                    _generator = null;
                }
            }
            finally { _rw.ExitWriteLock(); }
        }
    }
}
