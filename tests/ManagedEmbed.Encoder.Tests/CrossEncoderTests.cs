using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Tokenization;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests;

/// <summary>
/// Cross-encoders (BertForSequenceClassification) against the independent PyTorch reference of sentence-transformers'
/// CrossEncoder (tools/reference/cross_encoder_ref.py → tests/fixtures/crossencoder): pair ids and token types exact,
/// scores within tolerance, Rank order, batched = single. Each model is re-synthesized from its recorded seed and
/// its digest checked.
/// </summary>
public class CrossEncoderTests(ParityModelDirs dirs) : IClassFixture<ParityModelDirs>
{
    private static readonly string FixturePath = Path.Combine(TestPaths.Fixtures, "crossencoder", "crossencoder-synth.json");

    /// <summary>Largest |score − reference| accepted (about 10× the largest measured, 3.0e-7: float32 rounding of a different summation order).</summary>
    private const double ScoreTolerance = 3e-6;

    private static JsonDocument Fixture() => JsonDocument.Parse(File.ReadAllBytes(FixturePath));

    public static IEnumerable<object[]> Runs()
    {
        using var doc = Fixture();
        foreach (var m in doc.RootElement.GetProperty("models").EnumerateArray())
            for (int r = 0; r < m.GetProperty("runs").GetArrayLength(); r++)
                yield return [m.GetProperty("name").GetString()!, r];
    }

    public static IEnumerable<object[]> RankedModels()
    {
        using var doc = Fixture();
        foreach (var m in doc.RootElement.GetProperty("models").EnumerateArray())
            if (m.GetProperty("rank").ValueKind == JsonValueKind.Object) yield return [m.GetProperty("name").GetString()!];
    }

    private static readonly Dictionary<string, string> Synthesized = new();

