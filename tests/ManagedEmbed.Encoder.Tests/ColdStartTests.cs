using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Encoder.Tokenization;
using ManagedEmbed.Kernels;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests;

/// <summary>
/// Cold start: tokenizing loads only the tokenizer, and weights are packed lazily (on a background thread or by the
/// first forward pass), which must neither change results nor race with Dispose.
/// </summary>
public class ColdStartTests
{
    private static readonly string[] Texts = ["hello world", "  The cat sat on the mat.  ", "", "a b c d e f g h i j k l m n o p q r s t u v w x y z"];

    [Fact]
    public void TokenizerLoadsWithoutTheWeightsAndGivesTheEncodersIds()
    {
        string dir = TestModels.Tiny(maxSeq: 12);
        int[][] expected;
        using (var enc = SentenceEncoder.Load(dir)) expected = Texts.Select(enc.Tokenize).ToArray();

        // Without model.safetensors the encoder cannot load, the tokenizer still can.
        string copy = TestPaths.NewTempDir("membed-tok-only");
        foreach (string f in Directory.GetFiles(dir)) if (Path.GetFileName(f) != "model.safetensors") File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        foreach (string d in Directory.GetDirectories(dir))
        {
            string target = Path.Combine(copy, Path.GetFileName(d));
            Directory.CreateDirectory(target);
            foreach (string f in Directory.GetFiles(d)) File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        }
        Assert.Contains("model.safetensors", Assert.Throws<ManagedEmbedException>(() => SentenceEncoder.Load(copy)).Message);
        var tok = SentenceTokenizer.Load(copy);
        Assert.Equal(12, tok.MaxSeqLength);
        for (int i = 0; i < Texts.Length; i++)
        {
            var ids = tok.Tokenize(Texts[i]);
            Assert.Equal(expected[i], ids);
            Assert.Equal(2, ids[0]); // [CLS]
            Assert.Equal(3, ids[^1]); // [SEP]
            Assert.True(ids.Length <= 12);
        }
    }

    /// <summary>
    /// SentenceEncoder.Load reads the tokenizer on a second thread while it opens the weights: its ids are those of the
    /// tokenizer loaded on its own, and its embedding that of the model run on those ids with the same pooling.
    /// </summary>
    [Fact]
    public void TheParallelLoadGivesTheSequentialTokensAndEmbedding()
    {
        string dir = TestModels.Tiny();
        var tok = BertTokenizer.Load(dir);
        var config = SentenceModelConfig.Load(dir);
        using var model = EncoderRegistry.LoadModel(config.WeightsPath, config.Transformer);
        using var enc = SentenceEncoder.Load(dir, new EncoderOptions { Threads = 1 });
        foreach (string text in Texts)
        {
            int[] ids = tok.Encode(text.Trim(), enc.MaxSeqLength);
            Assert.Equal(ids, enc.Tokenize(text));
            var ws = new EncoderWorkspace();
            model.Forward(new TokenBatch([ids]), ws);
            int h = config.Transformer.HiddenSize;
            // Mean pooling and L2 normalization of the tiny model, written out here.
            var mean = new double[h];
            for (int t = 0; t < ids.Length; t++)
                for (int i = 0; i < h; i++) mean[i] += ws.Hidden[t * h + i];
            double norm = Math.Sqrt(mean.Sum(x => (x / ids.Length) * (x / ids.Length)));
            float[] got = enc.Encode(text);
            for (int i = 0; i < h; i++) Assert.Equal(mean[i] / ids.Length / norm, got[i], 5e-6);
        }
    }

