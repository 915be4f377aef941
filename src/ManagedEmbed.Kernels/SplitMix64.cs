namespace ManagedEmbed.Kernels;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a small, fast, well-distributed, platform-independent generator, the one
/// seeded generator of the product (k-means, synthetic models, synthetic vectors). Every method is exactly specified
/// with integer arithmetic and correctly rounded IEEE operations only, so every machine draws the same values;
/// tools/gen_synth_vectors.py re-implements the specification and tests/fixtures/synth holds its first values.
/// </summary>
public struct SplitMix64(ulong seed)
{
    private ulong _s = seed;

    /// <summary>Next 64-bit value.</summary>
    public ulong Next()
    {
        ulong z = _s += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, bound) (bound ≥ 1), without modulo bias.</summary>
    public ulong NextBelow(ulong bound)
    {
        ulong limit = ulong.MaxValue - ulong.MaxValue % bound;
        ulong v;
        do v = Next(); while (v >= limit);
        return v % bound;
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>
    /// A sample with mean 0 and variance 1 from one 64-bit draw u: its four 16-bit chunks a₀..a₃ (low bits first)
    /// give z = (Σ (aᵢ + 0.5) / 65536 − 2) · √3 (Irwin–Hall with 4 terms), computed as
    /// (2·Σaᵢ + 4 − 4·65536) / 131072.0 · Math.Sqrt(3.0). Unlike Box–Muller's log/cos, whose last bits differ between
    /// math libraries, this is the same on every machine. Values lie in (−2√3, 2√3).
    /// </summary>
    public double NextNormal()
    {
        ulong u = Next();
        // Σ(aᵢ + 0.5) over four 16-bit chunks, exact in integers (as 2·Σaᵢ + 4 halves).
        long s2 = 2L * ((long)(u & 0xFFFF) + (long)((u >> 16) & 0xFFFF) + (long)((u >> 32) & 0xFFFF) + (long)(u >> 48)) + 4;
        // s2 / 131072 is the uniform sum in (0, 4); centre and scale to unit variance.
        return (s2 - 4 * 65536) / 131072.0 * Sqrt3;
    }

    private static readonly double Sqrt3 = Math.Sqrt(3.0);
}
