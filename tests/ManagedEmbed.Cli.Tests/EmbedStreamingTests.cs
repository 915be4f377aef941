using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ManagedEmbed.Encoder;
using ManagedEmbed.Testing;
using ManagedEmbed.Text;

namespace ManagedEmbed.Cli.Tests;

/// <summary>A tiny synthetic model and a 20k-line, 24 MB input, made once for <see cref="EmbedStreamingTests"/> and removed after.</summary>
public sealed class StreamingFixture : IDisposable
{
    public const int Lines = 20_000;

    public string Root { get; } = TestPaths.NewTempDir("membed-stream");
    public string Model { get; }
    public string Input { get; }

    public StreamingFixture()
    {
        string config = Path.Combine(Root, "tiny-config.json");
        // One layer, hidden 64: cheap to run 100k texts, while the JSONL output (~70 MB) dwarfs a bounded window.
        File.WriteAllText(config, """
            {"architectures": ["BertModel"], "hidden_act": "gelu", "hidden_size": 64, "intermediate_size": 64, "layer_norm_eps": 1e-12,
             "max_position_embeddings": 32, "model_type": "bert", "num_attention_heads": 2, "num_hidden_layers": 1,
             "type_vocab_size": 2, "vocab_size": 30522}
            """);
        Model = Path.Combine(Root, "model");
        var r = CliRunner.Run(["model", "synth", "--config", config, "--vocab", Path.Combine(TestPaths.MiniLm, "vocab.txt"),
            "--seed", "5", "--max-seq-length", "16", "--out", Model]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Input = Path.Combine(Root, "in.txt");
        using var w = new StreamWriter(Input, false, new UTF8Encoding(false));
        for (int i = 0; i < Lines; i++) w.Write(Text(i) + "\n");
    }

    /// <summary>
    /// Line i of the input: lengths vary (so length-sorting inside a window reorders texts) up to ~3.3 kB. Long
    /// lines make holding the whole input expensive while truncation to 16 tokens keeps encoding cheap.
    /// </summary>
    public static string Text(int i) => (i % 7) switch
    {
        0 => $"short {i}",
        3 => $"a somewhat longer sentence about the number {i} and the weather",
        _ => $"text number {i} here" + string.Concat(Enumerable.Repeat(" with some filler words for memory", i % 97)),
    };

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition("embed-streaming", DisableParallelization = true)]
public sealed class EmbedStreamingCollection : ICollectionFixture<StreamingFixture>;

/// <summary>
/// `membed embed` streams in bounded windows (issue 10 A.5): memory stays flat however large the input, the output
/// keeps input order, and an invalid line still produces no output at all. Runs alone so that the RSS it measures
/// is the child's own.
/// </summary>
[Collection("embed-streaming")]
public class EmbedStreamingTests(StreamingFixture fx)
{
    /// <summary>
    /// Peak RSS allowed for embedding the 20k lines with a 64-dim, 1-layer model. Streaming measured 87–94 MB (the
    /// runtime, the model and one window); holding the whole input, its strings, all vectors and (for stdout) all
    /// the JSONL, as before, measured 144 MB (to a file) and 173 MB (to stdout).
    /// </summary>
    private const long PeakRssLimitBytes = 120L << 20;

    private sealed record Run(int Code, long Bytes, long PeakRss, string Stderr, byte[] Head);

    /// <summary>Runs membed, counting (not keeping) stdout, and polls the child's VmHWM until it exits.</summary>
    private static Run Membed(string[] args, int keepHead = 0)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        psi.Environment["DOTNET_EnableDiagnostics"] = "0"; // no runtime IPC pipes in $TMPDIR: a killed child leaves them behind
        psi.ArgumentList.Add(CliRunner.MembedDll);
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var head = new MemoryStream();
        var outTask = Task.Run(() =>
        {
            var buf = new byte[1 << 16];
            long total = 0;
            int n;
            while ((n = p.StandardOutput.BaseStream.Read(buf)) > 0)
            {
                if (head.Length < keepHead) head.Write(buf, 0, (int)Math.Min(n, keepHead - head.Length));
                total += n;
            }
            return total;
        });
        var errTask = p.StandardError.ReadToEndAsync();
        long peak = 0;
        var deadline = Stopwatch.StartNew();
        while (!p.WaitForExit(20))
        {
            peak = Math.Max(peak, VmHwm(p.Id));
            if (deadline.Elapsed > TimeSpan.FromSeconds(120)) { p.Kill(true); throw new TimeoutException(string.Join(' ', args)); }
        }
        return new Run(p.ExitCode, outTask.Result, peak, errTask.Result, head.ToArray());
    }

