using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using ManagedEmbed.Encoder.Pooling;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests;

/// <summary>
/// Prompts (config_sentence_transformers.json, include_prompt) and Matryoshka truncation against the independent
/// PyTorch reference of sentence-transformers' encode (tools/gen_prompt_fixtures.py → tests/fixtures/prompts).
/// Each model is re-synthesized from its recorded seed and its digest checked, then every recorded call is replayed.
/// </summary>
public class PromptTests(ParityModelDirs dirs) : IClassFixture<ParityModelDirs>
{
    private static readonly string FixturePath = Path.Combine(TestPaths.Fixtures, "prompts", "prompts-synth.json");

    public static IEnumerable<object[]> Models()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(FixturePath));
        foreach (var m in doc.RootElement.GetProperty("models").EnumerateArray())
            yield return [m.GetProperty("name").GetString()!];
    }

    private string Synthesize(JsonElement m)
    {
        string Resolve(string p) => p.StartsWith("shared:", StringComparison.Ordinal) ? Path.Combine(TestPaths.Shared, p[7..])
            : Path.Combine(TestPaths.RepoRoot, p["repo:".Length..]);
        string dir = Path.Combine(dirs.New(), "model");
        SyntheticModel.Write(new SyntheticModelOptions
        {
            ConfigPath = Resolve(m.GetProperty("config").GetString()!),
            VocabPath = Resolve(m.GetProperty("vocab").GetString()!),
            Seed = m.GetProperty("seed").GetUInt64(),
            Pooling = PoolingModes.Parse(m.GetProperty("pooling").GetString()!),
            MaxSeqLength = m.GetProperty("max_seq_length").GetInt32(),
            Normalize = m.GetProperty("normalize").GetBoolean(),
        }, dir);
        using (var fs = File.OpenRead(Path.Combine(dir, "model.safetensors")))
            Assert.Equal(m.GetProperty("safetensors_sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(fs)));
        File.WriteAllText(Path.Combine(dir, "config_sentence_transformers.json"), m.GetProperty("config_sentence_transformers").GetRawText());
        string pooling = Path.Combine(dir, "1_Pooling", "config.json");
        var node = JsonNode.Parse(File.ReadAllText(pooling))!;
        node["include_prompt"] = m.GetProperty("include_prompt").GetBoolean();
        File.WriteAllText(pooling, node.ToJsonString());
        return dir;
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Encode_with_prompts_and_truncation_matches_the_reference(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(FixturePath));
        var texts = doc.RootElement.GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToArray();
        var m = doc.RootElement.GetProperty("models").EnumerateArray().Single(x => x.GetProperty("name").GetString() == name);
        using var enc = SentenceEncoder.Load(Synthesize(m), new EncoderOptions { Threads = 1 });
        Assert.Equal(m.GetProperty("include_prompt").GetBoolean(), enc.Config.PoolingIncludesPrompt);
        int calls = 0;
        foreach (var c in m.GetProperty("cases").EnumerateArray())
        {
            var call = c.GetProperty("call");
            string? Str(string k) => call.TryGetProperty(k, out var v) ? v.GetString() : null;
            var options = new EncodeOptions
            {
                PromptName = Str("prompt_name"),
                Prompt = Str("prompt"),
                TruncateDim = call.TryGetProperty("truncate_dim", out var td) ? td.GetInt32() : null,
                Normalize = call.TryGetProperty("normalize_embeddings", out var ne) && ne.GetBoolean() ? true : null,
                BatchSize = 2,
            };
            string? method = Str("method");
            EmbeddingMatrix got = method switch
            {
                "encode_query" => enc.EncodeQuery(texts, options),
                "encode_document" => enc.EncodeDocument(texts, options),
                null => enc.Encode(texts, options),
                _ => throw new InvalidOperationException(method),
            };
            string? prompt = c.GetProperty("prompt").GetString();
            var ids = c.GetProperty("ids").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt32()).ToArray()).ToArray();
            for (int i = 0; i < texts.Length; i++)
                Assert.Equal(ids[i], enc.Tokenize(prompt is null ? texts[i] : prompt + texts[i]));
            var want = c.GetProperty("embeddings").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
            Assert.Equal(want[0].Length, got.Dimension);
            for (int i = 0; i < texts.Length; i++)
                for (int j = 0; j < want[i].Length; j++)
                    Assert.True(Math.Abs(got.Row(i)[j] - want[i][j]) <= 1e-5,
                        $"{name} call {call.GetRawText()} text {i} dim {j}: {got.Row(i)[j]} vs reference {want[i][j]}");
            calls++;
        }
        Assert.True(calls >= 8, $"{name}: only {calls} calls in the fixture");
    }

    [Fact]
    public void An_unknown_prompt_name_is_an_error_naming_the_models_prompts()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(FixturePath));
        var m = doc.RootElement.GetProperty("models")[0];
        using var enc = SentenceEncoder.Load(Synthesize(m), new EncoderOptions { Threads = 1 });
        var e = Assert.Throws<ManagedEmbedException>(() => enc.Encode(["x"], new EncodeOptions { PromptName = "qurey" }));
        Assert.Equal("prompt name \"qurey\" is not one of the model's prompts (passage, query)", e.Message);
        var t = Assert.Throws<ManagedEmbedException>(() => enc.Encode(["x"], new EncodeOptions { TruncateDim = 65 }));
        Assert.Equal("truncate dimension 65 must be in [1, 64] (the model's dimension)", t.Message);
    }

    [Fact]
    public void A_default_prompt_name_that_names_no_prompt_is_refused_at_load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(FixturePath));
        string dir = Synthesize(doc.RootElement.GetProperty("models")[0]);
        File.WriteAllText(Path.Combine(dir, "config_sentence_transformers.json"), """{"prompts": {"query": "q: "}, "default_prompt_name": "passage"}""");
        var e = Assert.Throws<ManagedEmbedException>(() => SentenceEncoder.Load(dir));
        Assert.Contains("default_prompt_name \"passage\" is not one of its prompts (query)", e.Message);
    }
}
