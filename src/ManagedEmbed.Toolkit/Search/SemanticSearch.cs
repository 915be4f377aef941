using System.Globalization;
using System.Text;
using System.Text.Json;
using ManagedEmbed.Encoder;
using ManagedEmbed.Index;
using ManagedEmbed.Kernels;
using ManagedEmbed.Text;

namespace ManagedEmbed.Search;

/// <summary>The kind of vector index behind a <see cref="SemanticSearch"/>.</summary>
public enum SearchIndexKind
{
    /// <summary>Exact inner-product search over every document (FAISS IndexFlatIP).</summary>
    Flat,
    /// <summary>Approximate IVF-Flat search (FAISS IndexIVFFlat): k-means partitions, <c>nprobe</c> of them searched.</summary>
    Ivf,
    /// <summary>Approximate HNSW search (FAISS IndexHNSWFlat): a navigable graph, <c>efSearch</c> candidates per query.</summary>
    Hnsw,
}

/// <summary>One search result.</summary>
/// <param name="Rank">1-based rank.</param>
/// <param name="Id">The document's index in <see cref="SemanticSearch.Documents"/>.</param>
/// <param name="Score">Cosine similarity of query and document.</param>
/// <param name="Document">The document text.</param>
public sealed record SearchHit(int Rank, long Id, float Score, string Document)
{
    /// <summary>With chunking: the first character of the document's best-matching window; null otherwise.</summary>
    public int? Start { get; init; }
    /// <summary>With chunking: one past the last character of that window; null otherwise.</summary>
    public int? End { get; init; }
}

/// <summary>Options of <see cref="SemanticSearch"/>.</summary>
public sealed class SemanticSearchOptions
{
    /// <summary>Flat (exact, the default) or IVF (approximate).</summary>
    public SearchIndexKind Kind { get; init; } = SearchIndexKind.Flat;
    /// <summary>IVF partitions; default round(√n), at least 1 and at most n.</summary>
    public int? NList { get; init; }
    /// <summary>IVF partitions searched per query; default min(nlist, 10).</summary>
    public int? NProbe { get; init; }
    /// <summary>HNSW beam width per query; default <see cref="HnswIndex.DefaultEfSearch"/> (or the loaded file's).</summary>
    public int? EfSearch { get; init; }
    /// <summary>Seed of the IVF k-means.</summary>
    public int Seed { get; init; } = 1234;
    /// <summary>Documents per encoder batch.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Receives a one-line note before slow steps (IVF training).</summary>
    public Action<string>? Status { get; init; }
    /// <summary>Called after each k-means iteration of IVF training with (iterations done, iterations in all).</summary>
    public Action<int, int>? TrainingProgress { get; init; }
    /// <summary>
    /// Split each document into overlapping windows of this many tokens (see <see cref="DocumentChunker"/>) and index
    /// the windows; a search returns each document once, scored by its best window, with that window's character
    /// span. Null: one vector per document. A chunked index cannot be saved.
    /// </summary>
    public int? ChunkTokens { get; init; }
    /// <summary>Tokens shared by consecutive windows with <see cref="ChunkTokens"/> (default 0).</summary>
    public int ChunkOverlap { get; init; }
    /// <summary>Cut documents and queries longer than the model's max_seq_length (default) or refuse them (<see cref="TextTooLongException"/>).</summary>
    public TruncationMode Truncation { get; init; } = TruncationMode.Cut;
    /// <summary>
    /// Search quantized documents instead of float ones (<see cref="QuantizedIndex"/>, flat only): a binary Hamming
    /// or int8 first pass over every document, the top <c>k × RescoreMultiplier</c> rescored with the float query
    /// against int8 documents. Null (the default) searches float32 vectors.
    /// </summary>
    public QuantizedFirstPass? Quantization { get; init; }
    /// <summary>Candidates per result kept by the quantized first pass (sentence-transformers' <c>rescore_multiplier</c>).</summary>
    public int RescoreMultiplier { get; init; } = 4;
}

