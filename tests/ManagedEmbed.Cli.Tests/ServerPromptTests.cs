using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ManagedEmbed.Encoder;
using ManagedEmbed.Encoder.Pooling;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// TEI /embed prompt_name (with include_prompt false, batched together with unprompted requests) against the PyTorch
/// reference of sentence-transformers' encode (tests/fixtures/prompts), and OpenAI dimensions returning unit vectors
/// on a model without a Normalize module.
/// </summary>
public class ServerPromptTests
{
    private static readonly string FixturePath = Path.Combine(TestPaths.Fixtures, "prompts", "prompts-synth.json");

    private static (string Dir, JsonElement Model, string[] Texts, JsonDocument Doc) Model(int index)
    {
        var doc = JsonDocument.Parse(File.ReadAllBytes(FixturePath));
        var m = doc.RootElement.GetProperty("models")[index];
        string Resolve(string p) => p.StartsWith("shared:", StringComparison.Ordinal) ? Path.Combine(TestPaths.Shared, p[7..]) : Path.Combine(TestPaths.RepoRoot, p[5..]);
        string dir = Path.Combine(TestPaths.NewTempDir("membed-serve-prompt"), "m");
        SyntheticModel.Write(new SyntheticModelOptions
        {
            ConfigPath = Resolve(m.GetProperty("config").GetString()!), VocabPath = Resolve(m.GetProperty("vocab").GetString()!),
            Seed = m.GetProperty("seed").GetUInt64(), Pooling = PoolingModes.Parse(m.GetProperty("pooling").GetString()!),
            MaxSeqLength = m.GetProperty("max_seq_length").GetInt32(), Normalize = m.GetProperty("normalize").GetBoolean(),
        }, dir);
        File.WriteAllText(Path.Combine(dir, "config_sentence_transformers.json"), m.GetProperty("config_sentence_transformers").GetRawText());
        string pooling = Path.Combine(dir, "1_Pooling", "config.json");
        var node = JsonNode.Parse(File.ReadAllText(pooling))!;
        node["include_prompt"] = m.GetProperty("include_prompt").GetBoolean();
        File.WriteAllText(pooling, node.ToJsonString());
        return (dir, m, doc.RootElement.GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToArray(), doc);
    }

