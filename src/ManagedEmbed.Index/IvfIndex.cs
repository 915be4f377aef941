using ManagedEmbed.Kernels;

namespace ManagedEmbed.Index;

/// <summary>
/// IVF-Flat (FAISS IndexIVFFlat): a coarse quantizer (a <see cref="FlatIndex"/> over <see cref="NList"/> centroids
/// trained by k-means) and one inverted list per centroid holding ids and raw vectors. A search scores the query
/// against the centroids, scans the <see cref="Nprobe"/> best lists and merges their top-k. With nprobe = nlist the
/// result equals <see cref="FlatIndex"/>'s exactly.
/// </summary>
public sealed class IvfIndex : IVectorIndex
{
    private readonly InvList[] _lists;
    private long _count;
    private int _nprobe = 1;
    private int _threads = Environment.ProcessorCount;
    private long[]? _directMap; // id -> (list << 32 | offset), when enabled (FAISS DirectMap::Array)

    /// <summary>Creates an untrained index with <paramref name="nlist"/> lists; the quantizer uses the same metric.</summary>
    public IvfIndex(int dim, int nlist, Metric metric = Metric.InnerProduct) : this(dim, nlist, metric, metric) { }

    /// <summary>
    /// Creates an untrained index whose coarse quantizer uses <paramref name="quantizerMetric"/> (FAISS allows, e.g.,
    /// an IndexFlatL2 quantizer for an inner-product IVF). Lists are chosen, and k-means assigns, by the quantizer's metric.
    /// </summary>
    public IvfIndex(int dim, int nlist, Metric metric, Metric quantizerMetric)
    {
        if (nlist < 1) throw new ManagedEmbedException($"nlist must be at least 1, got {nlist}");
        Quantizer = new FlatIndex(dim, quantizerMetric);
        // FAISS defaults nprobe to 1, which on clustered data finds ~60% of the true top-10 (IvfRecallTests: 0.617
        // at nlist 141). The default here is ⌈nlist/16⌉, the collections' rule, which keeps recall@10 ≥ 0.9 there;
        // nprobe is stored in the file, so FAISS searches our files the same way.
        _nprobe = Math.Max(1, (nlist + 15) / 16);
        Dimension = dim;
        Metric = metric;
        _lists = new InvList[nlist];
        for (int i = 0; i < nlist; i++) _lists[i] = new InvList();
    }

    /// <inheritdoc/>
    public int Dimension { get; }
    /// <inheritdoc/>
    public long Count => _count;
    /// <inheritdoc/>
    public Metric Metric { get; }
    /// <summary>Number of inverted lists (centroids).</summary>
    public int NList => _lists.Length;
    /// <summary>The coarse quantizer: a flat index holding the centroids (list i ↔ centroid i).</summary>
    public FlatIndex Quantizer { get; }
    /// <summary>True once trained (the quantizer holds <see cref="NList"/> centroids).</summary>
    public bool IsTrained => Quantizer.Count == NList;
    /// <summary>k-means iterations used by <see cref="Train"/> (default 10, FAISS's setting for IVF quantizers).</summary>
    public int TrainingIterations { get; set; } = 10;
    /// <summary>Called by <see cref="Train"/> after each k-means iteration with (0-based iteration, objective).</summary>
    public Action<int, double>? OnTrainingIteration { get; set; }
    /// <summary>Warnings raised by the last <see cref="Train"/> (from k-means).</summary>
    public List<string> TrainingWarnings { get; } = new();
    /// <summary>Lists probed per query (default ⌈nlist/16⌉; FAISS's default is 1); values above nlist are clamped.</summary>
    public int Nprobe
    {
        get => _nprobe;
        set => _nprobe = value >= 1 ? value : throw new ManagedEmbedException($"nprobe must be at least 1, got {value}");
    }
    /// <inheritdoc/>
    public int Threads
    {
        get => _threads;
        set { _threads = Validation.Threads(value); Quantizer.Threads = value; }
    }

    /// <summary>Number of vectors in inverted list <paramref name="list"/>.</summary>
    public int ListSize(int list) => List(list).Count;

    /// <summary>Ids stored in inverted list <paramref name="list"/>.</summary>
    public ReadOnlySpan<long> ListIds(int list) { var l = List(list); return l.Ids.AsSpan(0, l.Count); }

    /// <summary>Vectors (row-major) stored in inverted list <paramref name="list"/>, in the order of <see cref="ListIds"/>.</summary>
    public ReadOnlySpan<float> ListVectors(int list) { var l = List(list); return l.Codes.AsSpan(0, l.Count * Dimension); }