/// <summary>
/// The tutorial's <c>SemanticSearch</c>: embed a list of documents once (L2-normalized, so inner product = cosine;
/// documents with the model's document prompt and queries with its query prompt, when it has them),
/// keep them in a flat or IVF index, and return the top-k documents for a query. The index can be saved as a FAISS
/// file with the document texts in a sidecar (<c>INDEX.docs.jsonl</c>) and loaded again without re-encoding.
/// </summary>
/// <remarks>Not thread-safe for concurrent <see cref="Index"/> and <see cref="Search(string, int, float?)"/> calls; concurrent searches are fine.</remarks>
public sealed class SemanticSearch
{
    private const string SidecarFormat = "membed-search-docs";
    private const int SidecarVersion = 1;

    private readonly SentenceEncoder _encoder;
    private readonly SemanticSearchOptions _options;
    private IVectorIndex? _index;
    private QuantizedIndex? _quantized;
    private List<string> _documents = [];
    private List<(int Doc, TextChunk Span)>? _chunks; // with chunking: vector i is window _chunks[i]

    /// <summary>A search engine over <paramref name="encoder"/>'s embeddings.</summary>
    public SemanticSearch(SentenceEncoder encoder, SemanticSearchOptions? options = null)
    {
        _encoder = encoder ?? throw new ArgumentNullException(nameof(encoder));
        _options = options ?? new SemanticSearchOptions();
        if (_options.BatchSize < 1) throw new ManagedEmbedException($"batch size must be at least 1, got {_options.BatchSize}");
        if (_options.Quantization is not null && _options.Kind != SearchIndexKind.Flat)
            throw new ManagedEmbedException("quantized search scans every document (flat); it does not combine with IVF or HNSW");
        if (_options.RescoreMultiplier < 1) throw new ManagedEmbedException($"the rescore multiplier must be at least 1, got {_options.RescoreMultiplier}");
    }

    /// <summary>The quantized index when <see cref="SemanticSearchOptions.Quantization"/> is set (null otherwise).</summary>
    public QuantizedIndex? QuantizedIndex => _quantized;

    /// <summary>The indexed documents; a hit's <see cref="SearchHit.Id"/> indexes this list.</summary>
    public IReadOnlyList<string> Documents => _documents;

    /// <summary>The vector index (null before <see cref="Index"/> or <see cref="Load"/>).</summary>
    public IVectorIndex? VectorIndex => _index;

    /// <summary>Notes from index construction (e.g. k-means warnings about few training points per centroid).</summary>
    public List<string> Warnings { get; } = new();

    /// <summary>Embeds <paramref name="documents"/> and builds the index, replacing any previous one.</summary>
    public void Index(IReadOnlyList<string> documents, IProgress<EncodeProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(documents);
        if (documents.Count == 0) throw new ManagedEmbedException("cannot index an empty document list");
        if (_options.Kind == SearchIndexKind.Ivf && _options.NList is int nl && (nl < 1 || nl > documents.Count))
            throw new ManagedEmbedException($"nlist must be in [1, {documents.Count}] (the number of documents), got {nl}");
        // encode_document / encode_query: a model with "passage"/"query" prompts (E5, arctic-embed) gets them applied
        // as sentence-transformers applies them; models without prompts are unaffected.
        if (_options.Quantization is not null && _options.ChunkTokens is not null)
            throw new ManagedEmbedException("quantized search and chunked documents cannot be combined");
        var chunks = _options.ChunkTokens is int size ? Chunk(documents, size) : null;
        IReadOnlyList<string> texts = chunks is null ? documents : chunks.ConvertAll(c => documents[c.Doc][c.Span.Start..c.Span.End]);
        EmbeddingMatrix emb = _encoder.EncodeDocument(texts, new EncodeOptions { BatchSize = _options.BatchSize, Normalize = true, Progress = progress, Truncation = _options.Truncation });
        if (_options.Quantization is QuantizedFirstPass first)
        {
            if (first == QuantizedFirstPass.Binary && emb.Dimension % 8 != 0)
                throw new ManagedEmbedException($"binary quantization packs 8 dimensions per byte; the model's dimension {emb.Dimension} is not a multiple of 8");
            _quantized = new QuantizedIndex(emb.Data, emb.Dimension, first, QuantizedRescore.Int8);
            _index = null;
            _documents = documents.ToList();
            _chunks = null;
            return;
        }
        IVectorIndex index;
        if (_options.Kind == SearchIndexKind.Flat)
        {
            index = new FlatIndex(emb.Dimension, Metric.InnerProduct);
        }
        else if (_options.Kind == SearchIndexKind.Hnsw)
        {
            index = new HnswIndex(emb.Dimension, HnswIndex.DefaultM, Metric.InnerProduct) { EfSearch = _options.EfSearch ?? HnswIndex.DefaultEfSearch };
        }
        else
        {
            int n = documents.Count;
            int nlist = _options.NList ?? Math.Clamp((int)Math.Round(Math.Sqrt(n)), 1, n);
            if (nlist < 1 || nlist > n) throw new ManagedEmbedException($"nlist must be in [1, {n}] (the number of documents), got {nlist}");
            if (_options.NProbe is int p && p < 1) throw new ManagedEmbedException($"nprobe must be at least 1, got {p}");
            if (_options.NProbe is int big && big > nlist) Warnings.Add(NprobeClamped(big, nlist));
            var ivf = new IvfIndex(emb.Dimension, nlist, Metric.InnerProduct);
            _options.Status?.Invoke($"training the IVF index: k-means with {nlist} lists over {n} vectors");
            if (_options.TrainingProgress is { } tp) ivf.OnTrainingIteration = (it, _) => tp(it + 1, ivf.TrainingIterations);
            ivf.Train(emb.Data, _options.Seed);
            Warnings.AddRange(ivf.TrainingWarnings);
            ivf.Nprobe = Math.Min(nlist, _options.NProbe ?? 10);
            index = ivf;
        }
        index.Add(emb.Data);
        _index = index;
        _quantized = null;
        _documents = documents.ToList();
        _chunks = chunks;
    }

