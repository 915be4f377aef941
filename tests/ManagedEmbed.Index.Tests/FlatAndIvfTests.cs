using FsCheck.Xunit;
using ManagedEmbed.Index;

namespace ManagedEmbed.Index.Tests;

public class FlatAndIvfTests
{
    private static readonly int[] Dims = [1, 3, 8, 15, 16, 17, 31, 33, 64, 100];

    [Property(MaxTest = 60)]
    public bool Flat_equals_brute_force(int seed, byte dimSel, byte nSel, byte kSel, bool l2, byte threadsSel)
    {
        int d = Dims[dimSel % Dims.Length], n = nSel % 90, k = 1 + kSel % 12, nq = 1 + seed % 9 * (seed < 0 ? -1 : 1);
        var metric = l2 ? Metric.L2 : Metric.InnerProduct;
        var data = TestData.Random(seed, n, d);
        // Duplicate some rows so ties must be broken by the lower id.
        for (int i = 1; i < n; i += 5) data.AsSpan((i - 1) * d, d).CopyTo(data.AsSpan(i * d, d));
        var queries = TestData.Random(seed + 1, nq, d);
        var idx = new FlatIndex(d, metric) { Threads = 1 + threadsSel % 2 };
        idx.Add(data);
        var r = idx.Search(queries, k);
        var (D, I) = TestData.BruteForce(data, n, queries, nq, d, k, metric);
        return r.Labels.SequenceEqual(I) && r.Distances.SequenceEqual(D);
    }

    [Property(MaxTest = 30)]
    public bool Flat_single_query_calls_equal_the_batch_call(int seed, bool l2)
    {
        int d = 24, n = 300, nq = 12, k = 7;
        var idx = new FlatIndex(d, l2 ? Metric.L2 : Metric.InnerProduct) { Threads = 2 };
        idx.Add(TestData.Random(seed, n, d));
        var q = TestData.Random(seed + 3, nq, d);
        var batch = idx.Search(q, k);
        for (int i = 0; i < nq; i++)
        {
            var one = idx.Search(q.AsSpan(i * d, d), k);
            if (!one.Labels.SequenceEqual(batch.LabelsOf(i).ToArray()) || !one.Distances.SequenceEqual(batch.DistancesOf(i).ToArray())) return false;
        }
        return true;
    }

    [Property(MaxTest = 25)]
    public bool Ivf_with_nprobe_equal_nlist_equals_flat(int seed, byte nlistSel, bool l2, byte kSel)
    {
        int d = 20, n = 400, nlist = 1 + nlistSel % 16, k = 1 + kSel % 15, nq = 9 + 20 * (kSel % 2);   // < 16: per query, else grouped by list
        var metric = l2 ? Metric.L2 : Metric.InnerProduct;
        var data = TestData.Random(seed, n, d, normalize: true);
        var queries = TestData.Random(seed + 1, nq, d, normalize: true);
        var flat = new FlatIndex(d, metric);
        flat.Add(data);
        var ivf = new IvfIndex(d, nlist, metric);
        ivf.Train(data, seed);
        ivf.Add(data);
        var a = flat.Search(queries, k);
        var b = ivf.Search(queries, k, nlist);
        bool same = a.Labels.SequenceEqual(b.Labels) && a.Distances.SequenceEqual(b.Distances);
        // Single-query path too.
        var c = ivf.Search(queries.AsSpan(0, d), k, nlist);
        return same && c.Labels.SequenceEqual(a.LabelsOf(0).ToArray()) && c.Distances.SequenceEqual(a.DistancesOf(0).ToArray());
    }

    [Property(MaxTest = 25)]
    public bool Ivf_batch_equals_one_query_at_a_time(int seed, byte nprobeSel, bool l2, byte threadsSel)
    {
        int d = 17, n = 500, nlist = 12, k = 8, nq = 40;
        var data = TestData.Random(seed, n, d);
        var ivf = new IvfIndex(d, nlist, l2 ? Metric.L2 : Metric.InnerProduct) { Nprobe = 1 + nprobeSel % 12, Threads = 1 + threadsSel % 2 };
        ivf.Train(data, seed);
        ivf.Add(data);
        var q = TestData.Random(seed + 9, nq, d);
        var batch = ivf.Search(q, k);
        for (int i = 0; i < nq; i++)
        {
            var one = ivf.Search(q.AsSpan(i * d, d), k);
            if (!one.Labels.SequenceEqual(batch.LabelsOf(i).ToArray()) || !one.Distances.SequenceEqual(batch.DistancesOf(i).ToArray())) return false;
        }
        return true;
    }

