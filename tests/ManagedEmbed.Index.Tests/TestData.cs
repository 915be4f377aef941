using ManagedEmbed.Index;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Index.Tests;

internal static class TestData
{
    /// <summary>Lengths that hit every vector tail of the 16/8/4-lane kernels.</summary>
    public static readonly int[] TailLengths = [.. Enumerable.Range(0, 71), 127, 128, 129, 383, 384, 385];

    public static float[] Random(int seed, int n, int dim, bool normalize = false)
    {
        var rng = new Random(seed);
        var x = new float[(long)n * dim];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        if (normalize) for (int i = 0; i < n; i++) VectorMath.L2Normalize(x.AsSpan(i * dim, dim));
        return x;
    }

    /// <summary>Brute force in the canonical order: sort all (score, id) pairs, best first, ties by lower id.</summary>
    public static (float[] D, long[] I) BruteForce(float[] data, int n, float[] queries, int nq, int dim, int k, Metric metric)
    {
        bool l2 = metric == Metric.L2;
        var D = new float[nq * k];
        var I = new long[nq * k];
        for (int q = 0; q < nq; q++)
        {
            var qv = queries.AsSpan(q * dim, dim);
            var all = new List<(float s, long id)>();
            for (int i = 0; i < n; i++) all.Add((Distance.ReferenceScore(qv, data.AsSpan(i * dim, dim), l2, Distance.LaneCount), i));
            all.Sort((a, b) => a.s != b.s ? (l2 ? a.s.CompareTo(b.s) : b.s.CompareTo(a.s)) : a.id.CompareTo(b.id));
            for (int j = 0; j < k; j++)
            {
                if (j < all.Count) { D[q * k + j] = all[j].s; I[q * k + j] = all[j].id; }
                else { D[q * k + j] = l2 ? float.MaxValue : -float.MaxValue; I[q * k + j] = -1; }
            }
        }
        return (D, I);
    }
}