    /// <summary>The windows of every document (document index, character span), in document order.</summary>
    private List<(int Doc, TextChunk Span)> Chunk(IReadOnlyList<string> documents, int size)
    {
        int room = _encoder.MaxSeqLength - SpecialTokens;
        if (size > room) throw new ManagedEmbedException($"chunk size {size} exceeds the {room} tokens a window can hold (max_seq_length {_encoder.MaxSeqLength} less the special tokens)");
        int specials = SpecialTokens;
        var chunker = new DocumentChunker(t => _encoder.Tokenizer.Encode(t, int.MaxValue).Length - specials, size, _options.ChunkOverlap);
        var all = new List<(int, TextChunk)>();
        for (int d = 0; d < documents.Count; d++)
            foreach (var c in chunker.Chunk(documents[d])) all.Add((d, c));
        return all;
    }

    /// <summary>Special tokens the tokenizer adds to every text ([CLS] … [SEP] = 2).</summary>
    private int SpecialTokens => _encoder.Tokenizer.Encode("", 2).Length;

    /// <summary>The top <paramref name="topK"/> documents for <paramref name="query"/>, best first; with <paramref name="minScore"/>, only hits scoring at least that.</summary>
    public IReadOnlyList<SearchHit> Search(string query, int topK = 3, float? minScore = null) => Search([query], topK, minScore)[0];

