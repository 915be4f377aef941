using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Index;

/// <summary>
/// Hierarchical navigable small-world graph over raw vectors (FAISS IndexHNSWFlat, Malkov and Yashunin 2016), with
/// FAISS's construction and search: node levels drawn from FAISS's level distribution and generator (so the same
/// data gets the same levels), level 0 with 2·M neighbours and M above, insertion from the highest level down in
/// FAISS's shuffled order, neighbour selection by FAISS's heuristic, and search by greedy descent then a bounded
/// beam of width max(efSearch, k) at level 0. Files round-trip with faiss.read_index / faiss.write_index.
/// </summary>
/// <remarks>
/// <para>Deletion is by tombstone: <see cref="Remove"/> marks ids, searches never return them but still route
/// through them, so recall holds while the graph keeps its shape. FAISS cannot remove from an HNSW graph and its
/// files have no place for tombstones, so an index holding deletions must be rebuilt by <see cref="Compact"/>
/// (which renumbers the survivors) before <see cref="FaissIndexIO.Write(IVectorIndex, string)"/>. Rebuild when
/// <see cref="DeletedFraction"/> grows past about a fifth: tombstones cost search time and memory.</para>
/// <para>Distances are FAISS's: squared L2, or for inner product the negated product inside the graph and the
/// product itself in results.</para>
/// </remarks>
public sealed class HnswIndex : IVectorIndex
{
    /// <summary>FAISS's default M (IndexHNSWFlat).</summary>
    public const int DefaultM = 32;
    /// <summary>FAISS's default efConstruction.</summary>
    public const int DefaultEfConstruction = 40;
    /// <summary>
    /// Default efSearch. FAISS's is 16, which finds about 0.9 of the true top-10 on clustered 384-d data; 64 keeps
    /// recall@10 ≥ 0.95 (HnswTests). efSearch is stored in the file, so FAISS searches our files the same way.
    /// </summary>
    public const int DefaultEfSearch = 64;

    private readonly FlatIndex _storage;
    private readonly double[] _assignProbas;
    private readonly int[] _cum;           // cum_nneighbor_per_level: level L's neighbours are [cum[L], cum[L+1]) of a node's block
    private int[] _levels = [];            // per node: its top level + 1 (FAISS convention)
    private long[] _offsets = [0];         // per node: start of its block in _neighbors; [Count] = used length
    private int[] _neighbors = [];         // −1 marks an empty slot; a list's used slots come first
    private int _entryPoint = -1, _maxLevel = -1;
    private int _efConstruction = DefaultEfConstruction, _efSearch = DefaultEfSearch;
    private int _threads = Environment.ProcessorCount;
    private readonly Mt19937 _rng = new(12345);
    private ulong[] _deleted = [];
    private long _deletedCount;
    private readonly object _entryLock = new();
    private readonly ConcurrentBag<Scratch> _scratch = new();

    /// <summary>Creates an empty index; <paramref name="m"/> is the neighbour count per node above level 0 (2·M at level 0).</summary>
    public HnswIndex(int dim, int m = DefaultM, Metric metric = Metric.InnerProduct)
    {
        if (m < 2 || m > 4096) throw new ManagedEmbedException($"HNSW M must be in [2, 4096], got {m}");
        _storage = new FlatIndex(dim, metric);
        (_assignProbas, _cum) = DefaultProbas(m);
        Dimension = dim;
        Metric = metric;
    }

    private HnswIndex(FlatIndex storage, double[] probas, int[] cum)
    {
        _storage = storage;
        _assignProbas = probas;
        _cum = cum;
        Dimension = storage.Dimension;
        Metric = storage.Metric;
    }

    /// <summary>FAISS HNSW::set_default_probas(M, 1/ln M): P(level) ∝ exp(−level·ln M), in float as FAISS computes it.</summary>
    private static (double[] Probas, int[] Cum) DefaultProbas(int m)
    {
        // FAISS passes levelMult as float: the exponents are float quotients, the exponentials double, the product float.
        float levelMult = (float)(1.0 / Math.Log(m));
        var probas = new List<double>();
        var cum = new List<int> { 0 };
        int nn = 0;
        for (int level = 0; ; level++)
        {
            float p = (float)(Math.Exp(-level / levelMult) * (1 - Math.Exp(-1 / levelMult)));
            if (p < 1e-9) break;
            probas.Add(p);
            nn += level == 0 ? m * 2 : m;
            cum.Add(nn);
        }
        return (probas.ToArray(), cum.ToArray());
    }

