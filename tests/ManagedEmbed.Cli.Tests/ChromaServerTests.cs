using System.Net;
using System.Text;
using System.Text.Json;
using ManagedEmbed.Collections;
using ManagedEmbed.Encoder;
using ManagedEmbed.Kernels;
using ManagedEmbed.Server;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// Chroma's HTTP API of membed serve over raw HTTP: where-filter answers against the real Chroma server (live fuzz and
/// recorded fixtures), server-side embedding, security (auth token, binding, size limits, path tricks), concurrency
/// with compaction, and the README's client example.
/// </summary>
[Collection("real-minilm")]
public sealed class ChromaServerTests(RealMiniLm model)
{
    private const string Api = "/api/v2/tenants/default_tenant/databases/default_database";

    private static async Task<(EmbeddingServer Server, HttpClient Http)> Start(SentenceEncoder encoder, string store, Action<EmbeddingServerOptions>? configure = null) =>
        await ServerTests.Start(encoder, o =>
        {
            o.StorePath = store;
            configure?.Invoke(o);
        });

    private static async Task<(HttpStatusCode Status, JsonElement Body)> Send(HttpClient http, HttpMethod method, string path, string? json = null, string? token = null, string? header = "Authorization")
    {
        using var req = new HttpRequestMessage(method, path);
        if (json is not null) req.Content = new StringContent(json, Encoding.UTF8, "application/json");
        if (token is not null) req.Headers.TryAddWithoutValidation(header!, header == "Authorization" ? "Bearer " + token : token);
        using var r = await http.SendAsync(req);
        string raw = await r.Content.ReadAsStringAsync();
        return (r.StatusCode, raw.Length > 0 ? JsonDocument.Parse(raw).RootElement.Clone() : default);
    }

    private static Task<(HttpStatusCode Status, JsonElement Body)> Post(HttpClient http, string path, string json) => Send(http, HttpMethod.Post, path, json);

    private static async Task<string> CreateCollection(HttpClient http, string name, string extra = "")
    {
        var (s, body) = await Post(http, Api + "/collections", $$"""{"name":"{{name}}"{{extra}}}""");
        Assert.Equal(HttpStatusCode.OK, s);
        return body.GetProperty("id").GetString()!;
    }

    // ------------------------------------------------------------------ where / where_document against real Chroma

