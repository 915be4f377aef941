using ManagedEmbed.Index;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Index.Tests;

/// <summary>HNSW properties: recall against exact search, tombstones, filters, file round trip, hostile files, bad parameters.</summary>
public class HnswTests
{
    private static double Recall(SearchResult r, Func<int, int[]> truth)
    {
        int hits = 0, total = 0;
        for (int q = 0; q < r.Count; q++)
        {
            var t = truth(q);
            hits += r.LabelsOf(q).ToArray().Count(l => t.Contains((int)l));
            total += t.Length;
        }
        return hits / (double)total;
    }

    /// <summary>Exact top-k by inner product in double (ties by lower id), over the ids <paramref name="keep"/> allows.</summary>
    private static int[] ExactIp(float[] data, int dim, ReadOnlySpan<float> q, int k, Func<int, bool>? keep = null)
    {
        int n = data.Length / dim;
        var s = new double[n];
        for (int i = 0; i < n; i++)
        {
            double a = 0;
            for (int j = 0; j < dim; j++) a += (double)q[j] * data[i * dim + j];
            s[i] = a;
        }
        return [.. Enumerable.Range(0, n).Where(i => keep?.Invoke(i) ?? true).OrderByDescending(i => s[i]).ThenBy(i => i).Take(k)];
    }

    private static (float[] Data, float[] Queries) ClusteredData(int n, int nq, int dim, bool normalize)
    {
        var centers = Clustered.Centers(1, 100, dim);
        var data = Clustered.Mixture(2, n, dim, centers, 100, 0.15);
        var queries = Clustered.Mixture(3, nq, dim, centers, 100, 0.15);
        if (normalize)
        {
            for (int i = 0; i < n; i++) VectorMath.L2Normalize(data.AsSpan(i * dim, dim));
            for (int i = 0; i < nq; i++) VectorMath.L2Normalize(queries.AsSpan(i * dim, dim));
        }
        return (data, queries);
    }

    [Theory]
    [InlineData(Metric.L2)]
    [InlineData(Metric.InnerProduct)]
    public void Recall_at_10_is_at_least_0_95_at_the_default_efSearch_on_clustered_data(Metric metric)
    {
        const int n = 20_000, dim = 48, nq = 200, k = 10;
        var (data, queries) = ClusteredData(n, nq, dim, normalize: metric == Metric.InnerProduct);
        var h = new HnswIndex(dim, metric: metric) { Threads = 2 };
        h.Add(data);
        Assert.Equal(HnswIndex.DefaultEfSearch, h.EfSearch);
        var r = h.Search(queries, k);
        double recall = Recall(r, q => metric == Metric.L2 ? Clustered.ExactL2(data, dim, queries.AsSpan(q * dim, dim), k) : ExactIp(data, dim, queries.AsSpan(q * dim, dim), k));
        Assert.True(recall >= 0.95, $"recall@10 = {recall:0.000} at efSearch {h.EfSearch}");
        // Single-query and batch paths agree exactly.
        for (int q = 0; q < 20; q++)
            Assert.Equal(r.LabelsOf(q).ToArray(), h.Search(queries.AsSpan(q * dim, dim), k).Labels);
        // Distances are FAISS's: squared L2 ascending, inner product descending, and the true scores of those ids.
        for (int q = 0; q < nq; q++)
            for (int j = 0; j < k; j++)
            {
                float want = Distance.ReferenceScore(queries.AsSpan(q * dim, dim), data.AsSpan((int)r.LabelsOf(q)[j] * dim, dim), metric == Metric.L2, Distance.LaneCount);
                Assert.Equal(want, r.DistancesOf(q)[j]);
                if (j > 0) Assert.True(metric == Metric.L2 ? r.DistancesOf(q)[j] >= r.DistancesOf(q)[j - 1] : r.DistancesOf(q)[j] <= r.DistancesOf(q)[j - 1]);
            }
    }

