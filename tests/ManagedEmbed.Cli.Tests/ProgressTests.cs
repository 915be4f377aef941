using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// The progress renderer (issue 14): frames are throttled to 10 a second but the first report draws (the old bar
/// started its clock at long.MinValue, so the difference overflowed and nothing drew before 100%), and it ends
/// with a final line.
/// </summary>
public class ProgressRendererTests
{
    private static (ProgressRenderer Bar, StringWriter Out, Func<long, long> Set) Make(string label = "work", bool bytes = false)
    {
        long now = 0;
        var o = new StringWriter();
        var bar = new ProgressRenderer(label, bytes, o, () => now, () => 100);
        return (bar, o, t => now = t);
    }

    private static string[] Frames(string s) => s.Split('\r', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void FirstReportDrawsAndLaterOnesAreThrottledToTenPerSecond()
    {
        var (bar, o, set) = Make();
        set(0); bar.Report(1, 100);      // draws: nothing was drawn yet
        set(50); bar.Report(2, 100);     // 50 ms later: skipped
        set(99); bar.Report(3, 100);     // skipped
        set(100); bar.Report(4, 100);    // 100 ms after the last frame: draws
        set(150); bar.Report(5, 100);    // skipped
        set(1000); bar.Report(50, 100);  // draws
        var frames = Frames(o.ToString());
        Assert.Equal(3, frames.Length);
        Assert.Contains("  1.0%  1/100", frames[0]);
        Assert.Contains("  4.0%  4/100", frames[1]);
        Assert.Contains(" 50.0%  50/100", frames[2]);
        Assert.DoesNotContain('\n', o.ToString());
    }

    [Fact]
    public void ShowsRateAndEtaThenAFinalLine()
    {
        var (bar, o, set) = Make();
        set(2000); bar.Report(50, 200);   // 50 in 2 s: 25/s; 150 left: 6 s
        Assert.Contains("25/s", o.ToString());
        Assert.Contains("ETA 6s", o.ToString());
        set(4000); bar.Report(200, 200); // the total reached: the final frame, then a newline
        string last = Frames(o.ToString())[^1];
        Assert.Contains("100.0%  200/200", last);
        Assert.Contains("50/s", last);
        Assert.Contains("done in 4.0s", last);
        Assert.EndsWith("\n", o.ToString());
        set(5000); bar.Report(200, 200);  // nothing after the end
        bar.Dispose();
        Assert.Single(o.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void FinalReportIsNeverThrottled()
    {
        var (bar, o, set) = Make();
        set(0); bar.Report(1, 3);
        set(10); bar.Report(3, 3); // 10 ms after a frame, but the last one: drawn
        Assert.Contains("100.0%  3/3", Frames(o.ToString())[^1]);
    }

    [Fact]
    public void DisposeEndsAnUnfinishedLineAndSilentWhenNothingWasDrawn()
    {
        var (bar, o, set) = Make();
        set(0); bar.Report(5, 10);
        set(30); bar.Dispose();
        Assert.EndsWith("\n", o.ToString());
        Assert.Contains(" 50.0%  5/10", Frames(o.ToString())[^1]);

        var (quiet, o2, _) = Make();
        quiet.Dispose();
        Assert.Equal("", o2.ToString());
    }

    [Fact]
    public void UnknownTotalShowsACountAndRate()
    {
        var (bar, o, set) = Make("embedding");
        set(500); bar.Report(1234, null);
        Assert.Equal("embedding  1,234  2,468/s", Frames(o.ToString())[0].TrimEnd());
    }

    [Fact]
    public void NarrowTerminalDropsTheBarNotTheNumbers()
    {
        long now = 0;
        var o = new StringWriter();
        var bar = new ProgressRenderer("a very long label for a narrow terminal", false, o, () => now, () => 60);
        now = 1000; bar.Report(10, 40);
        string f = Frames(o.ToString())[0];
        Assert.Equal(60, f.Length);
        Assert.DoesNotContain("[", f);
        Assert.Contains(" 25.0%  10/40", f);
    }
}

/// <summary>A synthetic model (2 layers, hidden 128, max_seq_length 64) and a 1500-line corpus for the pty tests.</summary>
public sealed class PtyFixture : IDisposable
{
    public string Root { get; } = TestPaths.NewTempDir("membed-pty");
    public string Model { get; }
    public string Cache { get; }
    public string Corpus { get; }
    public const int Lines = 1500;

    public PtyFixture()
    {
        string config = Path.Combine(Root, "config.json");
        File.WriteAllText(config, """
            {"architectures": ["BertModel"], "hidden_act": "gelu", "hidden_size": 128, "intermediate_size": 256, "layer_norm_eps": 1e-12,
             "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 2, "num_hidden_layers": 2,
             "type_vocab_size": 2, "vocab_size": 30522}
            """);
        // Laid out as the model cache (XDG_CACHE_HOME/managedembed/ORG/NAME), so collections can record it as test/pty.
        Cache = Path.Combine(Root, "cache");
        Model = Path.Combine(Cache, "managedembed", "test", "pty");
        var r = CliRunner.Run(["model", "synth", "--config", config, "--vocab", Path.Combine(TestPaths.MiniLm, "vocab.txt"),
            "--seed", "3", "--max-seq-length", "64", "--out", Model]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Corpus = Path.Combine(Root, "corpus.txt");
        var sb = new StringBuilder();
        // Lines of 16..46 one-token words: enough work per batch for several frames, none longer than 64 tokens.
        string[] words = ["the", "cat", "sat", "on", "mat", "and", "dog", "ran", "far"];
        for (int i = 0; i < Lines; i++)
            sb.Append(string.Join(' ', Enumerable.Range(0, 16 + i % 31).Select(j => words[(i + j) % words.Length]))).Append(" end\n");
        File.WriteAllText(Corpus, sb.ToString());
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition("pty", DisableParallelization = true)]
public sealed class PtyCollection : ICollectionFixture<PtyFixture>;

/// <summary>
/// The real binary in a pseudo-terminal (util-linux <c>script</c>): the bar must be seen drawing mid-run, which a
/// bar that only prints its final 100% line fails; with stderr redirected nothing but notes is printed.
/// </summary>
[Collection("pty")]
public class ProgressPtyTests(PtyFixture fx)
{
    private static readonly Regex Percent = new(@"(\d{1,3}\.\d)%", RegexOptions.CultureInvariant);

    /// <summary>Runs `dotnet membed.dll ARGS` with stdout to /dev/null and stderr on a pty; returns what the pty showed.</summary>
    private string InPty(params string[] args)
    {
        if (!File.Exists("/usr/bin/script")) throw new InvalidOperationException("util-linux 'script' is missing (apt-get install bsdutils)");
        string cmd = "dotnet " + Quote(CliRunner.MembedDll) + " " + string.Join(' ', args.Select(Quote)) + " >/dev/null";
        var psi = new ProcessStartInfo("/usr/bin/script") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (string a in new[] { "-qfec", cmd, "/dev/null" }) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_EnableDiagnostics"] = "0";
        psi.Environment["MEMBED_OFFLINE"] = "1";
        psi.Environment["XDG_CACHE_HOME"] = fx.Cache;
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string screen = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(300_000)) { p.Kill(entireProcessTree: true); throw new TimeoutException(cmd); }
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {screen} {err.Result}");
        return screen;
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";

    /// <summary>The percentages of the frames, in drawing order (frames are separated by carriage returns).</summary>
    private static List<double> Percentages(string screen) =>
        screen.Split('\r', '\n').Select(f => Percent.Match(f)).Where(m => m.Success)
            .Select(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();

    private static void AssertDrewMidRun(string screen)
    {
        var p = Percentages(screen);
        int end = p.IndexOf(100.0);
        Assert.True(end > 0, "no final 100% frame: " + screen);
        var intermediate = p.Take(end).Where(v => v > 0 && v < 100).Distinct().ToList();
        Assert.True(intermediate.Count >= 2, $"fewer than 2 intermediate frames before 100%: [{string.Join(", ", p)}]");
        Assert.Contains("done in", screen);
        Assert.Contains("/s", screen);
    }

    [Fact]
    public void SearchDrawsMidRunOnATerminal() =>
        AssertDrewMidRun(InPty("search", "--model", fx.Model, "--corpus", fx.Corpus, "--threads", "1", "hello"));

    [Fact]
    public void EmbedDrawsMidRunOnATerminal()
    {
        string screen = InPty("embed", "--model", fx.Model, "--input", fx.Corpus, "--threads", "1", "--format", "fvecs",
            "--output", Path.Combine(fx.Root, "out.fvecs"));
        AssertDrewMidRun(screen);
        Assert.Contains($"/{PtyFixture.Lines.ToString("N0", CultureInfo.InvariantCulture)}", screen); // the total is known
    }

    [Fact]
    public void CollectionAddDrawsMidRunOnATerminal()
    {
        string db = Path.Combine(fx.Root, "db-pty"), input = Path.Combine(fx.Root, "records.jsonl");
        File.WriteAllLines(input, File.ReadAllLines(fx.Corpus).Select((d, i) => $"{{\"id\":\"r{i}\",\"document\":\"{d}\"}}"));
        var env = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = fx.Cache, ["MEMBED_OFFLINE"] = "1" };
        var c = CliRunner.Run(["collection", "create", "--path", db, "--name", "t", "--model", "test/pty"], env);
        Assert.True(c.ExitCode == 0, c.Stderr);
        AssertDrewMidRun(InPty("collection", "add", "--path", db, "--name", "t", "--input", input));
    }

    [Fact]
    public void ModelImportDrawsItsWeightsBarOnATerminal()
    {
        string onnx = Path.Combine(TestPaths.Fixtures, "onnx", "tiny-gelu-new-opset17.onnx"), vocab = Path.Combine(TestPaths.Fixtures, "onnx", "tiny-vocab.txt");
        string screen = InPty("model", "import", "--onnx", onnx, "--vocab", vocab, "--out", Path.Combine(fx.Root, "imported-pty"));
        // A tiny model is written within one redraw interval: the bar shows its label, its final 100% line and the time.
        Assert.Contains("writing model.safetensors", screen);
        Assert.Contains(100.0, Percentages(screen));
        Assert.Contains("done in", screen);
        var r = CliRunner.Run(["model", "import", "--onnx", onnx, "--vocab", vocab, "--out", Path.Combine(fx.Root, "imported-redirected")]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("", r.Stderr);
    }

    [Fact]
    public void RedirectedStderrGetsNoBar()
    {
        var r = CliRunner.Run(["search", "--model", fx.Model, "--corpus", fx.Corpus, "--threads", "1", "hello"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("", r.Stderr);
        var e = CliRunner.Run(["embed", "--model", fx.Model, "--input", fx.Corpus, "--threads", "1", "--format", "fvecs", "--output", Path.Combine(fx.Root, "r.fvecs")]);
        Assert.True(e.ExitCode == 0, e.Stderr);
        Assert.Equal("", e.Stderr);
    }
}

/// <summary>Truncation is reported (a note on stderr) and --truncate error refuses long texts with nothing written.</summary>
[Collection("pty")]
public class TruncationCliTests(PtyFixture fx)
{
    private string LongInput()
    {
        string p = Path.Combine(fx.Root, "long.txt");
        string longLine = string.Join(' ', Enumerable.Repeat("cat", 100)); // 102 tokens > 64
        File.WriteAllText(p, $"short text\n{longLine}\nanother short one\n{longLine} again\n");
        return p;
    }

    [Fact]
    public void EmbedNotesHowManyTextsWereCut()
    {
        var r = CliRunner.Run(["embed", "--model", fx.Model, "--input", LongInput(), "--threads", "1"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(4, r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal("membed: note: 2 of 4 texts were longer than 64 tokens and were truncated (use --truncate error to refuse them)\n", r.Stderr);
    }

    [Fact]
    public void EmbedTruncateErrorWritesNothing()
    {
        string input = LongInput(), output = Path.Combine(fx.Root, "refused.jsonl");
        var r = CliRunner.Run(["embed", "--model", fx.Model, "--input", input, "--threads", "1", "--truncate", "error"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("", r.Stdout);
        Assert.Equal($"membed: error: input file '{input}' line 2 is longer than the model's limit of 64 tokens (refused by --truncate error)\n", r.Stderr);
        var f = CliRunner.Run(["embed", "--model", fx.Model, "--input", input, "--threads", "1", "--truncate", "error", "--output", output]);
        Assert.Equal(2, f.ExitCode);
        Assert.False(File.Exists(output));
        // stdin too: the long line is the 2nd.
        var s = CliRunner.Run(["embed", "--model", fx.Model, "--threads", "1", "--truncate", "error"], stdin: File.ReadAllText(input));
        Assert.Equal(2, s.ExitCode);
        Assert.Equal("", s.Stdout);
        Assert.Contains("stdin line 2 is longer", s.Stderr);
    }

    [Fact]
    public void SearchNotesCutsAndRefusesWithTruncateError()
    {
        string input = LongInput();
        var r = CliRunner.Run(["search", "--model", fx.Model, "--corpus", input, "--threads", "1", "cat"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("membed: note: 2 of 4 texts were longer than 64 tokens and were truncated (use --chunk or --truncate error)\n", r.Stderr);
        var e = CliRunner.Run(["search", "--model", fx.Model, "--corpus", input, "--threads", "1", "--truncate", "error", "cat"]);
        Assert.Equal(2, e.ExitCode);
        Assert.Equal("", e.Stdout);
        Assert.Equal($"membed: error: {input} line 2 is longer than the model's limit of 64 tokens (refused by --truncate error)\n", e.Stderr);
        var bad = CliRunner.Run(["search", "--model", fx.Model, "--corpus", input, "--truncate", "drop", "cat"]);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--truncate must be one of cut|error", bad.Stderr);
    }
}

/// <summary>Collection writes note cut documents and, with --truncate error, refuse them with nothing committed.</summary>
[Collection("pty")]
public class CollectionTruncationTests(PtyFixture fx)
{
    [Fact]
    public void AddNotesCutsAndTruncateErrorCommitsNothing()
    {
        var env = new Dictionary<string, string> { ["XDG_CACHE_HOME"] = fx.Cache, ["MEMBED_OFFLINE"] = "1" };
        string db = Path.Combine(fx.Root, "db-trunc"), input = Path.Combine(fx.Root, "long.jsonl");
        string longDoc = string.Join(' ', Enumerable.Repeat("cat", 100));
        File.WriteAllLines(input, [$"{{\"id\":\"a\",\"document\":\"short\"}}", $"{{\"id\":\"b\",\"document\":\"{longDoc}\"}}",
            $"{{\"id\":\"c\",\"document\":\"{longDoc} too\"}}"]);
        Assert.Equal(0, CliRunner.Run(["collection", "create", "--path", db, "--name", "t", "--model", "test/pty"], env).ExitCode);
        string before = CliRunner.Run(["collection", "count", "--path", db, "--name", "t"], env).Stdout;

        // --batch-size 1: without the up-front check the first record would be committed before the long one fails.
        var refused = CliRunner.Run(["collection", "add", "--path", db, "--name", "t", "--input", input, "--batch-size", "1", "--truncate", "error"], env);
        Assert.Equal(2, refused.ExitCode);
        Assert.Equal("", refused.Stdout);
        Assert.Equal($"membed: error: {input}: the document of record 'b' is longer than the model's limit of 64 tokens (refused by --truncate error)\n", refused.Stderr);
        Assert.Equal(before, CliRunner.Run(["collection", "count", "--path", db, "--name", "t"], env).Stdout);

        var added = CliRunner.Run(["collection", "add", "--path", db, "--name", "t", "--input", input], env);
        Assert.True(added.ExitCode == 0, added.Stderr);
        Assert.Equal("membed: note: 2 of 3 texts were longer than 64 tokens and were truncated (use --truncate error to refuse them)\n", added.Stderr);
    }
}
