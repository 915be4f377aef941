using System.Security.Cryptography;
using System.Text.Json;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Encoder.Pooling;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Kernels;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests;

/// <summary>The float and int8 copies of the int8 fixture's synthetic model, written once for the class.</summary>
public sealed class Int8ModelDirs : IDisposable
{
    private readonly string _root = TestPaths.NewTempDir("membed-int8");

    public string Float { get; }
    public string Int8 { get; }
    public JsonDocument Fixture { get; }

    public Int8ModelDirs()
    {
        string path = Path.Combine(TestPaths.Fixtures, "int8", "int8-synth.json");
        Assert.True(File.Exists(path), $"missing {path} (run tools/gen_int8_fixtures.py)");
        Fixture = JsonDocument.Parse(File.ReadAllBytes(path));
        var m = Fixture.RootElement.GetProperty("model");
        Assert.Equal("mean", m.GetProperty("pooling").GetString());
        Float = Path.Combine(_root, "float");
        SyntheticModel.Write(new SyntheticModelOptions
        {
            ConfigPath = Path.Combine(TestPaths.RepoRoot, m.GetProperty("config").GetString()!["repo:".Length..]),
            VocabPath = Path.Combine(TestPaths.Shared, m.GetProperty("vocab").GetString()!["shared:".Length..]),
            Seed = m.GetProperty("seed").GetUInt64(), Pooling = PoolingMode.Mean, Normalize = m.GetProperty("normalize").GetBoolean(),
            MaxSeqLength = m.GetProperty("max_seq_length").GetInt32(),
        }, Float);
        Assert.Equal(m.GetProperty("safetensors_sha256").GetString(), Sha(Path.Combine(Float, "model.safetensors")));
        Int8 = Path.Combine(_root, "int8");
        Int8WeightsTests.WriteInt8Copy(Float, Int8);
    }

