using FsCheck.Xunit;
using ManagedEmbed.Index;

namespace ManagedEmbed.Index.Tests;

/// <summary>The FAISS-shaped parts of the index core: id selectors, reconstruct/direct map, k-means through the quantizer.</summary>
public class SelectorAndReconstructTests
{
    private static bool[] Bitmap(int seed, int n, int percent)
    {
        var rng = new Random(seed ^ 0x5EED);
        var m = new bool[n];
        for (int i = 0; i < n; i++) m[i] = rng.Next(100) < percent;
        return m;
    }

    /// <summary>Brute force over only the selected rows, with labels mapped back to the full index's ids.</summary>
    private static (float[] D, long[] I) FilteredBruteForce(float[] data, bool[] keep, float[] queries, int nq, int d, int k, Metric metric)
    {
        var ids = Enumerable.Range(0, keep.Length).Where(i => keep[i]).ToArray();
        var sub = new float[ids.Length * d];
        for (int j = 0; j < ids.Length; j++) data.AsSpan(ids[j] * d, d).CopyTo(sub.AsSpan(j * d));
        var (D, I) = TestData.BruteForce(sub, ids.Length, queries, nq, d, k, metric);
        for (int i = 0; i < I.Length; i++) if (I[i] >= 0) I[i] = ids[I[i]];
        return (D, I);
    }

    [Property(MaxTest = 60)]
    public bool Filtered_flat_search_equals_brute_force_over_the_filtered_set(int seed, byte nSel, byte kSel, bool l2, byte pctSel, byte nqSel, bool twoThreads)
    {
        int d = 19, n = nSel % 120, k = 1 + kSel % 12, nq = 1 + nqSel % 40, pct = pctSel % 101;
        var metric = l2 ? Metric.L2 : Metric.InnerProduct;
        var data = TestData.Random(seed, n, d);
        // Duplicate some rows so ties must be broken by the lower id among the selected.
        for (int i = 1; i < n; i += 7) data.AsSpan((i - 1) * d, d).CopyTo(data.AsSpan(i * d, d));
        var keep = Bitmap(seed, n, pct);
        var queries = TestData.Random(seed + 1, nq, d);
        var idx = new FlatIndex(d, metric) { Threads = twoThreads ? 2 : 1 };
        idx.Add(data);
        var r = idx.Search(queries, k, new SearchParameters { Selector = new IdSelectorBitmap(keep) });
        var (D, I) = FilteredBruteForce(data, keep, queries, nq, d, k, metric);
        return r.Labels.SequenceEqual(I) && r.Distances.SequenceEqual(D);
    }

    [Property(MaxTest = 30)]
    public bool Filtered_ivf_with_nprobe_equal_nlist_equals_filtered_flat(int seed, byte nlistSel, bool l2, byte kSel, byte pctSel, bool grouped)
    {
        int d = 20, n = 400, nlist = 1 + nlistSel % 16, k = 1 + kSel % 15, nq = grouped ? 29 : 9;
        var metric = l2 ? Metric.L2 : Metric.InnerProduct;
        var data = TestData.Random(seed, n, d, normalize: true);
        var queries = TestData.Random(seed + 1, nq, d, normalize: true);
        var keep = Bitmap(seed, n, pctSel % 101);
        var flat = new FlatIndex(d, metric);
        flat.Add(data);
        var ivf = new IvfIndex(d, nlist, metric);
        ivf.Train(data, seed);
        ivf.Add(data);
        var sel = new IdSelectorPredicate(id => keep[id]);
        var a = flat.Search(queries, k, new SearchParameters { Selector = sel });
        var b = ivf.Search(queries, k, new IvfSearchParameters { Nprobe = nlist, Selector = sel });
        var (D, I) = FilteredBruteForce(data, keep, queries, nq, d, k, metric);
        return a.Labels.SequenceEqual(b.Labels) && a.Distances.SequenceEqual(b.Distances) && a.Labels.SequenceEqual(I) && a.Distances.SequenceEqual(D);
    }

