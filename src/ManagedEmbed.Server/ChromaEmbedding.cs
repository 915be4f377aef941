using System.Collections.Concurrent;
using ManagedEmbed.Collections;
using Microsoft.Extensions.AI;

namespace ManagedEmbed.Server;

/// <summary>
/// The server's embedding-function resolver for its collection store: each collection embeds with its own recorded
/// model. The served model (by its recorded name or any alias) embeds through the server's dynamic batcher; any other
/// model is resolved once through the user's resolver (<see cref="EmbeddingServerOptions.StoreOptions"/>) and shared
/// by every collection that names it. Fingerprints are checked by the collection against what this returns.
/// </summary>
internal sealed class ServerEmbeddingResolver(EmbeddingFunctionSpec served, Func<IReadOnlyList<string>, CancellationToken, Task<float[][]>> embedServed,
    IReadOnlySet<string> servedNames, IEmbeddingFunctionResolver? inner) : IEmbeddingFunctionResolver, IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<ResolvedEmbeddingFunction>> _cache = new(StringComparer.Ordinal);

    public EmbeddingFunctionSpec Served => served;

    public bool IsServed(string model) => model == served.Model || servedNames.Contains(model);

    public ResolvedEmbeddingFunction Resolve(string model)
    {
        if (IsServed(model)) return new ResolvedEmbeddingFunction(served, new Generator(embedServed, null, served.Model));
        if (inner is null)
            throw new EmbeddingFunctionException($"model '{model}' is not served here ('{served.Model}' is) and no other model can be loaded", EmbeddingFunctionProblem.NoResolver);
        var lazy = _cache.GetOrAdd(model, m => new Lazy<ResolvedEmbeddingFunction>(() => inner.Resolve(m), LazyThreadSafetyMode.ExecutionAndPublication));
        ResolvedEmbeddingFunction r;
        try { r = lazy.Value; }
        catch
        {
            _cache.TryRemove(new KeyValuePair<string, Lazy<ResolvedEmbeddingFunction>>(model, lazy)); // a failed load is retried next time
            throw;
        }
        // Collections dispose the generator they are given: hand out a view, the cache owns the model.
        return new ResolvedEmbeddingFunction(r.Spec, new Generator(null, r.Generator, r.Spec.Model));
    }

    public void Dispose()
    {
        foreach (var l in _cache.Values) if (l.IsValueCreated) l.Value.Generator.Dispose();
        _cache.Clear();
    }

    /// <summary>A non-owning generator: the served model's batcher, or a cached model.</summary>
    private sealed class Generator(Func<IReadOnlyList<string>, CancellationToken, Task<float[][]>>? batch, IEmbeddingGenerator<string, Embedding<float>>? shared, string model)
        : IEmbeddingGenerator<string, Embedding<float>>
    {
        private readonly EmbeddingGeneratorMetadata _metadata = new("membed-serve", null, model);

        public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
            CancellationToken cancellationToken = default)
        {
            if (shared is not null) return await shared.GenerateAsync(values, options, cancellationToken).ConfigureAwait(false);
            var vectors = await batch!(values.ToList(), cancellationToken).ConfigureAwait(false);
            return new GeneratedEmbeddings<Embedding<float>>(vectors.Select(v => new Embedding<float>(v)));
        }

        public object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceKey is null && serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata : null;

        public void Dispose() { }
    }
}