    /// <summary>Replays a where-fuzz.mjs recording (real Chroma's answers) against membed: same status, same ids.</summary>
    private static async Task<int> Replay(HttpClient http, JsonElement recording, string name)
    {
        string id = await CreateCollection(http, name);
        var records = recording.GetProperty("records").EnumerateArray().ToList();
        string add = JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["ids"] = records.Select(r => r.GetProperty("id").GetString()).ToList(),
            ["embeddings"] = records.Select(r => r.GetProperty("embedding")).ToList(),
            ["documents"] = records.Select(r => r.GetProperty("document")).ToList(),
            ["metadatas"] = records.Select(r => r.GetProperty("metadata")).ToList(),
        });
        var (added, addBody) = await Post(http, $"{Api}/collections/{id}/add", add);
        Assert.True(added == HttpStatusCode.Created, addBody.ToString());
        int n = 0;
        foreach (var c in recording.GetProperty("cases").EnumerateArray())
        {
            var request = new Dictionary<string, object?> { ["include"] = Array.Empty<string>() };
            if (c.TryGetProperty("where", out var w)) request["where"] = w;
            if (c.TryGetProperty("where_document", out var wd)) request["where_document"] = wd;
            string json = JsonSerializer.Serialize(request);
            var (s, body) = await Post(http, $"{Api}/collections/{id}/get", json);
            Assert.True(c.GetProperty("status").GetInt32() == (int)s, $"{json}: real Chroma answered {c.GetProperty("status")}, membed {(int)s} {body}");
            if (s == HttpStatusCode.OK)
            {
                var want = c.GetProperty("ids").EnumerateArray().Select(x => x.GetString()!).ToList();
                var got = body.GetProperty("ids").EnumerateArray().Select(x => x.GetString()!).Order(StringComparer.Ordinal).ToList();
                Assert.True(want.SequenceEqual(got), $"{json}: real Chroma {string.Join(",", want)}; membed {string.Join(",", got)}");
            }
            n++;
        }
        return n;
    }

    [Fact]
    public async Task WhereFixtures_RecordedFromRealChroma_MembedAnswersTheSame()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        string dir = TestPaths.NewTempDir("membed-chroma-where");
        try
        {
            var (server, http) = await Start(encoder, dir);
            await using var serverScope = server;
            int cases = 0;
            foreach (int seed in (int[])[1, 2])
            {
                string path = Path.Combine(TestPaths.Fixtures, "chroma", $"where-fuzz-seed{seed}.json");
                Assert.True(File.Exists(path), $"missing fixture {path} (node tests/clients/chroma/where-fuzz.mjs URL {seed} 300 against real Chroma)");
                cases += await Replay(http, JsonDocument.Parse(File.ReadAllBytes(path)).RootElement, $"fixture-{seed}");
            }
            Assert.Equal(600, cases);

            // Where membed departs from Chroma 1.0 on purpose: a fractional filter value against integer metadata is
            // compared exactly (Chroma truncates it); the exact answers were computed by Python from the records.
            var quirks = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "chroma", "where-quirks.json"))).RootElement;
            string id = await CreateCollection(http, "quirks");
            var records = quirks.GetProperty("records").EnumerateArray().ToList();
            var (added, _) = await Post(http, $"{Api}/collections/{id}/add", JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["ids"] = records.Select(r => r.GetProperty("id").GetString()).ToList(),
                ["embeddings"] = records.Select(r => r.GetProperty("embedding")).ToList(),
                ["metadatas"] = records.Select(r => r.GetProperty("metadata")).ToList(),
            }));
            Assert.Equal(HttpStatusCode.Created, added);
            Assert.True(quirks.GetProperty("cases").GetArrayLength() >= 3);
            foreach (var c in quirks.GetProperty("cases").EnumerateArray())
            {
                var (s, body) = await Post(http, $"{Api}/collections/{id}/get", $$"""{"where":{{c.GetProperty("where").GetRawText()}},"include":[]}""");
                Assert.Equal(HttpStatusCode.OK, s);
                var got = body.GetProperty("ids").EnumerateArray().Select(x => x.GetString()!).Order(StringComparer.Ordinal);
                Assert.Equal(c.GetProperty("exact_ids").EnumerateArray().Select(x => x.GetString()!), got);
                Assert.NotEqual(c.GetProperty("chroma_1_0_0_ids").GetArrayLength(), c.GetProperty("exact_ids").GetArrayLength());
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task WhereFuzz_LiveAgainstRealChroma_SameAnswers()
    {
        string node = ChromaClientTests.CheckInstalled();
        using var encoder = SentenceEncoder.Load(model.Directory);
        string root = TestPaths.NewTempDir("membed-chroma-fuzz");
        try
        {
            var (server, _) = await Start(encoder, Path.Combine(root, "membed"));
            await using var __ = server;
            using var chroma = await ChromaClientTests.ServerProcess.RealChroma(node, Path.Combine(root, "chroma"));
            foreach (string seed in (string[])["3", "4", "5"])
            {
                var real = ChromaClientTests.RunNode(node, "where-fuzz.mjs", chroma.Url, seed, "200");
                var ours = ChromaClientTests.RunNode(node, "where-fuzz.mjs", server.Address.ToString().TrimEnd('/'), seed, "200");
                Assert.True(real.Code == 0, real.Stdout + real.Stderr);
                Assert.True(ours.Code == 0, ours.Stdout + ours.Stderr);
                var a = JsonDocument.Parse(real.Stdout).RootElement;
                var b = JsonDocument.Parse(ours.Stdout).RootElement;
                Assert.True(a.GetProperty("cases").EnumerateArray().Count(c => c.GetProperty("ids").ValueKind == JsonValueKind.Array && c.GetProperty("ids").GetArrayLength() > 0) > 100,
                    "most cases should match something");
                Assert.Null(ChromaClientTests.Diff(a, b, tol: 0));
            }
        }
        finally { Directory.Delete(root, true); }
    }

    // ------------------------------------------------------------------ server-side embedding

    [Fact]
    public async Task DocumentsWithoutEmbeddings_AreEmbeddedWithTheCollectionsModel()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        string dir = TestPaths.NewTempDir("membed-chroma-embed");
        try
        {
            var (server, http) = await Start(encoder, dir);
            await using var serverScope = server;
            string id = await CreateCollection(http, "server-side", ""","metadata":{"hnsw:space":"cosine"}""");
            string[] docs = ["The cat sat on the mat.", "Dogs love to play fetch.", "Machine learning is a subset of AI."];
            var (s, body) = await Post(http, $"{Api}/collections/{id}/add", $$"""{"ids":["a","b","c"],"documents":{{JsonSerializer.Serialize(docs)}}}""");
            Assert.True(s == HttpStatusCode.Created, body.ToString());
            (s, body) = await Post(http, $"{Api}/collections/{id}/get", """{"include":["embeddings","documents"]}""");
            Assert.Equal(HttpStatusCode.OK, s);
            var want = encoder.Encode(docs);
            var got = body.GetProperty("embeddings").EnumerateArray().ToList();
            for (int i = 0; i < docs.Length; i++)
            {
                float[] v = got[i].EnumerateArray().Select(x => x.GetSingle()).ToArray();
                Assert.True(ExtensionsAiTests.MaxDiff(want.RowArray(i), v) <= 1e-5, $"document {i}");
            }
            // query_texts: embedded by the server, the same distances as with the client's own query embedding.
            (s, body) = await Post(http, $"{Api}/collections/{id}/query", """{"query_texts":["A feline rested on the rug."],"n_results":3}""");
            Assert.True(s == HttpStatusCode.OK, body.ToString());
            Assert.Equal("a", body.GetProperty("ids")[0][0].GetString());
            string q = JsonSerializer.Serialize(encoder.Encode("A feline rested on the rug."));
            var (s2, byVector) = await Post(http, $"{Api}/collections/{id}/query", $$"""{"query_embeddings":[{{q}}],"n_results":3}""");
            Assert.Equal(HttpStatusCode.OK, s2);
            for (int i = 0; i < 3; i++)
                Assert.Equal(byVector.GetProperty("distances")[0][i].GetDouble(), body.GetProperty("distances")[0][i].GetDouble(), 1e-5);
            // Update with a new document re-embeds it.
            (s, _) = await Post(http, $"{Api}/collections/{id}/update", """{"ids":["b"],"documents":["Cats sleep on rugs all day."]}""");
            Assert.Equal(HttpStatusCode.OK, s);
            (s, body) = await Post(http, $"{Api}/collections/{id}/get", """{"ids":["b"],"include":["embeddings"]}""");
            float[] updated = body.GetProperty("embeddings")[0].EnumerateArray().Select(x => x.GetSingle()).ToArray();
            Assert.True(ExtensionsAiTests.MaxDiff(encoder.Encode("Cats sleep on rugs all day."), updated) <= 1e-5);
            // Neither embeddings nor documents: Chroma's 422.
            (s, body) = await Post(http, $"{Api}/collections/{id}/add", """{"ids":["d"]}""");
            Assert.Equal((HttpStatusCode)422, s);
            Assert.Equal("ChromaError", body.GetProperty("error").GetString());
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>"sha256:" + 16 hex digits of the weights' SHA-256, computed here (independently of the resolver).</summary>
    private static string WeightsFingerprint(string modelDir)
    {
        using var f = File.OpenRead(Path.Combine(modelDir, "model.safetensors"));
        return "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(f))[..16];
    }

    private static float[][] Embeddings(JsonElement body) =>
        body.GetProperty("embeddings").EnumerateArray().Select(e => e.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();

    [Fact]
    public async Task EachCollectionEmbedsWithItsOwnModel_FingerprintMismatchIsAChromaError()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        string root = TestPaths.NewTempDir("membed-chroma-2models");
        try
        {
            string synthDir = Path.Combine(root, "synth-model"), store = Path.Combine(root, "store");
            void Synth(ulong seed) => SyntheticModel.Write(new SyntheticModelOptions
            {
                ConfigPath = Path.Combine(TestPaths.RepoRoot, "weights", "synth", "odd-config.json"),
                VocabPath = Path.Combine(TestPaths.MiniLm, "vocab.txt"), Seed = seed,
            }, synthDir);
            Synth(5);
            var resolver = new ManagedEmbed.Extensions.AI.ManagedEmbedFunctionResolver(m => m == "test/synth" ? synthDir : throw new ManagedEmbedException($"unknown model {m}"));
            // A collection recording the synthetic model, made in process as the CLI does.
            using (var s = CollectionStore.Open(store, options: new CollectionOptions { EmbeddingFunctionResolver = resolver }))
                s.CreateCollection("synthetic", DistanceSpace.Cosine, "test/synth");
            string[] docs = ["The cat sat on the mat.", "Dogs love to play fetch.", "Machine learning is a subset of AI."];
            string docsJson = JsonSerializer.Serialize(docs);
            void Configure(EmbeddingServerOptions o)
            {
                o.StoreOptions = new CollectionOptions { EmbeddingFunctionResolver = resolver };
                o.ModelFingerprint = WeightsFingerprint(model.Directory);
            }
            var (server, http) = await Start(encoder, store, Configure);
            await using (server)
            {
                string mini = await CreateCollection(http, "mini", ""","metadata":{"hnsw:space":"cosine"}""");
                var (s, body) = await Send(http, HttpMethod.Get, Api + "/collections/synthetic");
                Assert.Equal(HttpStatusCode.OK, s);
                string synth = body.GetProperty("id").GetString()!;
                foreach (string id in new[] { mini, synth })
                {
                    (s, body) = await Post(http, $"{Api}/collections/{id}/add", $$"""{"ids":["a","b","c"],"documents":{{docsJson}}}""");
                    Assert.True(s == HttpStatusCode.Created, body.ToString());
                }
                (_, body) = await Post(http, $"{Api}/collections/{mini}/get", """{"include":["embeddings"]}""");
                var got = Embeddings(body);
                var want = encoder.Encode(docs);
                for (int i = 0; i < docs.Length; i++) Assert.True(ExtensionsAiTests.MaxDiff(want.RowArray(i), got[i]) <= 1e-5, $"MiniLM document {i}");
                (_, body) = await Post(http, $"{Api}/collections/{synth}/get", """{"include":["embeddings"]}""");
                got = Embeddings(body);
                using (var synthEncoder = SentenceEncoder.Load(synthDir))
                {
                    var wantSynth = synthEncoder.Encode(docs);
                    Assert.Equal(192, got[0].Length); // the synthetic model's width, not MiniLM's 384
                    for (int i = 0; i < docs.Length; i++) Assert.True(ExtensionsAiTests.MaxDiff(wantSynth.RowArray(i), got[i]) <= 1e-5, $"synthetic document {i}");
                    // query_texts go through the collection's own model too: the nearest of a document to itself is itself at distance ~0.
                    (s, body) = await Post(http, $"{Api}/collections/{synth}/query", """{"query_texts":["Dogs love to play fetch."],"n_results":1}""");
                    Assert.True(s == HttpStatusCode.OK, body.ToString());
                    Assert.Equal("b", body.GetProperty("ids")[0][0].GetString());
                    Assert.True(body.GetProperty("distances")[0][0].GetDouble() < 1e-5);
                }
            }
            // The HTTP-created collection recorded the served model by name with its weights' fingerprint.
            using (var ro = CollectionStore.Open(store, readOnly: true))
            {
                var ef = ro.GetCollection("mini").EmbeddingFunction!;
                Assert.Equal(RealMiniLm.Repo, ef.Model);
                Assert.Equal(WeightsFingerprint(model.Directory), ef.Fingerprint);
                Assert.Equal(384, ef.Dimension);
            }
            // Other weights under the recorded name: documents and query texts are refused in Chroma's error shape.
            Synth(6);
            (server, http) = await Start(encoder, store, Configure);
            await using (server)
            {
                var (_, info) = await Send(http, HttpMethod.Get, Api + "/collections/synthetic");
                string synth = info.GetProperty("id").GetString()!;
                var (s, body) = await Post(http, $"{Api}/collections/{synth}/query", """{"query_texts":["Dogs"],"n_results":1}""");
                Assert.Equal(HttpStatusCode.BadRequest, s);
                Assert.Equal("InvalidArgumentError", body.GetProperty("error").GetString());
                Assert.Contains("fingerprint", body.GetProperty("message").GetString());
                (s, body) = await Post(http, $"{Api}/collections/{synth}/add", """{"ids":["d"],"documents":["Dogs"]}""");
                Assert.Equal(HttpStatusCode.BadRequest, s);
                Assert.Contains("fingerprint", body.GetProperty("message").GetString());
                // Explicit embeddings still work; the served model's collection is unaffected.
                (s, body) = await Post(http, $"{Api}/collections/{synth}/query", $$"""{"query_embeddings":[{{JsonSerializer.Serialize(new float[192].Select((_, i) => i == 0 ? 1f : 0f))}}],"n_results":1}""");
                Assert.True(s == HttpStatusCode.OK, body.ToString());
                string mini = (await Send(http, HttpMethod.Get, Api + "/collections/mini")).Body.GetProperty("id").GetString()!;
                (s, body) = await Post(http, $"{Api}/collections/{mini}/query", """{"query_texts":["A feline rested on the rug."],"n_results":1}""");
                Assert.True(s == HttpStatusCode.OK, body.ToString());
                Assert.Equal("a", body.GetProperty("ids")[0][0].GetString());
            }
        }
        finally { Directory.Delete(root, true); }
    }

    /// <summary>
    /// Chroma 1.5's list metadata and query restricted to ids over HTTP. Chroma 1.0.0 (the reference server) refuses
    /// list values (422 "data did not match any variant of untagged enum MetadataValue"), so membed's answers are
    /// compared with the in-process library on the same store and with hand-computed values.
    /// </summary>
    [Fact]
    public async Task ListMetadataAndQueryIds_OverHttp_EqualTheLibrary()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        string dir = TestPaths.NewTempDir("membed-chroma-lists");
        try
        {
            var (server, http) = await Start(encoder, dir);
            await using (server)
            {
                string id = await CreateCollection(http, "lists", ""","metadata":{"hnsw:space":"l2","tags":["a","b"]}""");
                var (s, body) = await Post(http, $"{Api}/collections/{id}/add", """
                    {"ids":["a","b","c","d"],"embeddings":[[0,0],[1,0],[3,0],[0,2]],
                     "metadatas":[{"tags":["red","blue"],"n":[1,2]},{"tags":["green"]},{"tags":["red"],"n":[3]},{"t":"x"}]}
                    """);
                Assert.True(s == HttpStatusCode.Created, body.ToString());
                (s, body) = await Post(http, $"{Api}/collections/{id}/get", """{"where":{"tags":{"$contains":"red"}},"include":["metadatas"]}""");
                Assert.True(s == HttpStatusCode.OK, body.ToString());
                Assert.Equal(["a", "c"], body.GetProperty("ids").EnumerateArray().Select(x => x.GetString()!).ToArray());
                Assert.Equal("""{"tags":["red","blue"],"n":[1,2]}""", body.GetProperty("metadatas")[0].GetRawText());
                (s, body) = await Post(http, $"{Api}/collections/{id}/get", """{"where":{"tags":{"$not_contains":"red"}},"include":[]}""");
                // $not_contains: b (green) and d (no tags key) — as the library decides it.
                var httpNot = body.GetProperty("ids").EnumerateArray().Select(x => x.GetString()!).ToArray();
                (s, body) = await Post(http, $"{Api}/collections/{id}/get", """{"where":{"n":{"$contains":3}},"include":[]}""");
                Assert.Equal(["c"], body.GetProperty("ids").EnumerateArray().Select(x => x.GetString()!).ToArray());
                var (_, coll) = await Send(http, HttpMethod.Get, Api + "/collections/lists");
                Assert.Equal("""["a","b"]""", coll.GetProperty("metadata").GetProperty("tags").GetRawText());
                // Query restricted to ids (hand-computed squared L2 from (0,0): b 1, c 9; "nope" is ignored).
                (s, body) = await Post(http, $"{Api}/collections/{id}/query", """{"query_embeddings":[[0,0]],"ids":["c","b","nope"],"n_results":10,"include":["distances"]}""");
                Assert.True(s == HttpStatusCode.OK, body.ToString());
                Assert.Equal(["b", "c"], body.GetProperty("ids")[0].EnumerateArray().Select(x => x.GetString()!).ToArray());
                Assert.Equal([1.0, 9.0], body.GetProperty("distances")[0].EnumerateArray().Select(x => x.GetDouble()).ToArray());
                (s, body) = await Post(http, $"{Api}/collections/{id}/query", """{"query_embeddings":[[0,0]],"ids":["c","b"],"where":{"tags":{"$contains":"red"}},"n_results":10,"include":[]}""");
                Assert.Equal(["c"], body.GetProperty("ids")[0].EnumerateArray().Select(x => x.GetString()!).ToArray());
                // A list of mixed types is refused in Chroma's error shape.
                (s, body) = await Post(http, $"{Api}/collections/{id}/add", """{"ids":["e"],"embeddings":[[1,1]],"metadatas":[{"tags":["x",1]}]}""");
                Assert.Equal(HttpStatusCode.BadRequest, s);
                Assert.Equal("InvalidArgumentError", body.GetProperty("error").GetString());
                // The same store in process (read-only: no lock, beside the running server) gives the same answers.
                using var lib = CollectionStore.Open(dir, readOnly: true);
                var c = lib.GetCollection("lists");
                Assert.Equal(httpNot, c.Get(where: WhereFilter.Parse("""{"tags":{"$not_contains":"red"}}"""), include: Include.None).Ids.ToArray());
                Assert.Equal(["b", "c"], c.Query(queryEmbeddings: [[0f, 0f]], ids: ["c", "b", "nope"]).Ids[0]);
                Assert.Equal(["red", "blue"], c.Get(["a"]).Metadatas![0]!["tags"].AsList.Select(v => v.AsString).ToArray());
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public async Task CopiedCollectionDirectory_KeepsItsChromaIdentity_InAnotherStore()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        string root = TestPaths.NewTempDir("membed-chroma-copy");
        try
        {
            string first = Path.Combine(root, "first"), second = Path.Combine(root, "second");
            string id;
            JsonElement before;
            var (server, http) = await Start(encoder, first);
            await using (server)
            {
                id = await CreateCollection(http, "travels", ""","metadata":{"owner":"ana","hnsw:space":"ip"}""");
                var (s, _) = await Post(http, $"{Api}/collections/{id}/add", """{"ids":["x","y"],"embeddings":[[1,0],[0.6,0.8]],"documents":["one","two"]}""");
                Assert.Equal(HttpStatusCode.Created, s);
                (_, before) = await Post(http, $"{Api}/collections/{id}/query", """{"query_embeddings":[[0.5,0.5]],"n_results":2}""");
            }
            using (CollectionStore.Open(second)) { }
            CopyDirectory(Path.Combine(first, "travels"), Path.Combine(second, "travels"));

            (server, http) = await Start(encoder, second);
            await using (server)
            {
                var (s, body) = await Send(http, HttpMethod.Get, Api + "/collections/travels");
                Assert.Equal(HttpStatusCode.OK, s);
                Assert.Equal(id, body.GetProperty("id").GetString());
                Assert.Equal("ana", body.GetProperty("metadata").GetProperty("owner").GetString());
                Assert.Equal("ip", body.GetProperty("configuration_json").GetProperty("hnsw").GetProperty("space").GetString());
                var (_, after) = await Post(http, $"{Api}/collections/{id}/query", """{"query_embeddings":[[0.5,0.5]],"n_results":2}""");
                Assert.Null(ChromaClientTests.Diff(before, after, tol: 0));
                // ip distances 1 - dot: [0.5,0.5]·[0.6,0.8] = 0.7, ·[1,0] = 0.5.
                Assert.Equal(["y", "x"], after.GetProperty("ids")[0].EnumerateArray().Select(x => x.GetString()!).ToArray());
                Assert.Equal(0.3, after.GetProperty("distances")[0][0].GetDouble(), 1e-6);
            }
        }
        finally { Directory.Delete(root, true); }

        static void CopyDirectory(string from, string to)
        {
            Directory.CreateDirectory(to);
            foreach (var f in Directory.EnumerateFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        }
    }

    // ------------------------------------------------------------------ security

    [Fact]
    public async Task Security_TokenBindingLimitsAndPathTricks()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        string dir = TestPaths.NewTempDir("membed-chroma-sec");
        try
        {
            var e = await Assert.ThrowsAsync<ManagedEmbedException>(() => Start(encoder, dir, o => o.Host = "0.0.0.0"));
            Assert.Contains("without an auth token", e.Message);

            var (server, http) = await Start(encoder, dir, o => { o.AuthToken = "s3cret-token"; o.MaxRequestBodyBytes = 4096; });
            await using var serverScope = server;
            var (s, body) = await Send(http, HttpMethod.Get, Api + "/collections");
            Assert.Equal(HttpStatusCode.Unauthorized, s);
            Assert.Equal("AuthError", body.GetProperty("error").GetString());
            (s, _) = await Send(http, HttpMethod.Get, Api + "/collections", token: "s3cret-tokeN");
            Assert.Equal(HttpStatusCode.Unauthorized, s);
            (s, _) = await Send(http, HttpMethod.Post, "/v1/embeddings", """{"input":"x"}""");
            Assert.Equal(HttpStatusCode.Unauthorized, s);
            (s, _) = await Send(http, HttpMethod.Get, Api + "/collections", token: "s3cret-token");
            Assert.Equal(HttpStatusCode.OK, s);
            (s, _) = await Send(http, HttpMethod.Get, Api + "/collections", token: "s3cret-token", header: "X-Chroma-Token");
            Assert.Equal(HttpStatusCode.OK, s);
            (s, _) = await Send(http, HttpMethod.Get, "/api/v2/heartbeat");
            Assert.Equal(HttpStatusCode.OK, s);

            foreach (string name in (string[])["../evil", "..", "a/b", ".hidden", "x", "ok\\..\\x"])
            {
                (s, body) = await Send(http, HttpMethod.Post, Api + "/collections", JsonSerializer.Serialize(new { name }), token: "s3cret-token");
                Assert.True(s == HttpStatusCode.BadRequest, $"{name}: {(int)s} {body}");
                Assert.Equal("InvalidArgumentError", body.GetProperty("error").GetString());
            }
            (s, _) = await Send(http, HttpMethod.Get, Api + "/collections/..%2F..%2Fetc", token: "s3cret-token");
            Assert.Equal(HttpStatusCode.NotFound, s);
            (s, body) = await Send(http, HttpMethod.Post, Api + "/collections/..%2Fx/get", "{}", token: "s3cret-token");
            Assert.Equal(HttpStatusCode.BadRequest, s);
            Assert.Equal("Collection ID is not a valid UUIDv4", body.GetProperty("message").GetString());
            (s, body) = await Send(http, HttpMethod.Post, Api + "/collections", """{"name":"safe"}""", token: "s3cret-token");
            string id = body.GetProperty("id").GetString()!;
            // Record ids are data, never paths.
            (s, _) = await Send(http, HttpMethod.Post, $"{Api}/collections/{id}/add", """{"ids":["../../escape","/etc/passwd"],"embeddings":[[1,0],[0,1]]}""", token: "s3cret-token");
            Assert.Equal(HttpStatusCode.Created, s);
            Assert.Equal(["safe"], Directory.EnumerateDirectories(dir).Select(d => Path.GetFileName(d)!).ToArray());
            Assert.False(File.Exists(Path.Combine(dir, "..", "escape")));
            // The body limit.
            string big = "{\"ids\":[\"big\"],\"embeddings\":[[" + string.Join(",", Enumerable.Repeat("0.125", 2000)) + "]]}";
            (s, body) = await Send(http, HttpMethod.Post, $"{Api}/collections/{id}/add", big, token: "s3cret-token");
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, s);
            Assert.Contains("4096", body.GetProperty("message").GetString());
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Cli_NonLoopbackHost_NeedsATokenOrInsecure()
    {
        string dir = TestPaths.NewTempDir("membed-chroma-cli");
        try
        {
            var r = CliRunner.Run(["serve", "--path", dir, "--host", "0.0.0.0", "--model", model.Directory]);
            Assert.Equal(2, r.ExitCode);
            Assert.Contains("--auth-token", r.Stderr);
            Assert.Contains("--insecure", r.Stderr);
            Assert.DoesNotContain("   at ", r.Stderr);
        }
        finally { Directory.Delete(dir, true); }
    }

    // ------------------------------------------------------------------ concurrency

    [Fact]
    public async Task ManyClients_WritersAndReaders_WhileCompacting()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        string dir = TestPaths.NewTempDir("membed-chroma-conc");
        try
        {
            // Tiny compaction thresholds: the writes below compact several times while readers query.
            var (server, http) = await Start(encoder, dir, o => o.StoreOptions = new CollectionOptions { CompactionMinWalBytes = 16 << 10, CompactionRatio = 0.5 });
            await using var serverScope = server;
            const int Dim = 16, Writers = 3, Batches = 25, PerBatch = 8;
            string[] names = ["conc-a", "conc-b"];
            var ids = new Dictionary<string, string>();
            foreach (var n in names) ids[n] = await CreateCollection(http, n, ""","metadata":{"hnsw:space":"l2"}""");
            var vectors = new System.Collections.Concurrent.ConcurrentDictionary<(string, string), float[]>();
            using var done = new CancellationTokenSource();
            int readErrors = 0, reads = 0;
            var writers = names.SelectMany(n => Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
            {
                var rng = new Random(w * 31 + n.Length);
                for (int b = 0; b < Batches; b++)
                {
                    var batchIds = Enumerable.Range(0, PerBatch).Select(i => $"w{w}-b{b}-{i}").ToArray();
                    var vecs = batchIds.Select(_ => Enumerable.Range(0, Dim).Select(_ => (float)rng.NextDouble()).ToArray()).ToArray();
                    for (int i = 0; i < PerBatch; i++) vectors[(n, batchIds[i])] = vecs[i];
                    string json = JsonSerializer.Serialize(new { ids = batchIds, embeddings = vecs, metadatas = batchIds.Select(x => new { writer = w }).ToArray() });
                    var (s, body) = await Post(http, $"{Api}/collections/{ids[n]}/add", json);
                    Assert.True(s == HttpStatusCode.Created, body.ToString());
                }
            }))).ToArray();
            var readers = Enumerable.Range(0, 4).Select(r => Task.Run(async () =>
            {
                var rng = new Random(r);
                while (!done.IsCancellationRequested)
                {
                    string n = names[r % names.Length];
                    string q = JsonSerializer.Serialize(Enumerable.Range(0, Dim).Select(_ => (float)rng.NextDouble()).ToArray());
                    var (s, _) = await Post(http, $"{Api}/collections/{ids[n]}/query", "{\"query_embeddings\":[" + q + "],\"n_results\":5,\"where\":{\"writer\":{\"$ne\":1}}}");
                    var (s2, _) = await Send(http, HttpMethod.Get, $"{Api}/collections/{ids[n]}/count");
                    if (s != HttpStatusCode.OK || s2 != HttpStatusCode.OK) Interlocked.Increment(ref readErrors);
                    Interlocked.Increment(ref reads);
                }
            })).ToArray();
            await Task.WhenAll(writers);
            done.Cancel();
            await Task.WhenAll(readers);
            Assert.Equal(0, readErrors);
            Assert.True(reads > 20, $"only {reads} reads ran beside the writers");

            foreach (var n in names)
            {
                var (s, body) = await Send(http, HttpMethod.Get, $"{Api}/collections/{ids[n]}/count");
                Assert.Equal(Writers * Batches * PerBatch, body.GetInt32());
                Assert.True(Directory.EnumerateFiles(Path.Combine(dir, n), "seg-*").Any(), $"{n} never compacted");
                // Exact answers after all that: brute-force squared L2 over the vectors the test sent.
                var query = Enumerable.Range(0, Dim).Select(i => (float)Math.Sin(i)).ToArray();
                var want = vectors.Where(kv => kv.Key.Item1 == n)
                    .Select(kv => (Id: kv.Key.Item2, D: kv.Value.Select((x, i) => (double)(x - query[i]) * (x - query[i])).Sum()))
                    .OrderBy(x => x.D).Take(10).ToList();
                (s, body) = await Post(http, $"{Api}/collections/{ids[n]}/query", $$"""{"query_embeddings":[{{JsonSerializer.Serialize(query)}}],"n_results":10}""");
                Assert.Equal(HttpStatusCode.OK, s);
                Assert.Equal(want.Select(x => x.Id), body.GetProperty("ids")[0].EnumerateArray().Select(x => x.GetString()!));
                for (int i = 0; i < 10; i++) Assert.Equal(want[i].D, body.GetProperty("distances")[0][i].GetDouble(), 1e-4);
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    // ------------------------------------------------------------------ README

    [Fact]
    public async Task ReadmeExample_RunsAgainstMembed()
    {
        string node = ChromaClientTests.CheckInstalled();
        string script = File.ReadAllText(Path.Combine(ChromaClientTests.ClientDir, "readme.mjs"));
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        var snippet = new List<string>();
        bool inside = false;
        foreach (string line in script.Split('\n'))
        {
            if (line.StartsWith("// ---- README snippet", StringComparison.Ordinal)) { inside = true; continue; }
            if (line.StartsWith("// ----", StringComparison.Ordinal)) { inside = false; continue; }
            if (inside) snippet.Add(line);
        }
        Assert.True(snippet.Count >= 5);
        foreach (string line in snippet) Assert.Contains(line, readme);

        using var encoder = SentenceEncoder.Load(model.Directory);
        string dir = TestPaths.NewTempDir("membed-chroma-readme");
        try
        {
            var (server, _) = await Start(encoder, dir);
            await using var __ = server;
            var r = ChromaClientTests.RunNode(node, "readme.mjs", server.Address.ToString().TrimEnd('/'));
            Assert.True(r.Code == 0, r.Stdout + r.Stderr);
            var result = JsonDocument.Parse(r.Stdout).RootElement;
            Assert.Equal("doc1", result.GetProperty("ids")[0].GetString());
            double want = 1 - VectorMath.Dot(encoder.Encode("What is Python?"), encoder.Encode("Python is a high-level programming language."));
            Assert.Equal(want, result.GetProperty("distances")[0].GetDouble(), 1e-4);
        }
        finally { Directory.Delete(dir, true); }
    }
}