    [Property(MaxTest = 25)]
    public bool Filtered_ivf_returns_only_selected_ids_and_equals_post_filtering_its_probe(int seed, byte nprobeSel, byte pctSel)
    {
        int d = 12, n = 300, nlist = 10, nq = 20;
        var data = TestData.Random(seed, n, d);
        var keep = Bitmap(seed, n, pctSel % 101);
        var ivf = new IvfIndex(d, nlist) { Nprobe = 1 + nprobeSel % 10 };
        ivf.Train(data, 3);
        ivf.Add(data);
        var q = TestData.Random(seed + 2, nq, d);
        var filtered = ivf.Search(q, 10, new SearchParameters { Selector = new IdSelectorBitmap(keep) });
        var all = ivf.Search(q, n); // every candidate of the probed lists, best first
        for (int i = 0; i < nq; i++)
        {
            var expect = all.LabelsOf(i).ToArray().Where(id => id >= 0 && keep[id]).Take(10).ToArray();
            var got = filtered.LabelsOf(i).ToArray().Where(id => id >= 0).ToArray();
            if (!got.SequenceEqual(expect)) return false;
        }
        return true;
    }

    [Property(MaxTest = 20)]
    public bool Reconstruct_returns_the_added_vector(int seed, byte nSel, bool l2)
    {
        int d = 9, n = 40 + nSel % 200, nlist = 8;
        var metric = l2 ? Metric.L2 : Metric.InnerProduct;
        var data = TestData.Random(seed, n, d);
        var flat = new FlatIndex(d, metric);
        var ivf = new IvfIndex(d, nlist, metric);
        ivf.Train(data, seed);
        ivf.MakeDirectMap();
        // Two adds: the map follows every Add.
        int half = n / 2;
        flat.Add(data.AsSpan(0, half * d)); flat.Add(data.AsSpan(half * d));
        ivf.Add(data.AsSpan(0, half * d)); ivf.Add(data.AsSpan(half * d));
        var reread = (IvfIndex)RoundTrip(ivf);
        reread.MakeDirectMap();
        for (int i = 0; i < n; i++)
        {
            var v = data.AsSpan(i * d, d);
            if (!flat.Reconstruct(i).SequenceEqual(v) || !ivf.Reconstruct(i).SequenceEqual(v) || !reread.Reconstruct(i).SequenceEqual(v)) return false;
        }
        return true;
    }

    [Fact]
    public void Reconstruct_on_ivf_needs_the_direct_map_and_a_valid_id()
    {
        var data = TestData.Random(1, 50, 4);
        var ivf = new IvfIndex(4, 4);
        ivf.Train(data);
        ivf.Add(data);
        Assert.False(ivf.HasDirectMap);
        Assert.Throws<ManagedEmbedException>(() => ivf.Reconstruct(0).ToArray());
        ivf.MakeDirectMap();
        Assert.True(ivf.HasDirectMap);
        Assert.Throws<ManagedEmbedException>(() => ivf.Reconstruct(50).ToArray());
        Assert.Throws<ManagedEmbedException>(() => ivf.Reconstruct(-1).ToArray());
        ivf.Reset();
        Assert.True(ivf.HasDirectMap);
        Assert.Throws<ManagedEmbedException>(() => ivf.Reconstruct(0).ToArray());
    }

    [Theory]
    [InlineData(Metric.L2, false)]
    [InlineData(Metric.InnerProduct, true)]
    public void KMeans_labels_are_a_k1_search_of_the_final_centroids(Metric metric, bool spherical)
    {
        int d = 16;
        var x = TestData.Random(5, 2000, d, normalize: spherical);
        var r = new KMeans(25) { Seed = 11, Iterations = 6, Metric = metric, Spherical = spherical, Threads = 2 }.Fit(x, d);
        var q = new FlatIndex(d, metric);
        q.Add(r.Centroids);
        var s = q.Search(x, 1);
        Assert.Equal(s.Labels.Select(l => (int)l), r.Labels);
    }

    private static IVectorIndex RoundTrip(IVectorIndex index)
    {
        var ms = new MemoryStream();
        FaissIndexIO.Write(index, ms);
        ms.Position = 0;
        return FaissIndexIO.Read(ms);
    }
}
