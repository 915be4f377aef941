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
/// <summary>Temporary directories of <see cref="EncoderCliTests"/>, removed when the class's tests are done.</summary>
public sealed class EncoderCliDirs : IDisposable
{
    private readonly List<string> _dirs = new();

    internal string New(string prefix)
    {
        string d = TestPaths.NewTempDir(prefix);
        lock (_dirs) _dirs.Add(d);
        return d;
    }

    public void Dispose()
    {
        foreach (string d in _dirs)
            try { Directory.Delete(d, recursive: true); } catch (IOException) { }
    }
}

public class EncoderCliTests(EncoderCliDirs dirs) : IClassFixture<EncoderCliDirs>
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
        psi.Environment["DOTNET_EnableDiagnostics"] = "0"; // no runtime IPC pipes in $TMPDIR: a killed child leaves them behind
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

    private static readonly object ModelsLock = new();
    private static (EncoderCliDirs Owner, string Normalized, string Raw)? s_models;

    private (string Normalized, string Raw) Models
    {
        get
        {
            lock (ModelsLock)
            {
                if (s_models is { } m && ReferenceEquals(m.Owner, dirs)) return (m.Normalized, m.Raw);
                var made = MakeModels(dirs.New("membed-cli-enc"));
                s_models = (dirs, made.Normalized, made.Raw);
                return made;
            }
        }
    }

    private static (string Normalized, string Raw) MakeModels(string root)
    {
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
    }

    private static readonly string[] Texts =
    [
        "The weather is lovely today.", "", "It's so sunny outside!", "Ünïcödé — 東京 🙂",
        "a very long text that certainly exceeds sixteen wordpiece tokens once it is tokenized by the vocabulary here",
    ];

    private string WriteInput(string[] lines, string? name = null)
    {
        string path = Path.Combine(dirs.New("membed-cli-in"), name ?? "in.txt");
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
        var r = Membed(["embed", "--model", Models.Normalized, "--input", input, "--batch-size", "2", "--threads", "2"]);
        Assert.True(r.Code == 0, r.Stderr);
        var rows = ParseJsonl(r.Text);
        Assert.Equal(Texts.Length, rows.Length);
        using var enc = SentenceEncoder.Load(Models.Normalized);
        var expected = enc.Encode(Texts);
        for (int i = 0; i < Texts.Length; i++)
            Assert.Equal(expected.RowArray(i), rows[i]); // round-trippable floats: exact
    }

    [Fact]
    public void EmbedFromStdinEqualsFromFile()
    {
        var fromFile = Membed(["embed", "--model", Models.Normalized, "--input", WriteInput(Texts)]);
        var fromStdin = Membed(["embed", "--model", Models.Normalized], Encoding.UTF8.GetBytes(string.Join("\r\n", Texts)));
        Assert.Equal(0, fromStdin.Code);
        Assert.Equal(fromFile.Text, fromStdin.Text);
    }

    [Fact]
    public void EmbedFvecsHasDimensionHeaderAndSameValues()
    {
        string input = WriteInput(Texts);
        string outPath = Path.Combine(dirs.New("membed-cli-out"), "e.fvecs");
        Assert.Equal(0, Membed(["embed", "--model", Models.Raw, "--input", input, "--format", "fvecs", "--output", outPath]).Code);
        var json = ParseJsonl(Membed(["embed", "--model", Models.Raw, "--input", input]).Text);
        byte[] bytes = File.ReadAllBytes(outPath);
        int dim = json[0].Length;
        Assert.Equal(Texts.Length * (4 + 4 * dim), bytes.Length);
        for (int i = 0; i < Texts.Length; i++)
        {
            int o = i * (4 + 4 * dim);
            Assert.Equal(dim, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(o)));
            for (int j = 0; j < dim; j++) Assert.Equal(json[i][j], BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(o + 4 + 4 * j)));
        }
        Assert.Empty(TempFiles.LeftIn(Path.GetDirectoryName(outPath)!));
    }

    [Fact]
    public void NormalizeFlagAndModelDefault()
    {
        string input = WriteInput(["one text", "another one"]);
        static double Norm(float[] v) => Math.Sqrt(v.Sum(x => (double)x * x));
        var raw = ParseJsonl(Membed(["embed", "--model", Models.Raw, "--input", input]).Text);
        Assert.True(Math.Abs(Norm(raw[0]) - 1) > 1e-3);
        var forced = ParseJsonl(Membed(["embed", "--model", Models.Raw, "--input", input, "--normalize"]).Text);
        Assert.All(forced, v => Assert.Equal(1.0, Norm(v), 5));
        var def = ParseJsonl(Membed(["embed", "--model", Models.Normalized, "--input", input]).Text);
        Assert.All(def, v => Assert.Equal(1.0, Norm(v), 5));
    }

    [Fact]
    public void InvalidUtf8IsRejectedNamingTheLineAndWritesNothing()
    {
        string dir = dirs.New("membed-cli-bad");
        string input = Path.Combine(dir, "bad.txt");
        File.WriteAllBytes(input, [.. "fine\n"u8, .. "also fine\n"u8, 0x66, 0xC3, 0x28, (byte)'\n']);
        string outPath = Path.Combine(dir, "out.jsonl");
        File.WriteAllText(outPath, "previous");
        var r = Membed(["embed", "--model", Models.Normalized, "--input", input, "--output", outPath]);
        Assert.Equal(2, r.Code);
        Assert.Contains("line 3: not valid UTF-8", r.Stderr);
        Assert.Equal("previous", File.ReadAllText(outPath));
        var s = Membed(["tokenize", "--model", Models.Normalized], [0xFF, (byte)'\n']);
        Assert.Equal(2, s.Code);
        Assert.Contains("stdin line 1: not valid UTF-8", s.Stderr);
        Assert.Empty(s.Stdout);
    }

    [Theory]
    [InlineData("embed", "--model", "/nonexistent/model", "does not exist")]
    [InlineData("embed", "--bogus", "1", "unknown option '--bogus'")]
    [InlineData("embed", "--format", "csv", "--format must be one of jsonl|fvecs")]
    [InlineData("tokenize", "--model", "/nonexistent/model", "does not exist")]
    [InlineData("similarity", "--model", "/nonexistent/model", "at least two texts")]
    [InlineData("model", "synth", "--no-normalize", "missing required option --config")]
    [InlineData("model", "fetch", "", "unknown command 'model fetch'")] // one wording for every group since issue 14
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
        string dir = Path.Combine(dirs.New("membed-cli-inc"), "m");
        Directory.CreateDirectory(dir);
        foreach (string f in Directory.GetFiles(Models.Normalized)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        var r = Membed(["embed", "--model", dir], "x\n"u8.ToArray());
        Assert.Equal(2, r.Code);
        Assert.Contains("1_Pooling", r.Stderr); // pooling config missing: named

        // A real truncated weights file: the MiniLM prefix under the MiniLM configuration.
        string real = Path.Combine(dirs.New("membed-cli-trunc"), "m");
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
    public void BadHeaderAndShapeMismatchAreOneLineErrors()
    {
        string CopyModel()
        {
            string dir = Path.Combine(dirs.New("membed-cli-bad-model"), "m");
            Directory.CreateDirectory(Path.Combine(dir, "1_Pooling"));
            foreach (string f in Directory.GetFiles(Models.Normalized, "*", SearchOption.AllDirectories))
                File.Copy(f, Path.Combine(dir, Path.GetRelativePath(Models.Normalized, f)));
            return dir;
        }

        // A header that lies about a tensor's size.
        string lying = CopyModel();
        string weights = Path.Combine(lying, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(weights);
        int headerLen = (int)BitConverter.ToUInt64(bytes, 0);
        string header = Encoding.UTF8.GetString(bytes, 8, headerLen);
        string bad = header.Replace("\"embeddings.LayerNorm.bias\":{\"dtype\":\"F32\",\"shape\":[32]", "\"embeddings.LayerNorm.bias\":{\"dtype\":\"F32\",\"shape\":[33]");
        Assert.NotEqual(header, bad);
        Encoding.UTF8.GetBytes(bad).CopyTo(bytes, 8);
        File.WriteAllBytes(weights, bytes);
        var r = Membed(["embed", "--model", lying], "x\n"u8.ToArray());
        Assert.Equal(2, r.Code);
        Assert.Contains("tensor 'embeddings.LayerNorm.bias': shape [33] × F32 needs 132 bytes", r.Stderr);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));

        // A consistent file whose shapes do not match config.json.
        string mismatched = CopyModel();
        string cfg = Path.Combine(mismatched, "config.json");
        File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"intermediate_size\": 64", "\"intermediate_size\": 96"));
        var m = Membed(["embed", "--model", mismatched], "x\n"u8.ToArray());
        Assert.Equal(2, m.Code);
        Assert.Contains("encoder.layer.0.intermediate.dense.weight is [64, 32], config.json implies [96, 32]", m.Stderr);
        Assert.Empty(m.Stdout);
    }

    public static IEnumerable<object[]> ParityFixtures()
    {
        // encoder/ (vocabulary used as is) and encoder-mpnet/ (MPNet, vocabulary derived from BERT's).
        var files = new List<string>();
        foreach (string sub in new[] { "encoder", "encoder-mpnet" })
        {
            string dir = Path.Combine(TestPaths.Fixtures, sub);
            if (Directory.Exists(dir)) files.AddRange(Directory.GetFiles(dir, "*.json").Select(f => sub + "/" + Path.GetFileName(f)));
        }
        files.Sort(StringComparer.Ordinal);
        if (files.Count == 0) yield return ["<none>"]; // fails below: no fixture is an error, not a skip
        foreach (var f in files) yield return [f];
    }

    /// <summary>The seed architectures each have a CLI fixture (so EmbedReproducesReferenceFixtures covers them).</summary>
    [Fact]
    public void EverySeedArchitectureHasACliFixture()
    {
        var arches = ParityFixtures().Select(f => (string)f[0]).Where(f => f != "<none>")
            .Select(f => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, f))).RootElement.GetProperty("model"))
            .Select(m => m.TryGetProperty("arch", out var a) ? a.GetString() : "bert").ToHashSet();
        Assert.Superset(new HashSet<string?> { "bert", "distilbert", "mpnet" }, arches);
    }

    /// <summary>
    /// `membed model synth` + `membed tokenize` + `membed embed` reproduce the PyTorch reference fixtures end to end
    /// (every fixture text that fits on one line).
    /// </summary>
    [Theory]
    [MemberData(nameof(ParityFixtures))]
    public void EmbedReproducesReferenceFixtures(string fixture)
    {
        string path = Path.Combine(TestPaths.Fixtures, fixture);
        Assert.True(File.Exists(path), $"no encoder parity fixture in {Path.GetDirectoryName(path)}");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var m = doc.RootElement.GetProperty("model");
        string Resolve(string p) => p.StartsWith("shared:", StringComparison.Ordinal) ? Path.Combine(TestPaths.Shared, p[7..]) : Path.Combine(TestPaths.RepoRoot, p[5..]);
        string root = dirs.New("membed-cli-parity"), model = Path.Combine(root, "m");
        string vocab = Resolve(m.GetProperty("vocab").GetString()!);
        if (m.TryGetProperty("vocab_transform", out var vt) && vt.ValueKind == JsonValueKind.String)
        {
            Assert.Equal("mpnet", vt.GetString());
            vocab = SeedVocab.WriteMpnet(vocab, Path.Combine(root, "mpnet-vocab.txt"));
        }
        var synth = new List<string> { "model", "synth", "--config", Resolve(m.GetProperty("config").GetString()!), "--vocab", vocab,
            "--seed", m.GetProperty("seed").GetUInt64().ToString(CultureInfo.InvariantCulture), "--pooling", m.GetProperty("pooling").GetString()!,
            "--max-seq-length", m.GetProperty("max_seq_length").GetInt32().ToString(CultureInfo.InvariantCulture), "--out", model };
        bool normalize = m.GetProperty("normalize").GetBoolean();
        if (!normalize) synth.Add("--no-normalize");
        if (m.TryGetProperty("arch", out var arch)) synth.AddRange(["--arch", arch.GetString()!]); // as a user names it
        Assert.Equal(0, Membed([.. synth]).Code);
        if (m.TryGetProperty("do_lower_case", out var lower) && !lower.GetBoolean())
        {
            // The cased fixture: synth writes an uncased tokenizer; flip the one field, as tools/gen_fixtures.py does.
            string tokConfig = Path.Combine(model, "tokenizer_config.json");
            var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(tokConfig))!;
            node["do_lower_case"] = false;
            File.WriteAllText(tokConfig, node.ToJsonString());
        }
        using (var fs = File.OpenRead(Path.Combine(model, "model.safetensors")))
            Assert.Equal(m.GetProperty("safetensors_sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(fs)));

        var cases = doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => (Text: c.GetProperty("text").GetString()!, Ids: c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                          Embedding: c.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray()))
            .Where(c => !c.Text.Contains('\n') && !c.Text.Contains('\r') && !c.Text.StartsWith('\uFEFF'))
            .ToList();
        Assert.True(cases.Count >= 10, $"{fixture}: only {cases.Count} one-line cases");
        string input = WriteInput(cases.Select(c => c.Text).ToArray());

        var tok = Membed(["tokenize", "--model", model, "--input", input]);
        Assert.Equal(0, tok.Code);
        var lines = tok.Text.Split('\n');
        for (int i = 0; i < cases.Count; i++) Assert.Equal(string.Join(' ', cases[i].Ids), lines[i]);

        var emb = Membed(["embed", "--model", model, "--input", input, "--batch-size", "7"]);
        Assert.True(emb.Code == 0, emb.Stderr);
        var rows = ParseJsonl(emb.Text);
        Assert.Equal(cases.Count, rows.Length);
        double tol = normalize ? 1e-5 : 1e-4, max = 0;
        for (int i = 0; i < cases.Count; i++)
            for (int j = 0; j < rows[i].Length; j++) max = Math.Max(max, Math.Abs(rows[i][j] - cases[i].Embedding[j]));
        Assert.True(max <= tol, $"{fixture}: membed embed max |Δ| = {max:E3} > {tol:E0}");
    }

    [Fact]
    public void TokenizeMatchesLibraryAndTruncates()
    {
        var r = Membed(["tokenize", "--model", Models.Normalized, "--input", WriteInput(Texts)]);
        Assert.Equal(0, r.Code);
        var lines = r.Text.Split('\n');
        Assert.Equal(Texts.Length + 1, lines.Length);
        Assert.Equal("", lines[^1]);
        using var enc = SentenceEncoder.Load(Models.Normalized);
        for (int i = 0; i < Texts.Length; i++) Assert.Equal(string.Join(' ', enc.Tokenize(Texts[i])), lines[i]);
        Assert.Equal("101 102", lines[1]); // empty text
        Assert.Equal(16, lines[4].Split(' ').Length); // truncated to max_seq_length 16 incl. [CLS]/[SEP]
        Assert.EndsWith(" 102", lines[4]);
    }

    [Fact]
    public void SimilarityPrintsTheCosineMatrix()
    {
        var r = Membed(["similarity", "--model", Models.Normalized, "The cat sat.", "A feline rested.", "Stocks fell."]);
        Assert.Equal(0, r.Code);
        var m = r.Text.TrimEnd('\n').Split('\n').Select(l => l.Split('\t').Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        Assert.Equal(3, m.Length);
        using var enc = SentenceEncoder.Load(Models.Normalized);
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
        Assert.Contains($"kernel path: {ManagedEmbed.Kernels.KernelInfo.GemmPath} ", r.Text);
    }

    [Fact]
    public void ModelSynthIsDeterministic()
    {
        string root = dirs.New("membed-cli-synth");
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