    /// <inheritdoc/>
    public int Dimension { get; }
    /// <summary>Number of stored vectors, tombstoned ones included (ids are 0..Count−1).</summary>
    public long Count => _storage.Count;
    /// <summary>Vectors not removed.</summary>
    public long LiveCount => Count - _deletedCount;
    /// <summary>Tombstoned vectors.</summary>
    public long DeletedCount => _deletedCount;
    /// <summary>Tombstoned share of the stored vectors (0 when empty); a cue for <see cref="Compact"/>.</summary>
    public double DeletedFraction => Count == 0 ? 0 : (double)_deletedCount / Count;
    /// <inheritdoc/>
    public Metric Metric { get; }
    /// <summary>Neighbours per node above level 0 (level 0 has <see cref="NeighborsAt"/>(0), 2·M for FAISS's layout).</summary>
    public int M => _cum.Length > 2 ? NeighborsAt(1) : NeighborsAt(0) / 2;
    /// <summary>Neighbour slots per node at <paramref name="level"/>.</summary>
    public int NeighborsAt(int level) => (uint)level + 1 < (uint)_cum.Length ? _cum[level + 1] - _cum[level] : 0;
    /// <summary>Highest level of the graph (−1 when empty).</summary>
    public int MaxLevel => _maxLevel;
    /// <summary>The node searches start from (−1 when empty).</summary>
    public int EntryPoint => _entryPoint;
    /// <summary>Top level of node <paramref name="id"/>.</summary>
    public int LevelOf(long id) => (ulong)id < (ulong)Count ? _levels[id] - 1 : throw new ManagedEmbedException($"id {id} is out of range [0, {Count})");
    /// <summary>The level distribution (FAISS assign_probas).</summary>
    public ReadOnlySpan<double> AssignProbas => _assignProbas;
    /// <summary>
    /// Neighbours of node <paramref name="id"/> at <paramref name="level"/>, in stored order (FAISS keeps no order
    /// guarantee); empty slots are dropped.
    /// </summary>
    public int[] NeighborsOf(long id, int level)
    {
        if (LevelOf(id) < level || level < 0) return [];
        var (b, e) = Range((int)id, level);
        var list = new List<int>();
        for (long i = b; i < e && _neighbors[i] >= 0; i++) list.Add(_neighbors[i]);
        return list.ToArray();
    }

    /// <summary>Candidate-list width while inserting (FAISS efConstruction, default 40).</summary>
    public int EfConstruction
    {
        get => _efConstruction;
        set => _efConstruction = value >= 1 ? value : throw new ManagedEmbedException($"HNSW efConstruction must be at least 1, got {value}");
    }

    /// <summary>Beam width of a search (FAISS efSearch; the beam is max(efSearch, k)). Default <see cref="DefaultEfSearch"/>.</summary>
    public int EfSearch
    {
        get => _efSearch;
        set => _efSearch = value >= 1 ? value : throw new ManagedEmbedException($"HNSW efSearch must be at least 1, got {value}");
    }

    /// <inheritdoc/>
    public int Threads { get => _threads; set => _threads = Validation.Threads(value); }

    /// <summary>The stored vectors as a flat index (FAISS's storage; searching it is exact).</summary>
    public FlatIndex Storage => _storage;

    // ---------------- adding ----------------

    /// <summary>Called during <see cref="Add"/> with (vectors inserted so far, vectors being added); may come from worker threads.</summary>
    public Action<long, long>? OnAddProgress { get; set; }

