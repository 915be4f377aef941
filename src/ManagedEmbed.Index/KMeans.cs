using ManagedEmbed.Kernels;

namespace ManagedEmbed.Index;

/// <summary>How <see cref="KMeans"/> picks its first centroids.</summary>
public enum KMeansInit
{
    /// <summary>k distinct training points chosen uniformly at random (FAISS's default).</summary>
    Random,
    /// <summary>k-means++: each next centroid is a point drawn with probability proportional to its squared distance to the nearest chosen one.</summary>
    PlusPlus,
}

/// <summary>The outcome of <see cref="KMeans.Fit"/>.</summary>
public sealed class KMeansResult
{
    internal KMeansResult(int k, int dim, float[] centroids, int[] labels, double[] inertia, int trainingPoints, int splits)
    {
        K = k; Dimension = dim; Centroids = centroids; Labels = labels; Inertia = inertia; TrainingPoints = trainingPoints; EmptyClusterSplits = splits;
    }

    /// <summary>Number of clusters.</summary>
    public int K { get; }
    /// <summary>Vector dimension.</summary>
    public int Dimension { get; }
    /// <summary>Centroids, row-major [K, Dimension].</summary>
    public float[] Centroids { get; }
    /// <summary>For every input vector (not only the training sample), the index of its nearest final centroid.</summary>
    public int[] Labels { get; }
    /// <summary>
    /// The objective at each iteration, measured when the training points are assigned to that iteration's centroids:
    /// the sum of squared distances for <see cref="Metric.L2"/> (never increases), the sum of inner products for
    /// <see cref="Metric.InnerProduct"/>.
    /// </summary>
    public double[] Inertia { get; }
    /// <summary>How many points were clustered after subsampling.</summary>
    public int TrainingPoints { get; }
    /// <summary>How many times an empty cluster was re-seeded by splitting a large one.</summary>
    public int EmptyClusterSplits { get; }

    /// <summary>Centroid <paramref name="c"/>.</summary>
    public ReadOnlySpan<float> Centroid(int c) => Centroids.AsSpan(c * Dimension, Dimension);
}

/// <summary>
/// Lloyd's k-means with FAISS's defaults: 25 iterations, seed 1234, random init, at most 256 training points per
/// centroid (a seeded subsample beyond that), a warning below 39 points per centroid, an error when there are fewer
/// points than centroids, and empty clusters re-seeded by splitting a large cluster. Deterministic for a given seed,
/// whatever the thread count.
/// </summary>
public sealed class KMeans
{
    private int _threads = Environment.ProcessorCount;

    /// <summary>Creates a k-means configuration for <paramref name="k"/> clusters.</summary>
    public KMeans(int k)
    {
        if (k < 1) throw new ManagedEmbedException($"k-means: k must be at least 1, got {k}");
        K = k;
    }

    /// <summary>Number of clusters.</summary>
    public int K { get; }
    /// <summary>Lloyd iterations (default 25, as FAISS).</summary>
    public int Iterations { get; set; } = 25;
    /// <summary>Random seed (default 1234, as FAISS).</summary>
    public int Seed { get; set; } = 1234;
    /// <summary>Initialisation (default <see cref="KMeansInit.Random"/>).</summary>
    public KMeansInit Init { get; set; } = KMeansInit.Random;
    /// <summary>Assignment metric: <see cref="Metric.L2"/> (default) or <see cref="Metric.InnerProduct"/> (max inner product, as FAISS trains an IP IVF).</summary>
    public Metric Metric { get; set; } = Metric.L2;
    /// <summary>When true, centroids are L2-normalized after each update (FAISS's spherical k-means, used for IP IVF).</summary>
    public bool Spherical { get; set; }
    /// <summary>Training points are subsampled to at most K × this (default 256).</summary>
    public int MaxPointsPerCentroid { get; set; } = 256;
    /// <summary>Below K × this many points a warning is reported (default 39).</summary>
    public int MinPointsPerCentroid { get; set; } = 39;
    /// <summary>Worker threads (≥ 1).</summary>
    public int Threads { get => _threads; set => _threads = Validation.Threads(value); }
    /// <summary>Warnings of the last <see cref="Fit"/> (e.g. too few points per centroid).</summary>
    public List<string> Warnings { get; } = new();
    /// <summary>Called with each warning as it is raised (in addition to <see cref="Warnings"/>).</summary>
    public Action<string>? OnWarning { get; set; }
    /// <summary>When set, <see cref="KMeansResult.Labels"/> is left empty (saves one assignment pass).</summary>
    internal bool SkipFinalLabels { get; set; }
    /// <summary>Called after each iteration with (iteration, inertia).</summary>
    public Action<int, double>? OnIteration { get; set; }

