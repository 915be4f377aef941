namespace ManagedEmbed.Cli;

/// <summary>
/// A strict option parser: every option must be declared; unknown options, missing values and
/// repeated single-valued options are errors.
/// </summary>
public sealed class Args
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _flags = new(StringComparer.Ordinal);

    /// <summary>Positional arguments, in order.</summary>
    public List<string> Positional { get; } = new();

    /// <summary>Parses <paramref name="argv"/>. <paramref name="valueOptions"/> take a value; names ending in '*' may repeat.</summary>
    public static Args Parse(string[] argv, string[] valueOptions, string[]? flagOptions = null)
    {
        var a = new Args();
        var repeatable = new HashSet<string>(valueOptions.Where(o => o.EndsWith('*')).Select(o => o.TrimEnd('*')), StringComparer.Ordinal);
        var values = new HashSet<string>(valueOptions.Select(o => o.TrimEnd('*')), StringComparer.Ordinal);
        var flags = new HashSet<string>(flagOptions ?? [], StringComparer.Ordinal);
        bool onlyPositional = false;
        for (int i = 0; i < argv.Length; i++)
        {
            string s = argv[i];
            if (!onlyPositional && s == "--") { onlyPositional = true; continue; }
            if (!onlyPositional && s.StartsWith("--", StringComparison.Ordinal) && s.Length > 2)
            {
                string name = s, inline = "";
                bool hasInline = false;
                int eq = s.IndexOf('=');
                if (eq > 0) { name = s[..eq]; inline = s[(eq + 1)..]; hasInline = true; }
                if (flags.Contains(name))
                {
                    if (hasInline) throw new ManagedEmbedException($"option {name} takes no value");
                    a._flags.Add(name);
                }
                else if (values.Contains(name))
                {
                    string v;
                    if (hasInline) v = inline;
                    else if (i + 1 < argv.Length) v = argv[++i];
                    else throw new ManagedEmbedException($"option {name} needs a value");
                    if (!a._values.TryGetValue(name, out var list)) a._values[name] = list = new List<string>();
                    else if (!repeatable.Contains(name)) throw new ManagedEmbedException($"option {name} given more than once");
                    list.Add(v);
                }
                else throw new ManagedEmbedException($"unknown option '{name}'");
            }
            else a.Positional.Add(s);
        }
        return a;
    }

    /// <summary>True when the flag was given.</summary>
    public bool Has(string flag) => _flags.Contains(flag) || _values.ContainsKey(flag);

    /// <summary>The option's value, or null.</summary>
    public string? Get(string name) => _values.TryGetValue(name, out var l) ? l[0] : null;

    /// <summary>All values of a repeatable option.</summary>
    public IReadOnlyList<string> GetAll(string name) => _values.TryGetValue(name, out var l) ? l : [];

    /// <summary>The option's value; an error naming the option when absent.</summary>
    public string Require(string name) => Get(name) ?? throw new ManagedEmbedException($"missing required option {name}");

    /// <summary>An integer option within [min, max].</summary>
    public int GetInt(string name, int defaultValue, int min = int.MinValue, int max = int.MaxValue)
    {
        string? s = Get(name);
        if (s is null) return defaultValue;
        if (!int.TryParse(s, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int v) || v < min || v > max)
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
        if (!double.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw new ManagedEmbedException($"option {name} must be a number, got '{s}'");
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

    /// <summary>Fails when any positional argument was given to a command that takes none.</summary>
    public void NoPositional()
    {
        if (Positional.Count > 0) throw new ManagedEmbedException($"unexpected argument '{Positional[0]}'");
    }
}
