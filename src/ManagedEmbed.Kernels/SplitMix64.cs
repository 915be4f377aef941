namespace ManagedEmbed.Kernels;

/// <summary>SplitMix64 (Steele, Lea, Flood 2014): a small, fast, well-distributed, platform-independent generator.</summary>
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
}
