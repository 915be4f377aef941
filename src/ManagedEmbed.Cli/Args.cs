using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace ManagedEmbed.Cli;

/// <summary>
/// One declared option of a command. <see cref="Names"/> is "--name" or aliases joined by '|' ("-k|--k|--n"; the first
/// "--" name is canonical: handlers read the option under it). <see cref="Value"/> is the value's placeholder
/// (null = a flag); <see cref="Default"/> is returned by <see cref="Args.Get"/> when the option is absent and shown in
/// help; <see cref="DefaultText"/> is shown in help only (a default computed by the handler, e.g. "all cores").
/// </summary>
public sealed record Opt(string Names, string? Value, string Help)
{
    /// <summary>The value used when the option is absent (shown in help).</summary>
    public string? Default { get; init; }
    /// <summary>A default described in words, shown in help only.</summary>
    public string? DefaultText { get; init; }
    /// <summary>True when the option may be given more than once.</summary>
    public bool Repeat { get; init; }
    /// <summary>True when the command fails without it ("missing required option").</summary>
    public bool Required { get; init; }

    /// <summary>The canonical name: the first "--" alias.</summary>
    public string Name => Aliases.FirstOrDefault(n => n.StartsWith("--", StringComparison.Ordinal)) ?? Aliases[0];

    /// <summary>Every spelling of the option.</summary>
    public string[] Aliases => Names.Split('|');

    /// <summary>A value option: <c>V("--k", "K", "results per query", "3")</c>.</summary>
    public static Opt V(string names, string value, string help, string? defaultValue = null) => new(names, value, help) { Default = defaultValue };

    /// <summary>A required value option.</summary>
    public static Opt Req(string names, string value, string help) => new(names, value, help) { Required = true };

    /// <summary>A value option that may repeat.</summary>
    public static Opt Many(string names, string value, string help) => new(names, value, help) { Repeat = true };

    /// <summary>A flag (no value).</summary>
    public static Opt F(string names, string help) => new(names, null, help);
}

/// <summary>The declaration of one command: its path ("collection query"), one-line help, options and positionals.</summary>
/// <param name="Path">The words that select the command.</param>
/// <param name="Help">One line shown in `membed --help` and the command's own help.</param>
/// <param name="Options">Its options.</param>
/// <param name="Run">The handler.</param>
/// <param name="Positional">The positional arguments: "PLACEHOLDER: help" ("QUERY: query texts"), or null when it takes none.</param>
public sealed record Cmd(string Path, string Help, Opt[] Options, Func<Args, int> Run, string? Positional = null);

