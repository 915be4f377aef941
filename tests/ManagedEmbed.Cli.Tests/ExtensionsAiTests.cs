using ManagedEmbed.Encoder;
using ManagedEmbed.Extensions.AI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ManagedEmbed.Cli.Tests;

/// <summary>ManagedEmbedGenerator through Microsoft.Extensions.AI's own extension methods and DI, on the real all-MiniLM-L6-v2.</summary>
[Collection("real-minilm")]
public sealed class ExtensionsAiTests(RealMiniLm model)
{
    internal static readonly string[] Texts =
    [
        "The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium.",
        "A man is eating food.", "Ein Mann isst Essen.", "short", "The quick brown fox jumps over the lazy dog near the riverbank at dawn.",
    ];

    /// <summary>Max |a-b| over two vectors of equal length.</summary>
    internal static double MaxDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - b[i]));
        return m;
    }

    /// <summary>The first <paramref name="dims"/> values of <paramref name="v"/>, L2-normalized in double precision (the test's own Matryoshka).</summary>
    internal static float[] TruncateNormalize(float[] v, int dims)
    {
        double s = 0;
        for (int i = 0; i < dims; i++) s += (double)v[i] * v[i];
        double inv = 1 / Math.Sqrt(s);
        return v.Take(dims).Select(x => (float)(x * inv)).ToArray();
    }

    [Fact]
    public async Task GenerateAndZipAsync_EqualsSentenceEncoder()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        var want = encoder.Encode(Texts);
        using var gen = new ManagedEmbedGenerator(new ManagedEmbedGeneratorOptions { ModelId = model.Directory, BatchSize = 3 });
        var zipped = await gen.GenerateAndZipAsync(Texts);
        Assert.Equal(Texts.Length, zipped.Length);
        for (int i = 0; i < Texts.Length; i++)
        {
            Assert.Equal(Texts[i], zipped[i].Value);
            Assert.Equal(384, zipped[i].Embedding.Vector.Length);
            Assert.True(MaxDiff(want.Row(i), zipped[i].Embedding.Vector.Span) <= 1e-6, $"text {i} differs from SentenceEncoder");
            Assert.Equal(model.Directory, zipped[i].Embedding.ModelId);
        }
        // The published sentence-transformers similarity of the first pair (0.6660), independent of the code under test.
        var a = zipped[0].Embedding.Vector.Span; var b = zipped[1].Embedding.Vector.Span;
        double cos = 0; for (int d = 0; d < a.Length; d++) cos += a[d] * b[d];
        Assert.Equal(0.6660, Math.Round(cos, 4));
    }

    [Fact]
    public async Task GenerateVectorAsync_WithDimensions_TruncatesThenRenormalizes()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        float[] pooled = encoder.Encode(Texts[0], normalize: false);
        using var gen = new ManagedEmbedGenerator(new ManagedEmbedGeneratorOptions { ModelId = model.Directory });
        var v = await gen.GenerateVectorAsync(Texts[0], new EmbeddingGenerationOptions { Dimensions = 64 });
        Assert.Equal(64, v.Length);
        Assert.True(MaxDiff(TruncateNormalize(pooled, 64), v.Span) <= 1e-6);
        double norm = Math.Sqrt(v.ToArray().Sum(x => (double)x * x));
        Assert.Equal(1.0, norm, 5);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => gen.GenerateVectorAsync("x", new EmbeddingGenerationOptions { Dimensions = 385 }));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => gen.GenerateVectorAsync("x", new EmbeddingGenerationOptions { Dimensions = 0 }));
        await Assert.ThrowsAsync<NotSupportedException>(() => gen.GenerateVectorAsync("x", new EmbeddingGenerationOptions { ModelId = "someone/else" }));
    }

    [Fact]
    public async Task GetService_Metadata_AndHubNameResolvesLikeTheCli()
    {
        // A hub name, resolved from the user cache the RealMiniLm fixture filled (no download allowed).
        using var gen = new ManagedEmbedGenerator(new ManagedEmbedGeneratorOptions { ModelId = RealMiniLm.Repo, AllowDownload = false });
        var meta = gen.GetService<EmbeddingGeneratorMetadata>();
        Assert.NotNull(meta);
        Assert.Equal("ManagedEmbed", meta.ProviderName);
        Assert.Equal(RealMiniLm.Repo, meta.DefaultModelId);
        Assert.Equal(384, meta.DefaultModelDimensions);
        Assert.Same(gen, gen.GetService<ManagedEmbedGenerator>());
        Assert.Null(gen.GetService<EmbeddingGeneratorMetadata>("some key"));
        using var bare = new ManagedEmbedGenerator(new ManagedEmbedGeneratorOptions { ModelId = "all-MiniLM-L6-v2", AllowDownload = false });
        var x = await gen.GenerateVectorAsync("hello world");
        var y = await bare.GenerateVectorAsync("hello world");
        Assert.True(x.Span.SequenceEqual(y.Span));
        var e = Assert.Throws<ManagedEmbedException>(() => new ManagedEmbedGenerator(new ManagedEmbedGeneratorOptions { ModelId = "/no/such/model-dir", AllowDownload = false }));
        Assert.Contains("/no/such/model-dir", e.Message);
    }

    [Fact]
    public async Task GenerateAsync_ReportsUsage_AndObservesCancellation()
    {
        using var gen = new ManagedEmbedGenerator(new ManagedEmbedGeneratorOptions { ModelId = model.Directory, BatchSize = 1 });
        // [CLS] hello world [SEP] and [CLS] short [SEP]: 4 + 3 tokens.
        var r = await gen.GenerateAsync(["hello world", "short"]);
        Assert.Equal((long?)7, r.Usage?.InputTokenCount);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gen.GenerateAsync(Texts, null, cts.Token));
        // Cancelled while running: with one text per batch, the call stops between batches, well before the end.
        var many = Enumerable.Range(0, 2000).Select(i => $"sentence number {i} about nothing much at all").ToArray();
        using var soon = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gen.GenerateAsync(many, null, soon.Token));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"cancellation took {sw.Elapsed}");
    }

    [Fact]
    public async Task ServiceCollection_AddManagedEmbedGenerator_ComposesWithUseLogging()
    {
        var logs = new ListLoggerProvider();
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        services.AddManagedEmbedGenerator(model.Directory).UseLogging();
        using var sp = services.BuildServiceProvider();
        var gen = sp.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>();
        Assert.IsNotType<ManagedEmbedGenerator>(gen); // wrapped by the logging generator
        Assert.NotNull(gen.GetService<ManagedEmbedGenerator>());
        Assert.Equal("ManagedEmbed", gen.GetService<EmbeddingGeneratorMetadata>()?.ProviderName);
        using var encoder = SentenceEncoder.Load(model.Directory);
        var v = await gen.GenerateVectorAsync(Texts[2]);
        Assert.True(MaxDiff(encoder.Encode(Texts[2]), v.Span) <= 1e-6);
        Assert.Contains(logs.Messages, m => m.Contains("GenerateAsync", StringComparison.Ordinal));
    }

    private sealed class ListLoggerProvider : ILoggerProvider
    {
        public List<string> Messages { get; } = [];
        public ILogger CreateLogger(string categoryName) => new L(this);
        public void Dispose() { }
        private sealed class L(ListLoggerProvider p) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (p.Messages) p.Messages.Add(formatter(state, exception));
            }
        }
    }
}
