using System.Globalization;
using System.Text.Json;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// `membed cluster --method community` and `membed mine-paraphrases` against references computed here from the
/// vectors `membed embed` prints (sentence-transformers' community_detection and paraphrase_mining, brute force).
/// </summary>
public class UtilCliTests
{
    private static readonly string[] Sentences =
    [
        "The cat sits on the mat.", "A cat is sitting on a mat.", "The dog plays in the garden.", "A dog is playing in the yard.",
        "Stock markets fell sharply today.", "Shares dropped steeply on the exchange.", "I love pasta with tomato sauce.",
        "Spaghetti with tomato sauce is my favourite.", "The train leaves at noon.", "Our flight departs in the morning.",
        "Quantum computers use qubits.", "A qubit is the unit of quantum information.",
    ];

    private static (string Model, string Input, double[][] Unit) Setup()
    {
        string tmp = TestPaths.NewTempDir("membed-cli-util");
        string model = Path.Combine(tmp, "m");
        var r = CliRunner.Run(["model", "synth", "--config", Path.Combine(TestPaths.RepoRoot, "weights", "synth", "tiny-gelu-config.json"),
            "--vocab", Path.Combine(TestPaths.MiniLm, "vocab.txt"), "--seed", "5", "--out", model]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        string input = Path.Combine(tmp, "in.txt");
        File.WriteAllText(input, string.Join("\n", Sentences) + "\n");
        var e = CliRunner.Run(["embed", "--model", model, "--input", input]);
        Assert.True(e.ExitCode == 0, e.Stderr);
        var unit = e.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l =>
        {
            using var d = JsonDocument.Parse(l);
            var v = d.RootElement.GetProperty("embedding").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            double n = Math.Sqrt(v.Sum(x => x * x));
            return v.Select(x => x / n).ToArray();
        }).ToArray();
        Assert.Equal(Sentences.Length, unit.Length);
        return (model, input, unit);
    }

    private static double Cos(double[] a, double[] b) => a.Zip(b, (x, y) => x * y).Sum();

    [Fact]
    public void Community_clustering_matches_the_reference_on_the_embedded_vectors()
    {
        var (model, input, u) = Setup();
        int n = u.Length, min = 3;
        // A threshold between two observed similarities (so rounding cannot flip a pair), near the upper third.
        var sims = (from i in Enumerable.Range(0, n) from j in Enumerable.Range(0, n) where i < j select Cos(u[i], u[j])).OrderByDescending(x => x).ToArray();
        int at = Enumerable.Range(sims.Length / 4, sims.Length / 2).First(t => sims[t] - sims[t + 1] > 1e-4);
        double threshold = (sims[at] + sims[at + 1]) / 2;
        var proposed = new List<int[]>();
        for (int i = 0; i < n; i++)
        {
            var s = Enumerable.Range(0, n).Select(j => (J: j, S: Cos(u[i], u[j]))).OrderByDescending(x => x.S).ThenBy(x => x.J).ToArray();
            if (s[min - 1].S >= threshold) proposed.Add(s.Where(x => x.S >= threshold).Select(x => x.J).ToArray());
        }
        var taken = new HashSet<int>();
        var want = new List<int[]>();
        foreach (var c in proposed.OrderByDescending(c => c.Length))
        {
            var rest = c.Where(x => !taken.Contains(x)).ToArray();
            if (rest.Length >= min) { want.Add(rest); taken.UnionWith(rest); }
        }
        Assert.NotEmpty(want);
        var r = CliRunner.Run(["cluster", "--model", model, "--input", input, "--method", "community",
            "--threshold", threshold.ToString("R", CultureInfo.InvariantCulture), "--min-size", "3", "--json"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var got = doc.RootElement.GetProperty("clusters").EnumerateArray()
            .Select(c => c.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("id").GetInt32()).ToArray()).ToArray();
        Assert.Equal(want.Count, got.Length);
        var wantSorted = want.OrderByDescending(c => c.Length).ToList();
        for (int c = 0; c < got.Length; c++) Assert.Equal(wantSorted[c].Order(), got[c].Order());
        Assert.Equal(n - want.Sum(c => c.Length), doc.RootElement.GetProperty("unassigned").GetInt32());
        foreach (var c in doc.RootElement.GetProperty("clusters").EnumerateArray())
            foreach (var m in c.GetProperty("members").EnumerateArray())
                Assert.Equal(m.GetProperty("id").GetInt32() + 1, m.GetProperty("line").GetInt32());
    }

    [Fact]
    public void Mine_paraphrases_matches_the_reference_pairs()
    {
        var (model, input, u) = Setup();
        int n = u.Length, topK = 2;
        var cand = new List<(double S, int I, int J)>();
        for (int i = 0; i < n; i++)
            cand.AddRange(Enumerable.Range(0, n).Select(j => (S: Cos(u[i], u[j]), I: i, J: j)).OrderByDescending(x => x.S).ThenBy(x => x.J).Take(topK + 1).Where(x => x.J != i));
        var seen = new HashSet<(int, int)>();
        var want = cand.OrderByDescending(c => c.S).Where(c => seen.Add((Math.Min(c.I, c.J), Math.Max(c.I, c.J)))).ToList();
        var r = CliRunner.Run(["mine-paraphrases", "--model", model, "--input", input, "--top-k", "2", "--json"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var got = doc.RootElement.GetProperty("pairs").EnumerateArray().ToArray();
        Assert.Equal(want.Count, got.Length);
        Assert.Equal(want.Select(w => (Math.Min(w.I, w.J), Math.Max(w.I, w.J))).ToHashSet(),
            got.Select(g => (g.GetProperty("i").GetInt32(), g.GetProperty("j").GetInt32())).ToHashSet());
        for (int t = 0; t < got.Length; t++)
        {
            Assert.True(Math.Abs(got[t].GetProperty("score").GetDouble() - want[t].S) <= 1e-5);
            Assert.Equal(Sentences[got[t].GetProperty("i").GetInt32()], got[t].GetProperty("text_i").GetString());
        }

        var bad = CliRunner.Run(["mine-paraphrases", "--model", model, "--input", input, "--threshold", "2"]);
        Assert.Equal(2, bad.ExitCode);
        Assert.Equal("membed: error: option --threshold must be in [-1, 1] (cosine similarity), got '2'\n", bad.Stderr); // issue 14: one wording for range errors
        Assert.Equal("", bad.Stdout);
        var mixed = CliRunner.Run(["cluster", "--model", model, "--input", input, "--method", "community", "--k", "3"]);
        Assert.Equal("membed: error: --k applies to --method kmeans only\n", mixed.Stderr);
    }
}
