using System.Security.Cryptography;
using ManagedEmbed.Encoder.Pooling;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests;

public class SyntheticModelTests : IDisposable
{
    // Each MiniLM-shaped model is 90 MB: every directory a test creates is removed after it.
    private readonly List<string> _dirs = new();

    private string NewDir()
    {
        string d = TestPaths.NewTempDir("membed-synth");
        _dirs.Add(d);
        return d;
    }

    public void Dispose()
    {
        foreach (string d in _dirs)
            try { Directory.Delete(d, recursive: true); } catch (IOException) { }
    }

    private static string Sha(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    private static SyntheticModelOptions MiniLm(ulong seed) => new()
    {
        ConfigPath = Path.Combine(TestPaths.MiniLm, "config.json"), VocabPath = Path.Combine(TestPaths.MiniLm, "vocab.txt"), Seed = seed,
    };

    [Fact]
    public void SameArgumentsGiveIdenticalBytesAndOtherSeedsDiffer()
    {
        string a = NewDir(), b = NewDir(), c = NewDir();
        SyntheticModel.Write(MiniLm(42), a);
        SyntheticModel.Write(MiniLm(42), b);
        SyntheticModel.Write(MiniLm(43), c);
        foreach (string f in Directory.GetFiles(a, "*", SearchOption.AllDirectories))
            Assert.Equal(Sha(f), Sha(Path.Combine(b, Path.GetRelativePath(a, f))));
        Assert.NotEqual(Sha(Path.Combine(a, "model.safetensors")), Sha(Path.Combine(c, "model.safetensors")));
    }

    [Fact]
    public void MiniLmShapedHeaderIsByteIdenticalToTheRealOne()
    {
        // Same names, dtypes, shapes, order, offsets and padding as the published all-MiniLM-L6-v2 file.
        string dir = NewDir();
        SyntheticModel.Write(MiniLm(1), dir);
        byte[] real = File.ReadAllBytes(Path.Combine(TestPaths.MiniLm, "model.safetensors.prefix"));
        byte[] ours = File.ReadAllBytes(Path.Combine(dir, "model.safetensors"));
        int headerEnd = 8 + (int)BitConverter.ToUInt64(real, 0);
        Assert.Equal(real.AsSpan(0, headerEnd).ToArray(), ours.AsSpan(0, headerEnd).ToArray());
        Assert.Equal(90_868_376, ours.Length);
        // position_ids are real data too: identical bytes.
        Assert.Equal(real.AsSpan(headerEnd, 4096).ToArray(), ours.AsSpan(headerEnd, 4096).ToArray());
    }

    [Fact]
    public void WritesACompleteLoadableDirectory()
    {
        string dir = NewDir();
        SyntheticModel.Write(new SyntheticModelOptions
        {
            ConfigPath = Path.Combine(TestPaths.RepoRoot, "weights", "synth", "odd-config.json"),
            VocabPath = Path.Combine(TestPaths.MiniLm, "vocab.txt"), Seed = 7, Pooling = PoolingMode.Cls, Normalize = false,
        }, dir);
        foreach (string f in new[] { "config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json", "model.safetensors" })
            Assert.True(File.Exists(Path.Combine(dir, f)), f);
        Assert.Empty(TempFiles.LeftIn(dir, recursive: true));
        using var enc = SentenceEncoder.Load(dir);
        Assert.Equal(192, enc.Dimension);
        Assert.Equal(96, enc.MaxSeqLength); // min(256, max_position_embeddings 96)
        Assert.False(enc.NormalizesByDefault);
        Assert.Equal(PoolingMode.Cls, enc.Config.Pooling);
        Assert.Equal(Kernels.Activation.GeluTanh, enc.Config.Transformer.Activation);
        var v = enc.Encode("Hello, world!");
        var w = enc.Encode("Something else entirely.");
        // Non-degenerate: the CLS output depends on the other tokens through attention.
        Assert.True(v.Zip(w, (a, b) => Math.Abs(a - b)).Max() > 1e-2);
        Assert.All(v, x => Assert.True(float.IsFinite(x)));
    }

    [Fact]
    public void BadInputsChangeNothing()
    {
        string dir = Path.Combine(NewDir(), "out");
        Assert.Contains("more than vocab_size", Assert.Throws<ManagedEmbedException>(() => SyntheticModel.Write(new SyntheticModelOptions
        {
            ConfigPath = TestModels.WriteTinyInputs(Path.Combine(dir + "-in")).Config, VocabPath = Path.Combine(TestPaths.MiniLm, "vocab.txt"), Seed = 1,
        }, dir)).Message);
        Assert.Contains("max_seq_length 600", Assert.Throws<ManagedEmbedException>(() => SyntheticModel.Write(MiniLm(1) is var o ? new SyntheticModelOptions
        {
            ConfigPath = o.ConfigPath, VocabPath = o.VocabPath, Seed = 1, MaxSeqLength = 600,
        } : null!, dir)).Message);
        Assert.False(Directory.Exists(dir));
    }

    private static SyntheticModelOptions TinyOptions(string inputs, int hidden = 48, int layers = 2)
    {
        var (config, vocab) = TestModels.WriteTinyInputs(inputs, hidden: hidden, heads: 4, layers: layers);
        return new SyntheticModelOptions { ConfigPath = config, VocabPath = vocab, Seed = 7 };
    }

    [Fact]
    public void AWriteFailingMidwayLeavesNoPartialDirectory()
    {
        string root = NewDir(), output = Path.Combine(root, "out", "model");
        var o = TinyOptions(Path.Combine(root, "in"));
        SyntheticModel.WriteFaultHook = p =>
        {
            if (p.StartsWith(Path.Combine(root, "out"), StringComparison.Ordinal) && p.EndsWith("model.safetensors", StringComparison.Ordinal))
                throw new IOException("injected: no space left on device");
        };
        try { Assert.Throws<IOException>(() => SyntheticModel.Write(o, output)); }
        finally { SyntheticModel.WriteFaultHook = null; }
        Assert.False(Directory.Exists(output));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(root, "out")));
    }

    [Fact]
    public void AWriteFailingMidwayKeepsThePreviousModel()
    {
        string root = NewDir(), output = Path.Combine(root, "model");
        SyntheticModel.Write(TinyOptions(Path.Combine(root, "in")), output);
        var before = Directory.GetFiles(output, "*", SearchOption.AllDirectories).ToDictionary(f => Path.GetRelativePath(output, f), Sha);
        var other = TinyOptions(Path.Combine(root, "in2"), layers: 3);
        SyntheticModel.WriteFaultHook = p =>
        {
            if (p.StartsWith(root, StringComparison.Ordinal) && p.EndsWith("model.safetensors", StringComparison.Ordinal))
                throw new IOException("injected: no space left on device");
        };
        try { Assert.Throws<IOException>(() => SyntheticModel.Write(other, output)); }
        finally { SyntheticModel.WriteFaultHook = null; }
        var after = Directory.GetFiles(output, "*", SearchOption.AllDirectories).ToDictionary(f => Path.GetRelativePath(output, f), Sha);
        Assert.Equal(before, after);
        Assert.Equal(["in", "in2", "model"], Directory.GetFileSystemEntries(root).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void ATensorBeyondTheLargestArrayIsRefusedBeforeWritingAnything()
    {
        string root = NewDir(), output = Path.Combine(root, "model");
        var big = TinyOptions(Path.Combine(root, "in"), hidden: 60_000, layers: 1);   // a 60000 × 60000 attention matrix
        Assert.Contains("larger than a synthetic model supports", Assert.Throws<ManagedEmbedException>(() => SyntheticModel.Write(big, output)).Message);
        Assert.False(Directory.Exists(output));
    }

    /// <summary>Not run against the unfixed code: there it allocated without bound.</summary>
    [Fact]
    public void ABillionLayersAreRefusedBeforeListingTensors()
    {
        string root = NewDir(), output = Path.Combine(root, "model");
        var o = TinyOptions(Path.Combine(root, "in"), layers: 1_000_000_000);
        Assert.Contains("num_hidden_layers 1000000000", Assert.Throws<ManagedEmbedException>(() => SyntheticModel.Write(o, output)).Message);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void ADirectoryHoldingOtherFilesIsNotReplaced()
    {
        string root = NewDir(), output = Path.Combine(root, "models");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "notes.txt"), "keep me");
        var e = Assert.Throws<ManagedEmbedException>(() => SyntheticModel.Write(TinyOptions(Path.Combine(root, "in")), output));
        Assert.Contains("notes.txt", e.Message);
        Assert.Equal("keep me", File.ReadAllText(Path.Combine(output, "notes.txt")));
    }
}
