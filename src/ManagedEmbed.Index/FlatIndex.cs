using ManagedEmbed.Kernels;

namespace ManagedEmbed.Index;

/// <summary>
/// Exact search over all stored vectors (FAISS IndexFlatIP / IndexFlatL2). Vectors are kept row-major; ids are
/// their insertion order 0..Count−1.
/// </summary>
public sealed class FlatIndex : IVectorIndex
{
    private float[] _data = [];
    private int _count;
    private int _threads = Environment.ProcessorCount;

    /// <summary>Creates an empty index of dimension <paramref name="dim"/>.</summary>
    public FlatIndex(int dim, Metric metric = Metric.InnerProduct)
    {
        if (dim < 1) throw new ManagedEmbedException($"dimension must be at least 1, got {dim}");
        if (metric is not (Metric.InnerProduct or Metric.L2)) throw new ManagedEmbedException($"unknown metric {(int)metric}");
        Dimension = dim;
        Metric = metric;
    }

    /// <inheritdoc/>
    public int Dimension { get; }
    /// <inheritdoc/>
    public long Count => _count;
    /// <inheritdoc/>
    public Metric Metric { get; }
    /// <inheritdoc/>
    public int Threads { get => _threads; set => _threads = Validation.Threads(value); }

    /// <summary>All stored vectors, row-major [Count, Dimension].</summary>
    public ReadOnlySpan<float> Vectors => _data.AsSpan(0, _count * Dimension);

    /// <summary>The backing array (row-major, at least Count × Dimension long); replaced when Add grows it.</summary>
    internal float[] RawData => _data;

    /// <summary>The stored vector with id <paramref name="id"/>.</summary>
    public ReadOnlySpan<float> GetVector(long id)
    {
        if ((ulong)id >= (ulong)_count) throw new ManagedEmbedException($"id {id} is out of range [0, {_count})");
        return _data.AsSpan((int)id * Dimension, Dimension);
    }

    /// <inheritdoc/>
    public void Add(ReadOnlySpan<float> vectors)
    {
        int n = Validation.Rows(vectors, Dimension, "add");
        Validation.Finite(vectors, Dimension, "add");
        AddUnchecked(vectors, n);
    }

    internal void AddUnchecked(ReadOnlySpan<float> vectors, int n)
    {
        long need = ((long)_count + n) * Dimension;
        if (need > Array.MaxLength) throw new ManagedEmbedException($"flat index full: {(long)_count + n} vectors of dimension {Dimension} exceed one array");
        if (need > _data.Length)
        {
            long cap = Math.Max(need, Math.Min((long)_data.Length * 2, Array.MaxLength));
            Array.Resize(ref _data, (int)cap);
        }
        vectors.CopyTo(_data.AsSpan(_count * Dimension));
        _count += n;
    }

    /// <inheritdoc/>
    public void Reset() { _data = []; _count = 0; }

    /// <inheritdoc/>
    public ReadOnlySpan<float> Reconstruct(long id) => GetVector(id);

    /// <inheritdoc/>
    public SearchResult Search(ReadOnlySpan<float> queries, int k) => Search(queries, k, null);

    /// <inheritdoc/>
    public SearchResult Search(ReadOnlySpan<float> queries, int k, SearchParameters? parameters)
    {
        Validation.K(k);
        int nq = Validation.Rows(queries, Dimension, "search");
        Validation.Finite(queries, Dimension, "search");
        var distances = new float[(long)nq * k];
        var labels = new long[(long)nq * k];
        if (nq == 1) SearchOne(queries, k, distances, labels, parameters?.Selector);
        else if (nq > 1) SearchBatch(queries.ToArray(), nq, k, distances, labels, parameters?.Selector);
        return new SearchResult(nq, k, distances, labels);
    }