    /// <summary>A vocabulary error on the tokenizer's thread is the same one-line exception as a sequential load's.</summary>
    [Theory]
    [InlineData(new byte[] { 0xFF, 0xFE, 0x0A }, "is not valid UTF-8")]
    [InlineData(new byte[0], "is empty")]
    [InlineData(new byte[] { (byte)'a', 0x0A }, "is not in the vocabulary")]
    public void ACorruptVocabularyFailsWithTheSequentialMessage(byte[] vocab, string expected)
    {
        string dir = TestModels.Tiny();
        string path = Path.Combine(dir, "vocab.txt");
        File.WriteAllBytes(path, vocab);
        string alone = Assert.Throws<ManagedEmbedException>(() => BertTokenizer.Load(dir)).Message;
        var e = Assert.Throws<ManagedEmbedException>(() => SentenceEncoder.Load(dir).Dispose());
        Assert.Equal(alone, e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    /// <summary>When both the weights and the vocabulary are bad, the weights' error is reported, as when they loaded first.</summary>
    [Fact]
    public void AWeightsErrorTakesPrecedenceOverAVocabularyError()
    {
        string dir = TestModels.Tiny();
        File.WriteAllBytes(Path.Combine(dir, "vocab.txt"), [0xFF]);
        File.WriteAllBytes(Path.Combine(dir, "model.safetensors"), [1, 2, 3]);
        var e = Assert.Throws<ManagedEmbedException>(() => SentenceEncoder.Load(dir).Dispose());
        Assert.Contains("model.safetensors", e.Message);
        Assert.DoesNotContain("vocab.txt", e.Message);
    }

    /// <summary>
    /// The WordPiece model behind pieces that are not whole tokens is built on first use; threads racing to that first
    /// use all get the greedy longest-match ids (un ##aff ##able, as in HF's docstring example).
    /// </summary>
    [Fact]
    public void TheLazilyBuiltWordPieceIsSafeUnderConcurrentFirstUse()
    {
        string[] vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "##a", "unaff", "able"];
        for (int round = 0; round < 20; round++)
        {
            var tok = new BertTokenizer(vocab);
            using var start = new Barrier(4);
            var results = new int[4][];
            var threads = Enumerable.Range(0, 4).Select(i => new Thread(() =>
            {
                start.SignalAndWait();
                results[i] = tok.Encode(i % 2 == 0 ? "unaffable" : "unaffable able", 16);
            })).ToArray();
            foreach (var t in threads) t.Start();
            foreach (var t in threads) t.Join();
            for (int i = 0; i < 4; i++)
                Assert.Equal(i % 2 == 0 ? [2, 9, 7, 3] : new[] { 2, 9, 7, 10, 3 }, results[i]);
        }
    }

    [Fact]
    public void DisposingWhileTheBackgroundPackerRunsIsSafe()
    {
        string dir = TestModels.Tiny();
        var config = SentenceModelConfig.Load(dir).Transformer;
        string weights = Path.Combine(dir, "model.safetensors");
        for (int i = 0; i < 20; i++) EncoderRegistry.LoadModel(weights, config).Dispose();
        // A model used at once (its forward pass racing the packer for the same matrices) gives the same hidden
        // states as one whose packer finished long before.
        var batch = new TokenBatch(TestModels.RandomIds(4, 3, 20, seed: 9));
        float[] Run(bool wait)
        {
            using var model = EncoderRegistry.LoadModel(weights, config);
            if (wait) Thread.Sleep(300);
            var ws = new EncoderWorkspace();
            using var pool = new KernelThreadPool(2);
            model.Forward(batch, ws, pool);
            return ws.Hidden.AsSpan(0, batch.TotalTokens * config.HiddenSize).ToArray();
        }
        Assert.Equal(Run(wait: true), Run(wait: false));
    }

    /// <summary>
    /// F32 weights are read in place from the memory map until packed: a small first pass starts no packer and packs
    /// nothing itself, the second pass or a large first pass starts the packer and reads the layers not packed yet in
    /// place; both give bit for bit the hidden states of the same model fully packed (the in-place path feeds the
    /// same micro-kernel with the same summation order), and later passes stay equal whatever the packer has reached.
    /// </summary>
    [Fact]
    public void PassesBeforePackingEqualTheFullyPackedModelBitForBit()
    {
        string dir = TestModels.Tiny();
        var config = SentenceModelConfig.Load(dir).Transformer;
        string weights = Path.Combine(dir, "model.safetensors");
        var small = new TokenBatch(TestModels.RandomIds(2, 3, 6, seed: 4));
        var large = new TokenBatch(TestModels.RandomIds(5, 8, 20, seed: 5));
        Assert.True(small.TotalTokens <= 16 && large.TotalTokens > 16);
        float[] Run(EncoderModel model, TokenBatch batch)
        {
            var ws = new EncoderWorkspace();
            using var pool = new KernelThreadPool(2);
            model.Forward(batch, ws, pool);
            return ws.Hidden.AsSpan(0, batch.TotalTokens * config.HiddenSize).ToArray();
        }
        float[] packedSmall, packedLarge;
        using (var packed = EncoderRegistry.LoadModel(weights, config))
        {
            Assert.NotEmpty(packed.PackableMatrices);
            foreach (var m in packed.PackableMatrices) m.EnsurePacked();
            packedSmall = Run(packed, small);
            packedLarge = Run(packed, large);
        }
        using (var model = EncoderRegistry.LoadModel(weights, config))
        {
            Assert.All(model.PackableMatrices, m => Assert.True(m.HasRowMajorSource && !m.IsPacked));
            Assert.False(model.PackingStarted);
            Assert.Equal(packedSmall, Run(model, small));
            Assert.False(model.PackingStarted);
            Assert.All(model.PackableMatrices, m => Assert.False(m.IsPacked)); // the pass packed nothing itself
            Assert.Equal(packedSmall, Run(model, small));
            Assert.True(model.PackingStarted); // the second pass wants the panels
            for (int i = 0; i < 5; i++) Assert.Equal(packedLarge, Run(model, large));
        }
        using (var model = EncoderRegistry.LoadModel(weights, config))
        {
            Assert.Equal(packedLarge, Run(model, large));
            Assert.True(model.PackingStarted);
            Assert.Equal(packedSmall, Run(model, small));
        }
    }

    /// <summary>A pass on a disposed model fails with ObjectDisposedException (the memory map is gone), not a crash.</summary>
    [Fact]
    public void APassAfterDisposeIsRefused()
    {
        string dir = TestModels.Tiny();
        var config = SentenceModelConfig.Load(dir).Transformer;
        var model = EncoderRegistry.LoadModel(Path.Combine(dir, "model.safetensors"), config);
        model.Dispose();
        var batch = new TokenBatch(TestModels.RandomIds(1, 3, 5, seed: 6));
        Assert.Throws<ObjectDisposedException>(() => model.Forward(batch, new EncoderWorkspace()));
    }

    /// <summary>
    /// A weights file truncated in place while the model has it mapped gives a clear error on the next pass instead of
    /// a SIGBUS (which would end this test process: the test fails loudly either way).
    /// </summary>
    [Fact]
    public void APassAfterTheFileShrankInPlaceIsRefusedWithAClearError()
    {
        string dir = TestModels.Tiny();
        string weights = Path.Combine(dir, "model.safetensors");
        var config = SentenceModelConfig.Load(dir).Transformer;
        using var model = EncoderRegistry.LoadModel(weights, config);
        var batch = new TokenBatch(TestModels.RandomIds(1, 3, 5, seed: 7));
        var ws = new EncoderWorkspace();
        model.Forward(batch, ws);
        using (var f = new FileStream(weights, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) f.SetLength(f.Length / 2);
        var e = Assert.Throws<ManagedEmbedException>(() => model.Forward(batch, ws));
        Assert.Contains("shrank while open", e.Message);
    }
}
