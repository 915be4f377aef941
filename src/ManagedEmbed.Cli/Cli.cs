using System.Text;

namespace ManagedEmbed.Cli;

/// <summary>Top-level dispatch: `membed GROUP [SUB] [options]`. Every error is one line on stderr and a non-zero exit.</summary>
public static class Cli
{
    /// <summary>Exit code for bad input (usage, files, data).</summary>
    public const int ExitBadInput = 2;
    /// <summary>Exit code for an unexpected internal failure.</summary>
    public const int ExitInternal = 70;

    private static readonly Dictionary<string, Func<string[], int>> Groups = new(StringComparer.Ordinal)
    {
        ["embed"] = EncoderCommands.Embed,
        ["tokenize"] = EncoderCommands.Tokenize,
        ["similarity"] = EncoderCommands.Similarity,
        ["info"] = EncoderCommands.Info,
        ["model"] = EncoderCommands.Model,
        ["bench"] = BenchCommands.Bench,
        ["index"] = IndexCommands.Index,
        ["data"] = IndexCommands.Data,
        ["collection"] = CollectionCommands.Collection,
        ["search"] = ProductCommands.Search,
        ["eval"] = ProductCommands.Eval,
        ["cluster"] = ProductCommands.Cluster,
        ["mine-paraphrases"] = ProductCommands.MineParaphrases,
        ["pull"] = ProductCommands.Pull,
        ["serve"] = ServeCommands.Serve,
    };

    /// <summary>Runs one command line and returns the process exit code.</summary>
    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.Out.WriteLine(Usage);
            return args.Length == 0 ? ExitBadInput : 0;
        }
        if (args[0] is "--version") { Console.Out.WriteLine(Version); return 0; }
        if (!Groups.TryGetValue(args[0], out var handler))
            return Fail($"unknown command '{args[0]}' (try 'membed --help')", ExitBadInput);
        try
        {
            return handler(args[1..]);
        }
        catch (ManagedEmbedException e) { return Fail(e.Message + Hints.For(e, args[0]), ExitBadInput); }
        catch (FileNotFoundException e) { return Fail(e.Message, ExitBadInput); }
        catch (DirectoryNotFoundException e) { return Fail(e.Message, ExitBadInput); }
        catch (IOException e) { return Fail(e.Message, ExitBadInput); }
        catch (UnauthorizedAccessException e) { return Fail(e.Message, ExitBadInput); }
        catch (InvalidDataException e) { return Fail(e.Message, ExitBadInput); }
        catch (DecoderFallbackException) { return Fail("input is not valid UTF-8", ExitBadInput); }
        catch (Exception e) { return Fail($"internal error: {e.GetType().Name}: {OneLine(e.Message)}", ExitInternal); }
    }

    /// <summary>The version string printed by --version and `membed info`.</summary>
    public static string Version => typeof(Cli).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    private static int Fail(string message, int code)
    {
        Console.Error.WriteLine("membed: error: " + OneLine(message));
        return code;
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();

    private const string Usage = """
        membed — sentence embeddings and vector search in one binary

        usage: membed COMMAND [options]

          embed        --model DIR [--input FILE] [--batch-size N] [--threads N] [--normalize] [--format jsonl|fvecs|npy] [--output FILE]
                       [--prompt-name NAME | --prompt TEXT] [--dim D] [--precision float32|int8|uint8|binary|ubinary [--calibration FILE]]
          tokenize     --model DIR [--input FILE]
          similarity   --model DIR [--prompt-name NAME | --prompt TEXT] [--dim D] [--normalize] [--similarity cosine|dot|euclidean|manhattan] TEXT TEXT [TEXT...]
          info
          model synth  --config C --vocab V --seed N [--pooling mean|cls|max|mean_sqrt_len] [--max-seq-length L] [--no-normalize] --out DIR
          model import --onnx F.onnx | --assembly F.dll [--resource NAME]  [--config config.json] [--vocab vocab.txt | --tokenizer tokenizer.json]
                       [--pooling mean|cls|max|mean_sqrt_len] [--no-normalize] [--max-seq-length L] [--position-ids] [--cased] --out DIR
          bench encode --model DIR --batch B --seq T --threads N [--seconds S]
          index build  --vectors base.fvecs --kind flat|ivf|hnsw [--nlist N] [--seed S] [--m M] [--ef-construction E] [--ef-search S] [--metric ip|l2] --out FILE
          index search --index FILE --queries q.fvecs --k K [--nprobe N | --ef-search S] [--threads N] [--batch-size B] --out ids.ivecs
          data synth   --n N --dim D --clusters C --seed S --out FILE.fvecs
          collection   create|add|upsert|update|get|peek|query|delete|count|list|modify|drop --path DIR ...  (membed collection --help)
          collection   check  --path DIR --name NAME          (reports damage, changes nothing; exit 1 when damaged)
          collection   repair --path DIR --name NAME [--yes]  (quarantines a damaged log tail; without --yes: dry run)
          search       --model DIR --corpus FILE [--k K] [--index flat|ivf|hnsw] [--nlist N] [--nprobe N] [--ef-search S] [--min-score S] [--save INDEX] [--json] QUERY [QUERY...]
          search       --model DIR --corpus FILE --precision binary|int8 [--rescore-multiplier 4] [--k K] [--json] QUERY [QUERY...]
          search       --model DIR --load INDEX [--k K] [--nprobe N | --ef-search S] [--min-score S] [--json] QUERY [QUERY...]
          eval pairs   --model DIR [--model DIR...] --input pairs.tsv [--threshold 0.5] [--json]
          eval sts     --model DIR [--model DIR...] --input sts.tsv [--json]
          cluster      --model DIR --input sentences.txt --k K [--seed S] [--restarts R] [--json]
          cluster      --model DIR --input sentences.txt --method community [--threshold 0.75] [--min-size 10] [--json]
          mine-paraphrases --model DIR --input sentences.txt [--top-k 100] [--max-pairs 500000] [--threshold T] [--json]
          pull         sentence-transformers/all-MiniLM-L6-v2 [--dir DIR] [--endpoint URL] [--revision REV] [--sha256 HEX]
          serve        [--model M] [--host 127.0.0.1] [--port 8080] [--max-batch-tokens 16384] [--max-concurrent-requests 512]
                       [--max-inputs 2048] [--max-body-bytes 8388608] [--auto-truncate] [--threads N] [--shutdown-timeout 30]
                       [--path DIR] [--auth-token T | --insecure]
                       (OpenAI /v1/embeddings, TEI /embed; with --path also Chroma's HTTP API /api/v2 over that
                       collection store, port 8000 by default as 'chroma run --path DIR'; SIGTERM finishes in-flight
                       requests; a non-loopback --host needs --auth-token or --insecure)

        --model takes a directory or a hub model name (org/name, fetched into ~/.cache/managedembed on first use;
        default sentence-transformers/all-MiniLM-L6-v2; MEMBED_OFFLINE=1 forbids downloads).
        """;
}
