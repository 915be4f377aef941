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

    private float Distance(float[] q, float[] v) => Space switch
    {
        DistanceSpace.L2 => VectorMath.SquaredL2(q, v),
        _ => 1f - VectorMath.Dot(q, v),
    };

    /// <summary>
    /// k nearest live rows accepted by the filters. Filtered queries evaluate the filters on every live record
    /// first; when the matches are few (≤ PrefilterMaxFraction of the live records) or there is no index, they are
    /// scanned exactly (pre-filter). Otherwise the segment index is searched for k·(live/matching)·2 + 16 candidates
    /// (oversampling), non-matching and dead rows are dropped, the WAL-resident rows are scanned exactly, and if fewer
    /// than k matches survive while more exist, the search falls back to the exact scan. With a flat index both paths
    /// give the exact filtered answer.
    /// </summary>
    private List<Hit> Search(float[] q, int k, WhereFilter? where, WhereDocumentFilter? wd)
    {
        bool filtered = (where is not null && !where.IsAll) || wd is not null;
        int live = _idToRow.Count;
        if (!filtered)
        {
            if (_index is null) return Exact(q, k, null);
            return IndexSearch(q, k, null, live);
        }
        var mask = new bool[_rows.Count];
        int allowed = 0;
        for (int row = 0; row < _rows.Count; row++)
        {
            if (_rows[row] is not { } r) continue;
            if (where is not null && !where.Matches(r.Metadata)) continue;
            if (wd is not null && !wd.Matches(r.Document)) continue;
            mask[row] = true;
            allowed++;
        }
        if (allowed == 0) return [];
        if (_index is null || allowed <= _opts.PrefilterMaxFraction * live) return Exact(q, k, mask);
        return IndexSearch(q, k, mask, allowed);
    }

    private List<Hit> Exact(float[] q, int k, bool[]? mask)
    {
        var top = new TopK(k);
        for (int row = 0; row < _rows.Count; row++)
        {
            if (mask is not null ? !mask[row] : _rows[row] is null) continue;
            top.Push(row, Distance(q, _rows[row]!.Vector));
        }
        return top.Sorted();
    }

    private List<Hit> IndexSearch(float[] q, int k, bool[]? mask, int accepted)
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
                if (mask is not null ? !mask[row] : _rows[row] is null) continue;
                top.Push(row, Distance(q, _rows[row]!.Vector));
                got++;
            }
            int returned = 0;
            if (kk > 0)
            {
                foreach (int row in _index!.Search(q, kk))
                {
                    returned++;
                    if (row < 0 || row >= baseRows) continue;
                    if (mask is not null ? !mask[row] : _rows[row] is null) continue;
                    top.Push(row, Distance(q, _rows[row]!.Vector));
                    got++;
                }
            }
            if (top.Count >= k || got >= accepted) return top.Sorted();
            // Not enough matches among the candidates: widen, or scan exactly when the index is exhausted.
            if (returned < kk || kk >= baseRows) return Exact(q, k, mask);
            kk = (int)Math.Min(baseRows, (long)kk * 4);
        }
    }
}
