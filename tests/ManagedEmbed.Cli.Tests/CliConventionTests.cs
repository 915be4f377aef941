using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// Issue 14: one set of conventions across commands (parser errors, typo suggestions, response files, completion,
/// -k defaults, --json/--jsonl, ids and lines, index search scores) and the range checks, through the real binary.
/// </summary>
public sealed class CliConventionTests(SyntheticModels models) : IClassFixture<SyntheticModels>
{
    private static string Sample(string name) => Path.Combine(TestPaths.RepoRoot, "samples", name);

    private static CliRunner.Result Ok(params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.True(r.ExitCode == 0, $"membed {string.Join(' ', args)} failed: {r.Stderr}");
        return r;
    }

    private static void Fails(string expected, params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.True(r.ExitCode == 2, $"membed {string.Join(' ', args)}: exit {r.ExitCode}, stderr {r.Stderr}");
        Assert.StartsWith("membed: error: ", r.Stderr);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
        Assert.Contains(expected, r.Stderr);
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void UsageErrors_AreOneLine_WithTheNearestSpelling()
    {
        Fails("unknown command 'serch'; did you mean 'search'?", "serch", "x");
        Fails("unknown command 'collection qeury'; did you mean 'query'?", "collection", "qeury");
        Fails("unknown option '--wher'; did you mean '--where'?", "collection", "query", "--path", "p", "--name", "n", "--wher", "{}");
        Fails("unknown option '--corpsu'; did you mean '--corpus'?", "search", "--corpsu", "c.txt", "q");
        Fails("option --k needs a value", "search", "--corpus", "c.txt", "-k");
        Fails("option --k given more than once", "search", "-k", "1", "--k", "2", "q");
        Fails("'membed collection' needs a command", "collection");
    }

    [Fact]
    public void NoArguments_PrintsHelp_Exit2_AndVersionMatchesInfo()
    {
        var r = CliRunner.Run([]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("Commands:", r.Stdout);
        var v = Ok("--version").Stdout.Trim();
        Assert.Matches(@"^\d+\.\d+\.\d+$", v);
        Assert.StartsWith($"membed {v}\n", Ok("info").Stdout);
    }

    [Fact]
    public void ResponseFile_ExpandsIntoTheCommandLine()
    {
        string d = TestPaths.NewTempDir("membed-rsp");
        try
        {
            string rsp = Path.Combine(d, "synth.rsp"), o = Path.Combine(d, "x.fvecs");
            File.WriteAllText(rsp, "--n 5\n--dim 3\n--clusters 1\n--seed 1\n");
            Ok("data", "synth", "@" + rsp, "--out", o);
            Assert.Equal(5 * (4 + 3 * 4), new FileInfo(o).Length); // .fvecs: per vector an int32 dimension and 3 floats
            Assert.Equal(3, BinaryPrimitives.ReadInt32LittleEndian(File.ReadAllBytes(o)));
        }
        finally { Directory.Delete(d, true); }
    }

    [Fact]
    public void Completion_ScriptsAndTheSuggestDirective()
    {
        Assert.Contains("complete -o default -F _membed_complete membed", Ok("completion", "bash").Stdout);
        Assert.Contains("compdef _membed_complete membed", Ok("completion", "zsh").Stdout);
        Assert.Contains("Register-ArgumentCompleter -Native -CommandName membed", Ok("completion", "pwsh").Stdout);
        Fails("unknown shell 'fish'", "completion", "fish");
        string line = "membed collection query --wh";
        var s = Ok($"[suggest:{line.Length}]", line).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["--where", "--where-document"], s);
        string sub = "membed coll";
        Assert.Equal(["collection"], Ok($"[suggest:{sub.Length}]", sub).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void OutOfRangeScoresAndK_AreRefusedBeforeAnyWork()
    {
        // No model is loaded for these (the model path does not exist): the range check comes first.
        string none = Path.Combine(Path.GetTempPath(), "membed-no-such-model");
        Fails("option --min-score must be in [-1, 1] (cosine similarity), got '2'", "search", "--model", none, "--corpus", Sample("corpus.txt"), "--min-score", "2", "q");
        Fails("option --min-score must be in [-1, 1]", "search", "--model", none, "--corpus", Sample("corpus.txt"), "--min-score", "-1.5", "q");
        Fails("option --k must be an integer in [1,", "search", "--model", none, "--corpus", Sample("corpus.txt"), "-k", "0", "q");
        Fails("option --threshold must be in [-1, 1]", "cluster", "--model", none, "--input", Sample("sentences.txt"), "--method", "community", "--threshold", "1.5");
        Fails("option --threshold must be in [-1, 1]", "mine-paraphrases", "--model", none, "--input", Sample("sentences.txt"), "--threshold", "-2");
        Fails("option --threshold must be in [-1, 1]", "eval", "pairs", "--model", none, "--input", Sample("pairs.tsv"), "--threshold", "3");
        Fails("option --k must be an integer in [1,", "index", "search", "--index", "i", "--queries", "q", "-k", "0");
    }

    [Fact]
    public void CollectionQuery_MinScoreOutsideTheSpace_IsAnError_AndNIsAnAliasOfK()
    {
        string d = TestPaths.NewTempDir("membed-conv-coll");
        try
        {
            string input = Path.Combine(d, "r.jsonl");
            d = Path.Combine(d, "store");
            File.WriteAllText(input, "{\"id\":\"a\",\"embedding\":[1,0]}\n{\"id\":\"b\",\"embedding\":[0,1]}\n{\"id\":\"c\",\"embedding\":[1,1]}\n");
            Ok("collection", "create", "--path", d, "--name", "c", "--no-model");
            Ok("collection", "add", "--path", d, "--name", "c", "--input", input);
            Fails("option --min-score must be in [-1, 1] for the cosine collection 'c', got '1.5'",
                "collection", "query", "--path", d, "--name", "c", "--embedding", "[1,0]", "--min-score", "1.5");
            // -k, --k, --n and --n-results are one option; the default is Chroma's 10 (here: all 3 records).
            Assert.Equal(3, Ok("collection", "query", "--path", d, "--name", "c", "--embedding", "[1,0]").Stdout.TrimEnd('\n').Split('\n').Length);
            foreach (var k in new[] { "-k", "--k", "--n", "--n-results" })
                Assert.Equal(2, Ok("collection", "query", "--path", d, "--name", "c", "--embedding", "[1,0]", k, "2").Stdout.TrimEnd('\n').Split('\n').Length);
            Fails("option --k given more than once", "collection", "query", "--path", d, "--name", "c", "--embedding", "[1,0]", "--n", "1", "-k", "2");
            // count prints the number; --json/--jsonl on count and list.
            Assert.Equal("3\n", Ok("collection", "count", "--path", d, "--name", "c").Stdout);
            Assert.Equal(3, JsonDocument.Parse(Ok("collection", "count", "--path", d, "--name", "c", "--json").Stdout).RootElement.GetProperty("count").GetInt32());
            Assert.Equal("c", JsonDocument.Parse(Ok("collection", "list", "--path", d, "--json").Stdout).RootElement.GetProperty("collections")[0].GetString());
            Assert.Equal("{\"name\":\"c\"}\n", Ok("collection", "list", "--path", d, "--jsonl").Stdout);
            // --json is one document (Chroma's parallel lists), --jsonl one record per line.
            var doc = JsonDocument.Parse(Ok("collection", "peek", "--path", d, "--name", "c", "--json").Stdout).RootElement;
            Assert.Equal(["a", "b", "c"], doc.GetProperty("ids").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal(3, Ok("collection", "get", "--path", d, "--name", "c", "--jsonl").Stdout.TrimEnd('\n').Split('\n').Length);
            var q = JsonDocument.Parse(Ok("collection", "query", "--path", d, "--name", "c", "--embedding", "[1,0]", "-k", "1", "--json").Stdout).RootElement;
            Assert.Equal("a", q.GetProperty("ids")[0][0].GetString());
        }
        finally { Directory.Delete(Path.GetDirectoryName(d)!, true); }
    }

    [Fact]
    public void IndexSearch_WritesScoresBesideIds_AndClampsNprobe()
    {
        string d = TestPaths.NewTempDir("membed-conv-index");
        try
        {
            string b = Path.Combine(d, "b.fvecs"), q = Path.Combine(d, "q.fvecs"), flat = Path.Combine(d, "flat.index"), ivf = Path.Combine(d, "ivf.index");
            Ok("data", "synth", "--n", "50", "--dim", "8", "--clusters", "3", "--seed", "1", "--out", b);
            Ok("data", "synth", "--n", "4", "--dim", "8", "--clusters", "3", "--seed", "2", "--out", q);
            Ok("index", "build", "--vectors", b, "--kind", "flat", "--out", flat);
            var bv = ReadFvecs(b);
            var qv = ReadFvecs(q);

            // Reference: exact inner products, best first (ties by lower id).
            List<(int Id, float Score)> Exact(int qi) => Enumerable.Range(0, bv.Count)
                .Select(i => (i, bv[i].Zip(qv[qi], (x, y) => (double)x * y).Sum()))
                .OrderByDescending(t => t.Item2).ThenBy(t => t.i).Select(t => (t.i, (float)t.Item2)).ToList();

            string ids = Path.Combine(d, "ids.ivecs"), scores = Path.Combine(d, "scores.fvecs");
            Ok("index", "search", "--index", flat, "--queries", q, "-k", "3", "--out", ids, "--out-scores", scores);
            var gotIds = ReadIvecs(ids);
            var gotScores = ReadFvecs(scores);
            for (int qi = 0; qi < qv.Count; qi++)
            {
                var want = Exact(qi).Take(3).ToList();
                Assert.Equal(want.Select(w => w.Id), gotIds[qi]);
                for (int j = 0; j < 3; j++) Assert.Equal(want[j].Score, gotScores[qi][j], 4);
            }

            // --jsonl: one object per query on stdout (timings on stderr); --json: one document. --out is optional.
            var jl = Ok("index", "search", "--index", flat, "--queries", q, "-k", "2", "--jsonl");
            var lines = jl.Stdout.TrimEnd('\n').Split('\n');
            Assert.Equal(qv.Count, lines.Length);
            Assert.Contains("queries/s", jl.Stderr);
            for (int qi = 0; qi < qv.Count; qi++)
            {
                var o = JsonDocument.Parse(lines[qi]).RootElement;
                Assert.Equal(qi, o.GetProperty("query").GetInt32());
                Assert.Equal(Exact(qi).Take(2).Select(w => w.Id), o.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
                Assert.Equal(Exact(qi)[0].Score, o.GetProperty("scores")[0].GetSingle(), 4);
            }
            var doc = JsonDocument.Parse(Ok("index", "search", "--index", flat, "--queries", q, "--json").Stdout).RootElement;
            Assert.Equal(10, doc.GetProperty("k").GetInt32()); // the default k
            Assert.Equal(qv.Count, doc.GetProperty("results").GetArrayLength());

            // nprobe above nlist: all lists are searched (FAISS's rule), with one note on stderr; the result is exact.
            Ok("index", "build", "--vectors", b, "--kind", "ivf", "--nlist", "4", "--seed", "3", "--out", ivf);
            var clamped = Ok("index", "search", "--index", ivf, "--queries", q, "-k", "3", "--nprobe", "99", "--jsonl");
            Assert.Contains("membed: note: --nprobe 99 exceeds nlist 4: searching all 4 lists", clamped.Stderr);
            var first = JsonDocument.Parse(clamped.Stdout.Split('\n')[0]).RootElement;
            Assert.Equal(Exact(0).Take(3).Select(w => w.Id), first.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        }
        finally { Directory.Delete(d, true); }
    }

    [Fact]
    public void Search_Json_IsOneDocument_Jsonl_OneLinePerResult_WithIdAndFileLine()
    {
        string d = TestPaths.NewTempDir("membed-conv-search");
        try
        {
            // Blank lines make the 0-based id (among texts) and the 1-based file line differ.
            string corpus = Path.Combine(d, "corpus.txt");
            File.WriteAllText(corpus, "\nalpha beta\n\ngamma delta\nepsilon\n");
            int[] lineOfId = [2, 4, 5];
            var doc = JsonDocument.Parse(Ok("search", "--model", models.ModelA, "--corpus", corpus, "--json", "alpha", "gamma").Stdout).RootElement;
            Assert.Equal(3, doc.GetProperty("k").GetInt32()); // the tutorial's default
            var qs = doc.GetProperty("queries");
            Assert.Equal(2, qs.GetArrayLength());
            Assert.Equal("gamma", qs[1].GetProperty("query").GetString());
            foreach (var r in qs[0].GetProperty("results").EnumerateArray())
                Assert.Equal(lineOfId[r.GetProperty("id").GetInt32()], r.GetProperty("line").GetInt32());

            var jl = Ok("search", "--model", models.ModelA, "--corpus", corpus, "-k", "2", "--jsonl", "alpha", "gamma").Stdout.TrimEnd('\n').Split('\n');
            Assert.Equal(4, jl.Length); // 2 queries × 2 results
            var o = JsonDocument.Parse(jl[3]).RootElement;
            Assert.Equal(1, o.GetProperty("query").GetInt32());
            Assert.Equal(2, o.GetProperty("rank").GetInt32());
            Assert.Equal(lineOfId[o.GetProperty("id").GetInt32()], o.GetProperty("line").GetInt32());

            // cluster: the same id and line fields for its members.
            var cl = JsonDocument.Parse(Ok("cluster", "--model", models.ModelA, "--input", corpus, "-k", "1", "--json").Stdout).RootElement;
            foreach (var m in cl.GetProperty("clusters")[0].GetProperty("members").EnumerateArray())
                Assert.Equal(lineOfId[m.GetProperty("id").GetInt32()], m.GetProperty("line").GetInt32());
            var cll = Ok("cluster", "--model", models.ModelA, "--input", corpus, "-k", "1", "--jsonl").Stdout.TrimEnd('\n').Split('\n');
            Assert.Single(cll);
            Assert.Equal(0, JsonDocument.Parse(cll[0]).RootElement.GetProperty("cluster").GetInt32());
            Fails("give --json or --jsonl, not both", "search", "--model", models.ModelA, "--corpus", corpus, "--json", "--jsonl", "q");
        }
        finally { Directory.Delete(d, true); }
    }

    [Fact]
    public void Similarity_Json_IsTheMatrix_Jsonl_OneRowPerLine()
    {
        var doc = JsonDocument.Parse(Ok("similarity", "--model", models.ModelA, "--json", "a cat", "a dog", "stocks fell").Stdout).RootElement;
        Assert.Equal(["a cat", "a dog", "stocks fell"], doc.GetProperty("texts").EnumerateArray().Select(e => e.GetString()));
        var rows = doc.GetProperty("similarity").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();
        Assert.Equal(3, rows.Length);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(3, rows[i].Length);
            Assert.Equal(1.0, rows[i][i], 4); // cosine of a text with itself
            for (int j = 0; j < 3; j++) Assert.Equal(rows[i][j], rows[j][i], 6);
        }
        var lines = Ok("similarity", "--model", models.ModelA, "--jsonl", "a cat", "a dog", "stocks fell").Stdout.TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        var second = JsonDocument.Parse(lines[1]).RootElement;
        Assert.Equal("a dog", second.GetProperty("text").GetString());
        Assert.Equal(rows[1], second.GetProperty("scores").EnumerateArray().Select(e => e.GetDouble()));
    }

    [Fact]
    public void Embed_InputAndOutputDash_AreStdinAndStdout()
    {
        var a = CliRunner.Run(["embed", "--model", models.ModelA, "--input", "-", "--output", "-"], stdin: "one\ntwo\n");
        var b = CliRunner.Run(["embed", "--model", models.ModelA], stdin: "one\ntwo\n");
        Assert.Equal(0, a.ExitCode);
        Assert.Equal(2, a.Stdout.TrimEnd('\n').Split('\n').Length);
        Assert.Equal(b.Stdout, a.Stdout);
    }

    private static List<float[]> ReadFvecs(string path) => ReadVecs(path, (s, i) => BinaryPrimitives.ReadSingleLittleEndian(s[(4 * i)..]));
    private static List<int[]> ReadIvecs(string path) => ReadVecs(path, (s, i) => BinaryPrimitives.ReadInt32LittleEndian(s[(4 * i)..]));

    private delegate T Item<T>(ReadOnlySpan<byte> row, int i);

    /// <summary>The .fvecs/.ivecs layout read here, not with the code under test: per row an int32 d, then d 4-byte items.</summary>
    private static List<T[]> ReadVecs<T>(string path, Item<T> item)
    {
        var bytes = File.ReadAllBytes(path);
        var rows = new List<T[]>();
        for (int at = 0; at < bytes.Length;)
        {
            int dim = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at));
            var row = new T[dim];
            for (int i = 0; i < dim; i++) row[i] = item(bytes.AsSpan(at + 4), i);
            rows.Add(row);
            at += 4 + 4 * dim;
        }
        return rows;
    }
}