    /// <summary>Inserts the vectors with the next sequential ids (FAISS hnsw_add_vertices, parallel over <see cref="Threads"/>).</summary>
    public void Add(ReadOnlySpan<float> vectors)
    {
        int n = Validation.Rows(vectors, Dimension, "add");
        Validation.Finite(vectors, Dimension, "add");
        if (n == 0) return;
        int n0 = (int)Count;
        if ((long)n0 + n > int.MaxValue - 1) throw new ManagedEmbedException($"HNSW index full: {(long)n0 + n} vectors");
        // Levels and neighbour blocks first, so a too-large graph fails before anything changes.
        var levels = new int[n];
        long need = _offsets[n0];
        for (int i = 0; i < n; i++)
        {
            levels[i] = RandomLevel() + 1;
            need += _cum[levels[i]];
        }
        if (need > Array.MaxLength) throw new ManagedEmbedException($"HNSW index full: {need} neighbour slots exceed one array");
        _storage.AddUnchecked(vectors, n);
        Grow(ref _levels, n0 + n);
        Grow(ref _offsets, n0 + n + 1);
        for (int i = 0; i < n; i++)
        {
            _levels[n0 + i] = levels[i];
            _offsets[n0 + i + 1] = _offsets[n0 + i] + _cum[levels[i]];
        }
        int oldLen = _neighbors.Length;
        if (need > _neighbors.Length)
        {
            Array.Resize(ref _neighbors, (int)Math.Max(need, Math.Min((long)_neighbors.Length * 2, Array.MaxLength)));
            _neighbors.AsSpan(oldLen).Fill(-1);
        }
        GrowDeleted(n0 + n);
        AddVertices(n0, n);
    }

    private static void Grow<T>(ref T[] a, long need)
    {
        if (need > a.Length) Array.Resize(ref a, (int)Math.Max(need, Math.Min((long)a.Length * 2, Array.MaxLength)));
    }

    private void GrowDeleted(long n) => Grow(ref _deleted, (n + 63) / 64);

    /// <summary>FAISS HNSW::random_level: one draw from the generator, walked down the level probabilities.</summary>
    private int RandomLevel()
    {
        double f = _rng.NextFloat();
        for (int level = 0; level < _assignProbas.Length; level++)
        {
            if (f < _assignProbas[level]) return level;
            f -= _assignProbas[level];
        }
        return _assignProbas.Length - 1;
    }

