using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>tools/README.md lists every script in tools/ and tools/reference/ (its "Every tool" table).</summary>
public sealed class ToolsReadmeTests
{
    [Fact]
    public void EveryToolIsListed()
    {
        string tools = Path.Combine(TestPaths.RepoRoot, "tools");
        string readme = File.ReadAllText(Path.Combine(tools, "README.md"));
        int start = readme.IndexOf("## Every tool", StringComparison.Ordinal);
        Assert.True(start >= 0, "tools/README.md has no \"## Every tool\" section");
        int end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        string table = end < 0 ? readme[start..] : readme[start..end];
        var scripts = Directory.GetFiles(tools).Select(f => (Dir: "", Name: Path.GetFileName(f)))
            .Concat(Directory.GetFiles(Path.Combine(tools, "reference")).Select(f => (Dir: "reference/", Name: Path.GetFileName(f))))
            .Where(f => f.Name.EndsWith(".py", StringComparison.Ordinal) || f.Name.EndsWith(".sh", StringComparison.Ordinal))
            .ToList();
        Assert.True(scripts.Count >= 20, $"only {scripts.Count} scripts found under {tools}");
        var missing = scripts.Where(f => !table.Contains($"`{f.Dir}{f.Name}`", StringComparison.Ordinal)).Select(f => f.Dir + f.Name).ToList();
        Assert.True(missing.Count == 0, "tools/README.md does not list: " + string.Join(", ", missing));
    }
}