    [Fact]
    public void Larger_efSearch_does_not_lose_recall_and_small_indexes_are_exact()
    {
        const int dim = 16, k = 10;
        var (data, queries) = ClusteredData(5000, 100, dim, normalize: false);
        var h = new HnswIndex(dim, 8, Metric.L2) { Threads = 2 };
        h.Add(data);
        double Rec(int ef) => Recall(h.Search(queries, k, ef), q => Clustered.ExactL2(data, dim, queries.AsSpan(q * dim, dim), k));
        double r16 = Rec(16), r256 = Rec(256);
        Assert.True(r256 >= r16 && r256 >= 0.99, $"recall {r16:0.000} at ef 16, {r256:0.000} at ef 256");
        // Fewer vectors than k: every vector comes back, the rest is FAISS padding.
        var tiny = new HnswIndex(dim, 4, Metric.L2);
        tiny.Add(data.AsSpan(0, 5 * dim));
        var t = tiny.Search(queries.AsSpan(0, dim), 8);
        Assert.Equal([0, 1, 2, 3, 4], t.Labels.Take(5).Order().ToArray());
        Assert.Equal([-1L, -1, -1], t.Labels.Skip(5).ToArray());
        Assert.Equal(float.MaxValue, t.Distances[7]);
        var empty = new HnswIndex(dim).Search(queries.AsSpan(0, dim), 3);
        Assert.Equal([-1L, -1, -1], empty.Labels);
    }

    [Fact]
    public void Tombstoned_ids_are_never_returned_and_compact_rebuilds_without_them()
    {
        const int n = 4000, dim = 16, nq = 60, k = 10;
        var (data, queries) = ClusteredData(n, nq, dim, normalize: true);
        var h = new HnswIndex(dim, 16) { Threads = 2 };
        h.Add(data);
        var removed = Enumerable.Range(0, n).Where(i => i % 3 == 0).Select(i => (long)i).ToArray();
        Assert.Equal(removed.Length, h.Remove(removed));
        Assert.Equal(0, h.Remove([0, 3]));   // already removed
        Assert.Throws<ManagedEmbedException>(() => h.Remove([5, n]));
        Assert.False(h.IsDeleted(5));        // a failed call changes nothing
        Assert.Equal(n - removed.Length, h.LiveCount);
        var r = h.Search(queries, k);
        Assert.DoesNotContain(r.Labels, l => l % 3 == 0);
        double recall = Recall(r, q => ExactIp(data, dim, queries.AsSpan(q * dim, dim), k, i => i % 3 != 0));
        Assert.True(recall >= 0.95, $"recall@10 over live vectors = {recall:0.000}");
        Assert.Throws<ManagedEmbedException>(() => h.Reconstruct(3));
        var ex = Assert.Throws<ManagedEmbedException>(() => FaissIndexIO.Write(h, new MemoryStream()));
        Assert.Contains("removed", ex.Message);

        var c = h.Compact(out long[] oldIds);
        Assert.Equal(Enumerable.Range(0, n).Where(i => i % 3 != 0).Select(i => (long)i), oldIds);
        Assert.Equal(h.LiveCount, c.Count);
        Assert.Equal(0, c.DeletedCount);
        for (int i = 0; i < c.Count; i += 97) Assert.Equal(data.AsSpan((int)oldIds[i] * dim, dim).ToArray(), c.Reconstruct(i).ToArray());
        var rc = c.Search(queries, k);
        double recallC = Recall(rc, q => ExactIp(data, dim, queries.AsSpan(q * dim, dim), k, i => i % 3 != 0).Select(i => Array.BinarySearch(oldIds, (long)i)).ToArray());
        Assert.True(recallC >= 0.95, $"recall@10 after compaction = {recallC:0.000}");
        FaissIndexIO.Write(c, new MemoryStream());
    }

    [Fact]
    public void The_id_selector_filters_results_but_not_routing()
    {
        const int n = 4000, dim = 16, nq = 50, k = 10;
        var (data, queries) = ClusteredData(n, nq, dim, normalize: true);
        var h = new HnswIndex(dim, 16) { Threads = 2 };
        h.Add(data);
        var sel = new IdSelectorPredicate(id => id % 5 == 1);
        var r = h.Search(queries, k, new HnswSearchParameters { Selector = sel, EfSearch = 128 });
        Assert.All(r.Labels, l => Assert.Equal(1, l % 5));
        double recall = Recall(r, q => ExactIp(data, dim, queries.AsSpan(q * dim, dim), k, i => i % 5 == 1));
        Assert.True(recall >= 0.9, $"filtered recall@10 = {recall:0.000}");
    }