    private string Synthesize(JsonElement m)
    {
        string name = m.GetProperty("name").GetString()!;
        lock (Synthesized)
        {
            if (Synthesized.TryGetValue(name, out var done) && Directory.Exists(done)) return done;
            string Resolve(string p) => p.StartsWith("shared:", StringComparison.Ordinal) ? Path.Combine(TestPaths.Shared, p[7..])
                : Path.Combine(TestPaths.RepoRoot, p["repo:".Length..]);
            string dir = Path.Combine(dirs.New(), name);
            SyntheticModel.Write(new SyntheticModelOptions
            {
                ConfigPath = Resolve(m.GetProperty("config").GetString()!),
                VocabPath = Resolve(m.GetProperty("vocab").GetString()!),
                Seed = m.GetProperty("seed").GetUInt64(),
                CrossEncoder = true,
            }, dir);
            using (var fs = File.OpenRead(Path.Combine(dir, "model.safetensors")))
                Assert.Equal(m.GetProperty("safetensors_sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(fs)));
            return Synthesized[name] = dir;
        }
    }

    private static (string, string)[] Pairs(JsonDocument doc) =>
        doc.RootElement.GetProperty("pairs").EnumerateArray().Select(p => (p[0].GetString()!, p[1].GetString()!)).ToArray();

    private static JsonElement Model(JsonDocument doc, string name) =>
        doc.RootElement.GetProperty("models").EnumerateArray().Single(x => x.GetProperty("name").GetString() == name);

    private static int[] Ints(JsonElement a) => a.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    [Theory]
    [MemberData(nameof(Runs))]
    public void Pair_ids_token_types_and_scores_match_the_reference(string name, int run)
    {
        using var doc = Fixture();
        var m = Model(doc, name);
        var r = m.GetProperty("runs")[run];
        int? maxLength = r.GetProperty("max_length").ValueKind == JsonValueKind.Null ? null : r.GetProperty("max_length").GetInt32();
        using var ce = CrossEncoder.Load(Synthesize(m), new CrossEncoderOptions { Threads = 1, MaxLength = maxLength });
        Assert.Equal(r.GetProperty("effective_max_length").GetInt32(), ce.MaxLength);
        Assert.Equal(m.GetProperty("num_labels").GetInt32(), ce.NumLabels);
        string activation = m.GetProperty("activation").GetString()!;
        Assert.Equal(activation[(activation.LastIndexOf('.') + 1)..], ce.Config.Activation.ToString());

        var pairs = Pairs(doc);
        for (int i = 0; i < pairs.Length; i++)
        {
            var got = ce.Tokenize(pairs[i].Item1, pairs[i].Item2);
            Assert.Equal(Ints(r.GetProperty("ids")[i]), got.Ids);
            Assert.Equal(Ints(r.GetProperty("token_type_ids")[i]), got.TypeIds);
        }
        var scores = ce.PredictLabels(pairs, batchSize: 5);
        double worst = 0;
        for (int i = 0; i < pairs.Length; i++)
        {
            var want = r.GetProperty("scores")[i].EnumerateArray().Select(x => x.GetDouble()).ToArray();
            Assert.Equal(want.Length, scores[i].Length);
            for (int l = 0; l < want.Length; l++) worst = Math.Max(worst, Math.Abs(scores[i][l] - want[l]));
        }
        Assert.True(worst <= ScoreTolerance, $"{name} run {run}: max |Δ| = {worst:g3} > {ScoreTolerance:g3}");
    }

    [Theory]
    [MemberData(nameof(RankedModels))]
    public void Rank_orders_documents_as_the_reference_scores_do(string name)
    {
        using var doc = Fixture();
        var m = Model(doc, name);
        var rank = m.GetProperty("rank");
        var docs = rank.GetProperty("documents").EnumerateArray().Select(x => x.GetString()!).ToArray();
        var want = rank.GetProperty("scores").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        int[] order = Enumerable.Range(0, want.Length).OrderByDescending(i => want[i]).ToArray();
        using var ce = CrossEncoder.Load(Synthesize(m), new CrossEncoderOptions { Threads = 2 });
        var all = ce.Rank(rank.GetProperty("query").GetString()!, docs);
        Assert.Equal(order, all.Select(x => x.Index).ToArray());
        foreach (var x in all)
        {
            Assert.Equal(docs[x.Index], x.Document);
            Assert.True(Math.Abs(x.Score - want[x.Index]) <= ScoreTolerance, $"{x.Index}: {x.Score} vs {want[x.Index]}");
        }
        var top3 = ce.Rank(rank.GetProperty("query").GetString()!, docs, topK: 3);
        Assert.Equal(order[..3], top3.Select(x => x.Index).ToArray());
    }

    [Fact]
    public void Batched_scores_equal_one_pair_at_a_time()
    {
        using var doc = Fixture();
        var m = Model(doc, "tiny-3-labels");
        using var ce = CrossEncoder.Load(Synthesize(m), new CrossEncoderOptions { Threads = 2 });
        var pairs = Pairs(doc);
        var batched = ce.PredictLabels(pairs, batchSize: 32);
        for (int i = 0; i < pairs.Length; i++)
        {
            var single = ce.PredictLabels([pairs[i]], batchSize: 1)[0];
            for (int l = 0; l < single.Length; l++)
                Assert.True(Math.Abs(single[l] - batched[i][l]) <= 1e-6, $"pair {i} label {l}: {single[l]} vs {batched[i][l]}");
        }
        Assert.Throws<ManagedEmbedException>(() => ce.Predict(pairs)); // three labels: one score per pair is not defined
    }

    [Fact]
    public void Longest_first_keeps_the_lengths_of_the_tokenizers_library_table()
    {
        // tokenizers/src/utils/truncation.rs, test truncate_encodings_longest_first (max_length 7): (n1, n2) -> kept.
        (int, int, int, int)[] table =
        [
            (0, 0, 0, 0), (0, 2, 0, 2), (0, 4, 0, 4), (0, 8, 0, 7), (2, 0, 2, 0), (2, 2, 2, 2), (2, 4, 2, 4), (2, 8, 2, 5),
            (4, 0, 4, 0), (4, 2, 4, 2), (4, 4, 3, 4), (4, 8, 3, 4), (8, 0, 7, 0), (8, 2, 5, 2), (8, 4, 4, 3), (8, 8, 3, 4),
        ];
        foreach (var (n1, n2, k1, k2) in table)
            Assert.Equal((k1, k2), BertTokenizer.LongestFirst(n1, n2, 7));
        Assert.Equal((0, 0), BertTokenizer.LongestFirst(5, 9, 0));
    }

    private static string WriteConfig(string dir, Action<JsonObject> edit)
    {
        Directory.CreateDirectory(dir);
        var o = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "weights", "synth", "tiny-3label-cross-config.json")))!.AsObject();
        edit(o);
        string path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, o.ToJsonString());
        return path;
    }

    [Fact]
    public void Activation_follows_sentence_transformers_rules()
    {
        string dir = dirs.New();
        static void OneLabel(JsonObject o) { o["id2label"] = new JsonObject { ["0"] = "LABEL_0" }; o.Remove("label2id"); }
        var c = CrossEncoderConfig.Load(WriteConfig(dir, OneLabel));
        Assert.Equal((1, ScoreActivation.Sigmoid), (c.NumLabels, c.Activation));
        c = CrossEncoderConfig.Load(WriteConfig(dir, _ => { }));
        Assert.Equal((3, ScoreActivation.Identity), (c.NumLabels, c.Activation));
        c = CrossEncoderConfig.Load(WriteConfig(dir, o => { OneLabel(o); o["sbert_ce_default_activation_function"] = "torch.nn.modules.linear.Identity"; }));
        Assert.Equal(ScoreActivation.Identity, c.Activation);
        // The v4 key wins over the legacy one.
        c = CrossEncoderConfig.Load(WriteConfig(dir, o =>
        {
            OneLabel(o);
            o["sbert_ce_default_activation_function"] = "torch.nn.modules.linear.Identity";
            o["sentence_transformers"] = new JsonObject { ["activation_fn"] = "torch.nn.modules.activation.Tanh" };
        }));
        Assert.Equal(ScoreActivation.Tanh, c.Activation);
        // A path outside torch.* is not trusted: the default applies.
        c = CrossEncoderConfig.Load(WriteConfig(dir, o => { OneLabel(o); o["sbert_ce_default_activation_function"] = "mypkg.Softplus"; }));
        Assert.Equal(ScoreActivation.Sigmoid, c.Activation);
        var e = Assert.Throws<ManagedEmbedException>(() => CrossEncoderConfig.Load(WriteConfig(dir, o => o["sbert_ce_default_activation_function"] = "torch.nn.modules.activation.Softplus")));
        Assert.Contains("Softplus", e.Message);
        // No id2label: num_labels, else transformers' default of 2.
        c = CrossEncoderConfig.Load(WriteConfig(dir, o => { o.Remove("id2label"); o.Remove("label2id"); o["num_labels"] = 1; }));
        Assert.Equal((1, ScoreActivation.Sigmoid), (c.NumLabels, c.Activation));
        c = CrossEncoderConfig.Load(WriteConfig(dir, o => { o.Remove("id2label"); o.Remove("label2id"); }));
        Assert.Equal(2, c.NumLabels);
        e = Assert.Throws<ManagedEmbedException>(() => CrossEncoderConfig.Load(WriteConfig(dir, o => o["architectures"] = new JsonArray("BertModel"))));
        Assert.Contains("not a cross-encoder", e.Message);
    }

    [Fact]
    public void A_sentence_encoder_or_missing_classifier_is_refused_with_the_reason()
    {
        // A sentence-transformers BERT directory (architectures BertModel) is not a cross-encoder.
        string tiny = TestModels.Tiny();
        var e = Assert.Throws<ManagedEmbedException>(() => CrossEncoder.Load(tiny));
        Assert.Contains("not a cross-encoder", e.Message);
        // A classifier of another shape than config.json's labels: the tensor is named.
        using var doc = Fixture();
        string dir = Synthesize(Model(doc, "tiny-3-labels"));
        string copy = dirs.New();
        foreach (string f in Directory.GetFiles(dir)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        WriteConfig(copy, o => { o["id2label"] = new JsonObject { ["0"] = "LABEL_0" }; o.Remove("label2id"); });
        e = Assert.Throws<ManagedEmbedException>(() => CrossEncoder.Load(copy));
        Assert.Contains("classifier.weight", e.Message);
    }
}
