using System.Diagnostics;
using System.Text.Json;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// `membed embed --precision ... --format npy|jsonl` and `membed search --precision`: the .npy files are read back by
/// numpy (Debian's /usr/bin/python3), which also recomputes the quantization from the float32 output with
/// sentence-transformers' published formulas.
/// </summary>
public class QuantizeCliTests
{
    private static readonly string[] Texts =
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium.", "Quantum computers use qubits.", "a", "Ünïcödé — 東京"];

    private static readonly string[] Calibration =
        ["A man is eating food.", "A man is riding a horse.", "The new movie is awesome.", "The cat plays in the garden.", "Stocks fell sharply on Monday.",
         "She plays the violin beautifully.", "Rain is expected tomorrow.", "The quick brown fox jumps over the lazy dog."];

    private static readonly Lazy<string> Root = new(() =>
    {
        string root = TestPaths.NewTempDir("membed-quant-cli");
        string config = Path.Combine(root, "config.json");
        File.WriteAllText(config, """
            {"architectures": ["BertModel"], "hidden_act": "gelu", "hidden_size": 32, "intermediate_size": 64, "layer_norm_eps": 1e-12,
             "max_position_embeddings": 64, "model_type": "bert", "num_attention_heads": 4, "num_hidden_layers": 2,
             "type_vocab_size": 2, "vocab_size": 30522}
            """);
        var r = CliRunner.Run(["model", "synth", "--config", config, "--vocab", Path.Combine(TestPaths.MiniLm, "vocab.txt"), "--seed", "5", "--out", Path.Combine(root, "model")]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        File.WriteAllText(Path.Combine(root, "in.txt"), string.Join("\n", Texts) + "\n");
        File.WriteAllText(Path.Combine(root, "calib.txt"), string.Join("\n", Calibration) + "\n");
        return root;
    });

    private static string Model => Path.Combine(Root.Value, "model");
    private static string Input => Path.Combine(Root.Value, "in.txt");

    private static void Embed(string output, params string[] extra)
    {
        var r = CliRunner.Run(["embed", "--model", Model, "--input", Input, "--output", output, .. extra]);
        Assert.True(r.ExitCode == 0, r.Stderr);
    }

    private static string Python(string script, params string[] args)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("/usr/bin/python3 (with numpy) is required");
        string o = p.StandardOutput.ReadToEnd(), e = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, "numpy check failed: " + e + o);
        return o;
    }

    [Fact]
    public void Npy_outputs_load_in_numpy_and_equal_the_published_quantization()
    {
        string d = TestPaths.NewTempDir("membed-quant-npy");
        string f32 = Path.Combine(d, "f.npy"), cal = Path.Combine(d, "cal.npy");
        Embed(f32, "--format", "npy");
        var c = CliRunner.Run(["embed", "--model", Model, "--input", Path.Combine(Root.Value, "calib.txt"), "--format", "npy", "--output", cal]);
        Assert.True(c.ExitCode == 0, c.Stderr);
        foreach (string p in new[] { "int8", "uint8", "binary", "ubinary" })
        {
            string[] calArgs = p.EndsWith("int8", StringComparison.Ordinal) ? ["--calibration", Path.Combine(Root.Value, "calib.txt")] : [];
            Embed(Path.Combine(d, p + ".npy"), ["--format", "npy", "--precision", p, .. calArgs]);
        }
        // int8 calibrated on an .npy of embeddings equals int8 calibrated on the texts themselves.
        Embed(Path.Combine(d, "int8-from-npy.npy"), "--format", "npy", "--precision", "int8", "--calibration", cal);
        string o = Python("""
            import sys, json, numpy as np
            d = sys.argv[1]
            f = np.load(d + '/f.npy'); cal = np.load(d + '/cal.npy')
            assert f.dtype == np.float32 and f.shape == (6, 32), (f.dtype, f.shape)
            ranges = np.vstack((cal.min(axis=0), cal.max(axis=0)))
            steps = (ranges[1] - ranges[0]) / 255
            want = {
              'int8': ((f - ranges[0]) / steps - 128).astype(np.int8),
              'uint8': ((f - ranges[0]) / steps).astype(np.uint8),
              'binary': (np.packbits(f > 0).reshape(6, -1) - 128).astype(np.int8),
              'ubinary': np.packbits(f > 0).reshape(6, -1),
            }
            for p, w in want.items():
                got = np.load(d + '/' + p + '.npy')
                assert got.dtype == w.dtype and got.shape == w.shape, (p, got.dtype, got.shape)
                assert (got == w).all(), (p, got, w)
            assert (np.load(d + '/int8-from-npy.npy') == want['int8']).all()
            # Raw header check per the NPY 1.0 spec: magic, version 1.0, data aligned to 64 bytes.
            raw = open(d + '/binary.npy', 'rb').read()
            assert raw[:8] == b'\x93NUMPY\x01\x00' and (10 + int.from_bytes(raw[8:10], 'little')) % 64 == 0
            print(json.dumps(f.tolist()))
            """, d);
        float[][] npyFloats = JsonSerializer.Deserialize<float[][]>(o)!;
        // The float32 .npy holds exactly what jsonl prints.
        var jsonl = CliRunner.Run(["embed", "--model", Model, "--input", Input]);
        var rows = jsonl.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("embedding").EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        Assert.Equal(rows, npyFloats);
    }

    [Fact]
    public void Jsonl_codes_equal_the_npy_codes()
    {
        string d = TestPaths.NewTempDir("membed-quant-jsonl");
        foreach (var (p, signed) in new[] { ("binary", true), ("uint8", false) })
        {
            string[] cal = p == "uint8" ? ["--calibration", Path.Combine(Root.Value, "calib.txt")] : [];
            Embed(Path.Combine(d, p + ".npy"), ["--format", "npy", "--precision", p, .. cal]);
            var r = CliRunner.Run(["embed", "--model", Model, "--input", Input, "--precision", p, .. cal]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            byte[] npy = File.ReadAllBytes(Path.Combine(d, p + ".npy"));
            int header = 10 + BitConverter.ToUInt16(npy, 8);
            int[] fromJson = [.. r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).SelectMany(l => JsonDocument.Parse(l).RootElement.GetProperty("embedding").EnumerateArray().Select(v => v.GetInt32()))];
            int[] fromNpy = [.. npy.Skip(header).Select(b => signed ? (int)unchecked((sbyte)b) : b)];
            Assert.Equal(fromNpy, fromJson);
            Assert.Equal(6 * (p == "binary" ? 4 : 32), fromJson.Length);
        }
    }

    [Theory]
    [InlineData("--precision int8", "needs --calibration FILE")]
    [InlineData("--precision binary --format fvecs", "--format fvecs holds float32 only")]
    [InlineData("--precision binary --calibration x.txt", "--calibration applies to --precision int8 or uint8")]
    [InlineData("--precision int4", "--precision must be one of float32|int8|uint8|binary|ubinary")]
    [InlineData("--precision binary --dim 12", "not a multiple of 8")]
    [InlineData("--precision int8 --calibration CAL16", "have dimension 16, the output has 32")]
    public void Bad_quantization_arguments_exit_2_with_one_line_and_no_output(string extra, string message)
    {
        string d = TestPaths.NewTempDir("membed-quant-bad");
        string cal16 = Path.Combine(d, "cal16.fvecs");
        using (var w = new BinaryWriter(File.Create(cal16))) { w.Write(16); for (int i = 0; i < 16; i++) w.Write(0.5f); }
        string output = Path.Combine(d, "out.npy");
        string[] format = extra.Contains("--format", StringComparison.Ordinal) ? [] : ["--format", "npy"];
        string[] args = ["embed", "--model", Model, "--input", Input, .. format, "--output", output, .. extra.Replace("CAL16", cal16).Split(' ')];
        var r = CliRunner.Run(args);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void Quantized_search_with_rescoring_returns_the_float_searchs_documents()
    {
        // With a multiplier covering the whole corpus every document is rescored; int8 rescoring approximates cosine
        // to within a bucket, so the top hit and the hit set equal the float search's on this small corpus.
        string[] q = ["--model", Model, "--corpus", Input, "--k", "3", "--json", "sunny weather"];
        var exact = CliRunner.Run(["search", .. q]);
        Assert.True(exact.ExitCode == 0, exact.Stderr);
        foreach (string p in new[] { "binary", "int8" })
        {
            var r = CliRunner.Run(["search", "--precision", p, "--rescore-multiplier", "10", .. q]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            long[] Ids(string s) => [.. JsonDocument.Parse(s).RootElement.GetProperty("queries")[0].GetProperty("results").EnumerateArray().Select(h => h.GetProperty("id").GetInt64())];
            Assert.Equal(Ids(exact.Stdout)[0], Ids(r.Stdout)[0]);
            Assert.Equal(Ids(exact.Stdout).Order(), Ids(r.Stdout).Order());
        }
        var bad = CliRunner.Run(["search", "--precision", "binary", "--index", "hnsw", .. q]);
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("combines with neither", bad.Stderr);
    }
}
