using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using ManagedEmbed.Collections;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;

namespace ManagedEmbed.VectorData;

/// <summary>Options of a <see cref="ManagedEmbedVectorStore"/>.</summary>
public sealed class ManagedEmbedVectorStoreOptions
{
    /// <summary>
    /// Embeds text for collections whose vector property is a string (embedding generated on upsert) and for
    /// <c>SearchAsync</c> with a string; null: vectors must be given.
    /// </summary>
    public IEmbeddingGenerator? EmbeddingGenerator { get; set; }
}

/// <summary>
/// membed's persistent collections (<see cref="CollectionStore"/>) as a Microsoft.Extensions.VectorData
/// <see cref="VectorStore"/>: one store directory, one collection per name. The store loads no models; text is embedded
/// by the configured <see cref="ManagedEmbedVectorStoreOptions.EmbeddingGenerator"/>.
/// </summary>
public sealed class ManagedEmbedVectorStore : VectorStore
{
    internal const string SystemName = "managedembed";
    private readonly CollectionStore _store;
    private readonly bool _ownsStore;
    private readonly IEmbeddingGenerator? _generator;
    private readonly VectorStoreMetadata _metadata;

    /// <summary>Opens (creating if missing) the collection store at <paramref name="path"/>; disposing this store closes it.</summary>
    public ManagedEmbedVectorStore(string path, ManagedEmbedVectorStoreOptions? options = null)
        : this(CollectionStore.Open(path), options, ownsStore: true) { }

    /// <summary>Wraps an open collection store; the caller keeps ownership of <paramref name="store"/>.</summary>
    public ManagedEmbedVectorStore(CollectionStore store, ManagedEmbedVectorStoreOptions? options = null)
        : this(store, options, ownsStore: false) { }

    private ManagedEmbedVectorStore(CollectionStore store, ManagedEmbedVectorStoreOptions? options, bool ownsStore)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _ownsStore = ownsStore;
        _generator = options?.EmbeddingGenerator;
        _metadata = new VectorStoreMetadata { VectorStoreSystemName = SystemName, VectorStoreName = store.Root };
    }

    /// <summary>The underlying collection store.</summary>
    public CollectionStore Store => _store;

    /// <inheritdoc/>
    [RequiresDynamicCode("Maps TRecord by reflection, which NativeAOT cannot do; use GetDynamicCollection (Dictionary<string, object?> records) instead.")]
    [RequiresUnreferencedCode("Maps TRecord by reflection, which trimming can break; use GetDynamicCollection (Dictionary<string, object?> records) instead.")]
    public override ManagedEmbedCollection<TKey, TRecord> GetCollection<TKey, TRecord>(string name, VectorStoreCollectionDefinition? definition = null)
        => typeof(TRecord) == typeof(Dictionary<string, object?>)
            ? throw new ArgumentException("use GetDynamicCollection for Dictionary<string, object?> records")
            : new ManagedEmbedCollection<TKey, TRecord>(_store, name, definition, _generator);

    /// <inheritdoc/>
    public override ManagedEmbedDynamicCollection GetDynamicCollection(string name, VectorStoreCollectionDefinition definition)
        => new(_store, name, definition, _generator);

    /// <inheritdoc/>
    public override async IAsyncEnumerable<string> ListCollectionNamesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        IReadOnlyList<string> names;
        try { names = _store.ListCollections(); }
        catch (ManagedEmbedException e) { throw Errors.Wrap(e, _store, null, "ListCollectionNames"); }
        foreach (var n in names)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return n;
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public override Task<bool> CollectionExistsAsync(string name, CancellationToken cancellationToken = default)
        => Task.FromResult(Errors.Exists(_store, name));

    /// <inheritdoc/>
    public override Task EnsureCollectionDeletedAsync(string name, CancellationToken cancellationToken = default)
    {
        Errors.DeleteIfExists(_store, name);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public override object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(VectorStoreMetadata) ? _metadata
            : serviceType == typeof(CollectionStore) ? _store
            : serviceType.IsInstanceOfType(this) ? this
            : null;
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing && _ownsStore) _store.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>Store calls shared by the store and its collections, with errors turned into <see cref="VectorStoreException"/>.</summary>
internal static class Errors
{
    public static VectorStoreException Wrap(Exception e, CollectionStore store, string? collection, string operation) =>
        new($"{operation} failed: {e.Message}", e)
        {
            VectorStoreSystemName = ManagedEmbedVectorStore.SystemName,
            VectorStoreName = store.Root,
            CollectionName = collection,
            OperationName = operation,
        };

    public static bool Exists(CollectionStore store, string name)
    {
        try { return store.ListCollections().Contains(name, StringComparer.Ordinal); }
        catch (ManagedEmbedException e) { throw Wrap(e, store, name, "CollectionExists"); }
    }

    public static void DeleteIfExists(CollectionStore store, string name)
    {
        try { if (store.ListCollections().Contains(name, StringComparer.Ordinal)) store.DeleteCollection(name); }
        catch (ManagedEmbedException e) { throw Wrap(e, store, name, "EnsureCollectionDeleted"); }
    }
}
