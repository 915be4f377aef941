using System.Buffers.Binary;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Import;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Kernels;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests.Import;

/// <summary>
/// Small synthetic models exported to ONNX by PyTorch (tests/fixtures/onnx, made by tools/gen_onnx_fixtures.py from
/// `membed model synth` directories): importing them gives back every source tensor exactly, and the inferred config
/// equals the config the model was synthesized from — covering gelu (Erf), gelu_new (Tanh) and relu, decomposed and
/// native LayerNorm, and epsilons 1e-12, 1e-7, 1e-5. The source weights are regenerated with SyntheticModel.
/// </summary>
public class OnnxImportSyntheticTests
{
    internal static string Fixture(string name) => Path.Combine(TestPaths.Fixtures, "onnx", name);

    public static TheoryData<string, string, ulong> Models => new()
    {
        { "tiny-gelu", "tiny-gelu-opset14.onnx", 11 },
        { "tiny-gelu-new", "tiny-gelu-new-opset17.onnx", 12 },
        { "tiny-relu", "tiny-relu-opset14.onnx", 13 },
    };

    /// <summary>The source model.safetensors of a fixture, regenerated from its config and seed.</summary>
    private static SafeTensorsFile Source(BertConfig config, ulong seed, string dir)
    {
        string path = Path.Combine(dir, "source.safetensors");
        using (var fs = File.Create(path)) SyntheticModel.WriteWeights(config, seed, fs);
        return SafeTensorsFile.Open(path);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void EveryTensorEqualsTheSynthesizedSourceExactly(string name, string onnx, ulong seed)
    {
        var config = BertConfig.Load(Fixture(name + "-config.json"));
        var r = OnnxImporter.Import(File.ReadAllBytes(Fixture(onnx)), null, new OnnxImportOptions { IncludePositionIds = true });
        string dir = TestPaths.NewTempDir("membed-onnx-synth");
        try
        {
            using var src = Source(config, seed, dir);
            // The export graph has no pooler (it returns last_hidden_state only): every other tensor comes back.
            var expected = BertTensorNames.Required(config).Select(s => s.Name).Append(BertTensorNames.PositionIds).Order(StringComparer.Ordinal);
            Assert.Equal(expected, r.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
            foreach (var t in r.Tensors)
            {
                var s = src.Get(t.Name);
                Assert.Equal(s.DType, t.DType);
                Assert.Equal(s.Shape, t.Shape);
                Assert.True(src.GetBytes(s).SequenceEqual(t.Data()), $"{name}: {t.Name} differs from the source");
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void InferredConfigEqualsTheSourceConfig(string name, string onnx, ulong seed)
    {
        _ = seed;
        var want = BertConfig.Load(Fixture(name + "-config.json"));
        var r = OnnxImporter.Import(File.ReadAllBytes(Fixture(onnx)), null);
        Assert.True(r.ConfigInferred);
        var got = BertConfig.Parse(r.ConfigJson, "inferred");
        Assert.Equal(
            (want.HiddenSize, want.NumAttentionHeads, want.NumHiddenLayers, want.IntermediateSize, want.VocabSize, want.MaxPositionEmbeddings, want.TypeVocabSize),
            (got.HiddenSize, got.NumAttentionHeads, got.NumHiddenLayers, got.IntermediateSize, got.VocabSize, got.MaxPositionEmbeddings, got.TypeVocabSize));
        Assert.Equal(want.LayerNormEps, got.LayerNormEps);
        Assert.Equal(want.HiddenAct, got.HiddenAct);
        Assert.Equal(want.Activation, got.Activation);
    }

    [Fact]
    public void TheFixturesCoverEachActivationAndNonDefaultEpsilons()
    {
        // Guards the inference tests above against fixtures that all look alike.
        var configs = new[] { "tiny-gelu", "tiny-gelu-new", "tiny-relu" }.Select(n => BertConfig.Load(Fixture(n + "-config.json"))).ToList();
        Assert.Equal(new[] { Activation.Gelu, Activation.GeluTanh, Activation.Relu }, configs.Select(c => c.Activation));
        Assert.Equal(new[] { 1e-12f, 1e-7f, 1e-5f }, configs.Select(c => c.LayerNormEps));
        Assert.Equal(3, configs.Select(c => c.NumAttentionHeads).Distinct().Count());
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void WithItsOwnConfig_TheGivenTextIsKeptAndTheTensorsAreTheSame(string name, string onnx, ulong seed)
    {
        _ = seed;
        string json = File.ReadAllText(Fixture(name + "-config.json"));
        byte[] bytes = File.ReadAllBytes(Fixture(onnx));
        var given = OnnxImporter.Import(bytes, json);
        var inferred = OnnxImporter.Import(bytes, null);
        Assert.False(given.ConfigInferred);
        Assert.Equal(json, given.ConfigJson);
        var a = new MemoryStream(); given.WriteSafeTensors(a);
        var b = new MemoryStream(); inferred.WriteSafeTensors(b);
        Assert.Equal(a.ToArray(), b.ToArray());
    }

    [Fact]
    public void PositionIdsAreWrittenOnlyWhenAsked_AsZeroToMaxPositionsMinusOne()
    {
        var r = OnnxImporter.Import(File.ReadAllBytes(Fixture("tiny-gelu-opset14.onnx")), null);
        Assert.False(r.GraphHasPositionIds); // this export computes positions with Range
        Assert.DoesNotContain(r.Tensors, t => t.Name == BertTensorNames.PositionIds);
        var ms = new MemoryStream();
        r.WriteSafeTensors(ms, includePositionIds: true);
        string dir = TestPaths.NewTempDir("membed-onnx-pos");
        try
        {
            string path = Path.Combine(dir, "m.safetensors");
            File.WriteAllBytes(path, ms.ToArray());
            using var f = SafeTensorsFile.Open(path);
            var ids = f.Get(BertTensorNames.PositionIds);
            Assert.Equal(SafeTensorDType.I64, ids.DType);
            Assert.Equal(new[] { 1, 40 }, ids.Shape);
            var bytes = f.GetBytes(ids);
            for (int i = 0; i < 40; i++) Assert.Equal(i, BinaryPrimitives.ReadInt64LittleEndian(bytes[(8 * i)..]));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void NoConstantHeadCount_RefusesToGuessButAcceptsAConfig()
    {
        byte[] bytes = File.ReadAllBytes(Fixture("tiny-gelu-no-heads.onnx"));
        var e = Assert.Throws<ConfigNeededException>(() => OnnxImporter.Import(bytes, null));
        Assert.Contains("cannot infer num_attention_heads", e.Message);
        Assert.Contains("pass the model's config.json", e.Message);
        LibraryWording.AssertNoCliWords(e.Message);
        var r = OnnxImporter.Import(bytes, File.ReadAllText(Fixture("tiny-gelu-config.json")));
        Assert.Equal(4, r.Config.NumAttentionHeads);
    }
}
