using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Tests;

/// <summary>
/// Large batches on a multi-thread pool run as groups of whole sequences, one forward pass per group per thread
/// (SequenceSplit). The hidden states must be those of the same batch on one thread, bit for bit, and the groups
/// must cover every sequence once, in order, with about equal token counts.
/// </summary>
public class SequenceSplitTests
{
    [Theory]
    [InlineData(2, 40)]
    [InlineData(3, 40)]
    [InlineData(2, 2)]
    public void SplitBatchGivesTheSingleThreadHiddenStatesBitForBit(int threads, int sequences)
    {
        string dir = TestModels.Tiny();
        var config = SentenceModelConfig.Load(dir).Transformer;
        using var model = EncoderRegistry.LoadModel(Path.Combine(dir, "model.safetensors"), config);
        // Lengths 1..38 (the tiny model has 40 positions), enough tokens for several groups of at least 128.
        var batch = new TokenBatch(TestModels.RandomIds(sequences, 1, 38, seed: 11 + sequences));
        using var pool = new KernelThreadPool(threads);
        int parts = SequenceSplit.Parts(batch, pool);
        // Split when every thread gets a group of at least MinPartTokens; otherwise the kernel-level split runs.
        Assert.Equal(batch.TotalTokens >= threads * SequenceSplit.MinPartTokens, parts >= threads);
        var serial = new EncoderWorkspace();
        model.Forward(batch, serial, null);
        var ws = new EncoderWorkspace();
        for (int pass = 0; pass < 2; pass++) // the second pass reuses the cut and the groups' workspaces
        {
            Array.Fill(ws.Hidden, float.NaN);
            model.Forward(batch, ws, pool);
            int n = batch.TotalTokens * config.HiddenSize;
            Assert.Equal(serial.Hidden.AsSpan(0, n).ToArray(), ws.Hidden.AsSpan(0, n).ToArray());
        }
    }

    /// <summary>
    /// On one thread the attention block runs groups of whole sequences of at most GroupTokens tokens; with a pool that
    /// gets no split (fewer sequences than threads) the batch is one group. Same hidden states, bit for bit.
    /// </summary>
    [Fact]
    public void AttentionGroupsGiveTheOneGroupHiddenStatesBitForBit()
    {
        string dir = TestModels.Tiny();
        var config = SentenceModelConfig.Load(dir).Transformer;
        using var model = EncoderRegistry.LoadModel(Path.Combine(dir, "model.safetensors"), config);
        var batch = new TokenBatch(TestModels.RandomIds(4, 33, 38, seed: 5)); // 132-152 tokens: two groups serially
        Assert.True(batch.TotalTokens > SelfAttentionBlock.GroupTokens);
        using var pool = new KernelThreadPool(5);
        Assert.Equal(1, SequenceSplit.Parts(batch, pool));
        var serial = new EncoderWorkspace();
        model.Forward(batch, serial, null);
        var pooled = new EncoderWorkspace();
        model.Forward(batch, pooled, pool);
        int n = batch.TotalTokens * config.HiddenSize;
        Assert.Equal(pooled.Hidden.AsSpan(0, n).ToArray(), serial.Hidden.AsSpan(0, n).ToArray());
        // The one-thread workspace holds one group's Q | K | V, not the batch's.
        Assert.True(serial.Qkv.Length < batch.TotalTokens * 3 * config.HiddenSize);
    }

    /// <summary>A bad token id in a later group fails the split pass with the unsplit pass's own exception and message.</summary>
    [Fact]
    public void ABadIdInAGroupFailsAsTheUnsplitPassDoes()
    {
        string dir = TestModels.Tiny();
        var config = SentenceModelConfig.Load(dir).Transformer;
        using var model = EncoderRegistry.LoadModel(Path.Combine(dir, "model.safetensors"), config);
        var ids = TestModels.RandomIds(40, 20, 38, seed: 3);
        ids[^1][1] = config.VocabSize; // one past the vocabulary, in the last group
        var batch = new TokenBatch(ids);
        using var pool = new KernelThreadPool(2);
        Assert.Equal(2, SequenceSplit.Parts(batch, pool));
        var serial = Assert.Throws<ManagedEmbedException>(() => model.Forward(batch, new EncoderWorkspace(), null));
        var split = Assert.Throws<ManagedEmbedException>(() => model.Forward(batch, new EncoderWorkspace(), pool));
        Assert.Equal(serial.Message, split.Message);
    }

    [Property(MaxTest = 300)]
    public Property PlanCoversEverySequenceOnceInBalancedContiguousGroups(PositiveInt countSeed, PositiveInt partsSeed, int seed)
    {
        var rng = new Random(seed);
        int count = 1 + countSeed.Get % 120;
        int parts = 1 + partsSeed.Get % Math.Min(count, 9);
        var lengths = Enumerable.Range(0, count).Select(_ => rng.Next(1, rng.Next(2) == 0 ? 8 : 300)).ToArray();
        var first = new int[parts];
        var sizes = new int[parts];
        SequenceSplit.Plan(lengths, parts, first, sizes);
        long total = lengths.Sum(l => (long)l);
        int next = 0;
        bool ok = true;
        for (int p = 0; p < parts; p++)
        {
            ok &= first[p] == next && sizes[p] >= 1;
            long tokens = lengths.Skip(first[p]).Take(sizes[p]).Sum(l => (long)l);
            // Each group is within one sequence (the longest) of an equal share, or holds a single sequence.
            ok &= tokens <= total / parts + lengths.Max() + 1 || sizes[p] == 1;
            next += sizes[p];
        }
        ok &= next == count;
        return ok.Label($"lengths [{string.Join(",", lengths)}] parts {parts}: first [{string.Join(",", first)}] sizes [{string.Join(",", sizes)}]");
    }
}