    /// <summary>The reference embeddings of the fixture case whose call has exactly <paramref name="call"/>'s keys and values.</summary>
    private static float[][] Reference(JsonElement m, string call)
    {
        string want = JsonNode.Parse(call)!.ToJsonString();
        var c = m.GetProperty("cases").EnumerateArray().Single(x => JsonNode.Parse(x.GetProperty("call").GetRawText())!.ToJsonString() == want);
        return c.GetProperty("embeddings").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body, string Raw)> Post(HttpClient http, string path, object body)
    {
        using var r = await http.PostAsync(path, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));
        string raw = await r.Content.ReadAsStringAsync();
        return (r.StatusCode, raw.Length > 0 ? JsonDocument.Parse(raw).RootElement.Clone() : default, raw);
    }

    private static void Close(float[] want, JsonElement got, string what)
    {
        var g = got.EnumerateArray().Select(x => x.GetSingle()).ToArray();
        Assert.Equal(want.Length, g.Length);
        double worst = want.Zip(g, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst <= 1e-5, $"{what}: max |Δ| {worst:g3}");
    }

    [Fact]
    public async Task Tei_prompt_name_matches_the_reference_also_when_batched_with_unprompted_requests()
    {
        var (dir, m, texts, doc) = Model(1); // arctic-style query prompt, include_prompt false, mean pooling, Normalize
        using var _ = doc;
        int[] keep = Enumerable.Range(0, texts.Length).Where(i => texts[i].Length > 0).ToArray(); // TEI refuses ""
        string[] inputs = keep.Select(i => texts[i]).ToArray();
        using var encoder = SentenceEncoder.Load(dir, new EncoderOptions { Threads = 1 });
        var (server, http) = await ServerTests.Start(encoder);
        await using var __ = server;
        var prompted = Reference(m, """{"prompt_name":"query"}""");
        var plain = Reference(m, "{}");
        var truncated = Reference(m, """{"prompt_name":"query","truncate_dim":16,"normalize_embeddings":true}""");
        // Concurrent requests with and without the prompt share forward passes; each keeps its own prompt length.
        var tasks = Enumerable.Range(0, 8).Select(i => Post(http, "/embed", i % 2 == 0
            ? new Dictionary<string, object> { ["inputs"] = inputs, ["prompt_name"] = "query", ["truncate"] = true }
            : new Dictionary<string, object> { ["inputs"] = inputs, ["truncate"] = true })).ToArray();
        var results = await Task.WhenAll(tasks);
        for (int t = 0; t < results.Length; t++)
        {
            var (s, body, raw) = results[t];
            Assert.True(s == HttpStatusCode.OK, raw);
            for (int j = 0; j < keep.Length; j++) Close((t % 2 == 0 ? prompted : plain)[keep[j]], body[j], $"request {t} text {keep[j]}");
        }
        var (s2, b2, raw2) = await Post(http, "/embed", new Dictionary<string, object> { ["inputs"] = inputs, ["prompt_name"] = "query", ["dimensions"] = 16, ["truncate"] = true });
        Assert.True(s2 == HttpStatusCode.OK, raw2);
        for (int j = 0; j < keep.Length; j++) Close(truncated[keep[j]], b2[j], $"dimensions 16, text {keep[j]}");

        var (s3, b3, raw3) = await Post(http, "/embed", new Dictionary<string, object> { ["inputs"] = "x", ["prompt_name"] = "nope" });
        Assert.True((int)s3 == 422, raw3);
        Assert.Contains("nope", b3.GetProperty("error").GetString());
        var (s4, _, raw4) = await Post(http, "/embed", new Dictionary<string, object> { ["inputs"] = new[] { 101, 102 }, ["prompt_name"] = "query" });
        Assert.True((int)s4 == 422, raw4);
    }

    [Fact]
    public async Task Tei_prompt_name_with_max_pooling_and_normalize_false_matches_the_reference()
    {
        var (dir, m, texts, doc) = Model(2); // E5-style prompts, include_prompt false, max pooling, no Normalize module
        using var _ = doc;
        int[] keep = Enumerable.Range(0, texts.Length).Where(i => texts[i].Length > 0).ToArray();
        using var encoder = SentenceEncoder.Load(dir, new EncoderOptions { Threads = 1 });
        var (server, http) = await ServerTests.Start(encoder);
        await using var __ = server;
        var want = Reference(m, """{"prompt_name":"passage"}""");
        var (s, body, raw) = await Post(http, "/embed", new Dictionary<string, object> { ["inputs"] = keep.Select(i => texts[i]).ToArray(), ["prompt_name"] = "passage", ["normalize"] = false, ["truncate"] = true });
        Assert.True(s == HttpStatusCode.OK, raw);
        for (int j = 0; j < keep.Length; j++) Close(want[keep[j]], body[j], $"text {keep[j]}");
    }

    [Fact]
    public async Task OpenAi_dimensions_are_unit_vectors_even_for_a_model_without_Normalize()
    {
        var (dir, _, _, doc) = Model(2);
        using var __ = doc;
        using var encoder = SentenceEncoder.Load(dir, new EncoderOptions { Threads = 1 });
        Assert.False(encoder.NormalizesByDefault);
        var (server, http) = await ServerTests.Start(encoder);
        await using var ___ = server;
        var (s, full, raw) = await Post(http, "/v1/embeddings", new Dictionary<string, object> { ["input"] = "The weather is lovely today." });
        Assert.True(s == HttpStatusCode.OK, raw);
        var f = full.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => (double)x.GetSingle()).ToArray();
        Assert.True(Math.Abs(Math.Sqrt(f.Sum(x => x * x)) - 1) > 1e-3); // the model's own output is not unit length
        var (s2, cut, raw2) = await Post(http, "/v1/embeddings", new Dictionary<string, object> { ["input"] = "The weather is lovely today.", ["dimensions"] = 16 });
        Assert.True(s2 == HttpStatusCode.OK, raw2);
        var c = cut.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => (double)x.GetSingle()).ToArray();
        Assert.Equal(16, c.Length);
        double norm16 = Math.Sqrt(f.Take(16).Sum(x => x * x));
        for (int i = 0; i < 16; i++) Assert.True(Math.Abs(c[i] - f[i] / norm16) <= 1e-6, $"dimension {i}: {c[i]} vs {f[i] / norm16}");
    }
}
