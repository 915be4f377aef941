using System.Text.Json;
using ManagedEmbed.Kernels;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Kernels.Tests;

/// <summary>
/// SplitMix64 and its normal sampler against tests/fixtures/synth/splitmix64.json, written by
/// tools/gen_synth_vectors.py from the specification (not from this code).
/// </summary>
public class SplitMix64Tests
{
    private static JsonElement Fixture()
    {
        string path = Path.Combine(TestPaths.Fixtures, "synth", "splitmix64.json");
        return JsonDocument.Parse(File.ReadAllBytes(path)).RootElement.Clone();
    }

    [Fact]
    public void OutputsEqualTheIndependentReference()
    {
        // The published first output for seed 0 (Vigna's splitmix64.c), independent of both implementations.
        Assert.Equal(0xE220A8397B1DCDAFUL, new SplitMix64(0).Next());
        int seeds = 0;
        foreach (var seed in Fixture().GetProperty("next").EnumerateObject())
        {
            var g = new SplitMix64(unchecked((ulong)long.Parse(seed.Name, System.Globalization.CultureInfo.InvariantCulture)));
            foreach (var hex in seed.Value.EnumerateArray())
                Assert.Equal(Convert.ToUInt64(hex.GetString(), 16), g.Next());
            seeds++;
        }
        Assert.Equal(4, seeds);
    }

    [Fact]
    public void NextNormalAndNextBelowEqualTheIndependentReferenceBitForBit()
    {
        var f = Fixture();
        var g = new SplitMix64(123);
        var bits = f.GetProperty("normal_seed_123_bits").EnumerateArray().Select(e => Convert.ToUInt64(e.GetString(), 16)).ToList();
        Assert.Equal(16, bits.Count);
        foreach (ulong b in bits) Assert.Equal(b, BitConverter.DoubleToUInt64Bits(g.NextNormal()));
        var h = new SplitMix64(5);
        foreach (var e in f.GetProperty("below7_seed_5").EnumerateArray()) Assert.Equal((ulong)e.GetInt32(), h.NextBelow(7));
    }

    [Fact]
    public void NextNormalHasUnitVarianceAndZeroMean()
    {
        var rng = new SplitMix64(123);
        double sum = 0, sq = 0; const int n = 200_000;
        for (int i = 0; i < n; i++) { double z = rng.NextNormal(); sum += z; sq += z * z; }
        Assert.InRange(sum / n, -0.01, 0.01);
        Assert.InRange(sq / n, 0.98, 1.02);
    }
}
