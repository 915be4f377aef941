using ManagedEmbed.Kernels;

namespace ManagedEmbed.Collections;

public sealed partial class Collection
{
    private readonly record struct Hit(int Row, float Dist);

    /// <summary>Bounded top-k of (distance, row), smallest first, ties to the lower row: the kernels' heap on −distance.</summary>
    private sealed class TopK(int k)
    {
        private readonly TopKHeap _heap = new(k);

        public void Push(int row, float d) => _heap.Push(-d, row);

        public List<Hit> Sorted()
        {
            var keys = new float[k];
            var rows = new long[k];
            int real = _heap.Drain(keys, rows);
            var l = new List<Hit>(real);
            for (int i = 0; i < real; i++) l.Add(new Hit((int)rows[i], -keys[i]));
            return l;
        }
    }

    private float Distance(float[] q, ReadOnlySpan<float> v) => Space switch
    {
        DistanceSpace.L2 => VectorMath.SquaredL2(q, v),
        _ => 1f - VectorMath.Dot(q, v),
    };

    /// <summary>
    /// k nearest live rows accepted by the filters. Filtered queries first estimate the filters' selectivity on an
    /// evenly spaced sample of records. When the sample says the matches are few (≤ PrefilterMaxFraction of the live
    /// records, with a margin) or there is no index, the filters are evaluated on every record and the matches are
    /// scanned exactly (pre-filter). Otherwise the filter is pushed into the segment index's scan (an id selector,
    /// evaluated only on rows that would enter the top-k) and WAL-resident rows are scanned exactly; when an IVF probe
    /// yields fewer than k matches, the search falls back to the exact pre-filter scan. With a flat index (or IVF with
    /// nprobe ≥ nlist) every path returns the exact filtered answer.
    /// </summary>
    private List<Hit> Search(float[] q, int k, WhereFilter? where, WhereDocumentFilter? wd)
    {
        bool filtered = (where is not null && !where.IsAll) || wd is not null;
        int live = _idToRow.Count;
        if (!filtered)
        {
            if (_index is null) return Exact(q, k, null);
            // Deleted base rows stay in the segment index until compaction: filter them out only when there are any.
            return IndexSearch(q, k, _deadBase > 0 ? row => _rows[row] is not null : null, null, live);
        }
        var Accept = RowFilter(where, wd);
        if (_index is not null && live >= 4096)
        {
            const int Sample = 1024;
            int seen = 0, hit = 0;
            long step = Math.Max(1, _rows.Count / Sample);
            for (long row = 0; row < _rows.Count && seen < Sample; row += step)
            {
                if (_rows[(int)row] is null) continue;
                seen++;
                if (Accept((int)row)) hit++;
            }
            double est = seen == 0 ? 0 : (double)hit / seen;
            if (est > 2 * _opts.PrefilterMaxFraction) return IndexSearch(q, k, Accept, null, null);
        }
        var (mask, allowed) = BuildMask(Accept);
        if (allowed == 0) return [];
        if (_index is null || allowed <= _opts.PrefilterMaxFraction * live) return Exact(q, k, mask);
        return IndexSearch(q, k, row => mask[row], mask, allowed);
    }

    /// <summary>k nearest among the live records named by <paramref name="ids"/> that pass the filters, ranked exactly.</summary>
    private List<Hit> SearchAmong(float[] q, int k, IReadOnlyList<string> ids, WhereFilter? where, WhereDocumentFilter? wd)
    {
        var accept = RowFilter(where, wd);
        var top = new TopK(k);
        var seen = new HashSet<int>();
        foreach (var id in ids)
            if (_idToRow.TryGetValue(id, out int row) && seen.Add(row) && accept(row)) top.Push(row, Distance(q, Vec(row)));
        return top.Sorted();
    }

    private (bool[] Mask, int Allowed) BuildMask(Func<int, bool> accept)
    {
        var mask = new bool[_rows.Count];
        int allowed = 0;
        // The filter scan chases pointers through every record (memory-latency bound): split it across cores.
        const int Chunk = 16384;
        int chunks = (_rows.Count + Chunk - 1) / Chunk;
        try
        {
            Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = chunks > 1 ? Environment.ProcessorCount : 1 }, ci =>
            {
                int local = 0, end = Math.Min(_rows.Count, (ci + 1) * Chunk);
                for (int row = ci * Chunk; row < end; row++)
                {
                    if (!accept(row)) continue;
                    mask[row] = true;
                    local++;
                }
                Interlocked.Add(ref allowed, local);
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is ManagedEmbedException) is { } inner)
        {
            // A filter's own error (a $regex timeout) is the one-line error, not an aggregate.
            throw inner;
        }
        return (mask, allowed);
    }

    private List<Hit> Exact(float[] q, int k, bool[]? mask)
    {
        var top = new TopK(k);
        for (int row = 0; row < _rows.Count; row++)
        {
            if (mask is not null ? !mask[row] : _rows[row] is null) continue;
            top.Push(row, Distance(q, Vec(row)));
        }
        return top.Sorted();
    }

    // accept(row): live and matching (null: every live row; the index then holds no dead rows); mask: the same
    // predicate precomputed, and matching: how many rows it accepts, when the caller knows.
    private List<Hit> IndexSearch(float[] q, int k, Func<int, bool>? accept, bool[]? mask, int? matching)
    {
        int baseRows = _baseRows;
        var top = new TopK(k);
        int found = 0;
        for (int row = baseRows; row < _rows.Count; row++)
        {
            if (accept is null ? _rows[row] is null : !accept(row)) continue;
            top.Push(row, Distance(q, Vec(row)));
            found++;
        }
        if (baseRows > 0)
        {
            // Distances are recomputed so every path reports the same float for a row as the exact scan; the index
            // ranks with its own kernel, so 16 extra candidates absorb rounding-level reorderings at rank k.
            int kk = (int)Math.Min(baseRows, k + 16L);
            var rows = _index!.Search(q, kk, accept);
            foreach (int row in rows) top.Push(row, Distance(q, Vec(row)));
            found += rows.Count;
            // Fewer than k matches from an IVF probe although more may exist: answer exactly instead.
            if (found < k && !_index.IsExhaustive && !(found >= matching))
                return Exact(q, k, mask ?? (accept is null ? null : BuildMask(accept).Mask));
        }
        return top.Sorted();
    }
}
