using ManagedEmbed.Encoder;
using ManagedEmbed.Encoder.Pooling;

namespace ManagedEmbed.Encoder.Tests;

public class ForwardPassTests
{
    private static double MaxAbsDiff(ReadOnlySpan<float> a, double[] b)
    {
        Assert.Equal(b.Length, a.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    [Theory]
    [InlineData(PoolingMode.Mean, "gelu")]
    [InlineData(PoolingMode.Cls, "gelu_new")]
    [InlineData(PoolingMode.Max, "relu")]
    [InlineData(PoolingMode.MeanSqrtLen, "gelu_pytorch_tanh")]
    [InlineData(PoolingMode.Cls | PoolingMode.Mean | PoolingMode.Max, "gelu")]
    public void MatchesNaivePaddedReference(PoolingMode pooling, string act)
    {
        string dir = TestModels.Tiny(pooling, normalize: true, act: act, seed: 11);
        var seqs = TestModels.RandomIds(7, 1, 33, seed: 5);
        var reference = new ReferenceBert(dir).Encode(seqs);
        using var enc = SentenceEncoder.Load(dir);
        Assert.Equal(48 * PoolingModes.Count(pooling), enc.Dimension);
        var pooled = enc.EncodeIds(seqs, batchSize: 3, normalize: false);
        var normalized = enc.EncodeIds(seqs, batchSize: 4, normalize: true);
        for (int s = 0; s < seqs.Count; s++)
        {
            Assert.True(MaxAbsDiff(pooled.Row(s), reference.Pooled[s]) <= 1e-4, $"pooled row {s}: {MaxAbsDiff(pooled.Row(s), reference.Pooled[s])}");
            Assert.True(MaxAbsDiff(normalized.Row(s), reference.Normalized[s]) <= 1e-5, $"normalized row {s}: {MaxAbsDiff(normalized.Row(s), reference.Normalized[s])}");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void LargePackedBatchMatchesReference(int threads)
    {
        // > 256 rows per batch (the feed-forward row-block size) and long sequences, one and two threads.
        string dir = TestModels.Tiny(PoolingMode.Mean, normalize: false, act: "gelu", seed: 21);
        var seqs = TestModels.RandomIds(14, 20, 40, seed: 8);
        Assert.True(seqs.Sum(s => s.Length) > 300);
        var reference = new ReferenceBert(dir).Encode(seqs);
        using var enc = SentenceEncoder.Load(dir, new EncoderOptions { Threads = threads });
        var m = enc.EncodeIds(seqs, batchSize: 14);
        for (int s = 0; s < seqs.Count; s++)
            Assert.True(MaxAbsDiff(m.Row(s), reference.Pooled[s]) <= 1e-4, $"row {s}: {MaxAbsDiff(m.Row(s), reference.Pooled[s])}");
    }

    [Fact]
    public void ReferenceDiffersWhenWeightsDiffer()
    {
        // Guards the reference comparison itself: a different seed must give clearly different outputs.
        string a = TestModels.Tiny(seed: 1), b = TestModels.Tiny(seed: 2);
        var seqs = TestModels.RandomIds(2, 5, 9, seed: 3);
        using var ea = SentenceEncoder.Load(a);
        var rb = new ReferenceBert(b).Encode(seqs);
        Assert.True(MaxAbsDiff(ea.EncodeIds(seqs).Row(0), rb.Normalized[0]) > 1e-3);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void BatchedEqualsOneAtATime(int threads)
    {
        string dir = TestModels.Tiny(PoolingMode.Mean | PoolingMode.Max, normalize: false, seed: 3);
        var seqs = TestModels.RandomIds(23, 1, 40, seed: 9);
        using var enc = SentenceEncoder.Load(dir, new EncoderOptions { Threads = threads });
        var batched = enc.EncodeIds(seqs, batchSize: 8);
        for (int s = 0; s < seqs.Count; s++)
        {
            var single = enc.EncodeIds(seqs[s]);
            for (int i = 0; i < single.Length; i++)
                Assert.True(Math.Abs(single[i] - batched.Row(s)[i]) <= 1e-5, $"seq {s} dim {i}: {single[i]} vs {batched.Row(s)[i]}");
        }
    }

    [Fact]
    public void OutputIsInInputOrderAndDeterministic()
    {
        string dir = TestModels.Tiny(seed: 4);
        var seqs = TestModels.RandomIds(10, 2, 30, seed: 1);
        using var enc = SentenceEncoder.Load(dir);
        var all = enc.EncodeIds(seqs, batchSize: 3);
        var reversed = enc.EncodeIds(seqs.AsEnumerable().Reverse().ToList(), batchSize: 5);
        for (int s = 0; s < seqs.Count; s++)
            for (int i = 0; i < enc.Dimension; i++)
                Assert.True(Math.Abs(all.Row(s)[i] - reversed.Row(seqs.Count - 1 - s)[i]) <= 1e-5);
        Assert.Equal(all.Data, enc.EncodeIds(seqs, batchSize: 3).Data);
    }

    [Fact]
    public void NormalizationFollowsModulesJson()
    {
        var seqs = TestModels.RandomIds(3, 4, 12, seed: 2);
        using (var withNorm = SentenceEncoder.Load(TestModels.Tiny(normalize: true, seed: 6)))
        {
            Assert.True(withNorm.NormalizesByDefault);
            var e = withNorm.EncodeIds(seqs);
            for (int s = 0; s < 3; s++) Assert.Equal(1.0, Norm(e.Row(s)), 5);
            var raw = withNorm.EncodeIds(seqs, normalize: false);
            Assert.True(Math.Abs(Norm(raw.Row(0)) - 1.0) > 1e-3);
        }
        using (var noNorm = SentenceEncoder.Load(TestModels.Tiny(normalize: false, seed: 6)))
        {
            Assert.False(noNorm.NormalizesByDefault);
            var e = noNorm.EncodeIds(seqs);
            Assert.True(Math.Abs(Norm(e.Row(0)) - 1.0) > 1e-3);
            var n = noNorm.EncodeIds(seqs, normalize: true);
            for (int s = 0; s < 3; s++) Assert.Equal(1.0, Norm(n.Row(s)), 5);
            // Same model weights: explicit normalization equals normalizing the raw output.
            double norm0 = Norm(e.Row(0));
            for (int i = 0; i < noNorm.Dimension; i++) Assert.Equal(e.Row(0)[i] / norm0, n.Row(0)[i], 5);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ConcurrentCallsOnOneModelAgree(int threads)
    {
        string dir = TestModels.Tiny(seed: 8);
        var seqs = TestModels.RandomIds(12, 2, 30, seed: 4);
        using var enc = SentenceEncoder.Load(dir, new EncoderOptions { Threads = threads });
        var expected = enc.EncodeIds(seqs, batchSize: 4).Data;
        var results = new float[8][];
        Parallel.For(0, 8, i => results[i] = enc.EncodeIds(seqs, batchSize: 1 + i % 4).Data);
        foreach (var r in results)
            for (int i = 0; i < r.Length; i++) Assert.True(Math.Abs(r[i] - expected[i]) <= 1e-5);
    }

    [Fact]
    public void ProgressReportsEveryText()
    {
        using var enc = SentenceEncoder.Load(TestModels.Tiny(seed: 2));
        var seen = new List<EncodeProgress>();
        var progress = new SyncProgress(p => { lock (seen) seen.Add(p); });
        enc.EncodeIds(TestModels.RandomIds(10, 2, 10, 1), batchSize: 4, progress: progress);
        Assert.Equal(3, seen.Count);
        Assert.Equal(10, seen.Max(p => p.Completed));
        Assert.All(seen, p => Assert.Equal(10, p.Total));
    }

    [Fact]
    public void BadIdsAreRejectedBeforeWork()
    {
        using var enc = SentenceEncoder.Load(TestModels.Tiny(seed: 2));
        Assert.Contains("outside the vocabulary", Assert.Throws<ManagedEmbedException>(() => enc.EncodeIds([2, 500, 3])).Message);
        Assert.Contains("empty", Assert.Throws<ManagedEmbedException>(() => enc.EncodeIds(Array.Empty<int>())).Message);
        Assert.Contains("max_position_embeddings", Assert.Throws<ManagedEmbedException>(() => enc.EncodeIds(new int[41])).Message);
        Assert.Equal(0, enc.EncodeIds(new List<int[]>()).Count);
        Assert.Contains("threads must be in [1, 256]", Assert.Throws<ManagedEmbedException>(() => SentenceEncoder.Load(TestModels.Tiny(seed: 2), new EncoderOptions { Threads = 257 })).Message);
        Assert.Contains("threads must be in [1, 256]", Assert.Throws<ManagedEmbedException>(() => SentenceEncoder.Load(TestModels.Tiny(seed: 2), new EncoderOptions { Threads = 0 })).Message);
    }

    private static double Norm(ReadOnlySpan<float> v) { double s = 0; foreach (float x in v) s += (double)x * x; return Math.Sqrt(s); }

    private sealed class SyncProgress(Action<EncodeProgress> a) : IProgress<EncodeProgress>
    {
        public void Report(EncodeProgress value) => a(value);
    }
}
