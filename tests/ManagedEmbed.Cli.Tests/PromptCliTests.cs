using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// `membed embed --prompt-name/--prompt/--dim/--normalize` and `membed similarity` reproduce the PyTorch reference of
/// sentence-transformers' encode with prompts and truncate_dim (tests/fixtures/prompts, tools/gen_prompt_fixtures.py).
/// </summary>
public class PromptCliTests
{
    private static readonly string FixturePath = Path.Combine(TestPaths.Fixtures, "prompts", "prompts-synth.json");

    private static CliRunner.Result Membed(params string[] args) => CliRunner.Run(args);

    /// <summary>Synthesizes the fixture's first model (E5-style query/passage prompts) with the CLI.</summary>
    private static (string Dir, JsonElement Model, string[] Texts, JsonDocument Doc) Model(string tmp, int index)
    {
        var doc = JsonDocument.Parse(File.ReadAllBytes(FixturePath));
        var m = doc.RootElement.GetProperty("models")[index];
        string Resolve(string p) => p.StartsWith("shared:", StringComparison.Ordinal) ? Path.Combine(TestPaths.Shared, p[7..]) : Path.Combine(TestPaths.RepoRoot, p[5..]);
        string dir = Path.Combine(tmp, "m");
        var synth = new List<string> { "model", "synth", "--config", Resolve(m.GetProperty("config").GetString()!), "--vocab", Resolve(m.GetProperty("vocab").GetString()!),
            "--seed", m.GetProperty("seed").GetUInt64().ToString(CultureInfo.InvariantCulture), "--pooling", m.GetProperty("pooling").GetString()!,
            "--max-seq-length", m.GetProperty("max_seq_length").GetInt32().ToString(CultureInfo.InvariantCulture), "--out", dir };
        if (!m.GetProperty("normalize").GetBoolean()) synth.Add("--no-normalize");
        var r = Membed([.. synth]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        File.WriteAllText(Path.Combine(dir, "config_sentence_transformers.json"), m.GetProperty("config_sentence_transformers").GetRawText());
        string pooling = Path.Combine(dir, "1_Pooling", "config.json");
        var node = JsonNode.Parse(File.ReadAllText(pooling))!;
        node["include_prompt"] = m.GetProperty("include_prompt").GetBoolean();
        File.WriteAllText(pooling, node.ToJsonString());
        var texts = doc.RootElement.GetProperty("texts").EnumerateArray().Select(t => t.GetString()!).ToArray();
        return (dir, m, texts, doc);
    }

    private static float[][] Expected(JsonElement m, Func<JsonElement, bool> match)
    {
        var c = m.GetProperty("cases").EnumerateArray().Single(x => match(x.GetProperty("call")));
        return c.GetProperty("embeddings").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
    }

    private static bool Has(JsonElement call, string key, string? value = null) =>
        call.TryGetProperty(key, out var v) && (value is null || v.ToString() == value);

    [Fact]
    public void Embed_with_prompt_name_dim_and_normalize_matches_the_reference()
    {
        string tmp = TestPaths.NewTempDir("membed-cli-prompt");
        var (dir, m, texts, doc) = Model(tmp, 1); // include_prompt false: the prompt's tokens are left out of the pool
        using var _ = doc;
        // The empty text is skipped: embed reads one text per line, and the fixture's "" case is a blank line there.
        var keep = Enumerable.Range(0, texts.Length).Where(i => texts[i].Trim().Length > 0).ToArray();
        string input = Path.Combine(tmp, "in.txt");
        File.WriteAllText(input, string.Join("\n", keep.Select(i => texts[i])) + "\n");
        var r = Membed("embed", "--model", dir, "--input", input, "--prompt-name", "query", "--dim", "16", "--normalize");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var want = Expected(m, c => Has(c, "prompt_name", "query") && Has(c, "truncate_dim", "16") && Has(c, "normalize_embeddings"));
        var rows = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l =>
        {
            using var d = JsonDocument.Parse(l);
            return d.RootElement.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        }).ToArray();
        Assert.Equal(keep.Length, rows.Length);
        for (int i = 0; i < keep.Length; i++)
        {
            Assert.Equal(16, rows[i].Length);
            for (int j = 0; j < 16; j++)
                Assert.True(Math.Abs(rows[i][j] - want[keep[i]][j]) <= 1e-5, $"text {keep[i]} dim {j}: {rows[i][j]} vs {want[keep[i]][j]}");
        }
    }

    [Fact]
    public void Similarity_applies_the_prompt_and_prints_cosines_of_the_reference_vectors()
    {
        string tmp = TestPaths.NewTempDir("membed-cli-prompt");
        var (dir, m, texts, doc) = Model(tmp, 0);
        using var _ = doc;
        var r = Membed("similarity", "--model", dir, "--prompt", "Custom instruction: ", texts[0], texts[1]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var want = Expected(m, c => Has(c, "prompt", "Custom instruction: ") && !Has(c, "prompt_name"));
        double dot = 0, na = 0, nb = 0;
        for (int j = 0; j < want[0].Length; j++) { dot += want[0][j] * want[1][j]; na += want[0][j] * want[0][j]; nb += want[1][j] * want[1][j]; }
        string expected = (dot / Math.Sqrt(na * nb)).ToString("F4", CultureInfo.InvariantCulture);
        Assert.Equal(expected, r.Stdout.Split('\n')[0].Split('\t')[1]);
    }

    [Fact]
    public void Bad_prompt_options_fail_with_one_line_and_no_output()
    {
        string tmp = TestPaths.NewTempDir("membed-cli-prompt");
        var (dir, _, _, doc) = Model(tmp, 0);
        using var _d = doc;
        string input = Path.Combine(tmp, "in.txt");
        File.WriteAllText(input, "hello\n");
        foreach (var (args, message) in new (string[], string)[]
        {
            (["--prompt-name", "qurey"], "membed: error: prompt name \"qurey\" is not one of the model's prompts (passage, query)\n"),
            (["--prompt-name", "query", "--prompt", "q: "], "membed: error: give --prompt or --prompt-name, not both\n"),
            (["--dim", "65"], "membed: error: option --dim must be an integer in [1, 64], got '65'\n"),
        })
        {
            var r = Membed(["embed", "--model", dir, "--input", input, .. args]);
            Assert.Equal(2, r.ExitCode);
            Assert.Equal(message, r.Stderr);
            Assert.Equal("", r.Stdout);
        }
    }
}
