using ManagedEmbed.Kernels;

namespace ManagedEmbed.Index;

/// <summary>
/// Seeded clustered unit vectors for tests and benchmarks (<c>membed data synth</c>), the same bytes on every machine.
/// <para>
/// Exactly (tools/gen_synth_vectors.py implements this text independently): a seed is a signed 64-bit integer taken
/// as its two's-complement <c>ulong</c>. Centres: <c>g = new SplitMix64(centerSeed)</c>; for each cluster c in order,
/// centre[c] = Normalize(dim values of <see cref="SplitMix64.NextNormal"/>). With σ = spread / √dim (double), rows:
/// <c>r = new SplitMix64(seed)</c>; for each row i in order, c = r.NextBelow(clusters), then
/// row[i] = Normalize((double)centre[c][j] + σ · r.NextNormal() for j = 0..dim−1). Normalize(v) sums v[j]² in double in
/// index order into s and returns (float)(v[j] / √s), or zeros when s = 0. Only correctly rounded IEEE operations
/// are used (no SIMD reductions, no transcendental functions), so no platform can differ.
/// </para>
/// </summary>
public static class SyntheticVectors
{
    /// <summary>
    /// <paramref name="n"/> unit vectors of dimension <paramref name="dim"/> (row-major), each a random one of
    /// <paramref name="clusters"/> unit centres plus Gaussian noise of norm ≈ <paramref name="spread"/>.
    /// Centres depend only on <paramref name="centerSeed"/>, so base vectors and queries drawn with different
    /// <paramref name="seed"/> values share the same clusters.
    /// </summary>
    public static float[] Clustered(int n, int dim, int clusters, long seed, long centerSeed = 42, double spread = 2.0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(clusters);
        if (!(spread >= 0) || double.IsInfinity(spread)) throw new ArgumentOutOfRangeException(nameof(spread), spread, "spread must be finite and non-negative");
        if ((long)n * dim > Array.MaxLength || (long)clusters * dim > Array.MaxLength)
            throw new ManagedEmbedException($"{n} (or {clusters}) vectors of dimension {dim} are too many for one array");

        var g = new SplitMix64(unchecked((ulong)centerSeed));
        var centres = new float[(long)clusters * dim];
        var v = new double[dim];
        for (int c = 0; c < clusters; c++)
        {
            for (int j = 0; j < dim; j++) v[j] = g.NextNormal();
            Normalize(v, centres.AsSpan(c * dim, dim));
        }

        double sigma = spread / Math.Sqrt(dim);
        var r = new SplitMix64(unchecked((ulong)seed));
        var x = new float[(long)n * dim];
        for (int i = 0; i < n; i++)
        {
            var centre = centres.AsSpan((int)r.NextBelow((ulong)clusters) * dim, dim);
            for (int j = 0; j < dim; j++) v[j] = centre[j] + sigma * r.NextNormal();
            Normalize(v, x.AsSpan(i * dim, dim));
        }
        return x;
    }

    private static void Normalize(ReadOnlySpan<double> v, Span<float> output)
    {
        double s = 0;
        for (int j = 0; j < v.Length; j++) s += v[j] * v[j];
        if (s == 0) { output.Clear(); return; }
        double norm = Math.Sqrt(s);
        for (int j = 0; j < v.Length; j++) output[j] = (float)(v[j] / norm);
    }
}
