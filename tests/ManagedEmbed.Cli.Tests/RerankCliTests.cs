using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// `membed rerank` and `membed search --rerank` on a cross-encoder synthesized by `membed model synth --arch
/// bert-cross-encoder`, checked against the PyTorch reference scores of the same seeded model (tests/fixtures/crossencoder).
/// </summary>
public class RerankCliTests : IClassFixture<RerankCliTests.Models>
{
    /// <summary>The cross-encoder (ms-marco shape, seed 15) and a small bi-encoder, synthesized once.</summary>
    public sealed class Models
    {
        public string Root { get; } = TestPaths.NewTempDir("membed-cli-rerank");
        public string CrossEncoder => Path.Combine(Root, "ce");
        public string BiEncoder => Path.Combine(Root, "bi");

        public Models()
        {
            string vocab = Path.Combine(TestPaths.MiniLm, "vocab.txt");
            var r = CliRunner.Run(["model", "synth", "--arch", "bert-cross-encoder", "--config",
                Path.Combine(TestPaths.RepoRoot, "weights", "synth", "ms-marco-MiniLM-L-6-v2-config.json"), "--vocab", vocab, "--seed", "15", "--out", CrossEncoder]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            r = CliRunner.Run(["model", "synth", "--config", Path.Combine(TestPaths.RepoRoot, "weights", "synth", "tiny-gelu-config.json"),
                "--vocab", vocab, "--seed", "3", "--out", BiEncoder]);
            Assert.True(r.ExitCode == 0, r.Stderr);
        }
    }

    private readonly Models _m;
    private readonly string _query;
    private readonly string[] _docs;
    private readonly double[] _scores;

    public RerankCliTests(Models m)
    {
        _m = m;
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "crossencoder", "crossencoder-synth.json")));
        var rank = doc.RootElement.GetProperty("models").EnumerateArray().Single(x => x.GetProperty("name").GetString() == "ms-marco-MiniLM-L-6-v2-shape").GetProperty("rank");
        _query = rank.GetProperty("query").GetString()!;
        _docs = rank.GetProperty("documents").EnumerateArray().Select(x => x.GetString()!).ToArray();
        _scores = rank.GetProperty("scores").EnumerateArray().Select(x => x.GetDouble()).ToArray();
    }

    private int[] ReferenceOrder => Enumerable.Range(0, _docs.Length).OrderByDescending(i => _scores[i]).ToArray();

    private string WriteDocs(string name, bool blankSecondLine = false)
    {
        var lines = _docs.ToList();
        if (blankSecondLine) lines.Insert(1, "");
        string path = Path.Combine(_m.Root, name);
        File.WriteAllText(path, string.Join("\n", lines) + "\n");
        return path;
    }

    [Fact]
    public void Rerank_prints_rank_score_document_lines_in_the_reference_order()
    {
        var r = CliRunner.Run(["rerank", "--model", _m.CrossEncoder, "--query", _query, "--input", WriteDocs("docs.txt"), "--threads", "1"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(_docs.Length, lines.Length);
        int[] order = ReferenceOrder;
        for (int i = 0; i < lines.Length; i++)
        {
            var m = Regex.Match(lines[i], @"^(\d+)  (-?\d\.\d{4})  (.*)$");
            Assert.True(m.Success, lines[i]);
            Assert.Equal(i + 1, int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
            Assert.Equal(_docs[order[i]], m.Groups[3].Value);
            Assert.Equal(_scores[order[i]], double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), 0.00011);
        }
    }

    [Fact]
    public void Rerank_json_gives_zero_based_input_lines_and_honours_k()
    {
        // A blank second line is skipped but still counts as an input line.
        var r = CliRunner.Run(["rerank", "--model", _m.CrossEncoder, "--query", _query, "--input", WriteDocs("docs-blank.txt", blankSecondLine: true), "--k", "3", "--json"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(_query, doc.RootElement.GetProperty("query").GetString());
        var results = doc.RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(3, results.Count);
        int[] order = ReferenceOrder;
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(i + 1, results[i].GetProperty("rank").GetInt32());
            int d = order[i];
            Assert.Equal(d == 0 ? 0 : d + 1, results[i].GetProperty("index").GetInt32());
            Assert.Equal(_docs[d], results[i].GetProperty("document").GetString());
            Assert.Equal(_scores[d], results[i].GetProperty("score").GetDouble(), 1e-5);
        }
    }

    [Fact]
    public void Search_with_rerank_reorders_the_first_stage_candidates_by_the_cross_encoder()
    {
        string corpus = WriteDocs("corpus.txt");
        var r = CliRunner.Run(["search", "--model", _m.BiEncoder, "--corpus", corpus, "--k", "3", "--rerank", _m.CrossEncoder, "--rerank-k", "7", "--json", _query]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var results = doc.RootElement.GetProperty("queries")[0].GetProperty("results").EnumerateArray().ToList();
        int[] order = ReferenceOrder;
        // Every document is a candidate (rerank-k 7 of 7), so the final top 3 is the cross-encoder's own top 3.
        Assert.Equal(order[..3].Select(i => (long)i), results.Select(x => x.GetProperty("id").GetInt64()));
        for (int i = 0; i < 3; i++) Assert.Equal(_scores[order[i]], results[i].GetProperty("score").GetDouble(), 1e-5);
        // With one candidate the cross-encoder can only keep the bi-encoder's best document.
        var first = CliRunner.Run(["search", "--model", _m.BiEncoder, "--corpus", corpus, "--k", "1", "--json", _query]);
        var one = CliRunner.Run(["search", "--model", _m.BiEncoder, "--corpus", corpus, "--k", "1", "--rerank", _m.CrossEncoder, "--rerank-k", "1", "--json", _query]);
        Assert.True(one.ExitCode == 0, one.Stderr);
        long firstId = JsonDocument.Parse(first.Stdout).RootElement.GetProperty("queries")[0].GetProperty("results")[0].GetProperty("id").GetInt64();
        var oneHit = JsonDocument.Parse(one.Stdout).RootElement.GetProperty("queries")[0].GetProperty("results")[0];
        Assert.Equal(firstId, oneHit.GetProperty("id").GetInt64());
        Assert.Equal(_scores[firstId], oneHit.GetProperty("score").GetDouble(), 1e-5);
    }

    [Theory]
    [InlineData("rerank-no-query", "--query")]
    [InlineData("rerank-bi-encoder", "not a cross-encoder")]
    [InlineData("rerank-bad-k", "--k")]
    [InlineData("search-k-without-rerank", "--rerank-k needs --rerank")]
    [InlineData("search-rerank-k-below-k", "smaller than --k")]
    public void Bad_input_is_a_one_line_error_with_exit_2(string scenario, string mentioned)
    {
        string docs = WriteDocs("bad-docs.txt");
        string[] args = scenario switch
        {
            "rerank-no-query" => ["rerank", "--model", _m.CrossEncoder, "--input", docs],
            "rerank-bi-encoder" => ["rerank", "--model", _m.BiEncoder, "--query", "q", "--input", docs],
            "rerank-bad-k" => ["rerank", "--model", _m.CrossEncoder, "--query", "q", "--input", docs, "--k", "0"],
            "search-k-without-rerank" => ["search", "--model", _m.BiEncoder, "--corpus", docs, "--rerank-k", "5", "q"],
            _ => ["search", "--model", _m.BiEncoder, "--corpus", docs, "--k", "5", "--rerank", _m.CrossEncoder, "--rerank-k", "2", "q"],
        };
        var r = CliRunner.Run(args);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("", r.Stdout);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.Contains(mentioned, r.Stderr);
    }
}
