using ManagedEmbed.Kernels;

namespace ManagedEmbed.Collections;

public sealed partial class Collection
{
    private readonly record struct Hit(int Row, float Dist);

    private sealed class WorstFirst : IComparer<(float Dist, int Row)>
    {
        public static readonly WorstFirst Instance = new();
        public int Compare((float Dist, int Row) a, (float Dist, int Row) b)
        {
            int c = b.Dist.CompareTo(a.Dist);
            return c != 0 ? c : b.Row.CompareTo(a.Row);
        }
    }

    /// <summary>Bounded top-k keeping the k smallest (distance, row) pairs.</summary>
    private sealed class TopK(int k)
    {
        private readonly PriorityQueue<int, (float, int)> _q = new(WorstFirst.Instance);
        public int Count => _q.Count;

        public void Push(int row, float d)
        {
            if (_q.Count < k) { _q.Enqueue(row, (d, row)); return; }
            _q.TryPeek(out _, out var worst);
            if (WorstFirst.Instance.Compare((d, row), worst) > 0) _q.DequeueEnqueue(row, (d, row));
        }

        public List<Hit> Sorted()
        {
            var l = new List<Hit>(_q.Count);
            while (_q.TryDequeue(out int row, out var p)) l.Add(new Hit(row, p.Item1));
            l.Reverse();
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
    /// scanned exactly (pre-filter). Otherwise the segment index is searched for k·(live/matching)·2 + 16 candidates
    /// (oversampling) and the filters are evaluated on those candidates only; WAL-resident rows are scanned exactly;
    /// if fewer than k matches survive, the candidate count is quadrupled, and when the index is exhausted the search
    /// falls back to the exact pre-filter scan. With a flat index (or IVF with nprobe ≥ nlist) every path returns the
    /// exact filtered answer.
    /// </summary>
    private List<Hit> Search(float[] q, int k, WhereFilter? where, WhereDocumentFilter? wd)
    {
        bool filtered = (where is not null && !where.IsAll) || wd is not null;
        int live = _idToRow.Count;
        if (!filtered)
        {
            if (_index is null) return Exact(q, k, null);
            return IndexSearch(q, k, row => _rows[row] is not null, live, null);
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
            if (est > 2 * _opts.PrefilterMaxFraction)
                return IndexSearch(q, k, Accept, (int)Math.Max(1, est * live), null);
        }
        var (mask, allowed) = BuildMask(Accept);
        if (allowed == 0) return [];
        if (_index is null || allowed <= _opts.PrefilterMaxFraction * live) return Exact(q, k, mask);
        return IndexSearch(q, k, row => mask[row], allowed, mask);
    }

    private (bool[] Mask, int Allowed) BuildMask(Func<int, bool> accept)
    {
        var mask = new bool[_rows.Count];
        int allowed = 0;
        // The filter scan chases pointers through every record (memory-latency bound): split it across cores.
        const int Chunk = 16384;
        int chunks = (_rows.Count + Chunk - 1) / Chunk;
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

    // accept(row): live and matching; accepted: number of matching live rows (exact when mask is given, else an
    // estimate used only to size the oversampling).
    private List<Hit> IndexSearch(float[] q, int k, Func<int, bool> accept, int accepted, bool[]? mask)
    {
        int baseRows = _baseRows;
        int liveRows = _idToRow.Count;
        double frac = Math.Max(1e-9, (double)accepted / Math.Max(1, liveRows));
        long want = (long)Math.Ceiling(k / frac * 2) + 16 + _deadBase;
        int kk = (int)Math.Min(baseRows, want);
        while (true)
        {
            var top = new TopK(k);
            int got = 0;
            for (int row = baseRows; row < _rows.Count; row++)
            {
                if (!accept(row)) continue;
                top.Push(row, Distance(q, Vec(row)));
                got++;
            }
            int returned = 0;
            if (kk > 0)
            {
                foreach (int row in _index!.Search(q, kk))
                {
                    returned++;
                    if (row < 0 || row >= baseRows || !accept(row)) continue;
                    top.Push(row, Distance(q, Vec(row)));
                    got++;
                }
            }
            if (top.Count >= k || (mask is not null && got >= accepted)) return top.Sorted();
            // Not enough matches among the candidates: widen, or scan exactly when the index is exhausted.
            if (returned < kk || kk >= baseRows)
            {
                if (mask is null) (mask, _) = BuildMask(accept);
                return Exact(q, k, mask);
            }
            kk = (int)Math.Min(baseRows, (long)kk * 4);
        }
    }
}
