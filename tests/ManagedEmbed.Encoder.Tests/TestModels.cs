using ManagedEmbed.Encoder;
using ManagedEmbed.Encoder.Pooling;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests;

/// <summary>Small synthetic models for fast forward-pass tests.</summary>
internal static class TestModels
{
    public const int TinyVocab = 120;

    /// <summary>Writes a tiny BERT config.json and vocab.txt into <paramref name="dir"/>; returns (config, vocab) paths.</summary>
    public static (string Config, string Vocab) WriteTinyInputs(string dir, string act = "gelu", int hidden = 48, int heads = 4, int layers = 2, int ff = 80, int maxPos = 40, double eps = 1e-12)
    {
        Directory.CreateDirectory(dir);
        string config = Path.Combine(dir, "tiny-config.json");
        File.WriteAllText(config, $$"""
            {"architectures": ["BertModel"], "hidden_act": "{{act}}", "hidden_size": {{hidden}}, "intermediate_size": {{ff}},
             "layer_norm_eps": {{eps.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}}, "max_position_embeddings": {{maxPos}}, "model_type": "bert",
             "num_attention_heads": {{heads}}, "num_hidden_layers": {{layers}}, "type_vocab_size": 2, "vocab_size": {{TinyVocab}},
             "initializer_range": 0.08}
            """);
        string vocab = Path.Combine(dir, "tiny-vocab.txt");
        var tokens = new List<string> { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
        for (int i = tokens.Count; i < TinyVocab; i++) tokens.Add("w" + i);
        File.WriteAllText(vocab, string.Join("\n", tokens) + "\n");
        return (config, vocab);
    }

    /// <summary>Synthesizes a tiny model directory and returns its path.</summary>
    public static string Tiny(PoolingMode pooling = PoolingMode.Mean, bool normalize = true, string act = "gelu", ulong seed = 1, int? maxSeq = null)
    {
        string root = TestPaths.NewTempDir("membed-tiny");
        var (config, vocab) = WriteTinyInputs(Path.Combine(root, "in"), act);
        string dir = Path.Combine(root, "model");
        SyntheticModel.Write(new SyntheticModelOptions
        {
            ConfigPath = config, VocabPath = vocab, Seed = seed, Pooling = pooling, Normalize = normalize, MaxSeqLength = maxSeq,
        }, dir);
        return dir;
    }

    /// <summary>Random id sequences starting with [CLS]=2 and ending with [SEP]=3.</summary>
    public static List<int[]> RandomIds(int count, int minLen, int maxLen, int seed)
    {
        var rng = new Random(seed);
        var list = new List<int[]>();
        for (int i = 0; i < count; i++)
        {
            int len = rng.Next(minLen, maxLen + 1);
            var ids = new int[len];
            for (int t = 0; t < len; t++) ids[t] = rng.Next(5, TinyVocab);
            ids[0] = 2;
            if (len > 1) ids[^1] = 3;
            list.Add(ids);
        }
        return list;
    }
}