    private InvList List(int list) =>
        (uint)list < (uint)_lists.Length ? _lists[list] : throw new ManagedEmbedException($"list {list} is out of range [0, {_lists.Length})");

    /// <summary>
    /// Trains the quantizer with k-means as FAISS trains IndexIVFFlat: <see cref="TrainingIterations"/> (10) iterations,
    /// ≤ 256 points per centroid, and for inner product, assignment by max inner product with spherical (unit) centroids. Errors when fewer points than lists are given or the index holds vectors.
    /// </summary>
    /// <returns>The k-means result (centroids and per-iteration objective; its Labels are empty).</returns>
    public KMeansResult Train(ReadOnlySpan<float> vectors, int seed = 1234)
    {
        if (_count > 0) throw new ManagedEmbedException("cannot train an IVF index that already holds vectors; Reset it first");
        Validation.Rows(vectors, Dimension, "train");
        var km = new KMeans(NList) { Seed = seed, Metric = Quantizer.Metric, Threads = _threads, Iterations = TrainingIterations, Spherical = Metric == Metric.InnerProduct, SkipFinalLabels = true, OnIteration = OnTrainingIteration };
        var res = km.Fit(vectors, Dimension);
        TrainingWarnings.Clear();
        TrainingWarnings.AddRange(km.Warnings);
        Quantizer.Reset();
        Quantizer.AddUnchecked(res.Centroids, NList);
        return res;
    }

    /// <summary>Sets trained centroids directly (row-major [NList, Dimension]); the index must be empty.</summary>
    public void SetCentroids(ReadOnlySpan<float> centroids)
    {
        if (_count > 0) throw new ManagedEmbedException("cannot replace the centroids of an IVF index that holds vectors");
        int n = Validation.Rows(centroids, Dimension, "centroids");
        if (n != NList) throw new ManagedEmbedException($"centroids: expected {NList} vectors, got {n}");
        Validation.Finite(centroids, Dimension, "centroids");
        Quantizer.Reset();
        Quantizer.AddUnchecked(centroids, n);
    }

    private void RequireTrained(string op)
    {
        if (!IsTrained) throw new ManagedEmbedException($"IVF index must be trained before {op} (call Train first)");
    }