    /// <summary>
    /// FAISS hnsw_add_vertices: bucket the new nodes by level, then from the highest level down insert each bucket
    /// in a shuffled order (generator seed 789), in parallel when a bucket holds over 100 nodes, with one spin lock
    /// per node guarding its neighbour lists.
    /// </summary>
    private void AddVertices(int n0, int n)
    {
        int ntotal = n0 + n;
        long inserted = 0;
        var progress = OnAddProgress;
        void Inserted(int k) { if (progress is not null) progress(Interlocked.Add(ref inserted, k), n); }
        var hist = new List<int>();
        for (int i = 0; i < n; i++)
        {
            int l = _levels[n0 + i] - 1;
            while (l >= hist.Count) hist.Add(0);
            hist[l]++;
        }
        var start = new int[hist.Count + 1];
        for (int i = 0; i < hist.Count - 1; i++) start[i + 1] = start[i] + hist[i];
        var order = new int[n];
        for (int i = 0; i < n; i++) order[start[_levels[n0 + i] - 1]++] = n0 + i;

        var rng2 = new Mt19937(789);
        var locks = new int[ntotal];
        int i1 = n;
        for (int ptLevel = hist.Count - 1; ptLevel >= 0; ptLevel--)
        {
            int i0 = i1 - hist[ptLevel];
            for (int j = i0; j < i1; j++)
            {
                int r = j + rng2.NextInt(i1 - j);
                (order[j], order[r]) = (order[r], order[j]);
            }
            int t = i1 > i0 + 100 ? Math.Min(_threads, (i1 - i0) / 16 + 1) : 1;
            if (t <= 1)
            {
                var s = RentScratch(ntotal);
                for (int i = i0; i < i1; i++) { Insert(s, order[i], ptLevel, locks); Inserted(1); }
                _scratch.Add(s);
            }
            else
            {
                int next = i0, level = ptLevel;
                Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, _ =>
                {
                    var s = RentScratch(ntotal);
                    const int Chunk = 8;
                    for (int c; (c = Interlocked.Add(ref next, Chunk) - Chunk) < i1;)
                    {
                        for (int i = c; i < Math.Min(c + Chunk, i1); i++) Insert(s, order[i], level, locks);
                        Inserted(Math.Min(c + Chunk, i1) - c);
                    }
                    _scratch.Add(s);
                });
            }
            i1 = i0;
        }
    }

    /// <summary>FAISS HNSW::add_with_locks.</summary>
    private void Insert(Scratch s, int pt, int ptLevel, int[] locks)
    {
        var q = Row(pt);
        int nearest;
        lock (_entryLock)
        {
            nearest = _entryPoint;
            if (nearest == -1) { _maxLevel = ptLevel; _entryPoint = pt; }
        }
        if (nearest < 0) return;
        Lock(locks, pt);
        int level = Volatile.Read(ref _maxLevel);
        float dNearest = Dist(q, nearest);
        for (; level > ptLevel; level--) GreedyUpdateNearest(q, level, ref nearest, ref dNearest);
        // As FAISS: every level's search starts from the node the upper-level descent reached.
        for (; level >= 0; level--) AddLinksStartingFrom(s, q, pt, nearest, dNearest, level, locks);
        Unlock(locks, pt);
        lock (_entryLock)
            if (ptLevel > _maxLevel) { _maxLevel = ptLevel; _entryPoint = pt; }
    }

    /// <summary>FAISS add_links_starting_from: candidates by a beam search, pruned by the heuristic, linked both ways.</summary>
    private void AddLinksStartingFrom(Scratch s, ReadOnlySpan<float> q, int pt, int nearest, float dNearest, int level, int[] locks)
    {
        var targets = s.Targets;
        SearchNeighborsToAdd(s, q, nearest, dNearest, level, targets);
        ShrinkNeighborList(targets, NeighborsAt(level));
        // FAISS pops its max-heap, so links go in farthest first.
        var linked = s.Linked;
        linked.Clear();
        for (int i = targets.Count - 1; i >= 0; i--)
        {
            AddLink(pt, targets[i].Id, level);
            linked.Add(targets[i].Id);
        }
        Unlock(locks, pt);
        foreach (int other in linked)
        {
            Lock(locks, other);
            AddLink(other, pt, level);
            Unlock(locks, other);
        }
        Lock(locks, pt);
    }

    /// <summary>FAISS search_neighbors_to_add: beam search of width efConstruction at one level; results ascending.</summary>
    private void SearchNeighborsToAdd(Scratch s, ReadOnlySpan<float> q, int entry, float dEntry, int level, List<Cand> output)
    {
        var candidates = s.MinQueue;   // nearest first
        var results = s.MaxQueue;      // farthest first (priority −d)
        candidates.Clear(); results.Clear();
        candidates.Enqueue(entry, dEntry);
        results.Enqueue(entry, -dEntry);
        s.Visit(entry);
        var nb = _neighbors;
        while (candidates.TryPeek(out int cur, out float dCur))
        {
            results.TryPeek(out _, out float negTop);
            if (dCur > -negTop) break;
            candidates.Dequeue();
            var (b, e) = Range(cur, level);
            for (long i = b; i < e; i++)
            {
                int v = Volatile.Read(ref nb[i]);
                if (v < 0) break;
                if (s.Visited(v)) continue;
                s.Visit(v);
                float d = Dist(q, v);
                results.TryPeek(out _, out negTop);
                if (results.Count < _efConstruction || -negTop > d)
                {
                    results.Enqueue(v, -d);
                    candidates.Enqueue(v, d);
                    if (results.Count > _efConstruction) results.Dequeue();
                }
            }
        }
        s.Advance();
        output.Clear();
        while (results.TryDequeue(out int id, out float negD)) output.Add(new Cand(-negD, id));
        output.Reverse();   // dequeued farthest first
    }

    /// <summary>
    /// FAISS shrink_neighbor_list (the HNSW paper's heuristic): when <paramref name="list"/> (ascending) holds at
    /// least <paramref name="max"/> entries, keep, nearest first, each candidate that is closer to the new node than
    /// to every one kept before it, up to <paramref name="max"/>.
    /// </summary>
    private void ShrinkNeighborList(List<Cand> list, int max)
    {
        if (list.Count < max) return;
        int kept = 0;
        for (int i = 0; i < list.Count && kept < max; i++)
        {
            var v1 = list[i];
            var x1 = Row(v1.Id);
            bool good = true;
            for (int j = 0; j < kept; j++)
                if (Dist(x1, list[j].Id) < v1.D) { good = false; break; }
            if (good) list[kept++] = v1;
        }
        list.RemoveRange(kept, list.Count - kept);
    }

    /// <summary>FAISS add_link: append dest to src's list at level, or when full let the heuristic choose.</summary>
    private void AddLink(int src, int dest, int level)
    {
        var (b, e) = Range(src, level);
        var nb = _neighbors;
        if (nb[e - 1] == -1)
        {
            long i = e;
            while (i > b && nb[i - 1] == -1) i--;
            Volatile.Write(ref nb[i], dest);
            return;
        }
        var xs = Row(src);
        var list = new List<Cand>((int)(e - b) + 1) { new(Dist(xs, dest), dest) };
        for (long i = b; i < e; i++) list.Add(new Cand(Dist(xs, nb[i]), nb[i]));
        SortAscending(list);
        ShrinkNeighborList(list, (int)(e - b));
        long w = b;
        for (int i = list.Count - 1; i >= 0; i--) Volatile.Write(ref nb[w++], list[i].Id);
        while (w < e) Volatile.Write(ref nb[w++], -1);
    }

    private static void SortAscending(List<Cand> list) =>
        CollectionsMarshal.AsSpan(list).Sort(static (a, b) => a.D != b.D ? a.D.CompareTo(b.D) : a.Id.CompareTo(b.Id));

    /// <summary>FAISS greedy_update_nearest: move to a closer neighbour at <paramref name="level"/> until none is.</summary>
    private void GreedyUpdateNearest(ReadOnlySpan<float> q, int level, ref int nearest, ref float dNearest)
    {
        var nb = _neighbors;
        while (true)
        {
            int prev = nearest;
            var (b, e) = Range(nearest, level);
            for (long i = b; i < e; i++)
            {
                int v = Volatile.Read(ref nb[i]);
                if (v < 0) break;
                float d = Dist(q, v);
                if (d < dNearest) { nearest = v; dNearest = d; }
            }
            if (nearest == prev) return;
        }
    }

    private static void Lock(int[] locks, int i)
    {
        if (Interlocked.CompareExchange(ref locks[i], 1, 0) == 0) return;
        var spin = new SpinWait();
        while (Interlocked.CompareExchange(ref locks[i], 1, 0) != 0) spin.SpinOnce();
    }

    private static void Unlock(int[] locks, int i) => Volatile.Write(ref locks[i], 0);

    // ---------------- searching ----------------

    /// <inheritdoc/>
    public SearchResult Search(ReadOnlySpan<float> queries, int k) => Search(queries, k, null);

    /// <summary>Search with beam width <paramref name="efSearch"/> for this call.</summary>
    public SearchResult Search(ReadOnlySpan<float> queries, int k, int efSearch) => Search(queries, k, new HnswSearchParameters { EfSearch = efSearch });

    /// <inheritdoc/>
    public SearchResult Search(ReadOnlySpan<float> queries, int k, SearchParameters? parameters)
    {
        Validation.K(k);
        int ef = (parameters as HnswSearchParameters)?.EfSearch ?? _efSearch;
        if (ef < 1) throw new ManagedEmbedException($"HNSW efSearch must be at least 1, got {ef}");
        int nq = Validation.Rows(queries, Dimension, "search");
        Validation.Finite(queries, Dimension, "search");
        var distances = new float[(long)nq * k];
        var labels = new long[(long)nq * k];
        var selector = parameters?.Selector;
        int d = Dimension, ntotal = (int)Count;
        if (nq == 1)
        {
            var s = RentScratch(ntotal);
            SearchOne(s, queries, k, ef, selector, distances, labels);
            _scratch.Add(s);
        }
        else if (nq > 1)
        {
            float[] qa = queries.ToArray();
            int t = Math.Max(1, Math.Min(_threads, nq));
            int next = 0;
            Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, _ =>
            {
                var s = RentScratch(ntotal);
                const int Chunk = 4;
                for (int c; (c = Interlocked.Add(ref next, Chunk) - Chunk) < nq;)
                    for (int q = c; q < Math.Min(c + Chunk, nq); q++)
                        SearchOne(s, qa.AsSpan(q * d, d), k, ef, selector, distances.AsSpan(q * k, k), labels.AsSpan(q * k, k));
                _scratch.Add(s);
            });
        }
        return new SearchResult(nq, k, distances, labels);
    }

    /// <summary>FAISS HNSW::search with upper_beam 1: greedy descent to level 1, then search_from_candidates at level 0.</summary>
    private void SearchOne(Scratch s, ReadOnlySpan<float> q, int k, int efSearch, IIdSelector? selector, Span<float> distances, Span<long> labels)
    {
        var heap = s.Heap(k);
        if (_entryPoint >= 0)
        {
            int nearest = _entryPoint;
            float dNearest = Dist(q, nearest);
            for (int level = _maxLevel; level >= 1; level--) GreedyUpdateNearest(q, level, ref nearest, ref dNearest);
            var candidates = s.Candidates;
            candidates.Reset(Math.Max(efSearch, k));
            candidates.Push(nearest, dNearest);
            SearchFromCandidates(s, q, heap, candidates, efSearch, selector);
            s.Advance();
        }
        FlatIndex.Finish(heap, distances, labels, Metric == Metric.L2);
    }

    /// <summary>
    /// FAISS search_from_candidates at level 0 with its relative-distance stop: expand the nearest unexpanded
    /// candidate until efSearch kept candidates are nearer than it. Results go to the shared top-k heap as keys −d;
    /// tombstoned and unselected ids are routed through but never reported.
    /// </summary>
    private void SearchFromCandidates(Scratch s, ReadOnlySpan<float> q, TopKHeap heap, MinimaxHeap candidates, int efSearch, IIdSelector? selector)
    {
        for (int i = 0; i < candidates.Size; i++)
        {
            int v = candidates.IdAt(i);
            Offer(heap, v, candidates.DistAt(i), selector);
            s.Visit(v);
        }
        var nb = _neighbors;
        while (candidates.Valid > 0)
        {
            int v0 = candidates.PopMin(out float d0);
            if (candidates.CountBelow(d0) >= efSearch) break;
            var (b, e) = Range(v0, 0);
            for (long i = b; i < e; i++)
            {
                int v = nb[i];
                if (v < 0) break;
                if (s.Visited(v)) continue;
                s.Visit(v);
                float d = Dist(q, v);
                Offer(heap, v, d, selector);
                candidates.Push(v, d);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Offer(TopKHeap heap, int v, float d, IIdSelector? selector)
    {
        if (heap.Accepts(-d, v) && !IsDeleted(v) && (selector is null || selector.IsMember(v))) heap.Push(-d, v);
    }

    // ---------------- deletion ----------------

    /// <summary>True when <paramref name="id"/> was removed.</summary>
    public bool IsDeleted(long id) => (ulong)id < (ulong)Count && (_deleted[id >> 6] & (1UL << (int)(id & 63))) != 0;

    /// <summary>
    /// Tombstones the given ids (out-of-range ids fail before anything changes; already removed ones are ignored).
    /// They stay in the graph for routing and are never returned again. Returns how many were newly removed.
    /// </summary>
    public long Remove(ReadOnlySpan<long> ids)
    {
        foreach (long id in ids)
            if ((ulong)id >= (ulong)Count) throw new ManagedEmbedException($"remove: id {id} is out of range [0, {Count})");
        long removed = 0;
        foreach (long id in ids)
        {
            if (IsDeleted(id)) continue;
            _deleted[id >> 6] |= 1UL << (int)(id & 63);
            removed++;
        }
        _deletedCount += removed;
        return removed;
    }

    /// <summary>
    /// Rebuilds the graph over the surviving vectors with the same M, efConstruction, efSearch and metric (the
    /// periodic rebuild that tombstones need). Survivors get new ids 0..LiveCount−1 in their old order;
    /// <paramref name="oldIds"/>[newId] is the id each had here.
    /// </summary>
    public HnswIndex Compact(out long[] oldIds)
    {
        var index = new HnswIndex(_storage.Dimension, M, Metric) { EfConstruction = _efConstruction, EfSearch = _efSearch, Threads = _threads };
        oldIds = new long[LiveCount];
        var live = new float[LiveCount * Dimension];
        int d = Dimension, j = 0;
        var data = _storage.Vectors;
        for (long i = 0; i < Count; i++)
        {
            if (IsDeleted(i)) continue;
            data.Slice((int)i * d, d).CopyTo(live.AsSpan(j * d));
            oldIds[j++] = i;
        }
        index.Add(live);
        return index;
    }

    /// <summary>The stored vector of <paramref name="id"/> (removed ids fail).</summary>
    public ReadOnlySpan<float> Reconstruct(long id)
    {
        if (IsDeleted(id)) throw new ManagedEmbedException($"id {id} was removed");
        return _storage.GetVector(id);
    }

    /// <inheritdoc/>
    public void Reset()
    {
        _storage.Reset();
        _levels = []; _offsets = [0]; _neighbors = []; _deleted = [];
        _deletedCount = 0;
        _entryPoint = -1; _maxLevel = -1;
    }

    // ---------------- file support ----------------

    /// <summary>The graph arrays in FAISS's layout, for writing.</summary>
    internal (double[] Probas, int[] Cum, ReadOnlyMemory<int> Levels, ReadOnlyMemory<long> Offsets, ReadOnlyMemory<int> Neighbors) Graph =>
        (_assignProbas, _cum, _levels.AsMemory(0, (int)Count), _offsets.AsMemory(0, (int)Count + 1), _neighbors.AsMemory(0, (int)_offsets[Count]));

    /// <summary>Builds an index from validated file contents (FaissIndexIO checks every invariant first).</summary>
    internal static HnswIndex FromParts(FlatIndex storage, double[] probas, int[] cum, int[] levels, long[] offsets, int[] neighbors,
        int entryPoint, int maxLevel, int efConstruction, int efSearch)
    {
        var h = new HnswIndex(storage, probas, cum)
        {
            _levels = levels, _offsets = offsets, _neighbors = neighbors,
            _entryPoint = entryPoint, _maxLevel = maxLevel, _efConstruction = efConstruction, _efSearch = efSearch,
        };
        h.GrowDeleted(storage.Count);
        return h;
    }

    // ---------------- helpers ----------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private (long Begin, long End) Range(int node, int level) => (_offsets[node] + _cum[level], _offsets[node] + _cum[level + 1]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ReadOnlySpan<float> Row(int id) => new(_storage.RawData, id * Dimension, Dimension);

    /// <summary>The graph's distance: squared L2, or the negated inner product (FAISS NegativeDistanceComputer).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private float Dist(ReadOnlySpan<float> q, int id)
    {
        float s = Distance.Score(q, Row(id), Metric == Metric.L2);
        return Metric == Metric.L2 ? s : -s;
    }

    private Scratch RentScratch(int ntotal)
    {
        if (!_scratch.TryTake(out var s)) s = new Scratch();
        s.EnsureNodes(ntotal);
        return s;
    }

    internal readonly record struct Cand(float D, int Id);

    /// <summary>Per-thread search state (FAISS VisitedTable and queues), pooled across calls.</summary>
    private sealed class Scratch
    {
        private byte[] _visited = [];
        private byte _mark = 1;
        private TopKHeap? _heap;
        public readonly MinimaxHeap Candidates = new();
        public readonly PriorityQueue<int, float> MinQueue = new();
        public readonly PriorityQueue<int, float> MaxQueue = new();
        public readonly List<Cand> Targets = new();
        public readonly List<int> Linked = new();

        public void EnsureNodes(int n)
        {
            if (_visited.Length < n) { _visited = new byte[Math.Max(n, _visited.Length * 2)]; _mark = 1; }
        }

        public TopKHeap Heap(int k)
        {
            if (_heap is null || _heap.K != k) _heap = new TopKHeap(k);
            return _heap;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)] public bool Visited(int v) => _visited[v] == _mark;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public void Visit(int v) => _visited[v] = _mark;

        /// <summary>Forgets all visits: a new mark, clearing the table once every 250 uses.</summary>
        public void Advance()
        {
            if (++_mark == 250) { Array.Clear(_visited); _mark = 1; }
        }
    }

    /// <summary>
    /// FAISS HNSW::MinimaxHeap: the ef nearest candidates in a max-heap, where popping the nearest marks it spent
    /// (id −1) but keeps its distance, because the stop rule counts spent entries too. Its in-place marks are why
    /// this is not the shared top-k heap.
    /// </summary>
    internal sealed class MinimaxHeap
    {
        private int[] _ids = [];
        private float[] _dis = [];
        private int _cap, _size, _valid;

        public int Size => _size;
        public int Valid => _valid;
        public int IdAt(int i) => _ids[i];
        public float DistAt(int i) => _dis[i];

        public void Reset(int capacity)
        {
            if (_ids.Length < capacity) { _ids = new int[capacity]; _dis = new float[capacity]; }
            _cap = capacity; _size = 0; _valid = 0;
        }

        public void Push(int id, float d)
        {
            if (_size == _cap)
            {
                if (d >= _dis[0]) return;
                // FAISS 1.7.3 (Debian's, the peer the interop tests run) counts the evicted entry out even when it
                // was already spent, which ends some searches a little early; later FAISS checks ids[0] != −1.
                // Kept as 1.7.3 does it, so both engines walk the same path and return the same results.
                _valid--;
                // Replace the farthest.
                _size--;
                _ids[0] = _ids[_size]; _dis[0] = _dis[_size];
                SiftDown(0);
            }
            int i = _size++;
            while (i > 0)
            {
                int p = (i - 1) >> 1;
                if (_dis[p] >= d) break;
                _ids[i] = _ids[p]; _dis[i] = _dis[p];
                i = p;
            }
            _ids[i] = id; _dis[i] = d;
            _valid++;
        }

        private void SiftDown(int i)
        {
            int id = _ids[i]; float d = _dis[i];
            while (true)
            {
                int c = 2 * i + 1;
                if (c >= _size) break;
                if (c + 1 < _size && _dis[c + 1] > _dis[c]) c++;
                if (_dis[c] <= d) break;
                _ids[i] = _ids[c]; _dis[i] = _dis[c];
                i = c;
            }
            _ids[i] = id; _dis[i] = d;
        }

        /// <summary>Takes the nearest unspent candidate (linear scan, as FAISS), marking it spent.</summary>
        public int PopMin(out float dMin)
        {
            int i = _size - 1;
            while (i >= 0 && _ids[i] == -1) i--;
            if (i < 0) { dMin = 0; return -1; }
            int iMin = i;
            float vMin = _dis[i];
            for (i--; i >= 0; i--)
                if (_ids[i] != -1 && _dis[i] < vMin) { vMin = _dis[i]; iMin = i; }
            dMin = vMin;
            int ret = _ids[iMin];
            _ids[iMin] = -1;
            _valid--;
            return ret;
        }

        /// <summary>Entries, spent or not, nearer than <paramref name="threshold"/>.</summary>
        public int CountBelow(float threshold)
        {
            int n = 0;
            for (int i = 0; i < _size; i++) if (_dis[i] < threshold) n++;
            return n;
        }
    }
}

/// <summary>Per-call search options of an <see cref="HnswIndex"/> (FAISS SearchParametersHNSW).</summary>
public sealed class HnswSearchParameters : SearchParameters
{
    /// <summary>Beam width for this call; null uses <see cref="HnswIndex.EfSearch"/>.</summary>
    public int? EfSearch { get; init; }
}
