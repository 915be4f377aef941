using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using ManagedEmbed.Encoder.Pooling;

namespace ManagedEmbed.Encoder.Tests;

public class PoolingPropertyTests
{
    /// <summary>Naive scalar pooling straight from sentence-transformers' definitions (mask-weighted sums in double).</summary>
    private static double[] Naive(float[] tokens, int length, int hidden, PoolingMode mode)
    {
        var outp = new List<double>();
        if (mode.HasFlag(PoolingMode.Cls)) for (int i = 0; i < hidden; i++) outp.Add(tokens[i]);
        if (mode.HasFlag(PoolingMode.Max)) for (int i = 0; i < hidden; i++) outp.Add(Enumerable.Range(0, length).Max(t => (double)tokens[t * hidden + i]));
        if (mode.HasFlag(PoolingMode.Mean)) for (int i = 0; i < hidden; i++) outp.Add(Enumerable.Range(0, length).Sum(t => (double)tokens[t * hidden + i]) / length);
        if (mode.HasFlag(PoolingMode.MeanSqrtLen)) for (int i = 0; i < hidden; i++) outp.Add(Enumerable.Range(0, length).Sum(t => (double)tokens[t * hidden + i]) / Math.Sqrt(length));
        return outp.ToArray();
    }

    [Property(MaxTest = 200)]
    public Property PoolingMatchesNaiveReference(PositiveInt lengthSeed, PositiveInt hiddenSeed, PositiveInt modeSeed, int seed)
    {
        int length = 1 + lengthSeed.Get % 70, hidden = 1 + hiddenSeed.Get % 130;
        var mode = (PoolingMode)(1 + modeSeed.Get % 15);
        var rng = new Random(seed);
        var tokens = new float[length * hidden + 7]; // trailing rows beyond length must be ignored
        for (int i = 0; i < tokens.Length; i++) tokens[i] = (float)(rng.NextDouble() * 8 - 4);
        var output = new float[SentencePooling.OutputDimension(mode, hidden)];
        SentencePooling.Pool(tokens, length, hidden, mode, output);
        var expected = Naive(tokens, length, hidden, mode);
        bool ok = output.Length == expected.Length && output.Zip(expected, (a, b) => Math.Abs(a - b) <= 1e-6 * Math.Max(1, Math.Abs(b))).All(x => x);
        return ok.Label($"length {length} hidden {hidden} mode {mode}");
    }

    [Fact]
    public void ModeNamesRoundTrip()
    {
        foreach (var m in PoolingModes.Order) Assert.Equal(m, PoolingModes.Parse(PoolingModes.Name(m)));
        Assert.Equal("cls+mean", PoolingModes.Name(PoolingMode.Cls | PoolingMode.Mean));
        Assert.Throws<ManagedEmbedException>(() => PoolingModes.Parse("sum"));
    }
}