    /// <summary>Assigns each vector to its nearest centroid and appends it to that list, with the next sequential ids.</summary>
    public void Add(ReadOnlySpan<float> vectors)
    {
        RequireTrained("Add");
        int n = Validation.Rows(vectors, Dimension, "add");
        Validation.Finite(vectors, Dimension, "add");
        if (n == 0) return;
        // Assignment is a k = 1 search of the quantizer (already validated, so straight to the batch path).
        float[] xa = vectors.ToArray();
        var assign = new long[n];
        Quantizer.SearchInto(xa, n, 1, new float[n], assign, null);
        int d = Dimension;
        // Each list grows once to its final size, then the lists are filled in parallel, each worker owning the lists
        // l with l % t == w (FAISS IndexIVFFlat::add_core); within a list, vectors keep ascending id order.
        var added = new int[NList];
        for (int i = 0; i < n; i++) added[assign[i]]++;
        for (int li = 0; li < added.Length; li++) if (added[li] > 0) _lists[li].Reserve(_lists[li].Count + added[li], d);
        if (_directMap is not null) EnsureMapCapacity(_count + n);
        long first = _count;
        var lists = _lists;
        var map = _directMap;
        int t = Math.Max(1, Math.Min(_threads, (int)Math.Min(NList, (long)n * d / (1 << 18))));
        Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, w =>
        {
            for (int i = 0; i < n; i++)
            {
                int li = (int)assign[i];
                if (li % t != w) continue;
                var l = lists[li];
                if (map is not null) map[first + i] = ((long)li << 32) | (uint)l.Count;
                l.Append(xa.AsSpan(i * d, d), first + i, d);
            }
        });
        _count += n;
    }

    /// <summary>Appends vectors with explicit ids to a given list (file loading; drops the direct map).</summary>
    internal void AppendRaw(int list, ReadOnlySpan<float> codes, ReadOnlySpan<long> ids)
    {
        var l = _lists[list];
        for (int i = 0; i < ids.Length; i++) l.Append(codes.Slice(i * Dimension, Dimension), ids[i], Dimension);
        _count += ids.Length;
        _directMap = null;
    }

    /// <inheritdoc/>
    public void Reset()
    {
        for (int i = 0; i < _lists.Length; i++) _lists[i] = new InvList();
        _count = 0;
        if (_directMap is not null) _directMap = [];
    }

    /// <summary>True when the id → (list, offset) map that <see cref="Reconstruct"/> needs is kept.</summary>
    public bool HasDirectMap => _directMap is not null;

    /// <summary>
    /// Builds (or with <paramref name="enable"/> false, drops) the direct map from id to position in the inverted
    /// lists (FAISS make_direct_map, Array type): ids must be exactly 0..Count−1, each once, as <see cref="Add"/>
    /// assigns them; a file with other labels fails here with a <see cref="ManagedEmbedException"/>. Add keeps the map up to date.
    /// </summary>
    public void MakeDirectMap(bool enable = true)
    {
        if (!enable) { _directMap = null; return; }
        if (_count > int.MaxValue) throw new ManagedEmbedException($"direct map: {_count} vectors exceed one array");
        var map = new long[_count];
        Array.Fill(map, -1L);
        for (int li = 0; li < _lists.Length; li++)
        {
            var l = _lists[li];
            for (int j = 0; j < l.Count; j++)
            {
                long id = l.Ids[j];
                if ((ulong)id >= (ulong)map.Length) throw new ManagedEmbedException($"direct map: list {li} holds label {id}, outside [0, {_count})");
                if (map[id] >= 0) throw new ManagedEmbedException($"direct map: label {id} is stored twice");
                map[id] = ((long)li << 32) | (uint)j;
            }
        }
        // Count labels in [0, Count) without repeats: by pigeonhole every id is present.
        _directMap = map;
    }

    private void EnsureMapCapacity(long need)
    {
        if (need > Array.MaxLength) throw new ManagedEmbedException($"direct map: {need} vectors exceed one array");
        if (need > _directMap!.Length) Array.Resize(ref _directMap, (int)Math.Max(need, Math.Min((long)_directMap.Length * 2, Array.MaxLength)));
    }

    /// <inheritdoc/>
    public ReadOnlySpan<float> Reconstruct(long id)
    {
        if (_directMap is null) throw new ManagedEmbedException("IVF reconstruct needs the direct map (call MakeDirectMap first)");
        if ((ulong)id >= (ulong)_count) throw new ManagedEmbedException($"id {id} is out of range [0, {_count})");
        long e = _directMap[id];
        var l = _lists[(int)(e >> 32)];
        return l.Codes.AsSpan((int)(uint)e * Dimension, Dimension);
    }

    /// <inheritdoc/>
    public SearchResult Search(ReadOnlySpan<float> queries, int k) => Search(queries, k, null);

    /// <summary>Search probing <paramref name="nprobe"/> lists for this call (clamped to nlist).</summary>
    public SearchResult Search(ReadOnlySpan<float> queries, int k, int nprobe) => Search(queries, k, new IvfSearchParameters { Nprobe = nprobe });

    /// <inheritdoc/>
    public SearchResult Search(ReadOnlySpan<float> queries, int k, SearchParameters? parameters)
    {
        RequireTrained("Search");
        Validation.K(k);
        int nprobe = (parameters as IvfSearchParameters)?.Nprobe ?? _nprobe;
        if (nprobe < 1) throw new ManagedEmbedException($"nprobe must be at least 1, got {nprobe}");
        var selector = parameters?.Selector;
        int nq = Validation.Rows(queries, Dimension, "search");
        Validation.Finite(queries, Dimension, "search");
        nprobe = Math.Min(nprobe, NList);
        var distances = new float[(long)nq * k];
        var labels = new long[(long)nq * k];
        if (nq == 0) return new SearchResult(0, k, distances, labels);

        var coarse = Quantizer.Search(queries, nprobe).Labels;
        bool l2 = Metric == Metric.L2;
        float sign = l2 ? -1f : 1f;
        int d = Dimension;
        float[] qa = queries.ToArray();
        var lists = _lists;
        void One(int q, TopKHeap heap)
        {
            var qv = qa.AsSpan(q * d, d);
            for (int p = 0; p < nprobe; p++)
            {
                long li = coarse[(long)q * nprobe + p];
                if (li < 0) continue;
                var l = lists[li];
                FlatIndex.ScanRows(heap, qv, l.Codes, l.Count, 0, l.Ids.AsSpan(0, l.Count), d, sign, l2, selector);
            }
            FlatIndex.Finish(heap, distances.AsSpan(q * k, k), labels.AsSpan(q * k, k), l2);
        }
        if (nq >= 16)
        {
            SearchGrouped(qa, nq, k, nprobe, coarse, distances, labels, l2, selector);
            return new SearchResult(nq, k, distances, labels);
        }
        int t = Math.Max(1, Math.Min(_threads, nq / 8));
        if (t == 1)
        {
            var heap = new TopKHeap(k);
            for (int q = 0; q < nq; q++) One(q, heap);
        }
        else
        {
            Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, w =>
            {
                var heap = new TopKHeap(k);
                int q0 = (int)((long)nq * w / t), q1 = (int)((long)nq * (w + 1) / t);
                for (int q = q0; q < q1; q++) One(q, heap);
            });
        }
        return new SearchResult(nq, k, distances, labels);
    }

    /// <summary>
    /// Batch search, list by list: each probed list is read once per worker and scored against all of the worker's
    /// queries that probe it with the register-tiled block kernel, instead of once per query. Scores are the same
    /// canonical values as the per-query path, so results are identical.
    /// </summary>
    private void SearchGrouped(float[] qa, int nq, int k, int nprobe, long[] coarse, float[] distances, long[] labels, bool l2, IIdSelector? selector)
    {
        int d = Dimension, nlist = NList;
        float sign = l2 ? -1f : 1f;
        var lists = _lists;
        int t = Math.Max(1, Math.Min(_threads, nq / 8));
        const int QB = 48, RB = 128;
        Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, w =>
        {
            int q0 = (int)((long)nq * w / t), q1 = (int)((long)nq * (w + 1) / t);
            // CSR of (list -> my queries probing it), queries in ascending order.
            var start = new int[nlist + 1];
            for (int q = q0; q < q1; q++)
                for (int p = 0; p < nprobe; p++) { long li = coarse[(long)q * nprobe + p]; if (li >= 0) start[li + 1]++; }
            for (int i = 0; i < nlist; i++) start[i + 1] += start[i];
            var members = new int[start[nlist]];
            var fill = (int[])start.Clone();
            for (int q = q0; q < q1; q++)
                for (int p = 0; p < nprobe; p++) { long li = coarse[(long)q * nprobe + p]; if (li >= 0) members[fill[li]++] = q; }
            var heaps = new TopKHeap[q1 - q0];
            for (int i = 0; i < heaps.Length; i++) heaps[i] = new TopKHeap(k);
            var tile = new float[QB * d];
            var buf = new float[QB * RB];
            for (int li = 0; li < nlist; li++)
            {
                var l = lists[li];
                if (l.Count == 0) continue;
                for (int m0 = start[li]; m0 < start[li + 1]; m0 += QB)
                {
                    int mq = Math.Min(QB, start[li + 1] - m0);
                    for (int i = 0; i < mq; i++) qa.AsSpan(members[m0 + i] * d, d).CopyTo(tile.AsSpan(i * d));
                    for (int r = 0; r < l.Count; r += RB)
                    {
                        int nr = Math.Min(RB, l.Count - r);
                        Distance.ScoreBlock(tile, mq, l.Codes.AsSpan(r * d, nr * d), nr, d, buf, l2);
                        var ids = l.Ids.AsSpan(r, nr);
                        for (int i = 0; i < mq; i++) FlatIndex.Offer(heaps[members[m0 + i] - q0], buf.AsSpan(i * nr, nr), 0, ids, sign, selector);
                    }
                }
            }
            for (int i = 0; i < heaps.Length; i++)
                FlatIndex.Finish(heaps[i], distances.AsSpan((q0 + i) * k, k), labels.AsSpan((q0 + i) * k, k), l2);
        });
    }

    private sealed class InvList
    {
        public float[] Codes = [];
        public long[] Ids = [];
        public int Count;

        /// <summary>Grows the arrays to hold at least <paramref name="capacity"/> vectors (doubling, as Append would).</summary>
        public void Reserve(int capacity, int d)
        {
            if (capacity <= Ids.Length) return;
            int cap = Math.Max(capacity, Math.Max(8, Ids.Length * 2));
            if ((long)cap * d > Array.MaxLength) cap = capacity;
            if ((long)cap * d > Array.MaxLength) throw new ManagedEmbedException("inverted list too large for one array");
            Array.Resize(ref Ids, cap);
            Array.Resize(ref Codes, cap * d);
        }

        public void Append(ReadOnlySpan<float> v, long id, int d)
        {
            if (Count == Ids.Length)
            {
                int cap = Math.Max(8, Count * 2);
                if ((long)cap * d > Array.MaxLength) throw new ManagedEmbedException("inverted list too large for one array");
                Array.Resize(ref Ids, cap);
                Array.Resize(ref Codes, cap * d);
            }
            v.CopyTo(Codes.AsSpan(Count * d));
            Ids[Count] = id;
            Count++;
        }
    }
}
