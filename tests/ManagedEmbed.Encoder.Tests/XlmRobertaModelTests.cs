using System.IO.Compression;
using System.Text.Json;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests;

/// <summary>
/// The paraphrase-multilingual-MiniLM-L12-v2 layout: a BERT encoder behind the XLM-R Unigram tokenizer, chosen by
/// tokenizer_config.json's tokenizer_class (the registry), loaded from sentencepiece.bpe.model or tokenizer.json.
/// Expected ids are Google SentencePiece's (tests/fixtures/unigram, tools/gen_unigram_fixtures.py).
/// </summary>
public sealed class XlmRobertaModelTests : IDisposable
{
    private readonly string _root = TestPaths.NewTempDir("membed-xlmr");

    public void Dispose()
    {
        try { Directory.Delete(_root, true); } catch (IOException) { }
    }

    private string Model(string tokenizerFile)
    {
        // A small BERT (vocab ≥ the tokenizer's 1002 ids) with the multilingual model's pipeline: mean pooling,
        // no Normalize, max_seq_length 128.
        string config = Path.Combine(_root, "config.json");
        File.WriteAllText(config, """
            {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 32, "num_attention_heads": 4,
             "num_hidden_layers": 2, "intermediate_size": 64, "vocab_size": 1010, "max_position_embeddings": 160,
             "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12, "pad_token_id": 1}
            """);
        string vocab = Path.Combine(_root, "vocab.txt"); // only to synthesize; the model directory drops it
        File.WriteAllText(vocab, string.Join("\n", Enumerable.Range(0, 1010).Select(i => i switch { 0 => "[PAD]", 1 => "[UNK]", 2 => "[CLS]", 3 => "[SEP]", 4 => "[MASK]", _ => "w" + i })) + "\n");
        string dir = Path.Combine(_root, "model-" + Path.GetFileNameWithoutExtension(tokenizerFile));
        SyntheticModel.Write(new SyntheticModelOptions { ConfigPath = config, VocabPath = vocab, Seed = 3, MaxSeqLength = 128, Normalize = false }, dir);
        File.Delete(Path.Combine(dir, "vocab.txt"));
        File.Delete(Path.Combine(dir, "special_tokens_map.json"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 128}""");
        string src = Path.Combine(TestPaths.Fixtures, "unigram", tokenizerFile);
        if (tokenizerFile.EndsWith(".gz", StringComparison.Ordinal))
        {
            using var gz = new GZipStream(File.OpenRead(src), CompressionMode.Decompress);
            using var o = File.Create(Path.Combine(dir, "tokenizer.json"));
            gz.CopyTo(o);
        }
        else File.Copy(src, Path.Combine(dir, "sentencepiece.bpe.model"));
        return dir;
    }

    [Theory]
    [InlineData("u400-nfkc.model", "u400-nfkc.cases.json.gz")]
    [InlineData("u400-nfkc.tokenizer.json.gz", "u400-nfkc.cases.json.gz")]
    public void SentenceEncoder_UsesTheUnigramTokenizer_IdsAreSentencePieces(string tokenizerFile, string cases)
    {
        using var doc = JsonDocument.Parse(new GZipStream(File.OpenRead(Path.Combine(TestPaths.Fixtures, "unigram", cases)), CompressionMode.Decompress));
        using var textsDoc = JsonDocument.Parse(new GZipStream(File.OpenRead(Path.Combine(TestPaths.Fixtures, "unigram", "texts.json.gz")), CompressionMode.Decompress));
        var texts = textsDoc.RootElement.EnumerateArray().Select(e => e.GetString()!).ToList();
        var ids = doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(texts.Count, ids.Count);

        using var enc = SentenceEncoder.Load(Model(tokenizerFile));
        Assert.Equal(128, enc.MaxSeqLength);
        int checkedCount = 0, truncated = 0;
        for (int i = 0; i < texts.Count; i += 7)
        {
            int[] want = ids[i].Length == 0 ? [] : ids[i].Split(' ').Select(int.Parse).ToArray();
            int[] got = enc.Tokenize(texts[i]);
            // The fixture holds the untruncated HF ids (<s> … </s>); the encoder truncates to 128 like HF.
            int[] expected = want.Length <= 128 ? want : [.. want[..127], want[^1]];
            if (want.Length > 128) truncated++;
            Assert.Equal(expected, got);
            checkedCount++;
        }
        Assert.True(checkedCount > 400, $"only {checkedCount} texts checked");
        var m = enc.Encode(texts.Take(64).ToList(), batchSize: 16);
        for (int i = 0; i < 64; i++)
        {
            float[] single = enc.Encode(texts[i]);
            Assert.Equal(single, m.Row(i).ToArray());
            Assert.All(single, v => Assert.True(float.IsFinite(v)));
        }
    }
}
