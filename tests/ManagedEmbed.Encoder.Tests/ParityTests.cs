using System.Security.Cryptography;
using System.Text.Json;
using ManagedEmbed.Encoder.Pooling;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests;

/// <summary>
/// Parity with the independent PyTorch reference: every tests/fixtures/encoder/*.json (written by
/// tools/gen_fixtures.sh) is re-synthesized with its recorded arguments, its SHA-256 checked, then ids-level and
/// text-level outputs are compared. No fixture at all is a failure, never a skip.
/// </summary>
/// <summary>Removes the synthesized parity models (90 MB for the MiniLM shape) when the class's tests are done.</summary>
public sealed class ParityModelDirs : IDisposable
{
    private readonly List<string> _dirs = new();

    internal string New()
    {
        string d = TestPaths.NewTempDir("membed-parity");
        lock (_dirs) _dirs.Add(d);
        return d;
    }

    public void Dispose()
    {
        foreach (string d in _dirs)
            try { Directory.Delete(d, recursive: true); } catch (IOException) { }
    }
}

public class ParityTests(Xunit.Abstractions.ITestOutputHelper output, ParityModelDirs dirs) : IClassFixture<ParityModelDirs>
{
    public static IEnumerable<object[]> Fixtures()
    {
        // encoder/: fixtures whose vocabulary file is used as is (also replayed through the CLI by EncoderCliTests);
        // encoder-mpnet/: MPNet, whose vocabulary is derived from the BERT one ("vocab_transform").
        var files = new List<string>();
        foreach (string sub in new[] { "encoder", "encoder-mpnet" })
        {
            string dir = Path.Combine(TestPaths.Fixtures, sub);
            if (Directory.Exists(dir)) files.AddRange(Directory.GetFiles(dir, "*.json").Select(f => sub + "/" + Path.GetFileName(f)));
        }
        files.Sort(StringComparer.Ordinal);
        // An empty list still yields one case, which then fails loudly.
        if (files.Count == 0) yield return ["<none>"];
        foreach (var f in files) yield return [f];
    }

    private sealed record Case(string Text, int[] Ids, float[] Pooled, float[] Embedding);

    private sealed class Fixture
    {
        public required string ModelDir { get; init; }
        public required bool Normalize { get; init; }
        public required List<Case> Cases { get; init; }
    }

    private static readonly Dictionary<string, Fixture> Loaded = new();
    private static ParityModelDirs? s_dirs;

