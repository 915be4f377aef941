using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ManagedEmbed.Encoder;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// The encoder commands (embed, tokenize, similarity, info, model synth) run as the real membed.dll in a child
/// process, so stdin/stdout/stderr and exit codes are exactly what a user sees.
/// </summary>
public class EncoderCliTests
{
    private sealed record Result(int Code, byte[] Stdout, string Stderr)
    {
        public string Text => Encoding.UTF8.GetString(Stdout);
    }

    private static Result Membed(string[] args, byte[]? stdin = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "membed.dll"));
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var ms = new MemoryStream();
        var outTask = p.StandardOutput.BaseStream.CopyToAsync(ms);
        var errTask = p.StandardError.ReadToEndAsync();
        if (stdin is not null) p.StandardInput.BaseStream.Write(stdin);
        p.StandardInput.Close();
        if (!p.WaitForExit(120_000)) { p.Kill(true); throw new TimeoutException(string.Join(' ', args)); }
        outTask.Wait();
        return new Result(p.ExitCode, ms.ToArray(), errTask.Result);
    }

    private static readonly Lazy<(string Normalized, string Raw)> Models = new(() =>
    {
        string root = TestPaths.NewTempDir("membed-cli-enc");
        string config = Path.Combine(root, "small-config.json");
        File.WriteAllText(config, """
            {"architectures": ["BertModel"], "hidden_act": "gelu", "hidden_size": 32, "intermediate_size": 64, "layer_norm_eps": 1e-12,
             "max_position_embeddings": 64, "model_type": "bert", "num_attention_heads": 4, "num_hidden_layers": 2,
             "type_vocab_size": 2, "vocab_size": 30522}
            """);
        string vocab = Path.Combine(TestPaths.MiniLm, "vocab.txt");
        string a = Path.Combine(root, "norm"), b = Path.Combine(root, "raw");
        Assert.Equal(0, Membed(["model", "synth", "--config", config, "--vocab", vocab, "--seed", "3", "--max-seq-length", "16", "--out", a]).Code);
        Assert.Equal(0, Membed(["model", "synth", "--config", config, "--vocab", vocab, "--seed", "3", "--pooling", "max", "--no-normalize", "--out", b]).Code);
        return (a, b);
    });

    private static readonly string[] Texts =
    [
        "The weather is lovely today.", "", "It's so sunny outside!", "Ünïcödé — 東京 🙂",
        "a very long text that certainly exceeds sixteen wordpiece tokens once it is tokenized by the vocabulary here",
    ];

    private static string WriteInput(string[] lines, string? name = null)
    {
        string path = Path.Combine(TestPaths.NewTempDir("membed-cli-in"), name ?? "in.txt");
        File.WriteAllText(path, string.Join("\n", lines) + "\n", new UTF8Encoding(false));
        return path;
    }

    private static float[][] ParseJsonl(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l =>
            {
                using var d = JsonDocument.Parse(l);
                return d.RootElement.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
            }).ToArray();

    [Fact]
    public void EmbedJsonlMatchesLibraryInInputOrder()
    {
        string input = WriteInput(Texts);
        var r = Membed(["embed", "--model", Models.Value.Normalized, "--input", input, "--batch-size", "2", "--threads", "2"]);
        Assert.True(r.Code == 0, r.Stderr);
        var rows = ParseJsonl(r.Text);
        Assert.Equal(Texts.Length, rows.Length);
        using var enc = SentenceEncoder.Load(Models.Value.Normalized);
        var expected = enc.Encode(Texts);
        for (int i = 0; i < Texts.Length; i++)
            Assert.Equal(expected.RowArray(i), rows[i]); // round-trippable floats: exact
    }

    [Fact]
    public void EmbedFromStdinEqualsFromFile()
    {
        var fromFile = Membed(["embed", "--model", Models.Value.Normalized, "--input", WriteInput(Texts)]);
        var fromStdin = Membed(["embed", "--model", Models.Value.Normalized], Encoding.UTF8.GetBytes(string.Join("\r\n", Texts)));
        Assert.Equal(0, fromStdin.Code);
        Assert.Equal(fromFile.Text, fromStdin.Text);
    }

    [Fact]
    public void EmbedFvecsHasDimensionHeaderAndSameValues()
    {
        string input = WriteInput(Texts);
        string outPath = Path.Combine(TestPaths.NewTempDir("membed-cli-out"), "e.fvecs");
        Assert.Equal(0, Membed(["embed", "--model", Models.Value.Raw, "--input", input, "--format", "fvecs", "--output", outPath]).Code);
        var json = ParseJsonl(Membed(["embed", "--model", Models.Value.Raw, "--input", input]).Text);
        byte[] bytes = File.ReadAllBytes(outPath);
        int dim = json[0].Length;
        Assert.Equal(Texts.Length * (4 + 4 * dim), bytes.Length);
        for (int i = 0; i < Texts.Length; i++)
        {
            int o = i * (4 + 4 * dim);
            Assert.Equal(dim, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(o)));
            for (int j = 0; j < dim; j++) Assert.Equal(json[i][j], BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(o + 4 + 4 * j)));
        }
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(outPath)!, "*.tmp-*"));
    }

    [Fact]
    public void NormalizeFlagAndModelDefault()
    {
        string input = WriteInput(["one text", "another one"]);
        static double Norm(float[] v) => Math.Sqrt(v.Sum(x => (double)x * x));
        var raw = ParseJsonl(Membed(["embed", "--model", Models.Value.Raw, "--input", input]).Text);
        Assert.True(Math.Abs(Norm(raw[0]) - 1) > 1e-3);
        var forced = ParseJsonl(Membed(["embed", "--model", Models.Value.Raw, "--input", input, "--normalize"]).Text);
        Assert.All(forced, v => Assert.Equal(1.0, Norm(v), 5));
        var def = ParseJsonl(Membed(["embed", "--model", Models.Value.Normalized, "--input", input]).Text);
        Assert.All(def, v => Assert.Equal(1.0, Norm(v), 5));
    }

    [Fact]
    public void InvalidUtf8IsRejectedNamingTheLineAndWritesNothing()
    {
        string dir = TestPaths.NewTempDir("membed-cli-bad");
        string input = Path.Combine(dir, "bad.txt");
        File.WriteAllBytes(input, [.. "fine\n"u8, .. "also fine\n"u8, 0x66, 0xC3, 0x28, (byte)'\n']);
        string outPath = Path.Combine(dir, "out.jsonl");
        File.WriteAllText(outPath, "previous");
        var r = Membed(["embed", "--model", Models.Value.Normalized, "--input", input, "--output", outPath]);
        Assert.Equal(2, r.Code);
        Assert.Contains("line 3 is not valid UTF-8", r.Stderr);
        Assert.Equal("previous", File.ReadAllText(outPath));
        var s = Membed(["tokenize", "--model", Models.Value.Normalized], [0xFF, (byte)'\n']);
        Assert.Equal(2, s.Code);
        Assert.Contains("stdin line 1 is not valid UTF-8", s.Stderr);
        Assert.Empty(s.Stdout);
    }

    [Theory]
    [InlineData("embed", "--model", "/nonexistent/model", "does not exist")]
    [InlineData("embed", "--bogus", "1", "unknown option '--bogus'")]
    [InlineData("embed", "--format", "csv", "--format must be one of jsonl|fvecs")]
    [InlineData("tokenize", "--model", "/nonexistent/model", "does not exist")]
    [InlineData("similarity", "--model", "/nonexistent/model", "at least two texts")]
    [InlineData("model", "synth", "--no-normalize", "missing required option --config")]
    [InlineData("model", "fetch", "", "unknown 'model' subcommand 'fetch'")]
    [InlineData("info", "--verbose", "", "unknown option '--verbose'")]
    public void BadArgumentsGiveOneLineAndExit2(string a, string b, string c, string expected)
    {
        var args = new[] { a, b, c }.Where(s => s.Length > 0).ToArray();
        var r = Membed(args, []);
        Assert.Equal(2, r.Code);
        Assert.StartsWith("membed: error: ", r.Stderr);
        Assert.Contains(expected, r.Stderr);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void IncompleteModelDirectoriesAreClearErrors()
    {
        string dir = Path.Combine(TestPaths.NewTempDir("membed-cli-inc"), "m");
        Directory.CreateDirectory(dir);
        foreach (string f in Directory.GetFiles(Models.Value.Normalized)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        var r = Membed(["embed", "--model", dir], "x\n"u8.ToArray());
        Assert.Equal(2, r.Code);
        Assert.Contains("1_Pooling", r.Stderr); // pooling config missing: named

        // A real truncated weights file: the MiniLM prefix under the MiniLM configuration.
        string real = Path.Combine(TestPaths.NewTempDir("membed-cli-trunc"), "m");
        Directory.CreateDirectory(Path.Combine(real, "1_Pooling"));
        foreach (string f in new[] { "config.json", "modules.json", "sentence_bert_config.json", "tokenizer_config.json", "vocab.txt", "1_Pooling/config.json" })
            File.Copy(Path.Combine(TestPaths.MiniLm, f), Path.Combine(real, f));
        File.Copy(Path.Combine(TestPaths.MiniLm, "model.safetensors.prefix"), Path.Combine(real, "model.safetensors"));
        var t = Membed(["embed", "--model", real], "x\n"u8.ToArray());
        Assert.Equal(2, t.Code);
        Assert.Contains("truncated", t.Stderr);
        Assert.Empty(t.Stdout);
    }

    [Fact]
    public void TokenizeMatchesLibraryAndTruncates()
    {
        var r = Membed(["tokenize", "--model", Models.Value.Normalized, "--input", WriteInput(Texts)]);
        Assert.Equal(0, r.Code);
        var lines = r.Text.Split('\n');
        Assert.Equal(Texts.Length + 1, lines.Length);
        Assert.Equal("", lines[^1]);
        using var enc = SentenceEncoder.Load(Models.Value.Normalized);
        for (int i = 0; i < Texts.Length; i++) Assert.Equal(string.Join(' ', enc.Tokenize(Texts[i])), lines[i]);
        Assert.Equal("101 102", lines[1]); // empty text
        Assert.Equal(16, lines[4].Split(' ').Length); // truncated to max_seq_length 16 incl. [CLS]/[SEP]
        Assert.EndsWith(" 102", lines[4]);
    }

    [Fact]
    public void SimilarityPrintsTheCosineMatrix()
    {
        var r = Membed(["similarity", "--model", Models.Value.Normalized, "The cat sat.", "A feline rested.", "Stocks fell."]);
        Assert.Equal(0, r.Code);
        var m = r.Text.TrimEnd('\n').Split('\n').Select(l => l.Split('\t').Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        Assert.Equal(3, m.Length);
        using var enc = SentenceEncoder.Load(Models.Value.Normalized);
        var e = enc.Encode(["The cat sat.", "A feline rested.", "Stocks fell."]);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(3, m[i].Length);
            Assert.Equal(1.0, m[i][i], 3);
            for (int j = 0; j < 3; j++) Assert.Equal(Similarity.Cosine(e.Row(i), e.Row(j)), m[i][j], 3);
        }
    }

    [Fact]
    public void InfoReportsSimdPaths()
    {
        var r = Membed(["info"]);
        Assert.Equal(0, r.Code);
        foreach (string key in new[] { "Vector512.IsHardwareAccelerated: ", "Vector256.IsHardwareAccelerated: ", "Avx512F.IsSupported: ", "Avx2.IsSupported: ", "Fma.IsSupported: ", "kernel path: " })
            Assert.Contains(key, r.Text);
        Assert.Contains($"Vector512.IsHardwareAccelerated: {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}", r.Text);
    }

    [Fact]
    public void ModelSynthIsDeterministic()
    {
        string root = TestPaths.NewTempDir("membed-cli-synth");
        string cfg = Path.Combine(TestPaths.RepoRoot, "weights", "synth", "odd-config.json"), vocab = Path.Combine(TestPaths.MiniLm, "vocab.txt");
        string Sha(string d) { using var fs = File.OpenRead(Path.Combine(d, "model.safetensors")); return Convert.ToHexStringLower(SHA256.HashData(fs)); }
        string[] Args(string o, string seed) => ["model", "synth", "--config", cfg, "--vocab", vocab, "--seed", seed, "--pooling", "cls", "--no-normalize", "--out", o];
        Assert.Equal(0, Membed(Args(Path.Combine(root, "a"), "7")).Code);
        Assert.Equal(0, Membed(Args(Path.Combine(root, "b"), "7")).Code);
        Assert.Equal(0, Membed(Args(Path.Combine(root, "c"), "8")).Code);
        Assert.Equal(Sha(Path.Combine(root, "a")), Sha(Path.Combine(root, "b")));
        Assert.NotEqual(Sha(Path.Combine(root, "a")), Sha(Path.Combine(root, "c")));
        var bad = Membed(["model", "synth", "--config", cfg, "--vocab", vocab, "--seed", "1", "--pooling", "sum", "--out", Path.Combine(root, "d")]);
        Assert.Equal(2, bad.Code);
        Assert.Contains("--pooling must be one of", bad.Stderr);
        Assert.False(Directory.Exists(Path.Combine(root, "d")));
    }
}