    /// <summary>Clusters the <c>vectors.Length / dim</c> row-major vectors.</summary>
    public KMeansResult Fit(ReadOnlySpan<float> vectors, int dim)
    {
        if (dim < 1) throw new ManagedEmbedException($"k-means: dimension must be at least 1, got {dim}");
        if (Iterations < 1) throw new ManagedEmbedException($"k-means: iterations must be at least 1, got {Iterations}");
        if (MaxPointsPerCentroid < 1) throw new ManagedEmbedException("k-means: MaxPointsPerCentroid must be at least 1");
        int n = Validation.Rows(vectors, dim, "k-means");
        Validation.Finite(vectors, dim, "k-means");
        if (n < K) throw new ManagedEmbedException($"k-means: {n} training points is fewer than the {K} centroids");
        Warnings.Clear();
        var rng = new SplitMix64((ulong)Seed);

        // Subsample, FAISS-like: a seeded random subset of K * MaxPointsPerCentroid points.
        float[] train;
        long maxPoints = (long)K * MaxPointsPerCentroid;
        int nt = n;
        if (n > maxPoints)
        {
            nt = (int)maxPoints;
            var perm = PartialShuffle(n, nt, ref rng);
            train = new float[(long)nt * dim];
            for (int i = 0; i < nt; i++) vectors.Slice(perm[i] * dim, dim).CopyTo(train.AsSpan(i * dim));
        }
        else
        {
            train = vectors.ToArray();
            if (n < (long)K * MinPointsPerCentroid)
                Warn($"k-means: {n} training points for {K} centroids; at least {(long)K * MinPointsPerCentroid} ({MinPointsPerCentroid} per centroid) are recommended");
        }

        float[] centroids = Init == KMeansInit.PlusPlus ? InitPlusPlus(train, nt, dim, ref rng) : InitRandom(train, nt, dim, ref rng);
        // FAISS Clustering: points are assigned through a search of a flat index over the centroids (k = 1).
        var quantizer = new FlatIndex(dim, Metric) { Threads = _threads };
        var labels = new int[nt];
        var scores = new float[nt];
        var found = new long[nt];
        var inertia = new double[Iterations];
        int splits = 0;
        for (int it = 0; it < Iterations; it++)
        {
            Assign(quantizer, centroids, train, nt, labels, scores, found);
            double obj = 0;
            for (int i = 0; i < nt; i++) obj += scores[i];
            inertia[it] = obj;
            OnIteration?.Invoke(it, obj);
            splits += UpdateCentroids(train, nt, dim, labels, centroids, ref rng);
            if (Spherical)
                for (int c = 0; c < K; c++) VectorMath.L2Normalize(centroids.AsSpan(c * dim, dim));
        }

        // Final labels for every input point against the final centroids (IVF training does not need them).
        var allLabels = SkipFinalLabels ? [] : new int[n];
        if (!SkipFinalLabels) Assign(quantizer, centroids, vectors.ToArray(), n, allLabels, new float[n], new long[n]);
        return new KMeansResult(K, dim, centroids, allLabels, inertia, nt, splits);
    }

    private void Warn(string message)
    {
        Warnings.Add(message);
        OnWarning?.Invoke(message);
    }

    private static int[] PartialShuffle(int n, int take, ref SplitMix64 rng)
    {
        var perm = new int[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        for (int i = 0; i < take; i++)
        {
            int j = i + (int)rng.NextBelow((ulong)(n - i));
            (perm[i], perm[j]) = (perm[j], perm[i]);
        }
        return perm;
    }

    private float[] InitRandom(float[] x, int n, int dim, ref SplitMix64 rng)
    {
        var perm = PartialShuffle(n, K, ref rng);
        var c = new float[(long)K * dim];
        for (int i = 0; i < K; i++) x.AsSpan(perm[i] * dim, dim).CopyTo(c.AsSpan(i * dim));
        return c;
    }

    private float[] InitPlusPlus(float[] x, int n, int dim, ref SplitMix64 rng)
    {
        var c = new float[(long)K * dim];
        var best = new float[n];
        int first = (int)rng.NextBelow((ulong)n);
        x.AsSpan(first * dim, dim).CopyTo(c);
        best.AsSpan().Fill(float.PositiveInfinity);
        UpdateNearest(x, n, dim, c.AsSpan(0, dim).ToArray(), best);
        for (int ci = 1; ci < K; ci++)
        {
            double total = 0;
            for (int i = 0; i < n; i++) total += best[i];
            int pick;
            if (total <= 0) pick = (int)rng.NextBelow((ulong)n); // all points coincide with chosen centroids
            else
            {
                double r = rng.NextDouble() * total, acc = 0;
                pick = n - 1;
                for (int i = 0; i < n; i++) { acc += best[i]; if (acc > r) { pick = i; break; } }
            }
            var cc = c.AsSpan(ci * dim, dim);
            x.AsSpan(pick * dim, dim).CopyTo(cc);
            UpdateNearest(x, n, dim, cc.ToArray(), best);
        }
        return c;
    }

    /// <summary>best[i] = min(best[i], ‖x_i − c‖²): one streaming pass of the row kernel, split across threads.</summary>
    private void UpdateNearest(float[] x, int n, int dim, float[] c, float[] best)
    {
        const int Chunk = 4096;
        int chunks = (n + Chunk - 1) / Chunk;
        int t = Math.Max(1, Math.Min(_threads, chunks));
        Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, w =>
        {
            var buf = new float[Chunk];
            for (int b = w; b < chunks; b += t)
            {
                int p0 = b * Chunk, m = Math.Min(Chunk, n - p0);
                Distance.ScoreRows(c, x.AsSpan(p0 * dim, m * dim), buf.AsSpan(0, m), l2: true);
                for (int i = 0; i < m; i++) if (buf[i] < best[p0 + i]) best[p0 + i] = buf[i];
            }
        });
    }