    [Theory]
    [InlineData(Metric.L2)]
    [InlineData(Metric.InnerProduct)]
    public void File_round_trip_keeps_graph_parameters_and_results(Metric metric)
    {
        const int n = 1500, dim = 12, k = 7;
        var data = TestData.Random(61, n, dim, normalize: true);
        var queries = TestData.Random(62, 30, dim, normalize: true);
        var h = new HnswIndex(dim, 6, metric) { EfConstruction = 33, EfSearch = 21 };
        h.Add(data);
        var ms = new MemoryStream();
        FaissIndexIO.Write(h, ms);
        var back = Assert.IsType<HnswIndex>(FaissIndexIO.Read(new MemoryStream(ms.ToArray())));
        Assert.Equal((6, 33, 21, metric, (long)n, h.EntryPoint, h.MaxLevel), (back.M, back.EfConstruction, back.EfSearch, back.Metric, back.Count, back.EntryPoint, back.MaxLevel));
        for (int i = 0; i < n; i += 13) Assert.Equal(h.NeighborsOf(i, 0), back.NeighborsOf(i, 0));
        var a = h.Search(queries, k);
        var b = back.Search(queries, k);
        Assert.Equal(a.Labels, b.Labels);
        Assert.Equal(a.Distances, b.Distances);
        var ms2 = new MemoryStream();
        FaissIndexIO.Write(back, ms2);
        Assert.Equal(ms.ToArray(), ms2.ToArray());
        // An empty index round-trips too (FAISS: entry point and max level −1).
        var e = new MemoryStream();
        FaissIndexIO.Write(new HnswIndex(dim, 6, metric), e);
        var eb = Assert.IsType<HnswIndex>(FaissIndexIO.Read(new MemoryStream(e.ToArray())));
        Assert.Equal((0L, -1, -1), (eb.Count, eb.EntryPoint, eb.MaxLevel));
        eb.Add(data.AsSpan(0, 50 * dim));
        Assert.Equal(50, eb.Count);
    }

    [Fact]
    public void Truncated_or_corrupted_files_fail_with_one_clean_error()
    {
        const int n = 120, dim = 4;
        var h = new HnswIndex(dim, 4, Metric.L2);
        h.Add(TestData.Random(71, n, dim));
        var ms = new MemoryStream();
        FaissIndexIO.Write(h, ms);
        byte[] good = ms.ToArray();
        int graphEnd = good.Length - (4 + 4 + 8 * 3 + 1 + 4 + 8 + n * dim * 4);   // the storage IxF2 follows the graph
        var q = TestData.Random(72, 3, dim);
        for (int len = 0; len < good.Length; len++)
        {
            var ex = Assert.Throws<ManagedEmbedException>(() => FaissIndexIO.Read(new MemoryStream(good, 0, len)));
            Assert.DoesNotContain('\n', ex.Message);
        }
        int loaded = 0;
        foreach (byte v in new byte[] { 0xFF, 0x01, 0x80 })
            for (int pos = 0; pos < graphEnd; pos++)
            {
                var bad = (byte[])good.Clone();
                bad[pos] ^= v;
                IVectorIndex idx;
                try { idx = FaissIndexIO.Read(new MemoryStream(bad)); }
                catch (ManagedEmbedException ex) { Assert.DoesNotContain('\n', ex.Message); continue; }
                // What still loads is a consistent graph (e.g. a different neighbour or efSearch): it must search.
                idx.Search(q, 5);
                loaded++;
            }
        Assert.True(loaded > 0 && loaded < 3 * graphEnd);
    }

    [Fact]
    public void Bad_parameters_give_clear_errors()
    {
        Assert.Contains("M must be", Assert.Throws<ManagedEmbedException>(() => new HnswIndex(8, 1)).Message);
        Assert.Throws<ManagedEmbedException>(() => new HnswIndex(0, 16));
        var h = new HnswIndex(8, 16);
        Assert.Contains("efSearch", Assert.Throws<ManagedEmbedException>(() => h.EfSearch = 0).Message);
        Assert.Contains("efConstruction", Assert.Throws<ManagedEmbedException>(() => h.EfConstruction = -3).Message);
        h.Add(TestData.Random(81, 40, 8));
        var q = TestData.Random(82, 1, 8);
        Assert.Contains("efSearch", Assert.Throws<ManagedEmbedException>(() => h.Search(q, 3, 0)).Message);
        Assert.Throws<ManagedEmbedException>(() => h.Search(q, 0));
        Assert.Throws<ManagedEmbedException>(() => h.Search(new float[7], 3));
        var nan = new float[8]; nan[2] = float.NaN;
        Assert.Throws<ManagedEmbedException>(() => h.Add(nan));
        Assert.Equal(40, h.Count);   // the failed add changed nothing
        h.Reset();
        Assert.Equal((0L, -1), (h.Count, h.EntryPoint));
    }
}