    internal static string Sha(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    public void Dispose()
    {
        Fixture.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// Int8 Linear weights in the encoder: parity with the independent numpy/PyTorch reference (tools/gen_int8_fixtures.py),
/// the checkpoint format (exact codes, round trip, quantize-at-load), and refusal of inconsistent files.
/// </summary>
public class Int8WeightsTests(Int8ModelDirs dirs) : IClassFixture<Int8ModelDirs>
{
    /// <summary>An int8 copy of a float model directory through the library (what `membed model quantize` writes).</summary>
    internal static void WriteInt8Copy(string floatDir, string int8Dir)
    {
        Directory.CreateDirectory(int8Dir);
        foreach (string f in Directory.GetFiles(floatDir)) File.Copy(f, Path.Combine(int8Dir, Path.GetFileName(f)));
        foreach (string d in Directory.GetDirectories(floatDir))
        {
            string to = Path.Combine(int8Dir, Path.GetFileName(d));
            Directory.CreateDirectory(to);
            foreach (string f in Directory.GetFiles(d)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        }
        var config = SentenceModelConfig.Load(floatDir);
        int quantized;
        using (var file = SafeTensorsFile.Open(Path.Combine(floatDir, "model.safetensors")))
        {
            var entries = Int8Checkpoint.QuantizedEntries(file, config.Transformer, out quantized);
            using var fs = File.Create(Path.Combine(int8Dir, "model.safetensors"));
            SafeTensorsWriter.Write(fs, entries, file.Metadata.Count == 0 ? null : file.Metadata);
        }
        string configPath = Path.Combine(floatDir, "config.json");
        File.WriteAllText(Path.Combine(int8Dir, "config.json"), Int8Checkpoint.MarkConfig(File.ReadAllText(configPath), configPath, quantized));
    }

    private List<(int[] Ids, float[] Float, float[] Int8)> Cases() =>
        dirs.Fixture.RootElement.GetProperty("cases").EnumerateArray().Select(c => (
            c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            c.GetProperty("embedding_float").EnumerateArray().Select(x => x.GetSingle()).ToArray(),
            c.GetProperty("embedding_int8").EnumerateArray().Select(x => x.GetSingle()).ToArray())).ToList();

    [Fact]
    public void QuantizedFileHasTheReferenceCodesAndScales()
    {
        // The generator checked the codes and scales of membed's file against its numpy quantization element by
        // element and recorded the file's digest: the same digest here means the same bytes.
        var m = dirs.Fixture.RootElement.GetProperty("model");
        Assert.Equal(m.GetProperty("int8_safetensors_sha256").GetString(), Int8ModelDirs.Sha(Path.Combine(dirs.Int8, "model.safetensors")));
        using var file = SafeTensorsFile.Open(Path.Combine(dirs.Int8, "model.safetensors"));
        Assert.Equal(m.GetProperty("quantized_tensors").GetInt32(), file.Tensors.Count(t => t.DType == SafeTensorDType.I8));
    }

    /// <summary>
    /// Our int8 forward equals the reference's within 2e-5 per component of the normalized embedding. The bound:
    /// float forward passes agree to ~1e-6, and an activation whose x/scale lands within that of a .5 tie may take
    /// the neighbouring code (one step, scale/127 of the row's max), which moves a component by ~1e-5 at most here.
    /// The reference's own int8-vs-float gap must be several times the bound, so the test tells int8 from float.
    /// </summary>
    [Fact]
    public void Int8ForwardMatchesTheIndependentReference()
    {
        const double Bound = 2e-5;
        var cases = Cases();
        using var enc = SentenceEncoder.Load(dirs.Int8, new EncoderOptions { Threads = 1 });
        var got = enc.EncodeIds(cases.Select(c => c.Ids).ToList(), batchSize: 8);
        double worst = 0, gap = 0;
        for (int i = 0; i < cases.Count; i++)
        {
            var row = got.Row(i);
            for (int j = 0; j < row.Length; j++)
            {
                worst = Math.Max(worst, Math.Abs(row[j] - cases[i].Int8[j]));
                gap = Math.Max(gap, Math.Abs(cases[i].Float[j] - cases[i].Int8[j]));
            }
        }
        Assert.True(worst <= Bound, $"int8 forward differs from the reference by {worst:G3} (bound {Bound})");
        Assert.True(gap >= 4 * Bound, $"the reference's int8-vs-float gap {gap:G3} is too small for the test to tell them apart");
    }

    [Fact]
    public void QuantizeAtLoadEqualsTheQuantizedCheckpointAndThreadsDoNotMatter()
    {
        var ids = Cases().Select(c => c.Ids).ToList();
        using var fromFile = SentenceEncoder.Load(dirs.Int8, new EncoderOptions { Threads = 1 });
        using var atLoad = SentenceEncoder.Load(dirs.Float, new EncoderOptions { Threads = 2, Int8Weights = true });
        using var fp = SentenceEncoder.Load(dirs.Float, new EncoderOptions { Threads = 1 });
        var a = fromFile.EncodeIds(ids, batchSize: 8);
        var b = atLoad.EncodeIds(ids, batchSize: 5);
        Assert.Equal(a.Data, b.Data);
        Assert.NotEqual(a.Data, fp.EncodeIds(ids, batchSize: 8).Data);
        Assert.True(SentenceModelConfig.Load(dirs.Int8).Transformer.Int8Weights);
        Assert.False(SentenceModelConfig.Load(dirs.Float).Transformer.Int8Weights);
    }

    private string Variant(Action<string> change)
    {
        string dir = Path.Combine(TestPaths.NewTempDir("membed-int8-bad"), "m");
        WriteInt8Copy(dirs.Float, dir);
        change(dir);
        return dir;
    }

    private static string LoadError(string dir) =>
        Assert.Throws<ManagedEmbedException>(() => SentenceEncoder.Load(dir).Dispose()).Message;

    private static void RewriteTensors(string dir, Func<SafeTensorsFile, List<SafeTensorEntry>, List<SafeTensorEntry>> edit)
    {
        string path = Path.Combine(dir, "model.safetensors");
        byte[] bytes;
        using (var file = SafeTensorsFile.Open(path))
        {
            var entries = file.Tensors.Select(t => new SafeTensorEntry(t.Name, t.DType, t.Shape.ToArray(), () => file.GetBytes(t).ToArray())).ToList();
            using var ms = new MemoryStream();
            SafeTensorsWriter.Write(ms, edit(file, entries));
            bytes = ms.ToArray();
        }
        File.WriteAllBytes(path, bytes);
    }

    [Fact]
    public void Int8WeightsWithoutTheConfigMarkAreRefused()
    {
        string dir = Variant(d => File.Copy(Path.Combine(dirs.Float, "config.json"), Path.Combine(d, "config.json"), overwrite: true));
        string e = LoadError(dir);
        Assert.Contains("is I8 but config.json has no quantization_config", e);
    }

    [Fact]
    public void FloatWeightsUnderAnInt8ConfigAreRefused()
    {
        string dir = Variant(d => File.Copy(Path.Combine(dirs.Float, "model.safetensors"), Path.Combine(d, "model.safetensors"), overwrite: true));
        Assert.Contains("config.json declares int8 weights", LoadError(dir));
    }

    [Fact]
    public void MissingScaleIsRefused()
    {
        string dir = Variant(d => RewriteTensors(d, (_, e) => e.Where(t => t.Name != "encoder.layer.1.output.dense.weight_scale").ToList()));
        Assert.Contains("encoder.layer.1.output.dense.weight is I8 without its scale tensor encoder.layer.1.output.dense.weight_scale", LoadError(dir));
    }

    [Fact]
    public void CodeMinus128IsRefused()
    {
        const string name = "encoder.layer.0.intermediate.dense.weight";
        string dir = Variant(d => RewriteTensors(d, (file, e) => e.Select(t => t.Name != name ? t : t with
        {
            Data = () => { var b = file.GetBytes(file.Get(name)).ToArray(); b[5] = 0x80; return b; },
        }).ToList()));
        string msg = LoadError(dir);
        Assert.Contains(name, msg);
        Assert.Contains("-128", msg);
    }

    [Fact]
    public void NegativeScaleIsRefused()
    {
        const string name = "encoder.layer.0.attention.self.key.weight_scale";
        string dir = Variant(d => RewriteTensors(d, (file, e) => e.Select(t => t.Name != name ? t : t with
        {
            Data = () => { var s = file.ReadFloatArray(file.Get(name)); s[3] = -s[3]; return SafeTensorsWriter.ToBytes(s); },
        }).ToList()));
        string msg = LoadError(dir);
        Assert.Contains("encoder.layer.0.attention.self.key.weight", msg);
        Assert.Contains("not a finite non-negative number", msg);
    }

    [Fact]
    public void UnknownQuantizationMethodIsRefused()
    {
        string dir = Variant(d =>
        {
            string p = Path.Combine(d, "config.json");
            File.WriteAllText(p, File.ReadAllText(p).Replace("\"membed-int8\"", "\"gptq\""));
        });
        Assert.Contains("quantization_config.quant_method \"gptq\" is not supported (supported: membed-int8)", LoadError(dir));
    }

    /// <summary>
    /// DistilBERT and MPNet run their Linear layers through the same blocks: quantized at load, every architecture's
    /// embeddings move (the int8 path ran) and stay close to the float ones (it ran correctly).
    /// </summary>
    [Theory]
    [InlineData("msmarco-distilbert-base-v4.2-layers.config.json", "distilbert")]
    [InlineData("all-mpnet-base-v2.2-layers.config.json", "mpnet")]
    public void EveryArchitectureRunsInt8(string config, string arch)
    {
        string root = TestPaths.NewTempDir("membed-int8-arch");
        try
        {
            string vocab = Path.Combine(TestPaths.MiniLm, "vocab.txt");
            if (arch == "mpnet") vocab = SeedVocab.WriteMpnet(vocab, Path.Combine(root, "vocab.txt"));
            string dir = Path.Combine(root, "m");
            SyntheticModel.Write(new SyntheticModelOptions
            {
                ConfigPath = Path.Combine(TestPaths.Fixtures, "encoder-configs", config), VocabPath = vocab, Seed = 3, Architecture = arch,
                Pooling = PoolingMode.Mean, Normalize = true, MaxSeqLength = 64,
            }, dir);
            string[] texts = ["int8 weights on every architecture", "a second, somewhat longer sentence to embed here"];
            using var fp = SentenceEncoder.Load(dir, new EncoderOptions { Threads = 1 });
            using var q = SentenceEncoder.Load(dir, new EncoderOptions { Threads = 1, Int8Weights = true });
            var a = fp.Encode(texts);
            var b = q.Encode(texts);
            Assert.NotEqual(a.Data, b.Data);
            for (int i = 0; i < texts.Length; i++)
            {
                double dot = 0;
                for (int j = 0; j < a.Dimension; j++) dot += a.Row(i)[j] * (double)b.Row(i)[j];
                Assert.True(dot > 0.99, $"{arch}: cosine {dot}");
            }
        }
        finally { Directory.Delete(root, true); }
    }

    [Fact]
    public void QuantizingAnInt8ModelIsRefused()
    {
        var config = SentenceModelConfig.Load(dirs.Int8);
        using var file = SafeTensorsFile.Open(Path.Combine(dirs.Int8, "model.safetensors"));
        var e = Assert.Throws<ManagedEmbedException>(() => Int8Checkpoint.QuantizedEntries(file, config.Transformer, out _));
        Assert.Contains("already has int8 weights", e.Message);
    }
}