    /// <summary>Searches several queries in one batch; one hit list per query, in order.</summary>
    public IReadOnlyList<IReadOnlyList<SearchHit>> Search(IReadOnlyList<string> queries, int topK = 3, float? minScore = null)
    {
        ArgumentNullException.ThrowIfNull(queries);
        if (_index is null && _quantized is null) throw new ManagedEmbedException("nothing is indexed yet: call Index(documents) or Load(path) first");
        if (topK < 1) throw new ManagedEmbedException($"k must be at least 1, got {topK}");
        if (queries.Count == 0) return [];
        long count = _index?.Count ?? _quantized!.Count;
        if (count == 0) return queries.Select(_ => (IReadOnlyList<SearchHit>)[]).ToList();
        EmbeddingMatrix q = _encoder.EncodeQuery(queries, new EncodeOptions { BatchSize = _options.BatchSize, Normalize = true, Truncation = _options.Truncation });
        if (_chunks is not null) return SearchChunks(q, topK, minScore);
        // No more hits than documents exist: capping keeps the result arrays sized by the data, not by k.
        int k = (int)Math.Min(topK, count);
        SearchResult r = _index is not null ? _index.Search(q.Data, k) : _quantized!.Search(q.Data, k, _options.RescoreMultiplier);
        var all = new List<IReadOnlyList<SearchHit>>(queries.Count);
        for (int i = 0; i < queries.Count; i++)
        {
            var hits = new List<SearchHit>();
            ReadOnlySpan<long> ids = r.LabelsOf(i);
            ReadOnlySpan<float> scores = r.DistancesOf(i);
            for (int j = 0; j < ids.Length; j++)
            {
                if (ids[j] == -1) break; // fewer documents than k (or than the probed lists hold)
                if (ids[j] < 0 || ids[j] >= _documents.Count)
                    throw new ManagedEmbedException($"the index returned label {ids[j]}, but there are {_documents.Count} documents");
                if (minScore is float m && scores[j] < m) break; // sorted best first
                hits.Add(new SearchHit(hits.Count + 1, ids[j], scores[j], _documents[(int)ids[j]]));
            }
            all.Add(hits);
        }
        return all;
    }

    /// <summary>
    /// Chunked search: the best windows first, each document kept once (at its best window) until k documents are
    /// found; the window count searched grows ×4 until every query has k documents or all windows were seen.
    /// </summary>
    private List<IReadOnlyList<SearchHit>> SearchChunks(EmbeddingMatrix q, int topK, float? minScore)
    {
        int want = Math.Min(topK, _documents.Count);
        long windows = Math.Min(_index!.Count, (long)want * 4);
        while (true)
        {
            SearchResult r = _index.Search(q.Data, (int)windows);
            var all = new List<IReadOnlyList<SearchHit>>(q.Count);
            bool short_ = false;
            for (int i = 0; i < q.Count; i++)
            {
                var hits = new List<SearchHit>();
                var seen = new HashSet<int>();
                ReadOnlySpan<long> ids = r.LabelsOf(i);
                ReadOnlySpan<float> scores = r.DistancesOf(i);
                bool stopped = false;
                for (int j = 0; j < ids.Length && hits.Count < want; j++)
                {
                    if (ids[j] == -1) break;
                    if (minScore is float m && scores[j] < m) { stopped = true; break; }
                    var (doc, span) = _chunks![(int)ids[j]];
                    if (!seen.Add(doc)) continue;
                    hits.Add(new SearchHit(hits.Count + 1, doc, scores[j], _documents[doc]) { Start = span.Start, End = span.End });
                }
                short_ |= hits.Count < want && !stopped;
                all.Add(hits);
            }
            if (!short_ || windows >= _index.Count) return all;
            windows = Math.Min(_index.Count, windows * 4);
        }
    }

    /// <summary>The sidecar path that goes with a saved index.</summary>
    public static string SidecarPath(string indexPath) => indexPath + ".docs.jsonl";

    /// <summary>Where <see cref="Save"/> stages the new index file until the pair is published (see <see cref="Save"/>).</summary>
    public static string PendingIndexPath(string indexPath) => indexPath + ".pending";

    /// <summary>Where <see cref="Save"/> writes the new sidecar before renaming it into place.</summary>
    private static string SidecarTempPath(string indexPath) => SidecarPath(indexPath) + ".tmp";

    /// <summary>Test seam: called before each publishing step ("sidecar-temp", "publish-sidecar", "publish-index"); throwing simulates a failure or crash there.</summary>
    internal static Action<string>? SaveFaultHook { get; set; }

