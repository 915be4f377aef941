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
    public SearchResult Search(ReadOnlySpan<float> queries, int k)
    {
        Validation.K(k);
        int nq = Validation.Rows(queries, Dimension, "search");
        Validation.Finite(queries, Dimension, "search");
        var distances = new float[(long)nq * k];
        var labels = new long[(long)nq * k];
        SearchInto(queries, nq, k, distances, labels);
        return new SearchResult(nq, k, distances, labels);
    }

    internal void SearchInto(ReadOnlySpan<float> queries, int nq, int k, float[] distances, long[] labels)
    {
        bool l2 = Metric == Metric.L2;
        if (nq == 1) SearchOne(queries, k, distances, labels, l2);
        else SearchBatch(queries, nq, k, distances, labels, l2);
    }

    private void SearchOne(ReadOnlySpan<float> q, int k, float[] distances, long[] labels, bool l2)
    {
        int d = Dimension;
        float sign = l2 ? -1f : 1f;
        // Split the scan across threads only when each gets enough rows to amortise the hand-off.
        int t = Math.Min(_threads, Math.Max(1, (int)((long)_count * d / (1 << 20))));
        if (t <= 1)
        {
            var heap = new TopKHeap(k);
            ScanRows(heap, q, _data.AsSpan(0, _count * d), _count, 0, d, sign, l2);
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
            ScanRows(h, qa, data.AsSpan(from * d, (to - from) * d), to - from, from, d, sign, l2);
            heaps[w] = h;
        });
        for (int w = 1; w < t; w++) heaps[0].MergeFrom(heaps[w]);
        Finish(heaps[0], distances.AsSpan(0, k), labels.AsSpan(0, k), l2);
    }

    /// <summary>One pass over n rows: scores 256 rows into an L1-resident buffer, then offers them to the heap.</summary>
    internal static void ScanRows(TopKHeap heap, ReadOnlySpan<float> q, ReadOnlySpan<float> rows, int n, long firstId, int d, float sign, bool l2)
    {
        const int Chunk = 256;
        Span<float> buf = stackalloc float[Chunk];
        for (int r = 0; r < n; r += Chunk)
        {
            int m = Math.Min(Chunk, n - r);
            Distance.ScoreRows(q, rows.Slice(r * d, m * d), buf[..m], l2);
            heap.PushRange(buf[..m], firstId + r, sign);
        }
    }

    /// <summary>Like <see cref="ScanRows(TopKHeap, ReadOnlySpan{float}, ReadOnlySpan{float}, int, long, int, float, bool)"/> with explicit ids.</summary>
    internal static void ScanRows(TopKHeap heap, ReadOnlySpan<float> q, ReadOnlySpan<float> rows, ReadOnlySpan<long> ids, int n, int d, float sign, bool l2)
    {
        const int Chunk = 256;
        Span<float> buf = stackalloc float[Chunk];
        for (int r = 0; r < n; r += Chunk)
        {
            int m = Math.Min(Chunk, n - r);
            Distance.ScoreRows(q, rows.Slice(r * d, m * d), buf[..m], l2);
            heap.PushRange(buf[..m], ids.Slice(r, m), sign);
        }
    }

    private void SearchBatch(ReadOnlySpan<float> queries, int nq, int k, float[] distances, long[] labels, bool l2)
    {
        int d = Dimension, count = _count;
        float sign = l2 ? -1f : 1f;
        float[] qa = queries.ToArray();
        float[] data = _data;
        int t = Math.Max(1, Math.Min(_threads, nq / 4));
        // Each worker owns a contiguous range of queries. It takes them 256 at a time (384 KB at d = 384) and sweeps
        // the database in row blocks of 128 that stay in L2 while those queries pass over them in tiles of 32;
        // the 4 x 4 register tiles inside ScoreBlock then read both operands from L1/L2.
        const int QB = 32, RB = 128, QS = 256;
        Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, w =>
        {
            int q0 = (int)((long)nq * w / t), q1 = (int)((long)nq * (w + 1) / t);
            var heaps = new TopKHeap[q1 - q0];
            for (int i = 0; i < heaps.Length; i++) heaps[i] = new TopKHeap(k);
            var buf = new float[QB * RB];
            for (int qs = q0; qs < q1; qs += QS)
            {
                int qe = Math.Min(q1, qs + QS);
                for (int r = 0; r < count; r += RB)
                {
                    int nr = Math.Min(RB, count - r);
                    var rows = data.AsSpan(r * d, nr * d);
                    for (int qb = qs; qb < qe; qb += QB)
                    {
                        int mq = Math.Min(QB, qe - qb);
                        Distance.ScoreBlock(qa.AsSpan(qb * d, mq * d), mq, rows, nr, d, buf, l2);
                        for (int i = 0; i < mq; i++) heaps[qb - q0 + i].PushRange(buf.AsSpan(i * nr, nr), r, sign);
                    }
                }
            }
            for (int i = 0; i < heaps.Length; i++)
                Finish(heaps[i], distances.AsSpan((q0 + i) * k, k), labels.AsSpan((q0 + i) * k, k), l2);
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
