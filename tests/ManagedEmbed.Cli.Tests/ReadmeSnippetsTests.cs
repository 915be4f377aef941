using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using ManagedEmbed.Collections;
using ManagedEmbed.Encoder;
using ManagedEmbed.Index;
using ManagedEmbed.Search;
using ManagedEmbed.Testing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// README.md section 4's C# snippets, read from README.md at test time, compiled with Roslyn and run on the real
/// all-MiniLM-L6-v2 (so drift between README and library fails here, not in a user's editor). Each snippet runs as
/// its own top-level program in a directory laid out as the README assumes (models/all-MiniLM-L6-v2, samples/);
/// what it prints is checked against the PyTorch reference values in tests/fixtures/real. Changes the process's
/// current directory, so the collection runs alone.
/// </summary>
[Collection("real-minilm")]
public sealed partial class ReadmeSnippetsTests(RealMiniLm real)
{
    private const string ModelPath = "models/all-MiniLM-L6-v2";
    private const string CrossEncoderPath = "models/ms-marco-MiniLM-L-6-v2";

    /// <summary>The ```csharp blocks of README.md's "## 4." section, in order.</summary>
    internal static List<string> Snippets()
    {
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md")).ReplaceLineEndings("\n");
        int start = readme.IndexOf("\n## 4. ", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no section '## 4.'");
        int end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        string section = end < 0 ? readme[start..] : readme[start..end];
        return [.. CsharpBlock().Matches(section).Select(m => m.Groups[1].Value)];
    }

    [GeneratedRegex("```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CsharpBlock();

    private static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        // The framework (trusted platform assemblies) plus the product libraries beside the tests.
        _ = typeof(SentenceEncoder); _ = typeof(FlatIndex); _ = typeof(CollectionStore); _ = typeof(SemanticSearch);
        var paths = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(Directory.GetFiles(AppContext.BaseDirectory, "ManagedEmbed.*.dll"))
            .Where(p => !p.EndsWith("Tests.dll", StringComparison.Ordinal))
            .DistinctBy(Path.GetFileName);
        return [.. paths.Select(p => MetadataReference.CreateFromFile(p))];
    });

    /// <summary>
    /// Compiles <paramref name="snippet"/> as a top-level program and runs it in a README-shaped directory, returning
    /// its stdout. A snippet that uses <c>model</c> without loading one gets the first snippet's load line.
    /// </summary>
    private string Run(string snippet)
    {
        var lines = snippet.Split('\n');
        var usings = new List<string> { "using System;", "using System.IO;", "using System.Linq;", "using System.Collections.Generic;", "using ManagedEmbed.Encoder;" };
        usings.AddRange(lines.Where(l => l.StartsWith("using ", StringComparison.Ordinal) && l.TrimEnd().EndsWith(';') && !l.StartsWith("using var ", StringComparison.Ordinal)));
        string body = string.Join('\n', lines.Where(l => !usings.Contains(l)));
        if (Regex.IsMatch(body, @"\bmodel\b") && !body.Contains("var model =", StringComparison.Ordinal))
            body = $"using var model = SentenceEncoder.Load(\"{ModelPath}\");\n" + body;
        string source = string.Join('\n', usings.Distinct()) + "\n" + body;

        var compilation = CSharpCompilation.Create("ReadmeSnippet" + Guid.NewGuid().ToString("N"),
            [CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest))],
            References.Value, new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        using var pe = new MemoryStream();
        var emitted = compilation.Emit(pe);
        var errors = emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(emitted.Success, "README snippet does not compile:\n" + string.Join('\n', errors) + "\n---\n" + source);

        string dir = TestPaths.NewTempDir("membed-readme-run");
        string cwd = Environment.CurrentDirectory;
        var stdout = Console.Out;
        var captured = new StringWriter(CultureInfo.InvariantCulture);
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "models"));
            Directory.CreateSymbolicLink(Path.Combine(dir, ModelPath), real.Directory);
            Directory.CreateDirectory(Path.Combine(dir, "samples"));
            foreach (string f in Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "samples")))
                File.Copy(f, Path.Combine(dir, "samples", Path.GetFileName(f)));
            // The cross-encoder snippet's model: seeded weights in the shape of ms-marco-MiniLM-L-6-v2, as the README says.
            if (snippet.Contains(CrossEncoderPath, StringComparison.Ordinal))
                SyntheticModel.Write(new SyntheticModelOptions
                {
                    ConfigPath = Path.Combine(TestPaths.RepoRoot, "weights", "synth", "ms-marco-MiniLM-L-6-v2-config.json"),
                    VocabPath = Path.Combine(real.Directory, "vocab.txt"), Seed = 15, CrossEncoder = true,
                }, Path.Combine(dir, CrossEncoderPath));
            Environment.CurrentDirectory = dir;
            Console.SetOut(captured);
            var entry = Assembly.Load(pe.ToArray()).EntryPoint!;
            entry.Invoke(null, entry.GetParameters().Length == 0 ? null : [Array.Empty<string>()]);
        }
        finally
        {
            Console.SetOut(stdout);
            Environment.CurrentDirectory = cwd;
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
        return captured.ToString();
    }

    private static JsonElement Reference => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "real", "minilm-real-tutorial.json"))).RootElement;

    private static double Cosine(string a, string b) =>
        Reference.GetProperty("cosine").EnumerateArray().First(e => e.GetProperty("a").GetString() == a && e.GetProperty("b").GetString() == b).GetProperty("cosine").GetDouble();

    private static double Num(string s) => double.Parse(s, CultureInfo.InvariantCulture);

    [Fact]
    public void Section4HasTheTenSnippets() => Assert.Equal(10, Snippets().Count);

    [Fact]
    public void EncodeAndCompare()
    {
        string o = Run(Snippets()[0]);
        Assert.Contains("Embedding shape: (5, 384)", o);
        var m = Regex.Match(o, @"cat on mat vs feline on rug: (-?\d\.\d{4})");
        Assert.True(m.Success, o);
        Assert.Equal(Cosine("The cat sat on the mat.", "A feline rested on the rug."), Num(m.Groups[1].Value), 0.00011);
    }

    [Fact]
    public void SemanticSearch()
    {
        string o = Run(Snippets()[1]);
        var want = Reference.GetProperty("search").EnumerateArray().First(q => q.GetProperty("query").GetString() == "How do transformers work?").GetProperty("top").EnumerateArray().ToList();
        var got = Regex.Matches(o, @"^(\d)\. (-?\d\.\d{3})  (.*)$", RegexOptions.Multiline).ToList();
        Assert.Equal(3, got.Count);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal((i + 1).ToString(CultureInfo.InvariantCulture), got[i].Groups[1].Value);
            Assert.Equal(want[i].GetProperty("document").GetString(), got[i].Groups[3].Value);
            Assert.Equal(want[i].GetProperty("score").GetDouble(), Num(got[i].Groups[2].Value), 0.0011);
        }
    }

    [Fact]
    public void FlatAndIvf() => Assert.Equal("", Run(Snippets()[2])); // prints nothing; compiling and running is the check

    [Fact]
    public void CollectionWithFilters()
    {
        string o = Run(Snippets()[3]);
        Assert.Contains("Collection size: 5", o);
        Assert.Contains("After update and delete: 4 documents", o);
        Assert.Equal(3, Regex.Matches(o, @"^\d\. -?\d\.\d{3}  \S", RegexOptions.Multiline).Count);
    }

    [Fact]
    public void BatchEncodingWithProgress()
    {
        // Run with 500 texts instead of 5000 (the real model in a Debug test host on a shared machine); the rest of
        // the snippet is run as written, and a README that no longer says 5000 fails here.
        string snippet = Snippets()[4];
        Assert.Contains("Enumerable.Range(0, 5000)", snippet);
        Assert.Matches(@"\d+ docs/second, shape \(500, 384\)", Run(snippet.Replace("Enumerable.Range(0, 5000)", "Enumerable.Range(0, 500)", StringComparison.Ordinal)));
    }

    [Fact]
    public void Evaluation()
    {
        string o = Run(Snippets()[5]);
        var pairs = Reference.GetProperty("pairs").GetProperty("results").EnumerateArray().ToList();
        foreach (var (a, b) in new[] { ("cheap hotel", "affordable accommodation"), ("cat on the mat", "deep learning model"), ("neural network", "deep learning") })
        {
            var m = Regex.Match(o, $@"(correct|WRONG) sim=(-?\d\.\d{{3}}) \| {Regex.Escape(a)} vs {Regex.Escape(b)}");
            Assert.True(m.Success, o);
            var refPair = pairs.First(p => p.GetProperty("a").GetString() == a && p.GetProperty("b").GetString() == b);
            Assert.Equal(refPair.GetProperty("cosine").GetDouble(), Num(m.Groups[2].Value), 0.0011);
            Assert.Equal((refPair.GetProperty("cosine").GetDouble() > 0.5 ? 1 : 0) == refPair.GetProperty("label").GetInt32() ? "correct" : "WRONG", m.Groups[1].Value);
        }
        Assert.Matches(@"Accuracy on test pairs: 100[.,]0 ?%", o); // all three agree with their labels in the reference
        var s = Regex.Match(o, @"Spearman (-?\d\.\d{4})  Pearson (-?\d\.\d{4})");
        Assert.True(s.Success, o);
        Assert.InRange(Num(s.Groups[1].Value), 0.5, 1.0); // a real model ranks samples/sts.tsv well; a broken one does not
    }

    [Fact]
    public void Clustering()
    {
        string o = Run(Snippets()[6]);
        Assert.Equal(3, Regex.Matches(o, @"^Cluster \d:$", RegexOptions.Multiline).Count);
        Assert.Equal(8, Regex.Matches(o, @"^  - ", RegexOptions.Multiline).Count);
    }

    [Fact]
    public void CrossEncoderPredictAndRank()
    {
        string o = Run(Snippets()[8]);
        // The reference scores of the same seeded model (tests/fixtures/crossencoder, ms-marco shape, rank section).
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "crossencoder", "crossencoder-synth.json")));
        var rank = doc.RootElement.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("name").GetString() == "ms-marco-MiniLM-L-6-v2-shape").GetProperty("rank");
        var refDocs = rank.GetProperty("documents").EnumerateArray().Select(x => x.GetString()!).ToList();
        var refScores = rank.GetProperty("scores").EnumerateArray().Select(x => x.GetDouble()).ToList();
        string[] docs = ["Berlin has a population of 3,520,031 registered inhabitants.", "New York City is famous for the Metropolitan Museum of Art.", "bread"];
        double[] want = docs.Select(d => refScores[refDocs.IndexOf(d)]).ToArray();
        var m = Regex.Match(o, @"^scores: (-?\d\.\d{4}) (-?\d\.\d{4}) (-?\d\.\d{4})$", RegexOptions.Multiline);
        Assert.True(m.Success, o);
        for (int i = 0; i < 3; i++) Assert.Equal(want[i], Num(m.Groups[i + 1].Value), 0.00011);
        var ranked = Regex.Matches(o, @"^ranked (\d) (-?\d\.\d{4})$", RegexOptions.Multiline).ToList();
        int[] order = Enumerable.Range(0, 3).OrderByDescending(i => want[i]).Take(2).ToArray();
        Assert.Equal(order, ranked.Select(r => int.Parse(r.Groups[1].Value, CultureInfo.InvariantCulture)).ToArray());
    }

    [Fact]
    public void PromptsMatryoshkaAndUtil()
    {
        string o = Run(Snippets()[7]);
        Assert.Contains("Matryoshka shape: (1, 128)", o);
        // util.semantic_search over the corpus equals the reference's top-3 for the same query (same documents, same scores).
        AssertReferenceTop3(o, @"^hit (\d+) (-?\d\.\d{3})$", 0.0011);
        Assert.Equal(3, Regex.Matches(o, @"^pair \d+-\d+ -?\d\.\d{3}$", RegexOptions.Multiline).Count);
        Assert.Matches(@"\d+ communities", o);
    }

    [Fact]
    public void QuantizedEmbeddingsAndRescoring()
    {
        string o = Run(Snippets()[9]);
        Assert.Contains("int8 384 bytes/vector, ubinary 48 bytes/vector", o);
        // Binary first pass + int8 rescoring finds the reference's float top-3 on the tutorial corpus, with scores within
        // an int8 bucket's error of the exact cosines.
        AssertReferenceTop3(o, @"^quantized hit (\d+) (-?\d\.\d{3})$", 0.01);
    }

    /// <summary>Lines matching <paramref name="pattern"/> (corpus line, score) are the reference's top-3 for "How do transformers work?".</summary>
    private static void AssertReferenceTop3(string output, string pattern, double scoreTolerance)
    {
        var want = Reference.GetProperty("search").EnumerateArray().First(q => q.GetProperty("query").GetString() == "How do transformers work?").GetProperty("top").EnumerateArray().ToList();
        string[] corpus = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "samples", "corpus.txt"));
        var hits = Regex.Matches(output, pattern, RegexOptions.Multiline).ToList();
        Assert.Equal(3, hits.Count);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(want[i].GetProperty("document").GetString(), corpus[int.Parse(hits[i].Groups[1].Value, CultureInfo.InvariantCulture)]);
            Assert.Equal(want[i].GetProperty("score").GetDouble(), Num(hits[i].Groups[2].Value), scoreTolerance);
        }
    }
}