    /// <summary>
    /// labels[i] = nearest centroid of point i (ties: lower centroid), scores[i] = its squared distance (L2) or inner
    /// product (IP): one k = 1 search of <paramref name="quantizer"/> loaded with the current centroids.
    /// </summary>
    private void Assign(FlatIndex quantizer, float[] centroids, float[] x, int n, int[] labels, float[] scores, long[] found)
    {
        quantizer.Reset();
        quantizer.AddUnchecked(centroids, K);
        quantizer.SearchInto(x, n, 1, scores, found, null);
        for (int i = 0; i < n; i++) labels[i] = found[i] < 0 ? 0 : (int)found[i];
    }

    /// <summary>Centroids become the means of their points (summed in double, point order); empty clusters are split. Returns splits.</summary>
    private int UpdateCentroids(float[] x, int n, int dim, int[] labels, float[] centroids, ref SplitMix64 rng)
    {
        int k = K;
        var counts = new int[k];
        for (int i = 0; i < n; i++) counts[labels[i]]++;
        // Counting sort of points by cluster, so each centroid's sum is independent of the thread split.
        var start = new int[k + 1];
        for (int c = 0; c < k; c++) start[c + 1] = start[c] + counts[c];
        var order = new int[n];
        var fill = (int[])start.Clone();
        for (int i = 0; i < n; i++) order[fill[labels[i]]++] = i;
        int t = Math.Max(1, Math.Min(_threads, k));
        Parallel.For(0, t, new ParallelOptions { MaxDegreeOfParallelism = t }, w =>
        {
            var sum = new double[dim];
            for (int c = w; c < k; c += t)
            {
                if (counts[c] == 0) continue;
                Array.Clear(sum);
                for (int p = start[c]; p < start[c + 1]; p++)
                {
                    var xv = x.AsSpan(order[p] * dim, dim);
                    for (int j = 0; j < dim; j++) sum[j] += xv[j];
                }
                var cv = centroids.AsSpan(c * dim, dim);
                for (int j = 0; j < dim; j++) cv[j] = (float)(sum[j] / counts[c]);
            }
        });

        // Empty clusters: copy a cluster picked with probability growing with its size, then nudge the copy
        // (alternating ±1/1024 per coordinate) so the two separate at the next assignment. Only the copy moves, so
        // the original stays at its mean and the L2 objective cannot increase.
        int splits = 0;
        const float Eps = 1f / 1024;
        for (int ci = 0; ci < k; ci++)
        {
            if (counts[ci] != 0) continue;
            int cj = PickToSplit(counts, n, ref rng);
            var src = centroids.AsSpan(cj * dim, dim);
            var dst = centroids.AsSpan(ci * dim, dim);
            for (int j = 0; j < dim; j++) dst[j] = src[j] * (j % 2 == 0 ? 1 + Eps : 1 - Eps);
            counts[ci] = counts[cj] / 2;
            counts[cj] -= counts[ci];
            splits++;
        }
        return splits;
    }

    private static int PickToSplit(int[] counts, int n, ref SplitMix64 rng)
    {
        long total = 0;
        for (int c = 0; c < counts.Length; c++) if (counts[c] > 1) total += counts[c] - 1;
        if (total == 0)
        {
            for (int c = 0; c < counts.Length; c++) if (counts[c] > 0) return c;
            return 0;
        }
        long r = (long)rng.NextBelow((ulong)total);
        for (int c = 0; c < counts.Length; c++)
        {
            if (counts[c] <= 1) continue;
            r -= counts[c] - 1;
            if (r < 0) return c;
        }
        return 0;
    }
}
