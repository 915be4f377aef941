using System.Text.Json;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests;

/// <summary>The encoder seam: registry choices, MPNet's relative-position buckets, DistilBERT/MPNet configs and synth.</summary>
public class SeedModelTests
{
    private static string Configs => Path.Combine(TestPaths.Fixtures, "encoder-configs");

    /// <summary>Expected buckets come from the PyTorch reference (tools/gen_seed_fixtures.py), never from this code.</summary>
    [Fact]
    public void MPNetBucketsMatchTheReferenceAtTheBoundaries()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "encoder-mpnet-buckets.json")));
        var rel = doc.RootElement.GetProperty("relative_position").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var expected = doc.RootElement.GetProperty("bucket").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(26, rel.Length); // ±{0, 1, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 500}
        foreach (int d in new[] { 0, 1, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 500 }) { Assert.Contains(d, rel); Assert.Contains(-d, rel); }
        for (int i = 0; i < rel.Length; i++)
            Assert.True(expected[i] == MPNetModel.RelativePositionBucket(rel[i]), $"relative position {rel[i]}: bucket {MPNetModel.RelativePositionBucket(rel[i])}, reference {expected[i]}");
    }

    [Fact]
    public void RegistryPicksTheArchitectureFromModelTypeAndParsesItsOwnKeys()
    {
        var mpnet = Assert.IsType<MPNetConfig>(EncoderRegistry.LoadConfig(Path.Combine(Configs, "all-mpnet-base-v2.config.json")));
        Assert.Equal((768, 12, 12, 3072, 30527, 514, 1e-5f, 32), (mpnet.HiddenSize, mpnet.NumHiddenLayers, mpnet.NumAttentionHeads, mpnet.IntermediateSize, mpnet.VocabSize, mpnet.MaxPositionEmbeddings, mpnet.LayerNormEps, mpnet.RelativeAttentionNumBuckets));
        Assert.Equal(512, mpnet.MaxSequenceLength); // positions 2..513
        var distil = Assert.IsType<DistilBertConfig>(EncoderRegistry.LoadConfig(Path.Combine(Configs, "msmarco-distilbert-base-v4.config.json")));
        Assert.Equal((768, 6, 12, 3072, 30522, 512, 1e-12f), (distil.HiddenSize, distil.NumHiddenLayers, distil.NumAttentionHeads, distil.IntermediateSize, distil.VocabSize, distil.MaxSequenceLength, distil.LayerNormEps));
        Assert.IsType<BertConfig>(EncoderRegistry.LoadConfig(Path.Combine(TestPaths.MiniLm, "config.json")));
        // Without model_type, architectures decides.
        Assert.IsType<DistilBertConfig>(EncoderRegistry.ParseConfig("""{"architectures": ["DistilBertModel"], "dim": 8, "n_heads": 2, "n_layers": 1, "hidden_dim": 16, "vocab_size": 10, "max_position_embeddings": 8}""", "c.json"));
        Assert.Contains("model_type \"xlnet\" is not supported (supported: bert, distilbert, mpnet)",
            Assert.Throws<ManagedEmbedException>(() => EncoderRegistry.ParseConfig("""{"model_type": "xlnet"}""", "c.json")).Message);
        Assert.Contains("missing \"dim\"",
            Assert.Throws<ManagedEmbedException>(() => EncoderRegistry.ParseConfig("""{"model_type": "distilbert", "hidden_size": 8}""", "c.json")).Message);
        Assert.Contains("sinusoidal_pos_embds",
            Assert.Throws<ManagedEmbedException>(() => EncoderRegistry.ParseConfig("""{"model_type": "distilbert", "sinusoidal_pos_embds": true}""", "c.json")).Message);
    }

    [Fact]
    public void WeightNamesComeFromTheModulesThemselves()
    {
        var mpnet = EncoderRegistry.Describe(EncoderRegistry.LoadConfig(Path.Combine(Configs, "all-mpnet-base-v2.config.json")));
        var required = mpnet.Where(s => !s.Optional).Select(s => s.Name).ToHashSet();
        // Embeddings (word, position, LayerNorm ×2) + relative bias + 12 layers × 16: the names real checkpoints use.
        Assert.Equal(4 + 1 + 12 * 16, required.Count);
        Assert.Contains("encoder.relative_attention_bias.weight", required);
        Assert.Contains("encoder.layer.11.attention.attn.q.weight", required);
        Assert.Contains("encoder.layer.0.attention.LayerNorm.bias", required);
        Assert.Contains("encoder.layer.3.output.LayerNorm.weight", required);
        Assert.DoesNotContain(required, n => n.Contains("token_type", StringComparison.Ordinal));
        Assert.Equal([32, 12], mpnet.Single(s => s.Name == "encoder.relative_attention_bias.weight").Shape);

        var distil = EncoderRegistry.Describe(EncoderRegistry.LoadConfig(Path.Combine(Configs, "msmarco-distilbert-base-v4.config.json")));
        var dn = distil.Where(s => !s.Optional).Select(s => s.Name).ToHashSet();
        Assert.Equal(4 + 6 * 16, dn.Count);
        foreach (string n in new[] { "attention.q_lin.weight", "attention.out_lin.bias", "sa_layer_norm.weight", "ffn.lin1.weight", "ffn.lin2.bias", "output_layer_norm.bias" })
            Assert.Contains("transformer.layer.5." + n, dn);
    }

    [Fact]
    public void SynthRefusesAConfigOfAnotherArchitecture()
    {
        string dir = TestPaths.NewTempDir("membed-seed");
        try
        {
            var e = Assert.Throws<ManagedEmbedException>(() => SyntheticModel.Write(new SyntheticModelOptions
            {
                ConfigPath = Path.Combine(Configs, "msmarco-distilbert-base-v4.2-layers.config.json"),
                VocabPath = Path.Combine(TestPaths.MiniLm, "vocab.txt"), Seed = 1, Architecture = "mpnet",
            }, Path.Combine(dir, "m")));
            Assert.Contains("is a distilbert config, not mpnet", e.Message);
            // An MPNet model needs its specials in the vocabulary: the plain BERT vocab.txt lacks <s>.
            e = Assert.Throws<ManagedEmbedException>(() => SyntheticModel.Write(new SyntheticModelOptions
            {
                ConfigPath = Path.Combine(Configs, "all-mpnet-base-v2.2-layers.config.json"),
                VocabPath = Path.Combine(TestPaths.MiniLm, "vocab.txt"), Seed = 1, Architecture = "mpnet",
            }, Path.Combine(dir, "m")));
            Assert.Contains("lacks the special token <s>", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TokenizerChoiceFollowsTokenizerClassThenTokenizerJson()
    {
        string dir = TestPaths.NewTempDir("membed-seed");
        try
        {
            File.Copy(Path.Combine(TestPaths.MiniLm, "vocab.txt"), Path.Combine(dir, "vocab.txt"));
            // tokenizer_class wins over the vocab.txt beside it: XLM-R goes to the Unigram loader, which finds no model.
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"tokenizer_class": "XLMRobertaTokenizer"}""");
            Assert.Contains("no tokenizer in", Assert.Throws<ManagedEmbedException>(() => EncoderRegistry.LoadTokenizer(dir)).Message);
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"tokenizer_class": "GPT2Tokenizer"}""");
            Assert.Contains("tokenizer_class \"GPT2Tokenizer\" is not supported",
                Assert.Throws<ManagedEmbedException>(() => EncoderRegistry.LoadTokenizer(dir)).Message);
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"tokenizer_class": "MPNetTokenizerFast", "cls_token": "[CLS]"}""");
            Assert.Equal("WordPiece (vocab.txt, lowercase)", EncoderRegistry.LoadTokenizer(dir).Description);
            File.Delete(Path.Combine(dir, "tokenizer_config.json"));
            File.Delete(Path.Combine(dir, "vocab.txt"));
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), """{"version": "1.0", "model": {"type": "BPE", "vocab": {}, "merges": []}}""");
            Assert.Contains("model type \"BPE\" is not supported",
                Assert.Throws<ManagedEmbedException>(() => EncoderRegistry.LoadTokenizer(dir)).Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
