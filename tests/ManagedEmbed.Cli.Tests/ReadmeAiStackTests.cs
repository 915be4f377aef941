using ManagedEmbed.Encoder;
using ManagedEmbed.Extensions.AI;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace ManagedEmbed.Cli.Tests;

/// <summary>README.md section 8's C# examples, run on the real all-MiniLM-L6-v2 (keep the bodies in sync with the README).</summary>
[Collection("real-minilm")]
public sealed class ReadmeAiStackTests(RealMiniLm model)
{
    [Fact]
    public async Task ExtensionsAi_Example()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddManagedEmbedGenerator("sentence-transformers/all-MiniLM-L6-v2").UseLogging();
        using var provider = services.BuildServiceProvider();
        var generator = provider.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>();

        ReadOnlyMemory<float> vector = await generator.GenerateVectorAsync("The weather is lovely today.");
        var small = await generator.GenerateAsync(["It's so sunny outside!"], new EmbeddingGenerationOptions { Dimensions = 128 });

        using var encoder = SentenceEncoder.Load(model.Directory);
        Assert.True(ExtensionsAiTests.MaxDiff(encoder.Encode("The weather is lovely today."), vector.Span) <= 1e-6);
        Assert.Equal(128, small[0].Vector.Length);
    }

    [Fact]
    public async Task Serve_OpenAiDotNetClient_Example()
    {
        using var encoder = SentenceEncoder.Load(model.Directory);
        var (server, _) = await ServerTests.Start(encoder);
        await using var __ = server;
        var endpoint = new Uri(server.Address, "v1"); // the README uses http://127.0.0.1:8080/v1

        IEmbeddingGenerator<string, Embedding<float>> remote =
            new OpenAI.Embeddings.EmbeddingClient("all-MiniLM-L6-v2", new System.ClientModel.ApiKeyCredential("unused"),
                new OpenAI.OpenAIClientOptions { Endpoint = endpoint }).AsIEmbeddingGenerator();

        var v = await remote.GenerateVectorAsync("hello world");
        Assert.True(ExtensionsAiTests.MaxDiff(encoder.Encode("hello world"), v.Span) <= 1e-6);
    }
}
