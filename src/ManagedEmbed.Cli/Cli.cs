using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Text;

namespace ManagedEmbed.Cli;

/// <summary>
/// Top-level dispatch: `membed GROUP [SUB] [options]`, parsed by System.CommandLine against the declarations in
/// <see cref="Commands"/>. Every error is one line on stderr and a non-zero exit.
/// </summary>
public static class Cli
{
    /// <summary>Exit code for bad input (usage, files, data).</summary>
    public const int ExitBadInput = 2;
    /// <summary>Exit code for an unexpected internal failure.</summary>
    public const int ExitInternal = 70;

    /// <summary>The map of commands: path → one-line help → declared options → handler (→ positional arguments).</summary>
    internal static readonly Cmd[] Commands =
    [
        new("embed", "encode texts (one per line) to vectors", EncoderCommands.EmbedOptions, EncoderCommands.Embed),
        new("tokenize", "print the token ids of each input line", EncoderCommands.TokenizeOptions, EncoderCommands.Tokenize),
        new("similarity", "similarity matrix of two or more texts", EncoderCommands.SimilarityOptions, EncoderCommands.Similarity, "TEXT: two or more texts"),
        new("info", "version, CPU features, and a model's configuration", EncoderCommands.InfoOptions, EncoderCommands.Info),
        new("model synth", "write a random-weight model of a given configuration (tests, benchmarks)", EncoderCommands.ModelSynthOptions, EncoderCommands.ModelSynth),
        new("model import", "import an ONNX or .NET-assembly model into a model directory", EncoderCommands.ModelImportOptions, EncoderCommands.ModelImport),
        new("model quantize", "write a copy of a model directory with int8 Linear weights", EncoderCommands.ModelQuantizeOptions, EncoderCommands.ModelQuantize),
        new("bench encode", "encoder throughput at a fixed batch and sequence length", BenchCommands.EncodeOptions, BenchCommands.Encode),
        new("index build", "build a flat/IVF/HNSW index from an .fvecs file", IndexCommands.BuildOptions, IndexCommands.Build),
        new("index search", "k nearest neighbours of .fvecs queries in an index", IndexCommands.SearchOptions, IndexCommands.Search),
        new("data synth", "write clustered random vectors as .fvecs", IndexCommands.SynthOptions, IndexCommands.Synth),
        new("collection create", "create a collection", CollectionCommands.CreateOptions, CollectionCommands.Create),
        new("collection add", "add records (JSON Lines: id, document, metadata, embedding)", CollectionCommands.WriteOptions, a => CollectionCommands.Write("add", a)),
        new("collection upsert", "add or replace records", CollectionCommands.WriteOptions, a => CollectionCommands.Write("upsert", a)),
        new("collection update", "change existing records", CollectionCommands.WriteOptions, a => CollectionCommands.Write("update", a)),
        new("collection query", "nearest records to texts or embeddings", CollectionCommands.QueryOptions, CollectionCommands.Query),
        new("collection get", "records by id and/or filter", CollectionCommands.GetOptions, CollectionCommands.Get),
        new("collection peek", "the first records", CollectionCommands.PeekOptions, CollectionCommands.Peek),
        new("collection delete", "delete records by id and/or filter", CollectionCommands.DeleteOptions, CollectionCommands.Delete),
        new("collection count", "print the number of records", CollectionCommands.CountOptions, CollectionCommands.Count),
        new("collection list", "print the collections' names", CollectionCommands.ListOptions, CollectionCommands.List),
        new("collection modify", "rename a collection or change its metadata", CollectionCommands.ModifyOptions, CollectionCommands.Modify),
        new("collection drop", "delete a collection", CollectionCommands.DropOptions, CollectionCommands.Drop),
        new("collection check", "report damage, change nothing (exit 1 when damaged)", CollectionCommands.CheckOptions, CollectionCommands.Check),
        new("collection repair", "quarantine a damaged log tail (a dry run without --yes)", CollectionCommands.RepairOptions, CollectionCommands.Repair),
        new("search", "semantic search of a corpus (one document per line) or a saved index", ProductCommands.SearchOptions, ProductCommands.Search, "QUERY: query texts"),
        new("rerank", "score documents against a query with a cross-encoder, best first", RerankCommands.RerankOptions, RerankCommands.Rerank),
        new("eval pairs", "accuracy on labelled pairs (text1<TAB>text2<TAB>0|1)", ProductCommands.EvalPairsOptions, ProductCommands.EvalPairs),
        new("eval sts", "Spearman and Pearson correlation on scored pairs (text1<TAB>text2<TAB>score)", ProductCommands.EvalStsOptions, ProductCommands.EvalSts),
        new("cluster", "k-means or community clustering of sentences", ProductCommands.ClusterOptions, ProductCommands.Cluster),
        new("mine-paraphrases", "the most similar sentence pairs of a file", ProductCommands.MineOptions, ProductCommands.MineParaphrases),
        new("pull", "download a model from the Hugging Face hub", ProductCommands.PullOptions, ProductCommands.Pull, "REPO: a hub repository id (org/name)"),
        new("serve", "HTTP embeddings server (OpenAI /v1/embeddings, TEI /embed; Chroma /api/v2 with --path)", ServeCommands.Options, ServeCommands.Serve),
        new("completion", "print a shell completion script (bash, zsh or pwsh)", [], Completion, "SHELL: bash, zsh or pwsh"),
    ];

