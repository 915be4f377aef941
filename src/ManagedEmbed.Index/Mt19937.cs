namespace ManagedEmbed.Index;

/// <summary>
/// The 32-bit Mersenne Twister (std::mt19937, Matsumoto and Nishimura 1998), as FAISS's RandomGenerator wraps it.
/// HNSW draws node levels (seed 12345) and the insertion shuffle (seed 789) from it; using the same generator gives
/// the same levels and order as FAISS for the same data.
/// </summary>
internal sealed class Mt19937
{
    private const int N = 624, Mid = 397;
    private readonly uint[] _mt = new uint[N];
    private int _i;

    public Mt19937(uint seed)
    {
        _mt[0] = seed;
        for (int i = 1; i < N; i++) _mt[i] = 1812433253u * (_mt[i - 1] ^ (_mt[i - 1] >> 30)) + (uint)i;
        _i = N;
    }

    /// <summary>Next 32-bit output.</summary>
    public uint Next()
    {
        if (_i >= N) Twist();
        uint y = _mt[_i++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        return y ^ (y >> 18);
    }

    /// <summary>FAISS rand_float: <c>mt() / float(mt.max())</c>, in float.</summary>
    public float NextFloat() => Next() / 4294967295f;

    /// <summary>FAISS rand_int(max): <c>mt() % max</c>.</summary>
    public int NextInt(int max) => (int)(Next() % (uint)max);

    private void Twist()
    {
        for (int i = 0; i < N; i++)
        {
            uint y = (_mt[i] & 0x80000000u) | (_mt[(i + 1) % N] & 0x7fffffffu);
            _mt[i] = _mt[(i + Mid) % N] ^ (y >> 1) ^ ((y & 1) != 0 ? 0x9908b0dfu : 0u);
        }
        _i = 0;
    }
}