/// <summary>
/// The options of one command line, as parsed by System.CommandLine against a <see cref="Cmd"/> declaration and read
/// by the handler under canonical names: every option is declared, so unknown options, missing values and repeated
/// single-valued options are errors before the handler runs.
/// </summary>
public sealed class Args
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _defaults = new(StringComparer.Ordinal);

    /// <summary>Positional arguments, in order.</summary>
    public List<string> Positional { get; } = new();

    /// <summary>Reads the values of <paramref name="declared"/> (each with its System.CommandLine symbol) out of a parse.</summary>
    internal static Args From(ParseResult parse, IEnumerable<(Opt Decl, Option Symbol)> declared, Argument? positional)
    {
        var a = new Args();
        foreach (var (decl, symbol) in declared)
        {
            if (decl.Default is not null) a._defaults[decl.Name] = decl.Default;
            if (parse.GetResult(symbol) is not { Implicit: false } r) continue;
            if (decl.Value is null) a._flags.Add(decl.Name);
            else a._values[decl.Name] = r.Tokens.Select(t => t.Value).ToList();
        }
        if (positional is not null && parse.GetResult(positional) is { } p) a.Positional.AddRange(p.Tokens.Select(t => t.Value));
        return a;
    }

    /// <summary>True when the option or flag was given on the command line (a declared default does not count).</summary>
    public bool Has(string flag) => _flags.Contains(flag) || _values.ContainsKey(flag);

    /// <summary>The option's value, else its declared default, else null.</summary>
    public string? Get(string name) => _values.TryGetValue(name, out var l) ? l[0] : _defaults.GetValueOrDefault(name);

    /// <summary>A file option's value; null when absent or "-" (stdin/stdout).</summary>
    public string? GetPath(string name) => Get(name) is { } p && p != "-" ? p : null;

    /// <summary>All values of a repeatable option.</summary>
    public IReadOnlyList<string> GetAll(string name) => _values.TryGetValue(name, out var l) ? l : [];

    /// <summary>The option's value; an error naming the option when absent.</summary>
    public string Require(string name) => Get(name) ?? throw new ManagedEmbedException($"missing required option {name}");

    /// <summary>An integer option within [min, max].</summary>
    public int GetInt(string name, int defaultValue, int min = int.MinValue, int max = int.MaxValue)
    {
        string? s = Get(name);
        if (s is null) return defaultValue;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < min || v > max)
            throw new ManagedEmbedException($"option {name} must be an integer in [{min}, {max}], got '{s}'");
        return v;
    }

    /// <summary>A required integer option within [min, max].</summary>
    public int RequireInt(string name, int min = int.MinValue, int max = int.MaxValue)
    {
        Require(name);
        return GetInt(name, 0, min, max);
    }

    /// <summary>A finite floating-point option.</summary>
    public double GetDouble(string name, double defaultValue)
    {
        string? s = Get(name);
        if (s is null) return defaultValue;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw new ManagedEmbedException($"option {name} must be a number, got '{s}'");
        return v;
    }

    /// <summary>A finite floating-point option within [min, max] (<paramref name="what"/> names the range's reason).</summary>
    public double GetDouble(string name, double defaultValue, double min, double max, string what)
    {
        double v = GetDouble(name, defaultValue);
        if (v < min || v > max)
            throw new ManagedEmbedException($"option {name} must be in [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}] ({what}), got '{Get(name)}'");
        return v;
    }

    /// <summary>A string option restricted to <paramref name="allowed"/>.</summary>
    public string GetChoice(string name, string defaultValue, params string[] allowed)
    {
        string v = Get(name) ?? defaultValue;
        if (!allowed.Contains(v, StringComparer.Ordinal))
            throw new ManagedEmbedException($"option {name} must be one of {string.Join('|', allowed)}, got '{v}'");
        return v;
    }

    /// <summary>
    /// The output format of a results command: "json" (one JSON document), "jsonl" (one JSON object per line) or
    /// "text", from the --json / --jsonl flags.
    /// </summary>
    public string OutputFormat()
    {
        if (Has("--json") && Has("--jsonl")) throw new ManagedEmbedException("give --json or --jsonl, not both");
        return Has("--json") ? "json" : Has("--jsonl") ? "jsonl" : "text";
    }

    /// <summary>Fails when any positional argument was given to a command that takes none.</summary>
    public void NoPositional()
    {
        if (Positional.Count > 0) throw new ManagedEmbedException($"unexpected argument '{Positional[0]}'");
    }
}

/// <summary>Options shared by many commands, declared once so their help reads the same everywhere.</summary>
internal static class Common
{
    /// <summary>--model for commands that load one encoder.</summary>
    public static readonly Opt Model = new("--model", "MODEL", "model directory or hub name (org/name, fetched on first use)") { DefaultText = "sentence-transformers/all-MiniLM-L6-v2" };
    /// <summary>--threads for encoding.</summary>
    public static readonly Opt Threads = new("--threads", "N", "encoder threads") { DefaultText = "all cores" };
    /// <summary>--batch-size for encoding.</summary>
    public static readonly Opt BatchSize = Opt.V("--batch-size", "N", "texts per encoder batch", "32");
    /// <summary>--json: one JSON document.</summary>
    public static readonly Opt Json = Opt.F("--json", "print one JSON document");
    /// <summary>--jsonl: one JSON object per line.</summary>
    public static readonly Opt Jsonl = Opt.F("--jsonl", "print one JSON object per line");
    /// <summary>--input of commands reading texts from stdin when it is absent.</summary>
    public static readonly Opt Input = new("-i|--input", "FILE", "texts, one per line ('-' = stdin)") { DefaultText = "stdin" };
    /// <summary>--output of commands writing to stdout when it is absent.</summary>
    public static readonly Opt Output = new("-o|--output", "FILE", "output file, written atomically ('-' = stdout)") { DefaultText = "stdout" };
    /// <summary>--truncate for commands that encode texts.</summary>
    public static readonly Opt Truncate = Opt.V("--truncate", "MODE", "cut|error: a text longer than the model's max_seq_length is cut (with a note on stderr) or refused", "cut");
    /// <summary>--path of the collection store.</summary>
    public static readonly Opt StorePath = Opt.Req("--path", "DIR", "collection store directory");
    /// <summary>--name of a collection.</summary>
    public static readonly Opt Name = Opt.Req("--name", "NAME", "collection name");
}