    [Property(MaxTest = 25)]
    public bool Ivf_results_are_sorted_unique_and_valid(int seed, byte nprobeSel, bool l2)
    {
        int d = 12, n = 250, nlist = 10, k = 20, nq = 6 + 20 * (nprobeSel % 2);
        var metric = l2 ? Metric.L2 : Metric.InnerProduct;
        var data = TestData.Random(seed, n, d);
        var ivf = new IvfIndex(d, nlist, metric) { Nprobe = 1 + nprobeSel % 12 };
        ivf.Train(data, 7);
        ivf.Add(data);
        var r = ivf.Search(TestData.Random(seed + 5, nq, d), k);
        for (int q = 0; q < nq; q++)
        {
            var ids = r.LabelsOf(q).ToArray(); var ds = r.DistancesOf(q).ToArray();
            var real = ids.Where(i => i >= 0).ToArray();
            if (real.Distinct().Count() != real.Length || real.Any(i => i >= n)) return false;
            // Padding only at the end.
            if (ids.Take(real.Length).Any(i => i < 0)) return false;
            for (int j = 1; j < real.Length; j++)
            {
                bool ordered = l2 ? ds[j - 1] <= ds[j] : ds[j - 1] >= ds[j];
                if (!ordered || (ds[j - 1] == ds[j] && ids[j - 1] > ids[j])) return false;
            }
        }
        return true;
    }

    [Fact]
    public void Padding_follows_faiss()
    {
        var ip = new FlatIndex(2, Metric.InnerProduct);
        ip.Add([1, 0, 0, 1]);
        var r = ip.Search([1, 0], 4);
        Assert.Equal(new long[] { 0, 1, -1, -1 }, r.Labels);
        Assert.Equal(-float.MaxValue, r.Distances[3]);
        var l2 = new FlatIndex(2, Metric.L2);
        var e = l2.Search([1, 0], 2);
        Assert.Equal(new long[] { -1, -1 }, e.Labels);
        Assert.Equal(float.MaxValue, e.Distances[0]);
    }

    [Fact]
    public void Bad_input_is_rejected_and_changes_nothing()
    {
        var f = new FlatIndex(3);
        f.Add([1, 2, 3]);
        Assert.Contains("multiple of the dimension", Assert.Throws<ManagedEmbedException>(() => f.Add([1, 2, 3, 4])).Message);
        Assert.Contains("non-finite", Assert.Throws<ManagedEmbedException>(() => f.Add([1, 2, 3, 4, float.NaN, 6])).Message);
        Assert.Throws<ManagedEmbedException>(() => f.Add([float.PositiveInfinity, 0, 0]));
        Assert.Equal(1, f.Count);
        Assert.Throws<ManagedEmbedException>(() => f.Search([1, 2], 1));
        Assert.Throws<ManagedEmbedException>(() => f.Search([1, 2, float.NaN], 1));
        Assert.Throws<ManagedEmbedException>(() => f.Search([1, 2, 3], 0));
        Assert.Throws<ManagedEmbedException>(() => new FlatIndex(0));

        var ivf = new IvfIndex(3, 2);
        Assert.Contains("trained", Assert.Throws<ManagedEmbedException>(() => ivf.Search([1, 2, 3], 1)).Message);
        Assert.Contains("trained", Assert.Throws<ManagedEmbedException>(() => ivf.Add([1, 2, 3])).Message);
        Assert.Contains("fewer than", Assert.Throws<ManagedEmbedException>(() => ivf.Train([1, 2, 3])).Message);
        Assert.False(ivf.IsTrained);
        ivf.Train(TestData.Random(1, 50, 3));
        Assert.True(ivf.IsTrained);
        ivf.Add(TestData.Random(2, 10, 3));
        Assert.Throws<ManagedEmbedException>(() => ivf.Add([1, float.NaN, 3]));
        Assert.Throws<ManagedEmbedException>(() => ivf.Train(TestData.Random(1, 50, 3)));
        Assert.Throws<ManagedEmbedException>(() => ivf.Search([1, 2, 3], 1, 0));
        Assert.Equal(10, ivf.Count);
        ivf.Reset();
        Assert.Equal(0, ivf.Count);
        Assert.True(ivf.IsTrained);
    }

