using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ManagedEmbed.Encoder;
using ManagedEmbed.Server;

namespace ManagedEmbed.Cli.Tests;

/// <summary>membed serve's HTTP contract (OpenAI and TEI doors, limits, metrics) on the real all-MiniLM-L6-v2, over 127.0.0.1.</summary>
[Collection("real-minilm")]
public sealed class ServerTests(RealMiniLm model)
{
    internal static async Task<(EmbeddingServer Server, HttpClient Http)> Start(SentenceEncoder encoder, Action<EmbeddingServerOptions>? configure = null)
    {
        var o = new EmbeddingServerOptions { Port = 0, ModelId = RealMiniLm.Repo, ModelAliases = ["all-MiniLM-L6-v2"] };
        configure?.Invoke(o);
        var server = await EmbeddingServer.StartAsync(encoder, o);
        Assert.Equal("127.0.0.1", server.Address.Host);
        return (server, new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromMinutes(5) });
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body, string Raw)> Post(HttpClient http, string path, string json)
    {
        using var r = await http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        string raw = await r.Content.ReadAsStringAsync();
        JsonElement body = raw.Length > 0 ? JsonDocument.Parse(raw).RootElement.Clone() : default;
        return (r.StatusCode, body, raw);
    }

    private static float[] Floats(JsonElement e) => e.EnumerateArray().Select(x => x.GetSingle()).ToArray();

    [Fact]
    public async Task OpenAiEmbeddings_FloatAndBase64_EqualSentenceEncoder_WithUsage()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        var (server, http) = await Start(encoder);
        await using var _ = server;
        string texts = JsonSerializer.Serialize(ExtensionsAiTests.Texts);
        var want = encoder.Encode(ExtensionsAiTests.Texts);

        var (s, body, raw) = await Post(http, "/v1/embeddings", $$"""{"model":"{{RealMiniLm.Repo}}","input":{{texts}}}""");
        Assert.True(s == HttpStatusCode.OK, raw);
        Assert.Equal("list", body.GetProperty("object").GetString());
        Assert.Equal(RealMiniLm.Repo, body.GetProperty("model").GetString());
        var data = body.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(ExtensionsAiTests.Texts.Length, data.Count);
        for (int i = 0; i < data.Count; i++)
        {
            Assert.Equal(i, data[i].GetProperty("index").GetInt32());
            Assert.True(ExtensionsAiTests.MaxDiff(want.Row(i), Floats(data[i].GetProperty("embedding"))) <= 1e-6, $"row {i}");
        }

        var (s64, b64, raw64) = await Post(http, "/v1/embeddings", $$"""{"model":"all-MiniLM-L6-v2","input":{{texts}},"encoding_format":"base64"}""");
        Assert.True(s64 == HttpStatusCode.OK, raw64);
        var rows64 = b64.GetProperty("data").EnumerateArray().ToList();
        for (int i = 0; i < rows64.Count; i++)
        {
            byte[] bytes = Convert.FromBase64String(rows64[i].GetProperty("embedding").GetString()!);
            Assert.Equal(384 * 4, bytes.Length);
            float[] v = Enumerable.Range(0, 384).Select(d => BitConverter.ToSingle(bytes, d * 4)).ToArray();
            Assert.True(ExtensionsAiTests.MaxDiff(want.Row(i), v) <= 1e-6, $"base64 row {i}");
        }

        // "hello world" is [CLS] hello world [SEP]: 4 tokens; as token ids (101 7592 2088 102 in the published vocab) it is the same input.
        var (s1, one, _) = await Post(http, "/v1/embeddings", """{"model":"all-MiniLM-L6-v2","input":"hello world"}""");
        Assert.Equal(HttpStatusCode.OK, s1);
        Assert.Equal(4, one.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(4, one.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        var (s2, ids, raw2) = await Post(http, "/v1/embeddings", """{"model":"all-MiniLM-L6-v2","input":[[101,7592,2088,102],[101,7592,2088,102]]}""");
        Assert.True(s2 == HttpStatusCode.OK, raw2);
        Assert.Equal(8, ids.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        var single = Floats(one.GetProperty("data")[0].GetProperty("embedding"));
        Assert.True(ExtensionsAiTests.MaxDiff(single, Floats(ids.GetProperty("data")[1].GetProperty("embedding"))) <= 1e-6);
        var (s3, flat, _) = await Post(http, "/v1/embeddings", """{"model":"all-MiniLM-L6-v2","input":[101,7592,2088,102]}""");
        Assert.Equal(HttpStatusCode.OK, s3);
        Assert.True(ExtensionsAiTests.MaxDiff(single, Floats(flat.GetProperty("data")[0].GetProperty("embedding"))) <= 1e-6);

        // dimensions: Matryoshka truncation, re-normalized (the test's own arithmetic on the encoder's pooled output).
        var (s4, d, _) = await Post(http, "/v1/embeddings", """{"model":"all-MiniLM-L6-v2","input":"hello world","dimensions":32}""");
        Assert.Equal(HttpStatusCode.OK, s4);
        var want32 = ExtensionsAiTests.TruncateNormalize(encoder.Encode("hello world", normalize: false), 32);
        Assert.True(ExtensionsAiTests.MaxDiff(want32, Floats(d.GetProperty("data")[0].GetProperty("embedding"))) <= 1e-6);
    }

    [Theory]
    [InlineData("""{"model":"text-embedding-3-small","input":"x"}""", 404, "model", "model_not_found")]
    [InlineData("""{"model":"all-MiniLM-L6-v2","input":"x",}""", 400, null, null)]
    [InlineData("""[1,2]""", 400, null, null)]
    [InlineData("""{"model":"all-MiniLM-L6-v2"}""", 400, "input", null)]
    [InlineData("""{"model":"all-MiniLM-L6-v2","input":42}""", 400, "input", null)]
    [InlineData("""{"model":"all-MiniLM-L6-v2","input":[]}""", 400, "input", null)]
    [InlineData("""{"model":"all-MiniLM-L6-v2","input":""}""", 400, "input", null)]
    [InlineData("""{"model":"all-MiniLM-L6-v2","input":["a",1]}""", 400, "input", null)]
    [InlineData("""{"model":"all-MiniLM-L6-v2","input":[[101,99999999,102]]}""", 400, "input", null)]
    [InlineData("""{"model":"all-MiniLM-L6-v2","input":[-1]}""", 400, "input", null)]
    [InlineData("""{"model":"all-MiniLM-L6-v2","input":"x","dimensions":0}""", 400, "dimensions", null)]
    [InlineData("""{"model":"all-MiniLM-L6-v2","input":"x","dimensions":385}""", 400, "dimensions", null)]
    [InlineData("""{"model":"all-MiniLM-L6-v2","input":"x","dimensions":"8"}""", 400, "dimensions", null)]
    [InlineData("""{"model":"all-MiniLM-L6-v2","input":"x","encoding_format":"int8"}""", 400, "encoding_format", null)]
    [InlineData("""{"model":"all-MiniLM-L6-v2","input":["a","b","c","d","e"]}""", 413, "input", "too_many_inputs")]
    public async Task OpenAiEmbeddings_BadInput_IsA4xxErrorEnvelope(string json, int status, string? param, string? code)
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        var (server, http) = await Start(encoder, o => o.MaxInputsPerRequest = 4);
        await using var _ = server;
        var (s, body, raw) = await Post(http, "/v1/embeddings", json);
        Assert.True((int)s == status, $"{(int)s}: {raw}");
        Assert.DoesNotMatch(@"\bat [\w.`<>]+\.[\w<>]+\(", raw); // no stack frame
        Assert.DoesNotContain("Exception", raw);
        var err = body.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(err.GetProperty("message").GetString()));
        Assert.Equal("invalid_request_error", err.GetProperty("type").GetString());
        Assert.Equal(param, err.GetProperty("param").GetString());
        Assert.Equal(code, err.GetProperty("code").GetString());
    }

    [Fact]
    public async Task Limits_BodySize_AndLongInputs_AreClear4xx()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        var (server, http) = await Start(encoder, o => o.MaxRequestBodyBytes = 1000);
        await using var _ = server;
        string big = new string('a', 2000);
        var (s, body, raw) = await Post(http, "/v1/embeddings", $$"""{"input":"{{big}}"}""");
        Assert.True(s == HttpStatusCode.RequestEntityTooLarge, raw);
        Assert.Contains("1000 bytes", body.GetProperty("error").GetProperty("message").GetString());

        // 300 words > max_seq_length 256: an error without --auto-truncate, the first 256 tokens with it.
        string longText = string.Join(' ', Enumerable.Repeat("word", 300));
        var (server2, http2) = await Start(encoder, o => o.MaxRequestBodyBytes = 1 << 20);
        await using (server2)
        {
            var (s2, b2, raw2) = await Post(http2, "/v1/embeddings", $$"""{"input":"{{longText}}"}""");
            Assert.True(s2 == HttpStatusCode.BadRequest, raw2);
            Assert.Equal("context_length_exceeded", b2.GetProperty("error").GetProperty("code").GetString());
            var (s3, b3, raw3) = await Post(http2, "/embed", $$"""{"inputs":"{{longText}}"}""");
            Assert.True(s3 == HttpStatusCode.RequestEntityTooLarge, raw3);
            Assert.Equal("Validation", b3.GetProperty("error_type").GetString());
            var (s4, b4, raw4) = await Post(http2, "/embed", $$"""{"inputs":"{{longText}}","truncate":true}""");
            Assert.True(s4 == HttpStatusCode.OK, raw4);
            Assert.True(ExtensionsAiTests.MaxDiff(encoder.Encode(longText), Floats(b4[0])) <= 1e-6);
        }
        var (server3, http3) = await Start(encoder, o => o.AutoTruncate = true);
        await using (server3)
        {
            var (s5, b5, raw5) = await Post(http3, "/v1/embeddings", $$"""{"input":"{{longText}}"}""");
            Assert.True(s5 == HttpStatusCode.OK, raw5);
            Assert.Equal(256, b5.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        }
    }

    [Fact]
    public async Task Tei_EmbedAndTokenize_Health_Info_Models()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        var (server, http) = await Start(encoder);
        await using var _ = server;
        var (s, b, raw) = await Post(http, "/embed", """{"inputs":["hello world","short"]}""");
        Assert.True(s == HttpStatusCode.OK, raw);
        Assert.True(ExtensionsAiTests.MaxDiff(encoder.Encode("hello world"), Floats(b[0])) <= 1e-6);
        Assert.True(ExtensionsAiTests.MaxDiff(encoder.Encode("short"), Floats(b[1])) <= 1e-6);
        var (s2, b2, _) = await Post(http, "/embed", """{"inputs":"hello world","normalize":false}""");
        Assert.Equal(HttpStatusCode.OK, s2);
        Assert.True(ExtensionsAiTests.MaxDiff(encoder.Encode("hello world", normalize: false), Floats(b2[0])) <= 1e-5);
        var (s3, b3, _) = await Post(http, "/embed", """{"inputs":"hello world","dimensions":16}""");
        Assert.Equal(HttpStatusCode.OK, s3);
        Assert.Equal(16, b3[0].GetArrayLength());
        var (s4, b4, raw4) = await Post(http, "/embed", """{"input":"wrong field"}""");
        Assert.True((int)s4 == 422, raw4);
        Assert.False(string.IsNullOrEmpty(b4.GetProperty("error").GetString()));

        var (st, tok, rawTok) = await Post(http, "/tokenize", """{"inputs":"hello world"}""");
        Assert.True(st == HttpStatusCode.OK, rawTok);
        Assert.Equal(new[] { 101, 7592, 2088, 102 }, tok[0].EnumerateArray().Select(t => t.GetProperty("id").GetInt32()).ToArray());
        Assert.Equal(new string?[] { "[CLS]", "hello", "world", "[SEP]" }, tok[0].EnumerateArray().Select(t => t.GetProperty("text").GetString()).ToArray());
        Assert.True(tok[0][0].GetProperty("special").GetBoolean());
        Assert.False(tok[0][1].GetProperty("special").GetBoolean());

        var health = await http.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        var info = JsonDocument.Parse(await http.GetStringAsync("/info")).RootElement;
        Assert.Equal(RealMiniLm.Repo, info.GetProperty("model_id").GetString());
        Assert.Equal(384, info.GetProperty("dimension").GetInt32());
        Assert.Equal(256, info.GetProperty("max_input_length").GetInt32());
        Assert.Equal(16384, info.GetProperty("max_batch_tokens").GetInt32());
        var models = JsonDocument.Parse(await http.GetStringAsync("/v1/models")).RootElement;
        Assert.Equal("list", models.GetProperty("object").GetString());
        Assert.Equal(RealMiniLm.Repo, models.GetProperty("data")[0].GetProperty("id").GetString());
        Assert.Equal("model", models.GetProperty("data")[0].GetProperty("object").GetString());
    }

    [Fact]
    public async Task DynamicBatching_MergesConcurrentRequests_AndMetricsCountThem()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        var (server, http) = await Start(encoder);
        await using var _ = server;
        const int clients = 24;
        string[] texts = Enumerable.Range(0, clients).Select(i => $"request {i}: " + string.Join(' ', Enumerable.Repeat("embedding servers batch requests together", 6))).ToArray();
        var start = new TaskCompletionSource();
        var tasks = texts.Select(async t =>
        {
            await start.Task;
            return await Post(http, "/v1/embeddings", JsonSerializer.Serialize(new Dictionary<string, string> { ["input"] = t }));
        }).ToArray();
        start.SetResult();
        var results = await Task.WhenAll(tasks);
        var want = encoder.Encode(texts);
        for (int i = 0; i < clients; i++)
        {
            Assert.True(results[i].Status == HttpStatusCode.OK, results[i].Raw);
            Assert.True(ExtensionsAiTests.MaxDiff(want.Row(i), Floats(results[i].Body.GetProperty("data")[0].GetProperty("embedding"))) <= 1e-6, $"request {i}");
        }
        string metrics = await http.GetStringAsync("/metrics");
        double Metric(string name) => double.Parse(metrics.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(clients, Metric("membed_inputs_total"));
        Assert.Equal(clients, Metric("membed_batch_size_count") > 0 ? Metric("membed_batch_size_sum") : -1);
        double passes = Metric("membed_forward_passes_total");
        Assert.True(passes < clients, $"{clients} concurrent requests ran in {passes} forward passes: nothing was merged");
        Assert.Contains("membed_requests_total{path=\"/v1/embeddings\",status=\"200\"} " + clients, metrics);
        Assert.Contains("membed_queue_duration_seconds_bucket{le=\"+Inf\"} " + clients, metrics);
        Assert.Contains("# TYPE membed_inference_duration_seconds histogram", metrics);
        Assert.True(Metric("membed_prompt_tokens_total") > clients * 30);
    }

    [Fact]
    public async Task FullQueue_Is429_AndStop_FinishesInFlight_Then503()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        var (server, http) = await Start(encoder, o => o.MaxConcurrentRequests = 1);
        string heavy = JsonSerializer.Serialize(new Dictionary<string, string[]>
        {
            ["input"] = Enumerable.Range(0, 64).Select(i => $"{i} " + string.Join(' ', Enumerable.Repeat("a long sentence keeps the worker busy", 20))).ToArray(),
        });
        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Post(http, "/v1/embeddings", heavy)));
        Assert.All(results, r => Assert.True(r.Status is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, r.Raw));
        Assert.Contains(results, r => r.Status == HttpStatusCode.OK);
        var limited = results.Where(r => r.Status == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(limited);
        Assert.Equal("rate_limit_exceeded", limited[0].Body.GetProperty("error").GetProperty("code").GetString());

        // Stop while a request is in flight: it completes; the server then refuses new work.
        var inFlight = Post(http, "/v1/embeddings", heavy);
        await Task.Delay(300);
        var stop = server.StopAsync();
        await Task.Delay(50);
        if (!inFlight.IsCompleted)
        {
            // Draining: the listener is still open for the in-flight request, and new requests are refused with 503.
            using var draining = new HttpClient { BaseAddress = http.BaseAddress };
            var d = await draining.GetAsync("/health");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, d.StatusCode);
            Assert.Contains("shutting down", await d.Content.ReadAsStringAsync());
        }
        var (s, _, raw) = await inFlight;
        Assert.True(s == HttpStatusCode.OK, raw);
        await stop;
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetAsync("/health"));
        await server.DisposeAsync();
    }
}
