using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests;

/// <summary>The real (truncated) all-MiniLM-L6-v2 model.safetensors prefix from ../shared.</summary>
public class RealPrefixTests
{
    private static string Prefix => Path.Combine(TestPaths.MiniLm, "model.safetensors.prefix");

    [Fact]
    public void ParsesTheRealHeader()
    {
        using var f = SafeTensorsFile.Open(Prefix, allowTruncated: true);
        Assert.Equal(104, f.Tensors.Count);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(8 + 11408, f.DataOffset);
        Assert.True(f.IsTruncated);

        var ids = f.Get("embeddings.position_ids");
        Assert.Equal(SafeTensorDType.I64, ids.DType);
        Assert.Equal(new[] { 1, 512 }, ids.Shape);
        Assert.Equal((0L, 4096L), (ids.Begin, ids.End));
        var word = f.Get("embeddings.word_embeddings.weight");
        Assert.Equal(new[] { 30522, 384 }, word.Shape);
        Assert.Equal((796672L, 47678464L), (word.Begin, word.End));
        Assert.False(word.IsComplete);
        var pooler = f.Get("pooler.dense.weight");
        Assert.Equal((90267136L, 90856960L), (pooler.Begin, pooler.End));
        Assert.Equal(90_868_376L, f.DataOffset + f.Tensors.Max(t => t.End)); // the published file size

        // Every parameter a 6-layer MiniLM needs is named in the header with the shape config.json implies.
        var config = BertConfig.Load(Path.Combine(TestPaths.MiniLm, "config.json"));
        foreach (var spec in BertTensorNames.Required(config))
        {
            Assert.True(f.TryGet(spec.Name, out var info), spec.Name);
            Assert.Equal(spec.Shape, info.Shape);
            Assert.Equal(SafeTensorDType.F32, info.DType);
        }
        Assert.Equal(BertTensorNames.Required(config).Count + 3, f.Tensors.Count); // + position_ids + pooler.dense.{weight,bias}
    }

    [Fact]
    public void ReadsTheCompleteRealTensors()
    {
        using var f = SafeTensorsFile.Open(Prefix, allowTruncated: true);
        var ids = f.ReadInt64(f.Get("embeddings.position_ids"));
        Assert.Equal(Enumerable.Range(0, 512).Select(i => (long)i), ids);

        foreach (string name in new[] { "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias", "embeddings.position_embeddings.weight", "embeddings.token_type_embeddings.weight" })
        {
            var t = f.ReadFloat(name);
            Assert.All(t.Span.ToArray(), v => Assert.True(float.IsFinite(v)));
        }
        var gamma = f.ReadFloat("embeddings.LayerNorm.weight").Span;
        Assert.Equal(384, gamma.Length);
        // Trained LayerNorm gammas are positive and O(1); trained position embeddings are small and not all equal.
        Assert.True(gamma.ToArray().Average() is > 0.2f and < 5f);
        var pos = f.ReadFloat("embeddings.position_embeddings.weight");
        Assert.Equal(512 * 384, pos.Length);
        Assert.NotEqual(pos.Row(0).ToArray(), pos.Row(1).ToArray());
        Assert.True(pos.Span.ToArray().Max(Math.Abs) < 10f);
        var tt = f.ReadFloat("embeddings.token_type_embeddings.weight");
        Assert.Equal(new[] { 2, 384 }, tt.Shape);

        var word = f.Get("embeddings.word_embeddings.weight");
        Assert.Contains("truncated", Assert.Throws<ManagedEmbedException>(() => f.ReadFloat(word)).Message);
    }

    [Fact]
    public void StrictOpenSaysTruncated()
    {
        var e = Assert.Throws<ManagedEmbedException>(() => SafeTensorsFile.Open(Prefix));
        Assert.Contains("truncated", e.Message);
        Assert.Contains("embeddings.word_embeddings.weight", e.Message);
    }

    [Fact]
    public void LoadingThePrefixAsAModelFailsWithTruncated()
    {
        string dir = TestPaths.NewTempDir("membed-prefix");
        foreach (string name in new[] { "config.json", "modules.json", "sentence_bert_config.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt" })
            File.Copy(Path.Combine(TestPaths.MiniLm, name), Path.Combine(dir, name));
        Directory.CreateDirectory(Path.Combine(dir, "1_Pooling"));
        File.Copy(Path.Combine(TestPaths.MiniLm, "1_Pooling", "config.json"), Path.Combine(dir, "1_Pooling", "config.json"));
        File.Copy(Prefix, Path.Combine(dir, "model.safetensors"));
        var e = Assert.Throws<ManagedEmbedException>(() => SentenceEncoder.Load(dir));
        Assert.Contains("truncated", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void RealConfigurationIsParsed()
    {
        var c = SentenceModelConfig.Load(TestPaths.MiniLm);
        Assert.Equal(384, c.Transformer.HiddenSize);
        Assert.Equal(12, c.Transformer.NumAttentionHeads);
        Assert.Equal(6, c.Transformer.NumHiddenLayers);
        Assert.Equal(1536, c.Transformer.IntermediateSize);
        Assert.Equal(30522, c.Transformer.VocabSize);
        Assert.Equal(1e-12f, c.Transformer.LayerNormEps);
        Assert.Equal(Kernels.Activation.Gelu, c.Transformer.Activation);
        Assert.Equal(256, c.MaxSeqLength);
        Assert.Equal(Pooling.PoolingMode.Mean, c.Pooling);
        Assert.True(c.Normalize);
        Assert.Equal("WordPiece (vocab.txt, lowercase)", EncoderRegistry.LoadTokenizer(TestPaths.MiniLm).Description);
    }
}
