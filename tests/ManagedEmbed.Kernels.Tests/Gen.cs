using FsCheck;
using FsCheck.Fluent;

namespace ManagedEmbed.Kernels.Tests;

/// <summary>Generators: sizes that hit every vector tail, and seeded float data.</summary>
internal static class Gen2
{
    /// <summary>0..70 plus sizes around 128 and 384 (the model's widths) to hit every vector/tile remainder.</summary>
    public static readonly int[] TailSizes = [.. Enumerable.Range(0, 71), 95, 96, 97, 127, 128, 129, 383, 384, 385];

    public static Gen<int> Size(int min = 0) => Gen.Elements(TailSizes.Where(s => s >= min).ToArray());

    public static float[] Floats(int seed, int n, float scale = 1f)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((r.NextDouble() * 2 - 1) * scale);
        return a;
    }
}

internal static class Shapes
{
    /// <summary>(m, n, k, seed) drawn from the given size generators.</summary>
    public static Arbitrary<(int M, int N, int K, int Seed)> Of(Gen<int> m, Gen<int> n, Gen<int> k) =>
        Arb.From(from a in m from b in n from c in k from s in Gen.Choose(0, 1 << 20) select (a, b, c, s));
}