    private Fixture Load(string name)
    {
        lock (Loaded)
        {
            // The cache lives as long as the class fixture that owns the directories.
            if (!ReferenceEquals(s_dirs, dirs)) { Loaded.Clear(); s_dirs = dirs; }
            if (Loaded.TryGetValue(name, out var cached)) return cached;
            string path = Path.Combine(TestPaths.Fixtures, name);
            Assert.True(File.Exists(path), $"no encoder parity fixture in {Path.Combine(TestPaths.Fixtures, "encoder")} (run tools/gen_fixtures.sh)");
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var m = doc.RootElement.GetProperty("model");
            string Resolve(string p) => p.StartsWith("shared:", StringComparison.Ordinal) ? Path.Combine(TestPaths.Shared, p[7..])
                : p.StartsWith("repo:", StringComparison.Ordinal) ? Path.Combine(TestPaths.RepoRoot, p[5..])
                : throw new InvalidOperationException($"{name}: path '{p}' has no shared:/repo: prefix");
            string root = dirs.New();
            string outDir = Path.Combine(root, "model");
            bool normalize = m.GetProperty("normalize").GetBoolean();
            string vocabPath = Resolve(m.GetProperty("vocab").GetString()!);
            // "vocab_transform": "mpnet" = all-mpnet-base-v2's layout around the BERT vocabulary (the same rule as
            // tools/gen_seed_fixtures.py; see tests/fixtures/encoder-configs/README.md).
            if (m.TryGetProperty("vocab_transform", out var vt) && vt.ValueKind == JsonValueKind.String)
            {
                Assert.Equal("mpnet", vt.GetString());
                string derived = SeedVocab.WriteMpnet(vocabPath, Path.Combine(root, "mpnet-vocab.txt"));
                // The derived file is byte-identical to the published all-mpnet-base-v2 vocab.txt (SHA-256 from
                // ../shared/models/PUBLISHED-CONFIGS.md), so the fixture's ids are the real model's ids.
                using (var fs = File.OpenRead(derived))
                    Assert.Equal(SeedVocab.MpnetSha256, Convert.ToHexStringLower(SHA256.HashData(fs)));
                vocabPath = derived;
            }
            SyntheticModel.Write(new SyntheticModelOptions
            {
                ConfigPath = Resolve(m.GetProperty("config").GetString()!),
                VocabPath = vocabPath,
                Architecture = m.TryGetProperty("arch", out var arch) ? arch.GetString() : null,
                Seed = m.GetProperty("seed").GetUInt64(),
                Pooling = PoolingModes.Parse(m.GetProperty("pooling").GetString()!),
                MaxSeqLength = m.GetProperty("max_seq_length").GetInt32(),
                Normalize = normalize,
            }, outDir);
            if (m.TryGetProperty("do_lower_case", out var lower) && !lower.GetBoolean())
            {
                // The cased variant: synth writes an uncased tokenizer; flip the one field, as tools/gen_fixtures.py does.
                string tok = Path.Combine(outDir, "tokenizer_config.json");
                var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(tok))!;
                node["do_lower_case"] = false;
                File.WriteAllText(tok, node.ToJsonString());
            }
            string sha;
            using (var fs = File.OpenRead(Path.Combine(outDir, "model.safetensors"))) sha = Convert.ToHexStringLower(SHA256.HashData(fs));
            Assert.Equal(m.GetProperty("safetensors_sha256").GetString(), sha);
            var cases = doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(
                c.GetProperty("text").GetString()!,
                c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                c.GetProperty("pooled").EnumerateArray().Select(x => x.GetSingle()).ToArray(),
                c.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray())).ToList();
            Assert.NotEmpty(cases);
            var f = new Fixture { ModelDir = outDir, Normalize = normalize, Cases = cases };
            Loaded[name] = f;
            return f;
        }
    }

    // About 10× the largest error measured over all fixtures (float32 engine vs the float64-checked PyTorch
    // reference): pooled 1.3e-6, unit-length embeddings 9.0e-8, unnormalized embeddings 9.5e-7.
    private const double PooledTol = 1.5e-5;
    private static double EmbeddingTol(bool normalized) => normalized ? 1e-6 : 1e-5;

    private double AssertClose(ReadOnlySpan<float> actual, float[] expected, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = 0; int at = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs(actual[i] - expected[i]);
            if (!(d <= max)) { max = d; at = i; }
        }
        Assert.True(max <= tol, $"{what}: max |Δ| = {max:E3} at {at} exceeds {tol:E0}");
        return max;
    }

    private void Report(string what, IEnumerable<double> deltas) => output.WriteLine($"{what}: max |Δ| = {deltas.DefaultIfEmpty(0).Max():E3}");

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void IdsLevelOutputsMatchReference(string fixture)
    {
        var f = Load(fixture);
        using var enc = SentenceEncoder.Load(f.ModelDir);
        Assert.Equal(f.Normalize, enc.NormalizesByDefault);
        var ids = f.Cases.Select(c => c.Ids).ToList();
        var pooled = enc.EncodeIds(ids, batchSize: 8, normalize: false);
        var output = enc.EncodeIds(ids, batchSize: 8);
        var dp = new List<double>(); var de = new List<double>(); var ds = new List<double>();
        for (int i = 0; i < f.Cases.Count; i++)
        {
            dp.Add(AssertClose(pooled.Row(i), f.Cases[i].Pooled, PooledTol, $"{fixture} case {i} pooled"));
            de.Add(AssertClose(output.Row(i), f.Cases[i].Embedding, EmbeddingTol(f.Normalize), $"{fixture} case {i} embedding"));
        }
        // One at a time gives the same (padding/batching never leaks).
        for (int i = 0; i < f.Cases.Count; i++)
            ds.Add(AssertClose(enc.EncodeIds(ids[i]), f.Cases[i].Embedding, EmbeddingTol(f.Normalize), $"{fixture} case {i} single"));
        Report($"{fixture} pooled ({f.Cases.Count} cases)", dp);
        Report($"{fixture} embedding batched", de);
        Report($"{fixture} embedding one at a time", ds);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void TokenIdsMatchReference(string fixture)
    {
        var f = Load(fixture);
        using var enc = SentenceEncoder.Load(f.ModelDir);
        for (int i = 0; i < f.Cases.Count; i++)
            Assert.True(f.Cases[i].Ids.SequenceEqual(enc.Tokenize(f.Cases[i].Text)),
                $"{fixture} case {i}: ids differ for text {JsonSerializer.Serialize(f.Cases[i].Text, Json.Options)}");
        Assert.Contains(f.Cases, c => c.Ids.Length == enc.MaxSeqLength); // the set includes texts longer than max_seq_length
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void TextToEmbeddingMatchesReference(string fixture)
    {
        var f = Load(fixture);
        using var enc = SentenceEncoder.Load(f.ModelDir);
        var m = enc.Encode(f.Cases.Select(c => c.Text).ToList(), batchSize: 16);
        var d = new List<double>();
        for (int i = 0; i < f.Cases.Count; i++)
            d.Add(AssertClose(m.Row(i), f.Cases[i].Embedding, EmbeddingTol(f.Normalize), $"{fixture} case {i} end to end"));
        Report($"{fixture} text → embedding", d);
    }

    private static class Json
    {
        public static readonly JsonSerializerOptions Options = new() { TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver() };
    }
}