    /// <summary>
    /// Batch search into caller-owned arrays, without copying the queries (k-means assigns its training points
    /// through this every iteration).
    /// </summary>
    internal void SearchInto(float[] queries, int nq, int k, float[] distances, long[] labels, IIdSelector? selector)
    {
        if (nq == 1) SearchOne(queries.AsSpan(0, Dimension), k, distances, labels, selector);
        else if (nq > 1) SearchBatch(queries, nq, k, distances, labels, selector);
    }

    private void SearchOne(ReadOnlySpan<float> q, int k, float[] distances, long[] labels, IIdSelector? selector)
    {
        int d = Dimension;
        bool l2 = Metric == Metric.L2;
        float sign = l2 ? -1f : 1f;
        // Split the scan across threads only when each gets enough rows to amortise the hand-off.
        int t = Math.Min(_threads, Math.Max(1, (int)((long)_count * d / (1 << 20))));
        if (t <= 1)
        {
            var heap = new TopKHeap(k);
            ScanRows(heap, q, _data.AsSpan(0, _count * d), _count, 0, default, d, sign, l2, selector);
            Finish(heap, distances.AsSpan(0, k), labels.AsSpan(0, k), l2);
            return;
        }
        var heaps = new TopKHeap[t];
        float[] qa = q.ToArray();
        float[] data = _data;
        int count = _count;
        Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, w =>
        {
            int from = (int)((long)count * w / t), to = (int)((long)count * (w + 1) / t);
            var h = new TopKHeap(k);
            ScanRows(h, qa, data.AsSpan(from * d, (to - from) * d), to - from, from, default, d, sign, l2, selector);
            heaps[w] = h;
        });
        for (int w = 1; w < t; w++) heaps[0].MergeFrom(heaps[w]);
        Finish(heaps[0], distances.AsSpan(0, k), labels.AsSpan(0, k), l2);
    }

    /// <summary>
    /// The list scanner of flat and IVF search: scores n rows against one query, 256 at a time into an L1-resident
    /// buffer, and offers them to the heap. Ids are <paramref name="ids"/> when given, else firstId + row.
    /// </summary>
    internal static void ScanRows(TopKHeap heap, ReadOnlySpan<float> q, ReadOnlySpan<float> rows, int n, long firstId, ReadOnlySpan<long> ids,
        int d, float sign, bool l2, IIdSelector? selector)
    {
        const int Chunk = 256;
        Span<float> buf = stackalloc float[Chunk];
        for (int r = 0; r < n; r += Chunk)
        {
            int m = Math.Min(Chunk, n - r);
            Distance.ScoreRows(q, rows.Slice(r * d, m * d), buf[..m], l2);
            Offer(heap, buf[..m], firstId + r, ids.IsEmpty ? default : ids.Slice(r, m), sign, selector);
        }
    }

    /// <summary>
    /// Offers scores to a heap as keys <c>sign * score</c>. The selector (FAISS IDSelector) is asked only about
    /// candidates the heap would accept, so a filter is evaluated on a small fraction of the scanned rows.
    /// </summary>
    internal static void Offer(TopKHeap heap, ReadOnlySpan<float> scores, long firstId, ReadOnlySpan<long> ids, float sign, IIdSelector? selector)
    {
        if (selector is null)
        {
            if (ids.IsEmpty) heap.PushRange(scores, firstId, sign);
            else heap.PushRange(scores, ids, sign);
            return;
        }
        for (int j = 0; j < scores.Length; j++)
        {
            float key = sign * scores[j];
            long id = ids.IsEmpty ? firstId + j : ids[j];
            if (heap.Accepts(key, id) && selector.IsMember(id)) heap.Push(key, id);
        }
    }

    /// <summary>
    /// Batch search, GEMM-style: queries in super-blocks of up to 240 (360 KB at d = 384), claimed by the workers one at
    /// a time (a descheduled worker on a loaded machine does not hold back the others), sweep the stored rows in blocks
    /// of 128 that stay in L2, in tiles of 48 queries; the register tiles inside ScoreBlock then read both operands from
    /// L1/L2. k = 1 (k-means assignment, IVF add) keeps a running best per query instead of a heap. Scores are the
    /// canonical per-pair values, so results equal the single-query path bit for bit.
    /// </summary>
    private void SearchBatch(float[] qa, int nq, int k, float[] distances, long[] labels, IIdSelector? selector)
    {
        int d = Dimension, count = _count;
        bool l2 = Metric == Metric.L2;
        float sign = l2 ? -1f : 1f;
        float[] data = _data;
        int t = Math.Max(1, Math.Min(_threads, nq / 4));
        // Tiles and super-blocks are multiples of 6, so the 3 x 4 (IP) and 2 x 4 (L2) register tiles have no ragged rows.
        const int QB = 48, RB = 128, QSMax = 240;
        // Equal super-blocks, a whole number per thread where nq allows (1000 queries on 2 threads: 6 of 168).
        int perThread = (nq + t - 1) / t, perThreadBlocks = (perThread + QSMax - 1) / QSMax;
        int qs = Math.Min(QSMax, ((perThread + perThreadBlocks - 1) / perThreadBlocks + 5) / 6 * 6);
        int blocks = (nq + qs - 1) / qs;
        t = Math.Min(t, blocks);
        int next = -1;
        Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, w =>
        {
            var heaps = k == 1 ? null : new TopKHeap[qs];
            if (heaps is not null) for (int i = 0; i < qs; i++) heaps[i] = new TopKHeap(k);
            var bestKey = k == 1 ? new float[qs] : null;
            var bestId = k == 1 ? new long[qs] : null;
            var buf = new float[QB * RB];
            for (int b = Interlocked.Increment(ref next); b < blocks; b = Interlocked.Increment(ref next))
            {
                int q0 = b * qs, nb = Math.Min(qs, nq - q0);
                if (bestKey is not null) { bestKey.AsSpan().Fill(float.NegativeInfinity); bestId.AsSpan().Fill(-1); }
                for (int r = 0; r < count; r += RB)
                {
                    int nr = Math.Min(RB, count - r);
                    var rows = data.AsSpan(r * d, nr * d);
                    for (int s0 = 0; s0 < nb; s0 += QB)
                    {
                        int mq = Math.Min(QB, nb - s0);
                        Distance.ScoreBlock(qa.AsSpan((q0 + s0) * d, mq * d), mq, rows, nr, d, buf, l2);
                        for (int i = 0; i < mq; i++)
                        {
                            var row = buf.AsSpan(i * nr, nr);
                            if (heaps is not null) { Offer(heaps[s0 + i], row, r, default, sign, selector); continue; }
                            // The heap's rule for k = 1: strictly better, or anything while empty; at equal keys the
                            // lower id (seen first) stays.
                            float bk = bestKey![s0 + i]; long bi = bestId![s0 + i];
                            for (int j = 0; j < nr; j++)
                            {
                                float key = sign * row[j];
                                if ((key > bk || bi < 0) && (selector is null || selector.IsMember(r + j))) { bk = key; bi = r + j; }
                            }
                            bestKey[s0 + i] = bk; bestId[s0 + i] = bi;
                        }
                    }
                }
                for (int i = 0; i < nb; i++)
                {
                    long o = (long)(q0 + i) * k;
                    if (heaps is not null) { Finish(heaps[i], distances.AsSpan((int)o, k), labels.AsSpan((int)o, k), l2); continue; }
                    labels[o] = bestId![i];
                    distances[o] = bestId[i] < 0 ? (l2 ? float.MaxValue : -float.MaxValue) : sign * bestKey![i];
                }
            }
        });
    }
    /// <summary>Drains a heap into FAISS-convention output: distances (negated back for L2) and −1 padding.</summary>
    internal static void Finish(TopKHeap heap, Span<float> distances, Span<long> labels, bool l2)
    {
        int real = heap.Drain(distances, labels);
        for (int i = 0; i < distances.Length; i++)
        {
            if (i < real) { if (l2) distances[i] = -distances[i]; }
            else distances[i] = l2 ? float.MaxValue : -float.MaxValue;
        }
    }
}