    [Theory]
    // Query counts around the 3/2-row register tiles, the 48-query tiles and the 168/240-query super-blocks; row
    // counts around the 4-row tiles and the 128-row blocks; dims with and without a lane tail; k = 1 (k-means/IVF add
    // running best) and k > 1 (heaps). Duplicated rows force ties, which must go to the lower id.
    [InlineData(5, 131, 16, 1, false)]
    [InlineData(7, 127, 24, 5, true)]
    [InlineData(49, 129, 17, 3, false)]
    [InlineData(97, 257, 8, 1, true)]
    [InlineData(241, 130, 40, 10, false)]
    [InlineData(338, 255, 33, 1, false)]
    [InlineData(481, 6, 16, 4, true)]
    public void Blocked_batch_search_equals_the_scalar_reference_at_block_edges(int nq, int n, int d, int k, bool l2)
    {
        var metric = l2 ? Metric.L2 : Metric.InnerProduct;
        var data = TestData.Random(nq * 31 + n, n, d);
        for (int i = 3; i < n; i += 7) data.AsSpan((i - 3) * d, d).CopyTo(data.AsSpan(i * d, d));
        var queries = TestData.Random(n * 17 + d, nq, d);
        var (D, I) = TestData.BruteForce(data, n, queries, nq, d, k, metric);
        foreach (int threads in new[] { 1, 2 })
        {
            var idx = new FlatIndex(d, metric) { Threads = threads };
            idx.Add(data);
            var r = idx.Search(queries, k);
            Assert.Equal(I, r.Labels);
            Assert.Equal(D.Select(BitConverter.SingleToInt32Bits), r.Distances.Select(BitConverter.SingleToInt32Bits));
        }
        float[] scores = new float[nq * n];
        Kernels.Distance.ScoreBlock(queries, nq, data, n, d, scores, l2);
        for (int q = 0; q < nq; q++)
            for (int j = 0; j < n; j++)
                Assert.Equal(BitConverter.SingleToInt32Bits(Kernels.Distance.ReferenceScore(queries.AsSpan(q * d, d), data.AsSpan(j * d, d), l2, Kernels.Distance.LaneCount)),
                    BitConverter.SingleToInt32Bits(scores[q * n + j]));
    }

    [Fact]
    public void Ivf_add_on_two_threads_fills_every_list_as_the_reference_assignment_does()
    {
        // The first Add is large enough to fill the lists on two workers, the second appends on one; the direct map
        // is kept up to date.
        int d = 64, n = 16_000, nlist = 37;
        var data = TestData.Random(21, n, d, normalize: true);
        var ivf = new IvfIndex(d, nlist) { Threads = 2 };
        ivf.Train(data.AsSpan(0, 4000 * d), 5);
        ivf.MakeDirectMap();
        ivf.Add(data.AsSpan(0, 9000 * d));
        ivf.Add(data.AsSpan(9000 * d));
        var centroids = ivf.Quantizer.Vectors.ToArray();
        var expected = new List<long>[nlist];
        for (int c = 0; c < nlist; c++) expected[c] = new List<long>();
        for (int i = 0; i < n; i++)
        {
            // Nearest centroid by the scalar reference score; ties to the lower centroid.
            int best = 0; float bestScore = float.NegativeInfinity;
            for (int c = 0; c < nlist; c++)
            {
                float sc = Kernels.Distance.ReferenceScore(data.AsSpan(i * d, d), centroids.AsSpan(c * d, d), false, Kernels.Distance.LaneCount);
                if (sc > bestScore) { bestScore = sc; best = c; }
            }
            expected[best].Add(i);
        }
        for (int c = 0; c < nlist; c++)
        {
            Assert.Equal(expected[c], ivf.ListIds(c).ToArray());
            var vecs = ivf.ListVectors(c);
            for (int j = 0; j < expected[c].Count; j++)
                Assert.True(vecs.Slice(j * d, d).SequenceEqual(data.AsSpan((int)expected[c][j] * d, d)), $"list {c} entry {j}");
        }
        for (int i = 0; i < n; i += 97) Assert.True(ivf.Reconstruct(i).SequenceEqual(data.AsSpan(i * d, d)), $"reconstruct {i}");
    }

    [Fact]
    public void Flat_threads_do_not_change_results_on_a_large_scan()
    {
        int d = 64, n = 40_000;
        var data = TestData.Random(11, n, d);
        var q = TestData.Random(12, 3, d);
        var a = new FlatIndex(d) { Threads = 1 }; a.Add(data);
        var b = new FlatIndex(d) { Threads = 2 }; b.Add(data);
        for (int i = 0; i < 3; i++)
        {
            var ra = a.Search(q.AsSpan(i * d, d), 10); var rb = b.Search(q.AsSpan(i * d, d), 10);
            Assert.Equal(ra.Labels, rb.Labels);
            Assert.Equal(ra.Distances, rb.Distances);
        }
        Assert.Equal(a.Search(q, 10).Labels, b.Search(q, 10).Labels);
    }
}