    /// <summary>The one-line help of the command groups.</summary>
    private static readonly Dictionary<string, string> Groups = new(StringComparer.Ordinal)
    {
        ["model"] = "make model directories (synth, import, quantize)",
        ["bench"] = "benchmarks",
        ["index"] = "vector indexes over .fvecs files (build, search)",
        ["data"] = "synthetic data",
        ["collection"] = "a persistent document store, like Chroma's PersistentClient (create, add, upsert, update, query, get, peek, delete, count, list, modify, drop, check, repair)",
        ["eval"] = "evaluate models (pairs, sts)",
    };

    private const string Description = """
        membed — sentence embeddings and vector search in one binary.
        MODEL is a directory or a hub model name (org/name, fetched into ~/.cache/managedembed on first use; MEMBED_OFFLINE=1 forbids downloads).
        Options may also be read from a file: membed search @options.rsp QUERY. Completion: membed completion bash|zsh|pwsh.
        """;

    /// <summary>Help text width: fixed, so help reads the same on every terminal (and the snapshots are stable).</summary>
    private const int HelpWidth = 120;

    /// <summary>Runs one command line and returns the process exit code.</summary>
    public static int Run(string[] args)
    {
        if (args is ["help", .. var rest]) args = [.. rest, "--help"]; // `membed help search` = `membed search --help`
        var (root, leaves) = Build();
        var parse = root.Parse(args);
        try
        {
            if (parse.Action is not null and not ParseErrorAction)
                return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }); // help, version, [suggest]
            if (args.Length == 0)
            {
                root.Parse(["--help"]).Invoke();
                return ExitBadInput;
            }
            if (UsageError(parse, leaves) is { } usage) return Fail(usage, ExitBadInput);
            var (cmd, options, positional) = leaves[parse.CommandResult.Command];
            return cmd.Run(Args.From(parse, options, positional));
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

    private sealed record Leaf(Cmd Cmd, List<(Opt, Option)> Options, Argument? Positional);

    /// <summary>The System.CommandLine tree of <see cref="Commands"/>, and each leaf's declaration.</summary>
    private static (RootCommand Root, Dictionary<Command, Leaf> Leaves) Build()
    {
        var root = new RootCommand(Description);
        var help = new HelpAction { MaxWidth = HelpWidth };
        // -h/--help only (the library's default also answers -? and /?, which are not POSIX spellings).
        foreach (var o in root.Options.Where(o => o is HelpOption or VersionOption).ToList()) root.Options.Remove(o);
        root.Options.Add(new HelpOption("--help", "-h") { Action = help, Recursive = true });
        root.Options.Add(new VersionOption("--version") { Action = new PrintVersion() });
        root.Directives.Add(new DiagramDirective()); // membed "[diagram]" ARGS... shows how a command line parses
        var leaves = new Dictionary<Command, Leaf>();
        foreach (var cmd in Commands)
        {
            Command parent = root;
            var words = cmd.Path.Split(' ');
            foreach (string group in words[..^1])
            {
                var g = parent.Subcommands.FirstOrDefault(c => c.Name == group);
                if (g is null) parent.Subcommands.Add(g = new Command(group, Groups[group]));
                parent = g;
            }
            var c = new Command(words[^1], cmd.Help);
            var opts = new List<(Opt, Option)>();
            foreach (var d in cmd.Options)
            {
                var names = d.Aliases;
                Option o = d.Value is null
                    ? new Option<bool>(d.Name, [.. names.Where(n => n != d.Name)]) { Arity = ArgumentArity.Zero }
                    : d.Repeat
                        ? new Option<string[]>(d.Name, [.. names.Where(n => n != d.Name)]) { Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false, HelpName = d.Value }
                        : new Option<string>(d.Name, [.. names.Where(n => n != d.Name)]) { Arity = ArgumentArity.ExactlyOne, HelpName = d.Value };
                o.Description = d.Help + (d.Required ? " (required)" : "") + (d.Repeat ? " (repeatable)" : "")
                    + (d.Default ?? d.DefaultText) switch { null => "", var v => $" [default: {v}]" };
                c.Options.Add(o);
                opts.Add((d, o));
            }
            Argument? positional = null;
            if (cmd.Positional is { } p)
            {
                string[] ph = p.Split(": ", 2);
                positional = new Argument<string[]>(ph[0]) { Arity = ArgumentArity.ZeroOrMore, Description = ph.Length > 1 ? ph[1] : null };
                c.Arguments.Add(positional);
            }
            parent.Subcommands.Add(c);
            leaves[c] = new Leaf(cmd, opts, positional);
        }
        return (root, leaves);
    }

