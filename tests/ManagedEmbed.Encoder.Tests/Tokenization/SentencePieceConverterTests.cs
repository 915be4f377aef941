using System.Text.Json;
using ManagedEmbed.Encoder.Tokenization.Unigram;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests.Tokenization;

/// <summary>The C# .model → tokenizer.json converter against the Python converter's committed output.</summary>
public sealed class SentencePieceConverterTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-spmconv");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [MemberData(nameof(UnigramFixtureTests.JsonModels), MemberType = typeof(UnigramFixtureTests))]
    public void MatchesThePythonConverterAndSentencePieceIds(string name)
    {
        var f = UnigramFixtureTests.Load(name);
        string python = UnigramFixtureTests.Unzip(f.TokenizerJsonGz!, _dir);
        string ours = Path.Combine(_dir, "converted.json");
        SentencePieceConverter.ConvertModelFile(f.ModelPath, ours, f.MaxLength);

        using JsonDocument a = JsonDocument.Parse(File.ReadAllBytes(python));
        using JsonDocument b = JsonDocument.Parse(File.ReadAllBytes(ours));
        foreach (string key in new[] { "truncation", "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder" })
            Assert.True(JsonElement.DeepEquals(a.RootElement.GetProperty(key), b.RootElement.GetProperty(key)), $"{name}: \"{key}\" differs");
        JsonElement va = a.RootElement.GetProperty("model").GetProperty("vocab"), vb = b.RootElement.GetProperty("model").GetProperty("vocab");
        Assert.Equal(va.GetArrayLength(), vb.GetArrayLength());
        for (int i = 0; i < va.GetArrayLength(); i++)
        {
            Assert.Equal(va[i][0].GetString(), vb[i][0].GetString());
            Assert.Equal(va[i][1].GetDouble(), vb[i][1].GetDouble());   // exact: both write the float widened to double
        }

        var tok = XlmRobertaTokenizer.LoadTokenizerJson(ours);
        for (int i = 0; i < f.Texts.Length; i++)
            Assert.True(tok.Encode(f.Texts[i], f.MaxLength).AsSpan().SequenceEqual(f.Ids[i]), $"{name}: text {i} differs");
    }

    [Fact]
    public void RefusesUserDefinedPieces()
    {
        string m = Path.Combine(_dir, "ud.model");
        File.WriteAllBytes(m, SpmProtoWriter.Model([("▁a", -1f, 1), ("xy", -2f, 4)]));
        var e = Assert.Throws<ManagedEmbedException>(() => SentencePieceConverter.ConvertModelFile(m, Path.Combine(_dir, "o.json")));
        Assert.Contains("UserDefined", e.Message);
    }
}
