using System.Globalization;
using ManagedEmbed.Encoder;
using ManagedEmbed.Search;
using ManagedEmbed.Text;

namespace ManagedEmbed.Cli;

/// <summary>`membed rerank` and the second stage of `membed search --rerank`: cross-encoder scoring of (query, document) pairs.</summary>
internal static class RerankCommands
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// `membed rerank --model M --query Q --input docs.txt [--k K] [--max-length L] [--batch-size B] [--threads N] [--json]`:
    /// every non-blank line of the input is a document; prints the best K as <c>rank  score  document</c>, or with
    /// --json one document {"query", "results": [{"rank", "score", "index", "document"}]} (index = 0-based input line).
    /// </summary>
    internal static readonly Opt[] RerankOptions =
    [
        Opt.Req("--model", "CROSS_ENCODER", "a cross-encoder model directory (BertForSequenceClassification)"),
        Opt.Req("--query", "TEXT", "the query"), Opt.Req("-i|--input", "FILE", "documents, one per line ('-' = stdin)"),
        new("-k|--k", "K", "results to print") { DefaultText = "all" }, Opt.V("--max-length", "L", "max tokens per (query, document) pair"),
        Common.BatchSize, Common.Threads, Common.Json, Common.Jsonl,
    ];

    public static int Rerank(Args a)
    {
        a.NoPositional();
        string model = a.Require("--model"), query = a.Require("--query"), input = a.Require("--input");
        int? k = a.Has("--k") ? a.GetInt("--k", 0, 1, int.MaxValue) : null;
        int batch = a.GetInt("--batch-size", 32, 1, 1 << 20);
        var lines = TextInput.ReadTexts(input);
        using var ce = Load(a, model);
        var ranked = ce.Rank(query, lines.Select(l => l.Text).ToArray(), k, batch);
        var stdout = Console.Out;
        if (a.OutputFormat() != "text")
        {
            // --json: this document; --jsonl: its result objects, one per line (ProductCommands.WriteResults).
            ProductCommands.WriteResults(stdout, a, ProductCommands.Json(w =>
            {
                w.WriteStartObject();
                w.WriteString("query", query);
                w.WriteStartArray("results");
                for (int r = 0; r < ranked.Count; r++)
                {
                    w.WriteStartObject();
                    w.WriteNumber("rank", r + 1);
                    w.WriteNumber("score", Math.Round(ranked[r].Score, 6));
                    w.WriteNumber("index", lines[ranked[r].Index].Number - 1);
                    w.WriteString("document", ranked[r].Document);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }));
            return 0;
        }
        for (int r = 0; r < ranked.Count; r++)
            stdout.WriteLine($"{r + 1}  {ranked[r].Score.ToString("0.0000", Inv)}  {ranked[r].Document}");
        return 0;
    }

    /// <summary>The --rerank stage of `membed search`: the cross-encoder and how many first-stage candidates it reads.</summary>
    internal sealed class SearchStage(CrossEncoder crossEncoder, int candidates) : IDisposable
    {
        /// <summary>Candidates fetched per query by the first stage.</summary>
        public int Candidates { get; } = candidates;

        /// <summary>Re-ranks each query's candidates and keeps the best <paramref name="k"/>.</summary>
        public IReadOnlyList<IReadOnlyList<SearchHit>> Apply(IReadOnlyList<string> queries, IReadOnlyList<IReadOnlyList<SearchHit>> firstStage, int k) =>
            queries.Select((q, i) => Reranking.Rerank(crossEncoder, q, firstStage[i], k)).ToArray();

        public void Dispose() => crossEncoder.Dispose();
    }

    /// <summary>Reads --rerank M and --rerank-k N (default max(k, 100)) of `membed search`; null without --rerank.</summary>
    internal static SearchStage? ForSearch(Args a, int k)
    {
        string? model = a.Get("--rerank");
        if (model is null)
        {
            if (a.Has("--rerank-k")) throw new ManagedEmbedException("--rerank-k needs --rerank MODEL (a cross-encoder)");
            return null;
        }
        int n = a.GetInt("--rerank-k", Math.Max(k, 100), 1, 100_000);
        if (n < k) throw new ManagedEmbedException($"--rerank-k {n} is smaller than --k {k}: the cross-encoder can only re-order the candidates it is given");
        return new SearchStage(Load(a, model), n);
    }

    private static CrossEncoder Load(Args a, string model)
    {
        int? threads = a.Has("--threads") ? a.GetInt("--threads", 1, 1, 1024) : null;
        int? maxLength = a.Has("--max-length") ? a.GetInt("--max-length", 0, 3, int.MaxValue) : null;
        return CrossEncoder.Load(ProductCommands.ResolveModel(model), new CrossEncoderOptions { Threads = threads, MaxLength = maxLength });
    }
}