    /// <summary>
    /// The one-line message of a command line the declarations reject, or null when it parses: unknown commands and
    /// options (with the nearest spelling), missing or repeated values.
    /// </summary>
    private static string? UsageError(ParseResult parse, Dictionary<Command, Leaf> leaves)
    {
        var command = parse.CommandResult.Command;
        if (parse.UnmatchedTokens.Count > 0)
        {
            string t = parse.UnmatchedTokens[0];
            if (!leaves.ContainsKey(command))
                return $"unknown command '{Path(command)}{t}'{DidYouMean(t, command.Subcommands.Select(s => s.Name))}"
                    + (command is RootCommand ? " (try 'membed --help')" : $" (try 'membed {Path(command)}--help')");
            if (t.StartsWith('-')) return $"unknown option '{t}'{DidYouMean(t, OptionNames(command))}";
            return $"unexpected argument '{t}'";
        }
        if (!leaves.TryGetValue(command, out var leaf))
            return $"'membed {Path(command).TrimEnd()}' needs a command: {string.Join(", ", command.Subcommands.Select(s => s.Name))} (try 'membed {Path(command)}--help')";
        // An unknown "--x" before "--" lands among the positionals (the library takes it for a value): it is an unknown option.
        if (leaf.Positional is not null && parse.GetResult(leaf.Positional) is { } pos)
        {
            int dd = parse.Tokens.ToList().FindIndex(t => t.Type == TokenType.DoubleDash);
            var beforeDash = parse.Tokens.Take(dd < 0 ? int.MaxValue : dd).Select(t => t.Value).ToHashSet(StringComparer.Ordinal);
            foreach (var t in pos.Tokens)
                if (t.Value.StartsWith("--", StringComparison.Ordinal) && t.Value.Length > 2 && beforeDash.Contains(t.Value))
                    return $"unknown option '{t.Value}'{DidYouMean(t.Value, OptionNames(command))}";
        }
        foreach (var e in parse.Errors)
        {
            if (e.SymbolResult is OptionResult o && o.Option.Arity.MaximumNumberOfValues > 0)
                return o.Tokens.Count == 0 ? $"option {o.Option.Name} needs a value" : $"option {o.Option.Name} given more than once";
            return OneLine(e.Message);
        }
        return null;
    }

    private static string Path(Command c)
    {
        var words = new List<string>();
        for (Symbol? s = c; s is Command x and not RootCommand; s = s.Parents.FirstOrDefault()) words.Insert(0, x.Name);
        return words.Count == 0 ? "" : string.Join(' ', words) + " ";
    }

    private static IEnumerable<string> OptionNames(Command c) =>
        c.Options.Concat(c.Parents.OfType<Command>().SelectMany(p => p.Options.Where(o => o.Recursive))).SelectMany(o => o.Aliases.Prepend(o.Name));

    /// <summary>
    /// "; did you mean 'X'?" for the candidate nearest to <paramref name="typo"/> (edit distance, a swap of two
    /// neighbours counting as one edit, at most a third of its length, at least 1), else "". The library's own
    /// suggestions print several lines and no error prefix, which the one-line error contract cannot carry.
    /// </summary>
    internal static string DidYouMean(string typo, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestD = int.MaxValue;
        foreach (string c in candidates.Distinct())
        {
            int d = EditDistance(typo, c);
            if (d < bestD) (best, bestD) = (c, d);
        }
        return best is not null && bestD <= Math.Max(1, typo.Length / 3) ? $"; did you mean '{best}'?" : "";
    }

    /// <summary>Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent swaps.</summary>
    private static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }

    private sealed class PrintVersion : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            Console.Out.WriteLine(Version);
            return 0;
        }
    }

    /// <summary>
    /// `membed completion bash|zsh|pwsh`: a script that asks membed itself for completions through System.CommandLine's
    /// [suggest:POSITION] directive (the same protocol dotnet-suggest uses).
    /// </summary>
    private static int Completion(Args a)
    {
        if (a.Positional.Count != 1) throw new ManagedEmbedException("completion needs one shell: bash, zsh or pwsh");
        Console.Out.Write(a.Positional[0] switch
        {
            "bash" => """
                # membed completion for bash: eval "$(membed completion bash)"
                _membed_complete() {
                  local IFS=$'\n'
                  COMPREPLY=( $(membed "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null) )
                }
                complete -o default -F _membed_complete membed

                """,
            "zsh" => """
                # membed completion for zsh: eval "$(membed completion zsh)"
                _membed_complete() {
                  local -a items
                  items=("${(@f)$(membed "[suggest:${#BUFFER[1,CURSOR]}]" "$BUFFER" 2>/dev/null)}")
                  compadd -a items
                }
                compdef _membed_complete membed

                """,
            "pwsh" => """
                # membed completion for PowerShell: membed completion pwsh | Out-String | Invoke-Expression
                Register-ArgumentCompleter -Native -CommandName membed -ScriptBlock {
                  param($wordToComplete, $commandAst, $cursorPosition)
                  membed "[suggest:$cursorPosition]" "$commandAst" | ForEach-Object {
                    [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
                  }
                }

                """,
            var s => throw new ManagedEmbedException($"unknown shell '{s}' (expected bash, zsh or pwsh)"),
        });
        return 0;
    }

    private static int Fail(string message, int code)
    {
        Console.Error.WriteLine("membed: error: " + OneLine(message));
        return code;
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
