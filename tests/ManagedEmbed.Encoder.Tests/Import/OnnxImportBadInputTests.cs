using System.Text;
using ManagedEmbed.Encoder.Import;

namespace ManagedEmbed.Encoder.Tests.Import;

/// <summary>Malformed ONNX bytes and graphs fail with one ManagedEmbedException naming the problem, never another exception.</summary>
public class OnnxImportBadInputTests
{
    private static byte[] Good => File.ReadAllBytes(OnnxImportSyntheticTests.Fixture("tiny-gelu-opset14.onnx"));

    /// <summary>Imports and writes (so lazily read tensor bytes are exercised too); returns the error or null on success.</summary>
    private static ManagedEmbedException? Try(byte[] bytes, string? config = null)
    {
        try
        {
            var r = OnnxImporter.Import(bytes, config);
            r.WriteSafeTensors(Stream.Null);
            return null;
        }
        catch (ManagedEmbedException e) { return e; }
    }

    [Fact]
    public void EveryTruncationIsRefused()
    {
        byte[] good = Good;
        var cuts = Enumerable.Range(0, 400).Concat(Enumerable.Range(0, good.Length / 61).Select(i => i * 61)).Concat(Enumerable.Range(good.Length - 300, 300)).Distinct();
        foreach (int cut in cuts)
        {
            var e = Try(good[..cut]);
            Assert.True(e is not null, $"truncated at {cut} of {good.Length} bytes: accepted");
            Assert.DoesNotContain('\n', e!.Message);
        }
    }

    [Fact]
    public void TruncationInsideATensorNamesTheOffsetAndField()
    {
        byte[] good = Good;
        var e = Try(good[..(good.Length / 2)]);
        Assert.NotNull(e);
        Assert.Contains("invalid ONNX file", e!.Message);
        Assert.Contains("byte offset", e.Message);
    }

    [Fact]
    public void RandomCorruptionFailsCleanlyOrImports()
    {
        byte[] good = Good;
        var rng = new Random(20261201);
        int refused = 0;
        for (int iter = 0; iter < 400; iter++)
        {
            byte[] bad = (byte[])good.Clone();
            int flips = 1 + rng.Next(4);
            for (int k = 0; k < flips; k++)
            {
                // Half of the flips hit the graph structure (the first ~64 KB: nodes), the rest anywhere.
                int at = rng.Next(2) == 0 ? rng.Next(Math.Min(bad.Length, 65536)) : rng.Next(bad.Length);
                bad[at] = (byte)rng.Next(256);
            }
            // Any exception other than ManagedEmbedException propagates and fails the test.
            if (Try(bad) is not null) refused++;
        }
        Assert.True(refused > 40, $"only {refused} of 400 corrupted files were refused");
    }

    [Theory]
    [InlineData(new byte[0], "empty")]
    [InlineData(new byte[] { 0x50, 0x4B, 0x03, 0x04, 0x14, 0x00 }, "invalid ONNX file")]
    [InlineData(new byte[] { 0x08, 0x07, 0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0x07 }, "ModelProto.graph")]
    [InlineData(new byte[] { 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }, "varint")]
    [InlineData(new byte[] { 0x0B, 0x00 }, "wire type")]
    public void NotAnOnnxModel(byte[] bytes, string fragment)
    {
        var e = Try(bytes);
        Assert.NotNull(e);
        Assert.Contains(fragment, e!.Message);
    }

    [Fact]
    public void ASafetensorsFileIsNotAnOnnxModel()
    {
        var ms = new MemoryStream();
        SyntheticModel.WriteWeights(Configuration.BertConfig.Load(OnnxImportSyntheticTests.Fixture("tiny-gelu-config.json")), 1, ms);
        Assert.NotNull(Try(ms.ToArray()));
    }

    [Theory]
    [InlineData("tiny-gelu-bad-wiring.onnx", "onnx::MatMul_338")]
    [InlineData("tiny-gelu-bad-unknown-tensor.onnx", "bert.cls.predictions.bias")]
    [InlineData("tiny-gelu-bad-external.onnx", "external")]
    [InlineData("tiny-gelu-bad-activation.onnx", "Sigmoid")]
    public void MalformedGraphsAreRefusedWithTheReason(string fixture, string fragment)
    {
        byte[] bytes = File.ReadAllBytes(OnnxImportSyntheticTests.Fixture(fixture));
        string config = File.ReadAllText(OnnxImportSyntheticTests.Fixture("tiny-gelu-config.json"));
        foreach (string? c in new[] { null, config }) // a config does not make a broken graph acceptable
        {
            var e = Try(bytes, c);
            Assert.NotNull(e);
            Assert.Contains(fragment, e!.Message);
        }
    }

    [Theory]
    [InlineData("\"intermediate_size\": 64", "\"intermediate_size\": 65", "intermediate_size")]
    [InlineData("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3", "num_hidden_layers")]
    [InlineData("\"num_attention_heads\": 4", "\"num_attention_heads\": 8", "num_attention_heads")]
    [InlineData("\"hidden_act\": \"gelu\"", "\"hidden_act\": \"relu\"", "hidden_act")]
    [InlineData("\"layer_norm_eps\": 1e-12", "\"layer_norm_eps\": 1e-05", "layer_norm_eps")]
    [InlineData("\"vocab_size\": 80", "\"vocab_size\": 30522", "vocab_size")]
    [InlineData("\"hidden_size\": 32", "\"hidden_size\": 36", "hidden_size")]
    public void AConfigThatDisagreesWithTheGraphIsRefused(string from, string to, string key)
    {
        string json = File.ReadAllText(OnnxImportSyntheticTests.Fixture("tiny-gelu-config.json"));
        Assert.Contains(from, json);
        var e = Try(Good, json.Replace(from, to));
        Assert.NotNull(e);
        Assert.Contains(key, e!.Message);
    }

    [Fact]
    public void AnInvalidConfigIsRefused()
    {
        Assert.Contains("config.json", Try(Good, "{ not json")!.Message);
        Assert.Contains("hidden_size", Try(Good, "{\"model_type\": \"bert\"}")!.Message);
    }

    [Fact]
    public void ErrorsAreOneLine()
    {
        foreach (string f in new[] { "tiny-gelu-bad-wiring.onnx", "tiny-gelu-bad-unknown-tensor.onnx", "tiny-gelu-bad-external.onnx", "tiny-gelu-no-heads.onnx" })
        {
            var e = Try(File.ReadAllBytes(OnnxImportSyntheticTests.Fixture(f)));
            Assert.NotNull(e);
            Assert.DoesNotContain('\n', e!.Message);
            Assert.True(Encoding.UTF8.GetByteCount(e.Message) < 1000, e.Message);
        }
    }
}
