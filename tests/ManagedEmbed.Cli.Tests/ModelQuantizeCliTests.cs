using System.Globalization;
using System.Text.Json;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>`membed model quantize` run as the real membed.dll: what it publishes, what info says, and that failures publish nothing.</summary>
public sealed class ModelQuantizeCliTests : IDisposable
{
    private readonly string _root = TestPaths.NewTempDir("membed-quantize");

    public void Dispose()
    {
        try { Directory.Delete(_root, true); } catch (IOException) { }
    }

    private static CliRunner.Result Membed(params string[] args) => CliRunner.Run(args);

    private string FloatModel()
    {
        string dir = Path.Combine(_root, "float");
        var r = Membed("model", "synth", "--config", Path.Combine(TestPaths.RepoRoot, "weights", "synth", "tiny-gelu-config.json"),
            "--vocab", Path.Combine(TestPaths.MiniLm, "vocab.txt"), "--seed", "5", "--max-seq-length", "32", "--out", dir);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return dir;
    }

    private static string[] Files(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(dir, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToArray();

    /// <summary>A failed run: exit 2, one stderr line, nothing at --out and no staging directory beside it.</summary>
    private static void AssertFailedCleanly(CliRunner.Result r, string outDir, string fragment)
    {
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("", r.Stdout);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("membed: error: ", lines[0]);
        Assert.Contains(fragment, lines[0]);
        Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(), "something was published at --out");
        string? parent = Path.GetDirectoryName(outDir);
        if (parent is not null && Directory.Exists(parent))
            Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(parent), p => Path.GetFileName(p).Contains(".quantize-"));
    }

    [Fact]
    public void WritesALoadableInt8DirectoryThatInfoReports()
    {
        string src = FloatModel();
        string outDir = Path.Combine(_root, "out", "int8");
        var r = Membed("model", "quantize", "--model", src, "--out", outDir);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("12 Linear weights int8", r.Stdout);
        Assert.Equal(Files(src), Files(outDir));
        using (var cfg = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "config.json"))))
        {
            var q = cfg.RootElement.GetProperty("quantization_config");
            Assert.Equal("membed-int8", q.GetProperty("quant_method").GetString());
            Assert.Equal(8, q.GetProperty("bits").GetInt32());
            Assert.Equal(12, q.GetProperty("quantized_tensors").GetInt32());
            Assert.Equal(64, cfg.RootElement.GetProperty("hidden_size").GetInt32());
        }
        foreach (string f in new[] { "vocab.txt", "modules.json", "1_Pooling/config.json", "sentence_bert_config.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(src, f)), File.ReadAllBytes(Path.Combine(outDir, f)));

        var info = Membed("info", "--model", outDir);
        Assert.True(info.ExitCode == 0, info.Stderr);
        Assert.Contains("weights int8", info.Stdout);
        Assert.Contains("quantization: int8 weights (per-output-channel symmetric) with dynamic per-row int8 activation quantization", info.Stdout);
        var floatInfo = Membed("info", "--model", src);
        Assert.Contains("weights float32", floatInfo.Stdout);
        Assert.DoesNotContain("quantization:", floatInfo.Stdout);

        // Both embed; the int8 embedding is close to, and not equal to, the float one.
        string text = Path.Combine(_root, "t.txt");
        File.WriteAllText(text, "a quick test of int8 weights\n");
        float[] Embed(string model)
        {
            var e = CliRunner.Run(["embed", "--model", model, "-i", text, "--threads", "1"]);
            Assert.True(e.ExitCode == 0, e.Stderr);
            using var doc = JsonDocument.Parse(e.Stdout.Trim());
            return doc.RootElement.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        }
        var a = Embed(src);
        var b = Embed(outDir);
        double dot = a.Zip(b, (x, y) => (double)x * y).Sum();
        Assert.NotEqual(a, b);
        Assert.True(dot > 0.999, dot.ToString(CultureInfo.InvariantCulture));
    }

    [Fact]
    public void MissingModelDirectoryIsOneLine()
    {
        string outDir = Path.Combine(_root, "out-missing");
        AssertFailedCleanly(Membed("model", "quantize", "--model", Path.Combine(_root, "nope"), "--out", outDir), outDir, "does not exist");
    }

    [Fact]
    public void AnInt8ModelIsRefused()
    {
        string src = FloatModel();
        string once = Path.Combine(_root, "once");
        Assert.Equal(0, Membed("model", "quantize", "--model", src, "--out", once).ExitCode);
        string outDir = Path.Combine(_root, "twice");
        AssertFailedCleanly(Membed("model", "quantize", "--model", once, "--out", outDir), outDir, "already has int8 weights");
    }

    [Fact]
    public void UnwritableOrOccupiedOutputIsRefused()
    {
        string src = FloatModel();
        // The parent of --out is a regular file: the directory cannot be created.
        string file = Path.Combine(_root, "a-file");
        File.WriteAllText(file, "x");
        var r = Membed("model", "quantize", "--model", src, "--out", Path.Combine(file, "sub"));
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("x", File.ReadAllText(file));

        string occupied = Path.Combine(_root, "occupied");
        Directory.CreateDirectory(occupied);
        File.WriteAllText(Path.Combine(occupied, "keep.txt"), "mine");
        var o = Membed("model", "quantize", "--model", src, "--out", occupied);
        Assert.Equal(2, o.ExitCode);
        Assert.Contains("already exists and is not empty", o.Stderr);
        Assert.Equal(["keep.txt"], Files(occupied));
    }
}
