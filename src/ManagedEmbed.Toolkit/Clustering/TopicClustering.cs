using ManagedEmbed.Encoder;
using ManagedEmbed.Index;

namespace ManagedEmbed.Clustering;

/// <summary>The result of <see cref="TopicClustering.Cluster(EmbeddingMatrix, int, int, int)"/>.</summary>
/// <param name="K">Number of clusters.</param>
/// <param name="Labels">Cluster of each input, in input order.</param>
/// <param name="Centroids">Centroids, row-major [K, dimension].</param>
/// <param name="Inertia">Sum of squared distances of the inputs to their centroids (of the best restart).</param>
/// <param name="Seed">The seed of the restart that was kept.</param>
public sealed record ClusteringResult(int K, int[] Labels, float[] Centroids, double Inertia, int Seed)
{
    /// <summary>The input indices of cluster <paramref name="c"/>, ascending.</summary>
    public IReadOnlyList<int> Members(int c) => Enumerable.Range(0, Labels.Length).Where(i => Labels[i] == c).ToList();
}

/// <summary>
/// The tutorial's topic clustering (sklearn KMeans(n_clusters=k, random_state=seed, n_init=10) over sentence
/// embeddings), on <see cref="KMeans"/>: k-means++ init, every point used for training, several seeded restarts,
/// the lowest inertia kept. Deterministic for a given seed.
/// </summary>
public static class TopicClustering
{
    /// <summary>Embeds <paramref name="texts"/> with <paramref name="encoder"/> and clusters them.</summary>
    public static ClusteringResult Cluster(SentenceEncoder encoder, IReadOnlyList<string> texts, int k, int seed = 42, int restarts = 10,
        IProgress<EncodeProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        if (texts.Count == 0) throw new ManagedEmbedException("nothing to cluster");
        return Cluster(encoder.Encode(texts, 32, normalize: null, progress), k, seed, restarts);
    }

    /// <summary>Clusters the rows of <paramref name="embeddings"/> into <paramref name="k"/> groups.</summary>
    public static ClusteringResult Cluster(EmbeddingMatrix embeddings, int k, int seed = 42, int restarts = 10)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        int n = embeddings.Count, d = embeddings.Dimension;
        if (k < 1) throw new ManagedEmbedException($"k must be at least 1, got {k}");
        if (n < k) throw new ManagedEmbedException($"cannot make {k} clusters from {n} texts");
        if (restarts < 1) throw new ManagedEmbedException($"restarts must be at least 1, got {restarts}");
        ClusteringResult? best = null;
        for (int r = 0; r < restarts; r++)
        {
            int s = unchecked(seed + r);
            var km = new KMeans(k)
            {
                Seed = s,
                Init = KMeansInit.PlusPlus,
                Metric = Metric.L2,
                Iterations = 50,
                MaxPointsPerCentroid = Math.Max(1, (n + k - 1) / k), // train on every point, as sklearn does
                MinPointsPerCentroid = 1, // few sentences per topic is normal here, not an IVF training problem
            };
            KMeansResult res = km.Fit(embeddings.Data, d);
            double inertia = 0;
            for (int i = 0; i < n; i++)
            {
                ReadOnlySpan<float> x = embeddings.Row(i), c = res.Centroid(res.Labels[i]);
                for (int j = 0; j < d; j++) { double diff = x[j] - c[j]; inertia += diff * diff; }
            }
            if (best is null || inertia < best.Inertia - 1e-12)
                best = new ClusteringResult(k, res.Labels, res.Centroids, inertia, s);
        }
        return best!;
    }
}
