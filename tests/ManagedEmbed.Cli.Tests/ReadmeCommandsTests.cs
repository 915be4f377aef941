using System.Text;
using System.Text.RegularExpressions;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// Issue 14, "every README command works verbatim": each concrete `membed …` command line of README.md (code blocks
/// and inline code; synopses with [optional] parts, alternatives or ellipses are not command lines) parses under the
/// current CLI — System.CommandLine's [diagram] directive reports no error, and every --option it uses is one that
/// command's own --help lists.
/// </summary>
public sealed class ReadmeCommandsTests
{
    private static List<string> ReadmeCommands()
    {
        string md = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        var found = new List<string>();
        bool fence = false;
        foreach (string raw in md.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal)) { fence = !fence; continue; }
            if (fence)
            {
                string t = line.Trim();
                if (t.StartsWith("$ ", StringComparison.Ordinal)) t = t[2..];
                if (t.StartsWith("membed ", StringComparison.Ordinal)) found.Add(t.TrimEnd('&', ' ', '\\'));
                continue;
            }
            foreach (Match m in Regex.Matches(line, "`(membed [^`]+)`")) found.Add(m.Groups[1].Value);
        }
        // Placeholders (DIR, FILE, M) are capitalised words outside quotes; quoted texts may hold any words.
        return found.Where(c => !Regex.IsMatch(Regex.Replace(c, "\"[^\"]*\"|'[^']*'", "q"), @"[\[\]|…]|\.\.\.|(^| )[A-Z][A-Z0-9_]*( |=|$)"))
            .Distinct().ToList();
    }

    /// <summary>Shell words of a command line: single and double quotes group, nothing else is interpreted.</summary>
    private static List<string> Words(string line)
    {
        var words = new List<string>();
        var cur = new StringBuilder();
        bool any = false;
        char quote = '\0';
        foreach (char ch in line)
        {
            if (quote != '\0') { if (ch == quote) quote = '\0'; else cur.Append(ch); continue; }
            if (ch is '"' or '\'') { quote = ch; any = true; continue; }
            if (ch == ' ') { if (any || cur.Length > 0) words.Add(cur.ToString()); cur.Clear(); any = false; continue; }
            cur.Append(ch);
        }
        if (any || cur.Length > 0) words.Add(cur.ToString());
        return words;
    }

    [Fact]
    public void EveryConcreteReadmeCommand_ParsesWithItsDeclaredOptions()
    {
        var commands = ReadmeCommands();
        Assert.True(commands.Count >= 5, "README commands found: " + string.Join(" | ", commands));
        var failures = new List<string>();
        var helpOf = new Dictionary<string, string>();
        foreach (string c in commands)
        {
            var args = Words(c).Skip(1).ToList();
            var diagram = CliRunner.Run(["[diagram]", .. args]);
            if (diagram.ExitCode != 0 || diagram.Stdout.Contains("![", StringComparison.Ordinal) || diagram.Stdout.Contains("???", StringComparison.Ordinal))
            {
                failures.Add($"{c}: {diagram.Stdout.Trim()} {diagram.Stderr.Trim()}");
                continue;
            }
            // The command's words are the leading non-option words that --help accepts (membed collection query ...).
            var path = new List<string>();
            foreach (string w in args.TakeWhile(w => !w.StartsWith('-')))
            {
                var h = CliRunner.Run([.. path, w, "--help"]);
                if (h.ExitCode != 0) break;
                path.Add(w);
            }
            string key = string.Join(' ', path);
            if (!helpOf.TryGetValue(key, out var help)) helpOf[key] = help = CliRunner.Run([.. path, "--help"]).Stdout;
            // Help shows "-k" alone for an option spelled both -k and --k (System.CommandLine merges the two spellings).
            bool Listed(string w) => Regex.IsMatch(help, $@"(^|[ ,]){Regex.Escape(w)}([ ,]|$)", RegexOptions.Multiline)
                || (w.Length == 3 && Regex.IsMatch(help, $@"(^|[ ,]){Regex.Escape(w[1..])}([ ,]|$)", RegexOptions.Multiline));
            foreach (string w in args.Where(w => w.StartsWith("--", StringComparison.Ordinal) && w.Length > 2).Select(w => w.Split('=')[0]))
                if (!Listed(w))
                    failures.Add($"{c}: 'membed {key} --help' does not list {w}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
