using System.Globalization;
using System.Text.Json;
using ManagedEmbed.Testing;
using ManagedEmbed.Text;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// The tutorial's Level 2: `membed eval pairs --model A --model B` with two architectures side by side, here an MPNet
/// (all-mpnet-base-v2's published config, 2 layers) and a MiniLM (all-MiniLM-L6-v2's config), both synthesized by
/// `membed model synth`. Each column must be exactly what the single-model run prints.
/// </summary>
public sealed class SeedEvalPairsTests
{
    private static CliRunner.Result Ok(params string[] args)
    {
        var r = CliRunner.Run(args);
        Assert.True(r.ExitCode == 0, $"membed {string.Join(' ', args)} failed: {r.Stderr}");
        return r;
    }

    [Fact]
    public void MpnetAndMiniLmSideBySideEqualSingleModelRuns()
    {
        string root = TestPaths.NewTempDir("membed-seed-eval");
        string mpnet = Path.Combine(root, "mpnet"), minilm = Path.Combine(root, "minilm");
        string vocab = SeedVocab.WriteMpnet(Path.Combine(TestPaths.MiniLm, "vocab.txt"), Path.Combine(root, "mpnet-vocab.txt"));
        Ok("model", "synth", "--arch", "mpnet", "--config", Path.Combine(TestPaths.Fixtures, "encoder-configs", "all-mpnet-base-v2.2-layers.config.json"),
            "--vocab", vocab, "--seed", "11", "--pooling", "mean", "--max-seq-length", "384", "--out", mpnet);
        Ok("model", "synth", "--arch", "bert", "--config", Path.Combine(TestPaths.MiniLm, "config.json"),
            "--vocab", Path.Combine(TestPaths.MiniLm, "vocab.txt"), "--seed", "42", "--pooling", "mean", "--max-seq-length", "256", "--out", minilm);
        string pairsFile = Path.Combine(TestPaths.RepoRoot, "samples", "pairs.tsv");
        var pairs = TextInput.ReadLabeledPairs(pairsFile);
        Assert.True(pairs.Count >= 5);
        Assert.Contains("architecture: mpnet", Ok("info", "--model", mpnet).Stdout);

        // JSON: one entry per model, in --model order, each equal to that model's own run.
        string[] Json(params string[] models) => [.. models.SelectMany(m => new[] { "--model", m })];
        using var both = JsonDocument.Parse(Ok(["eval", "pairs", .. Json(mpnet, minilm), "--input", pairsFile, "--json"]).Stdout);
        var ms = both.RootElement.GetProperty("models").EnumerateArray().ToList();
        Assert.Equal(2, ms.Count);
        var sims = new List<double[]>();
        foreach (var (entry, dir) in ms.Zip([mpnet, minilm]))
        {
            Assert.Equal(dir, entry.GetProperty("model").GetString());
            using var single = JsonDocument.Parse(Ok(["eval", "pairs", "--model", dir, "--input", pairsFile, "--json"]).Stdout);
            var alone = single.RootElement.GetProperty("models").EnumerateArray().Single();
            Assert.Equal(alone.GetProperty("correct").GetInt32(), entry.GetProperty("correct").GetInt32());
            Assert.Equal(alone.GetProperty("accuracy").GetDouble(), entry.GetProperty("accuracy").GetDouble());
            var rows = entry.GetProperty("results").EnumerateArray().ToList();
            var aloneRows = alone.GetProperty("results").EnumerateArray().ToList();
            Assert.Equal(pairs.Count, rows.Count);
            for (int i = 0; i < pairs.Count; i++)
            {
                Assert.Equal(pairs[i].Text1, rows[i].GetProperty("text1").GetString());
                Assert.Equal(aloneRows[i].GetProperty("similarity").GetDouble(), rows[i].GetProperty("similarity").GetDouble());
                Assert.Equal(aloneRows[i].GetProperty("correct").GetBoolean(), rows[i].GetProperty("correct").GetBoolean());
            }
            sims.Add([.. rows.Select(r => r.GetProperty("similarity").GetDouble())]);
        }
        // Two different models, so the columns differ (a copy of one column into the other would pass the rest).
        Assert.Contains(Enumerable.Range(0, pairs.Count), i => Math.Abs(sims[0][i] - sims[1][i]) > 1e-3);

        // Text: an accuracy row per model, then per pair the label, one cell per model (similarity to 3 places), the pair.
        var lines = Ok(["eval", "pairs", .. Json(mpnet, minilm), "--input", pairsFile]).Stdout.TrimEnd('\n').Split('\n');
        Assert.Equal(2 + 2 + 1 + pairs.Count, lines.Length);
        Assert.Matches(@"^mpnet\s+\d+\.\d% \(\d+/" + pairs.Count + @"\)$", lines[1]);
        Assert.Matches(@"^minilm\s+\d+\.\d% \(\d+/" + pairs.Count + @"\)$", lines[2]);
        Assert.Equal("", lines[3]);
        Assert.Matches(@"^label\s+mpnet\s+minilm\s+pair$", lines[4]);
        for (int i = 0; i < pairs.Count; i++)
        {
            var m = System.Text.RegularExpressions.Regex.Match(lines[5 + i], @"^\s*(\d)  (-?\d\.\d{3}) (correct|WRONG)\s+(-?\d\.\d{3}) (correct|WRONG)\s+'(.*)' vs '(.*)'$");
            Assert.True(m.Success, lines[5 + i]);
            Assert.Equal(pairs[i].Label.ToString(CultureInfo.InvariantCulture), m.Groups[1].Value);
            Assert.Equal(sims[0][i].ToString("0.000", CultureInfo.InvariantCulture), m.Groups[2].Value);
            Assert.Equal(sims[1][i].ToString("0.000", CultureInfo.InvariantCulture), m.Groups[4].Value);
            Assert.Equal(pairs[i].Text1, m.Groups[6].Value);
        }
    }
}
