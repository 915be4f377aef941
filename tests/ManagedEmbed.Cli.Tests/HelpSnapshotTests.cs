using System.Text.RegularExpressions;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// Issue 14: `membed --help` and every command's `--help` match the committed text under help/, so a change to the
/// CLI surface is a visible diff. MEMBED_UPDATE_HELP=1 rewrites the files; a missing file fails.
/// </summary>
public sealed class HelpSnapshotTests
{
    private static string HelpDir => Path.Combine(ManagedEmbed.Testing.TestPaths.RepoRoot, "tests", "ManagedEmbed.Cli.Tests", "help");

    private static bool Update => Environment.GetEnvironmentVariable("MEMBED_UPDATE_HELP") == "1";

    /// <summary>Every command path, found by walking the "Commands:" sections of the help itself from the root.</summary>
    private static List<(string[] Path, string Help)> AllHelp()
    {
        var all = new List<(string[], string)>();
        var todo = new Queue<string[]>([[]]);
        while (todo.Count > 0)
        {
            var path = todo.Dequeue();
            var r = CliRunner.Run([.. path, "--help"]);
            Assert.True(r.ExitCode == 0, $"membed {string.Join(' ', path)} --help: exit {r.ExitCode}, {r.Stderr}");
            Assert.Equal("", r.Stderr);
            all.Add((path, r.Stdout));
            int at = r.Stdout.IndexOf("\nCommands:\n", StringComparison.Ordinal);
            if (at < 0) continue;
            foreach (Match m in Regex.Matches(r.Stdout[(at + 11)..], @"^  ([a-z][a-z-]*)", RegexOptions.Multiline))
                todo.Enqueue([.. path, m.Groups[1].Value]);
        }
        return all;
    }

    private static string FileOf(string[] path) => Path.Combine(HelpDir, (path.Length == 0 ? "membed" : "membed_" + string.Join('_', path)) + ".txt");

    [Fact]
    public void EveryCommandsHelp_MatchesItsSnapshot()
    {
        var all = AllHelp();
        Assert.True(all.Count >= 39, $"expected every command, found {all.Count}");
        if (Update)
        {
            Directory.CreateDirectory(HelpDir);
            foreach (var f in Directory.GetFiles(HelpDir, "*.txt")) File.Delete(f);
            foreach (var (p, h) in all) File.WriteAllText(FileOf(p), h);
        }
        var failures = new List<string>();
        foreach (var (p, h) in all)
        {
            string file = FileOf(p);
            if (!File.Exists(file)) failures.Add($"missing {Path.GetFileName(file)} (run with MEMBED_UPDATE_HELP=1 and review the diff)");
            else if (File.ReadAllText(file) != h) failures.Add($"{Path.GetFileName(file)} differs from 'membed {string.Join(' ', p)} --help'");
        }
        var expected = all.Select(x => Path.GetFileName(FileOf(x.Path))).ToHashSet();
        foreach (var f in Directory.Exists(HelpDir) ? Directory.GetFiles(HelpDir, "*.txt") : [])
            if (!expected.Contains(Path.GetFileName(f))) failures.Add($"{Path.GetFileName(f)} belongs to no command (stale)");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData("search", "-k", "[default: 3]")]
    [InlineData("collection query", "-k", "[default: 10]")]
    [InlineData("index search", "-k", "[default: 10]")]
    [InlineData("collection query", "--where <JSON>", "metadata filter")]
    [InlineData("collection query", "--n, --n-results", "results per query")]
    [InlineData("search", "--min-score <S>", "[-1, 1]")]
    [InlineData("collection drop", "--yes", "confirm")]
    [InlineData("embed", "--output <FILE>", "[default: stdout]")]
    [InlineData("index search", "--out-scores <FILE>", ".fvecs")]
    public void Help_ListsTheOptionWithItsDefault(string command, string option, string text)
    {
        var r = CliRunner.Run([.. command.Split(' '), "-h"]);
        Assert.Equal(0, r.ExitCode);
        var line = r.Stdout.Split('\n').FirstOrDefault(l => l.Contains(option, StringComparison.Ordinal));
        Assert.True(line is not null, $"'{option}' not in 'membed {command} -h':\n{r.Stdout}");
        // The option's text may wrap onto the next line: look at the line and its continuation.
        int i = Array.IndexOf(r.Stdout.Split('\n'), line);
        string block = string.Join(' ', r.Stdout.Split('\n').Skip(i).Take(2).Select(l => l.Trim()));
        Assert.Contains(text, block);
    }

    [Fact]
    public void HelpCommand_IsTheCommandsHelp()
    {
        var a = CliRunner.Run(["help", "search"]);
        var b = CliRunner.Run(["search", "--help"]);
        Assert.Equal(0, a.ExitCode);
        Assert.Equal(b.Stdout, a.Stdout);
    }
}
