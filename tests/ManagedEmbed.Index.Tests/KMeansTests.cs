using FsCheck.Xunit;
using ManagedEmbed.Index;

namespace ManagedEmbed.Index.Tests;

public class KMeansTests
{
    [Property(MaxTest = 30)]
    public bool L2_inertia_never_increases(int seed, byte kSel, bool plusPlus)
    {
        int d = 8, n = 300, k = 2 + kSel % 20;
        var x = TestData.Random(seed, n, d);
        var km = new KMeans(k) { Seed = seed, Iterations = 15, Init = plusPlus ? KMeansInit.PlusPlus : KMeansInit.Random, Metric = Metric.L2 };
        var r = km.Fit(x, d);
        for (int i = 1; i < r.Inertia.Length; i++)
            if (r.Inertia[i] > r.Inertia[i - 1] * (1 + 1e-5) + 1e-6) return false;
        return r.Labels.Length == n && r.Labels.All(l => l >= 0 && l < k) && r.Centroids.Length == k * d;
    }

    [Fact]
    public void Deterministic_for_a_seed_and_independent_of_threads()
    {
        var x = TestData.Random(3, 2000, 16);
        KMeansResult Run(int seed, int threads) => new KMeans(30) { Seed = seed, Threads = threads }.Fit(x, 16);
        var a = Run(5, 1); var b = Run(5, 2); var c = Run(6, 2);
        Assert.Equal(a.Centroids, b.Centroids);
        Assert.Equal(a.Labels, b.Labels);
        Assert.Equal(a.Inertia, b.Inertia);
        Assert.NotEqual(a.Centroids, c.Centroids);
    }

    [Property(MaxTest = 15)]
    public bool Spherical_inner_product_centroids_are_unit_vectors(int seed, byte kSel)
    {
        int d = 10, k = 2 + kSel % 10;
        var r = new KMeans(k) { Seed = seed, Iterations = 4, Metric = Metric.InnerProduct, Spherical = true }.Fit(TestData.Random(seed, 200, d, normalize: true), d);
        for (int c = 0; c < k; c++)
        {
            float norm = Kernels.VectorMath.Dot(r.Centroid(c), r.Centroid(c));
            if (Math.Abs(norm - 1) > 1e-4) return false;
        }
        return r.Labels.All(l => l >= 0 && l < k);
    }

    [Fact]
    public void Finds_well_separated_clusters()
    {
        int d = 4, per = 50;
        var centers = new float[] { 10, 0, 0, 0, 0, 10, 0, 0, 0, 0, 10, 0 };
        var rng = new Random(1);
        var x = new float[3 * per * d];
        for (int i = 0; i < 3 * per; i++)
            for (int j = 0; j < d; j++) x[i * d + j] = centers[(i % 3) * d + j] + (float)(rng.NextDouble() - 0.5);
        var r = new KMeans(3) { Seed = 2, Init = KMeansInit.PlusPlus }.Fit(x, d);
        for (int i = 3; i < 3 * per; i++) Assert.Equal(r.Labels[i % 3], r.Labels[i]);
        Assert.Equal(3, r.Labels.Take(3).Distinct().Count());
    }

    [Fact]
    public void Warns_below_39_points_per_centroid_and_errors_below_k()
    {
        var warnings = new List<string>();
        var km = new KMeans(10) { OnWarning = warnings.Add };
        km.Fit(TestData.Random(1, 100, 4), 4);
        Assert.Single(km.Warnings);
        Assert.Contains("390", km.Warnings[0]);
        Assert.Equal(km.Warnings, warnings);
        km.Fit(TestData.Random(1, 400, 4), 4);
        Assert.Empty(km.Warnings);
        Assert.Contains("fewer than", Assert.Throws<ManagedEmbedException>(() => km.Fit(TestData.Random(1, 9, 4), 4)).Message);
        Assert.Throws<ManagedEmbedException>(() => km.Fit([1, 2, float.NaN, 4, .. TestData.Random(1, 40, 4)], 4));
    }

    [Fact]
    public void Subsamples_to_256_points_per_centroid()
    {
        var r = new KMeans(2) { Iterations = 2 }.Fit(TestData.Random(1, 1000, 3), 3);
        Assert.Equal(512, r.TrainingPoints);
        Assert.Equal(1000, r.Labels.Length);
    }

    [Fact]
    public void Empty_clusters_are_split()
    {
        // 60 copies of two distinct points: random init picks duplicates, so several clusters start empty.
        int d = 2;
        var x = new float[120 * d];
        for (int i = 0; i < 120; i++) { x[i * d] = i % 2 == 0 ? 1 : -1; x[i * d + 1] = i % 3 == 0 ? 0.5f : 2; }
        var r = new KMeans(6) { Seed = 1, Iterations = 5 }.Fit(x, d);
        Assert.True(r.EmptyClusterSplits > 0);
        Assert.All(r.Centroids, v => Assert.True(float.IsFinite(v)));
    }
}