    /// <summary>The process's peak resident set (VmHWM), 0 once it is gone.</summary>
    private static long VmHwm(int pid)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { }
        return 0;
    }

    [Fact]
    public void EmbedToStdoutStreamsInBoundedMemory()
    {
        var r = Membed(["embed", "--model", fx.Model, "--input", fx.Input, "--threads", "2"], keepHead: 1 << 16);
        Assert.True(r.Code == 0, r.Stderr);
        Assert.True(r.PeakRss > 0, "VmHWM was never read");
        Assert.True(r.PeakRss < PeakRssLimitBytes, $"peak RSS {r.PeakRss >> 20} MiB ≥ {PeakRssLimitBytes >> 20} MiB for {StreamingFixture.Lines} lines");
        // Input order on output: the first rows are the first texts (the window sorts by length internally).
        var rows = Encoding.UTF8.GetString(r.Head).Split('\n')[..50];
        using var enc = SentenceEncoder.Load(fx.Model);
        for (int i = 0; i < rows.Length; i++)
        {
            using var d = JsonDocument.Parse(rows[i]);
            Assert.Equal(enc.Encode(StreamingFixture.Text(i)), d.RootElement.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray());
        }
    }

    [Fact]
    public void EmbedToFileStreamsInBoundedMemoryAndKeepsOrderAcrossWindows()
    {
        string outPath = Path.Combine(fx.Root, "out.fvecs");
        var r = Membed(["embed", "--model", fx.Model, "--input", fx.Input, "--threads", "2", "--format", "fvecs", "--output", outPath]);
        Assert.True(r.Code == 0, r.Stderr);
        Assert.Equal(0, r.Bytes);
        Assert.True(r.PeakRss < PeakRssLimitBytes, $"peak RSS {r.PeakRss >> 20} MiB ≥ {PeakRssLimitBytes >> 20} MiB for {StreamingFixture.Lines} lines");
        const int dim = 64;
        Assert.Equal((long)StreamingFixture.Lines * (4 + 4 * dim), new FileInfo(outPath).Length);
        // Rows from the start, the middle and the end (different windows) are those of their own input line.
        using var enc = SentenceEncoder.Load(fx.Model);
        using var f = File.OpenRead(outPath);
        var row = new byte[4 + 4 * dim];
        foreach (int i in new[] { 0, 1, 3, 4_095, 4_096, 9_999, 12_345, StreamingFixture.Lines - 1 })
        {
            f.Position = (long)i * row.Length;
            f.ReadExactly(row);
            var v = Enumerable.Range(0, dim).Select(j => BitConverter.ToSingle(row, 4 + 4 * j)).ToArray();
            Assert.Equal(enc.Encode(StreamingFixture.Text(i)), v);
        }
        File.Delete(outPath);
    }

    [Fact]
    public void InvalidLineAtTheEndOfALargeInputWritesNothingToStdoutOrOutput()
    {
        string bad = Path.Combine(fx.Root, "bad-at-end.txt");
        File.Copy(fx.Input, bad, overwrite: true);
        using (var f = new FileStream(bad, FileMode.Append)) f.Write([(byte)'o', (byte)'k', 0xC3, 0x28, (byte)'\n']);
        var r = Membed(["embed", "--model", fx.Model, "--input", bad, "--threads", "2"]);
        Assert.Equal(2, r.Code);
        Assert.Contains($"line {StreamingFixture.Lines + 1}: not valid UTF-8", r.Stderr);
        Assert.Equal(0, r.Bytes);

        string outPath = Path.Combine(fx.Root, "kept.jsonl");
        File.WriteAllText(outPath, "previous");
        var o = Membed(["embed", "--model", fx.Model, "--input", bad, "--threads", "2", "--output", outPath]);
        Assert.Equal(2, o.Code);
        Assert.Contains($"line {StreamingFixture.Lines + 1}: not valid UTF-8", o.Stderr);
        Assert.Equal("previous", File.ReadAllText(outPath));
        Assert.DoesNotContain(TempFiles.LeftIn(fx.Root), f => Path.GetFileName(f).StartsWith(".kept.jsonl.", StringComparison.Ordinal));
        File.Delete(bad);
    }
}

/// <summary>The one UTF-8 line reader (<see cref="TextInput.StreamLines"/>), fed in awkward chunk sizes.</summary>
public class StreamLinesTests
{
    /// <summary>Returns at most <c>chunk</c> bytes per Read, so BOMs, CRLFs and code points straddle reads.</summary>
    private sealed class Trickle(byte[] data, int chunk) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, chunk));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(1 << 20)]
    public void SplitsLikeTheSpecAtAnyChunkSize(int chunk)
    {
        byte[] data = [0xEF, 0xBB, 0xBF, .. "a\r\n\nb\u00e9c\r\n"u8, .. "\r\n"u8, .. "last"u8];
        var lines = TextInput.StreamLines(new Trickle(data, chunk), "t").ToList();
        Assert.Equal(["a", "", "béc", "", "last"], lines.Select(l => l.Text));
        Assert.Equal([1, 2, 3, 4, 5], lines.Select(l => l.Number));
        Assert.Equal(["x"], TextInput.StreamLines(new Trickle("x\n"u8.ToArray(), chunk), "t").Select(l => l.Text));
        Assert.Empty(TextInput.StreamLines(new Trickle([0xEF, 0xBB, 0xBF], chunk), "t"));
        Assert.Empty(TextInput.StreamLines(new Trickle([], chunk), "t"));
    }

    [Fact]
    public void LinesLongerThanTheBufferAreWhole()
    {
        string longLine = new('x', 200_000);
        var lines = TextInput.StreamLines(new Trickle(Encoding.UTF8.GetBytes("s\n" + longLine + "\nt"), 7000), "t").ToList();
        Assert.Equal(["s", longLine, "t"], lines.Select(l => l.Text));
    }

    [Fact]
    public void InvalidUtf8NamesTheLineOnlyWhenReached()
    {
        byte[] data = [.. "ok\n"u8, .. "fine\n"u8, 0x66, 0xC3, 0x28, (byte)'\n', .. "after\n"u8];
        using var e = TextInput.StreamLines(new Trickle(data, 3), "src").GetEnumerator();
        Assert.True(e.MoveNext());
        Assert.True(e.MoveNext());
        Assert.Equal("fine", e.Current.Text);
        var ex = Assert.Throws<ManagedEmbedException>(() => e.MoveNext());
        Assert.StartsWith("src line 3: not valid UTF-8", ex.Message);
    }
}
