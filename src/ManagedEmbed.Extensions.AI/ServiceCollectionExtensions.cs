using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace ManagedEmbed.Extensions.AI;

/// <summary>Registers a <see cref="ManagedEmbedGenerator"/> as the application's <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>.</summary>
public static class ManagedEmbedServiceCollectionExtensions
{
    /// <summary>
    /// Registers <c>IEmbeddingGenerator&lt;string, Embedding&lt;float&gt;&gt;</c> backed by a <see cref="ManagedEmbedGenerator"/>
    /// (loaded on first resolution) and returns the standard builder, so <c>.UseLogging()</c>, <c>.UseOpenTelemetry()</c>,
    /// <c>.UseDistributedCache()</c> and the like compose as with any other provider.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="modelId">A model directory or hub model name (null: the default model).</param>
    /// <param name="configure">Adjusts the remaining options.</param>
    /// <param name="lifetime">The registration's lifetime (default singleton: the model is loaded once).</param>
    public static EmbeddingGeneratorBuilder<string, Embedding<float>> AddManagedEmbedGenerator(
        this IServiceCollection services, string? modelId = null, Action<ManagedEmbedGeneratorOptions>? configure = null,
        ServiceLifetime lifetime = ServiceLifetime.Singleton)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = new ManagedEmbedGeneratorOptions { ModelId = modelId };
        configure?.Invoke(options);
        return services.AddEmbeddingGenerator(_ => new ManagedEmbedGenerator(options), lifetime);
    }
}