    /// <summary>
    /// Saves the index as a FAISS file at <paramref name="indexPath"/> and the documents in
    /// <see cref="SidecarPath"/>. The sidecar records the index file's length and checksum, the dimension and the
    /// model's fingerprint, so a mismatched pair or model is refused on load.
    /// </summary>
    /// <remarks>
    /// The two files are published as a unit, so a failed or interrupted save never loses the previous pair:
    /// <list type="number">
    /// <item>write the new index to <see cref="PendingIndexPath"/> and the new sidecar (carrying that file's checksum)
    /// to <c>INDEX.docs.jsonl.tmp</c>, each fsynced — a failure here (disk full, read-only file) removes both temps and
    /// leaves the old pair untouched;</item>
    /// <item>rename the sidecar temp over the sidecar (the commit point), fsync the directory;</item>
    /// <item>rename the pending index over the index, fsync the directory.</item>
    /// </list>
    /// Before step 2 the old pair is intact (a stale pending file beside it is ignored: the old sidecar matches the old
    /// index). Between steps 2 and 3 the sidecar is new and the index old; <see cref="Load"/> sees the checksum
    /// mismatch, finds the pending file matching the sidecar and loads that, so readers always get one whole pair,
    /// old or new. One writer at a time per index path.
    /// </remarks>
    public void Save(string indexPath)
    {
        if (_quantized is not null) throw new ManagedEmbedException("a quantized search is not saved (the FAISS file format holds the float index); index without quantization to save");
        if (_index is null) throw new ManagedEmbedException("nothing is indexed yet: call Index(documents) first");
        if (_chunks is not null) throw new ManagedEmbedException("a chunked index cannot be saved (the saved format holds one vector per document)");
        ArgumentException.ThrowIfNullOrEmpty(indexPath);
        string full = Path.GetFullPath(indexPath);
        string dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) throw new ManagedEmbedException($"cannot write {indexPath}: directory {dir} does not exist");
        string pending = PendingIndexPath(full), sidecarTmp = SidecarTempPath(full), sidecar = SidecarPath(full);
        bool sidecarPublished = false;
        try
        {
            FaissIndexIO.Write(_index, pending);
            var (length, checksum) = Checksum.OfFile(pending);
            SaveFaultHook?.Invoke("sidecar-temp");
            try
            {
                using var fs = new FileStream(sidecarTmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
                WriteSidecar(fs, length, checksum);
                fs.Flush(flushToDisk: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ManagedEmbedException($"cannot write the document sidecar {sidecarTmp} ({OneLine(e.Message)}); {indexPath} and its sidecar are unchanged");
            }
            SaveFaultHook?.Invoke("publish-sidecar");
            File.Move(sidecarTmp, sidecar, overwrite: true);
            sidecarPublished = true;
            DurableFile.FsyncDirectory(dir);
            SaveFaultHook?.Invoke("publish-index");
            File.Move(pending, full, overwrite: true);
            DurableFile.FsyncDirectory(dir);
        }
        catch
        {
            // Before the sidecar rename nothing is published: drop both temps. After it, the pending index is the
            // new pair's index and must stay for Load to recover from.
            TryDelete(sidecarTmp);
            if (!sidecarPublished) TryDelete(pending);
            throw;
        }
    }

    private void WriteSidecar(Stream output, long indexBytes, string indexChecksum)
    {
        var bs = new BufferedStream(output, 1 << 16);
        using (var w = new Utf8JsonWriter(bs))
        {
            w.WriteStartObject();
            w.WriteString("format", SidecarFormat);
            w.WriteNumber("version", SidecarVersion);
            w.WriteNumber("count", _documents.Count);
            w.WriteNumber("dimension", _index!.Dimension);
            w.WriteNumber("index_bytes", indexBytes);
            w.WriteString("index_checksum", indexChecksum);
            w.WriteString("model", _encoder.Config.Directory);
            w.WriteString("model_fingerprint", ModelFingerprint(_encoder.Config.Directory));
            w.WriteEndObject();
        }
        bs.WriteByte((byte)'\n');
        for (int i = 0; i < _documents.Count; i++)
        {
            using (var w = new Utf8JsonWriter(bs))
            {
                w.WriteStartObject();
                w.WriteNumber("id", i);
                w.WriteString("text", _documents[i]);
                w.WriteEndObject();
            }
            bs.WriteByte((byte)'\n');
        }
        bs.Flush();
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// Loads an index saved by <see cref="Save"/>, validating the sidecar against the index file and the encoder's
    /// model; any mismatch is a <see cref="ManagedEmbedException"/> naming it.
    /// </summary>
    public static SemanticSearch Load(SentenceEncoder encoder, string indexPath, SemanticSearchOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        // A first save interrupted between its two renames leaves only the pending index (see Save).
        if (!File.Exists(indexPath) && !File.Exists(PendingIndexPath(indexPath)))
            throw new ManagedEmbedException($"index file '{indexPath}' does not exist");
        string sidecar = SidecarPath(indexPath);
        if (!File.Exists(sidecar)) throw new ManagedEmbedException($"document sidecar '{sidecar}' for index '{indexPath}' does not exist");
        var lines = Text.TextInput.ReadLines(sidecar);
        if (lines.Count == 0) throw new ManagedEmbedException($"{sidecar} is empty");

        long count, dim, bytes;
        string checksum, fingerprint, model;
        try
        {
            using var head = JsonDocument.Parse(lines[0].Text);
            var h = head.RootElement;
            if (h.ValueKind != JsonValueKind.Object || !h.TryGetProperty("format", out var f) || f.GetString() != SidecarFormat)
                throw new ManagedEmbedException($"{sidecar} is not a membed search sidecar (first line lacks \"format\": \"{SidecarFormat}\")");
            int version = h.GetProperty("version").GetInt32();
            if (version != SidecarVersion) throw new ManagedEmbedException($"{sidecar} has format version {version}; this membed reads version {SidecarVersion}");
            count = h.GetProperty("count").GetInt64();
            dim = h.GetProperty("dimension").GetInt64();
            bytes = h.GetProperty("index_bytes").GetInt64();
            checksum = h.GetProperty("index_checksum").GetString() ?? "";
            model = h.GetProperty("model").GetString() ?? "";
            fingerprint = h.GetProperty("model_fingerprint").GetString() ?? "";
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new ManagedEmbedException($"{sidecar} line 1: invalid header ({OneLine(e.Message)})");
        }

        var (actualBytes, actualChecksum) = File.Exists(indexPath) ? Checksum.OfFile(indexPath) : (-1, "");
        string indexFile = indexPath;
        if (actualBytes != bytes || actualChecksum != checksum)
        {
            // A save interrupted between publishing the sidecar and the index leaves the new index pending (see Save).
            string pending = PendingIndexPath(indexPath);
            bool recovered = false;
            if (File.Exists(pending))
            {
                var (pb, pc) = Checksum.OfFile(pending);
                recovered = pb == bytes && pc == checksum;
            }
            if (!recovered)
                throw new ManagedEmbedException($"{indexPath} does not match its sidecar {sidecar} (the index file changed after it was saved); save the index again");
            indexFile = pending;
        }
        if (lines.Count - 1 != count)
            throw new ManagedEmbedException($"{sidecar} lists {lines.Count - 1} documents but its header says {count}");
        if (dim != encoder.Dimension)
            throw new ManagedEmbedException($"{indexPath} holds {dim}-dimensional vectors but the model {encoder.Config.Directory} produces {encoder.Dimension}");
        string currentFingerprint = ModelFingerprint(encoder.Config.Directory);
        if (currentFingerprint != fingerprint)
            throw new ManagedEmbedException($"{indexPath} was built with a different model ({model}) than {encoder.Config.Directory}; use that model or rebuild the index with this one");

        IVectorIndex index = FaissIndexIO.Read(indexFile);
        if (index.Count != count || index.Dimension != dim)
            throw new ManagedEmbedException($"{indexPath} holds {index.Count} vectors of dimension {index.Dimension}, its sidecar says {count} × {dim}");
        if (index.Metric != Metric.InnerProduct)
            throw new ManagedEmbedException($"{indexPath} is an L2 index; semantic search needs an inner-product index");
        if (index is IvfIndex stored)
        {
            // IVF files carry explicit labels; each must name a document of the sidecar (a label ≥ count used to
            // crash, 2^32+3 showed document 3, and −5 silently ended the result list).
            for (int l = 0; l < stored.NList; l++)
                foreach (long label in stored.ListIds(l))
                    if (label < 0 || label >= count)
                        throw new ManagedEmbedException($"{indexPath}: inverted list {l} holds label {label}, but the sidecar lists documents 0 to {count - 1}");
        }

        var docs = new List<string>((int)count);
        for (int i = 1; i < lines.Count; i++)
        {
            try
            {
                using var d = JsonDocument.Parse(lines[i].Text);
                long id = d.RootElement.GetProperty("id").GetInt64();
                if (id != i - 1) throw new ManagedEmbedException($"{sidecar} line {lines[i].Number}: id {id}, expected {i - 1}");
                docs.Add(d.RootElement.GetProperty("text").GetString() ?? throw new InvalidOperationException("text is null"));
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new ManagedEmbedException($"{sidecar} line {lines[i].Number}: invalid document record ({OneLine(e.Message)})");
            }
        }
        var options2 = options ?? new SemanticSearchOptions { Kind = index switch { IvfIndex => SearchIndexKind.Ivf, HnswIndex => SearchIndexKind.Hnsw, _ => SearchIndexKind.Flat } };
        if (options2.EfSearch is int ef)
        {
            if (index is not HnswIndex hnsw) throw new ManagedEmbedException($"{indexPath} is not an HNSW index; efSearch applies only to HNSW");
            hnsw.EfSearch = ef;
        }
        if (index is IvfIndex ivf && options2.NProbe is int p)
        {
            if (p < 1) throw new ManagedEmbedException($"nprobe must be at least 1, got {p}");
            ivf.Nprobe = Math.Min(p, ivf.NList);
        }
        var loaded = new SemanticSearch(encoder, options2) { _index = index, _documents = docs };
        if (index is IvfIndex clamped && options2.NProbe is int asked && asked > clamped.NList) loaded.Warnings.Add(NprobeClamped(asked, clamped.NList));
        return loaded;
    }

    /// <summary>FAISS's rule for more probes than lists: all lists are searched; said, not refused.</summary>
    private static string NprobeClamped(int nprobe, int nlist) => $"nprobe {nprobe} exceeds nlist {nlist}: searching all {nlist} lists (as FAISS does)";

    /// <summary>
    /// A cheap identity of a model directory: a checksum over config.json, the pooling/normalize files, vocab.txt, the
    /// weights' length and their first and last MiB. It separates different models (and differently seeded
    /// synthetic ones) without hashing the whole weights file on every load.
    /// </summary>
    public static string ModelFingerprint(string modelDirectory)
    {
        var c = new Checksum();
        foreach (string f in new[] { "config.json", "modules.json", "1_Pooling/config.json", "sentence_bert_config.json", "vocab.txt" })
        {
            string p = Path.Combine(modelDirectory, f);
            c.Add(Encoding.UTF8.GetBytes(f));
            if (File.Exists(p)) c.Add(File.ReadAllBytes(p));
        }
        string w = Path.Combine(modelDirectory, "model.safetensors");
        using (var fs = new FileStream(w, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            long len = fs.Length;
            c.Add(BitConverter.GetBytes(len));
            const int Mi = 1 << 20;
            var buf = new byte[(int)Math.Min(Mi, len)];
            fs.ReadExactly(buf);
            c.Add(buf);
            if (len > Mi)
            {
                fs.Seek(Math.Max(Mi, len - Mi), SeekOrigin.Begin);
                var tail = new byte[(int)(len - fs.Position)];
                fs.ReadExactly(tail);
                c.Add(tail);
            }
        }
        return c.Hex;
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}

/// <summary>A fast non-cryptographic 64-bit checksum (FNV-1a over 8-byte words) for detecting mismatched files.</summary>
internal sealed class Checksum
{
    private ulong _h = 14695981039346656037UL;

    public void Add(ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            _h = (_h ^ System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(data)) * 1099511628211UL;
            _h ^= _h >> 29;
            data = data[8..];
        }
        foreach (byte b in data) _h = (_h ^ b) * 1099511628211UL;
    }

    public string Hex => _h.ToString("x16", CultureInfo.InvariantCulture);

    public static (long Length, string Hex) OfFile(string path)
    {
        var c = new Checksum();
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        var buf = new byte[1 << 20];
        long total = 0;
        int n;
        // Whole 8-byte words per chunk so the result does not depend on read sizes.
        while ((n = fs.ReadAtLeast(buf, buf.Length, throwOnEndOfStream: false)) > 0)
        {
            c.Add(buf.AsSpan(0, n));
            total += n;
        }
        c.Add(BitConverter.GetBytes(total));
        return (total, c.Hex);
    }
}
