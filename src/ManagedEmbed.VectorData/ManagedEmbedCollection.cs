using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using ManagedEmbed.Collections;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;
using Microsoft.Extensions.VectorData.ProviderServices;

namespace ManagedEmbed.VectorData;

#pragma warning disable MEVD9001 // the abstraction's provider-services types are marked experimental

/// <summary>
/// A membed collection as a <see cref="VectorStoreCollection{TKey, TRecord}"/>. The key becomes the row id (string, Guid,
/// int or long keys), data properties become metadata (string, int, long, float, double, bool), the one vector property
/// becomes the embedding. A string vector property is embedded by the configured generator and kept as the row's
/// document. Distance functions: CosineSimilarity (default; vectors are stored unit-normalized, so
/// <c>IncludeVectors</c> returns the normalized vector), CosineDistance, DotProductSimilarity, EuclideanDistance and
/// EuclideanSquaredDistance. Store errors surface as <see cref="VectorStoreException"/>; a vector whose length differs
/// from the definition's dimensions is an <see cref="ArgumentException"/> and writes nothing.
/// </summary>
/// <typeparam name="TKey">The key type.</typeparam>
/// <typeparam name="TRecord">The record type.</typeparam>
public class ManagedEmbedCollection<TKey, TRecord> : VectorStoreCollection<TKey, TRecord>
    where TKey : notnull
    where TRecord : class
{
    private readonly CollectionStore _store;
    private readonly CollectionModel _model;
    private readonly VectorPropertyModel _vector;
    private readonly DistanceSpace _space;
    private readonly string _distance;
    private readonly bool _textVector;
    private readonly VectorStoreCollectionMetadata _metadata;

    /// <summary>Opens the collection <paramref name="name"/> of <paramref name="store"/> for records of type <typeparamref name="TRecord"/>.</summary>
    /// <param name="store">The collection store.</param>
    /// <param name="name">The collection name (1-63 characters of A-Z a-z 0-9 . _ - starting with a letter or digit).</param>
    /// <param name="definition">The record definition; null: read from <typeparamref name="TRecord"/>'s attributes.</param>
    /// <param name="embeddingGenerator">Embeds string vector properties and string search values.</param>
    [RequiresDynamicCode("Maps TRecord by reflection, which NativeAOT cannot do; use ManagedEmbedDynamicCollection (Dictionary<string, object?> records) instead.")]
    [RequiresUnreferencedCode("Maps TRecord by reflection, which trimming can break; use ManagedEmbedDynamicCollection (Dictionary<string, object?> records) instead.")]
    public ManagedEmbedCollection(CollectionStore store, string name, VectorStoreCollectionDefinition? definition = null, IEmbeddingGenerator? embeddingGenerator = null)
        : this(store, name, typeof(TRecord) == typeof(Dictionary<string, object?>)
            ? throw new NotSupportedException("use ManagedEmbedDynamicCollection for Dictionary<string, object?> records")
            : new ModelBuilder().Build(typeof(TRecord), typeof(TKey), definition, embeddingGenerator))
    {
    }

    internal ManagedEmbedCollection(CollectionStore store, string name, CollectionModel model)
    {
        ArgumentNullException.ThrowIfNull(store);
        try { CollectionStore.ValidateName(name); }
        catch (ManagedEmbedException e) { throw new ArgumentException(e.Message, nameof(name)); }
        _store = store;
        Name = name;
        _model = model;
        _vector = model.VectorProperty;
        _textVector = !ModelBuilder.IsNativeVector(_vector.Type, out _);
        if (_textVector && _vector.Type != typeof(string))
            throw new NotSupportedException($"vector property '{_vector.ModelName}' has type {_vector.Type.Name}; supported: {ModelBuilder.SupportedVectorTypes}");
        _distance = _vector.DistanceFunction ?? DistanceFunction.CosineSimilarity;
        _space = _distance switch
        {
            DistanceFunction.CosineSimilarity or DistanceFunction.CosineDistance => DistanceSpace.Cosine,
            DistanceFunction.DotProductSimilarity => DistanceSpace.InnerProduct,
            DistanceFunction.EuclideanDistance or DistanceFunction.EuclideanSquaredDistance => DistanceSpace.L2,
            _ => throw new NotSupportedException($"distance function '{_distance}' of vector property '{_vector.ModelName}' is not supported; supported: CosineSimilarity, CosineDistance, DotProductSimilarity, EuclideanDistance, EuclideanSquaredDistance"),
        };
        if (_vector.IndexKind is { } kind && kind != IndexKind.Flat && kind != IndexKind.IvfFlat && kind != IndexKind.Dynamic)
            throw new NotSupportedException($"index kind '{kind}' of vector property '{_vector.ModelName}' is not supported; supported: Flat, IvfFlat (the store picks flat or IVF by size)");
        _metadata = new VectorStoreCollectionMetadata { VectorStoreSystemName = ManagedEmbedVectorStore.SystemName, VectorStoreName = store.Root, CollectionName = name };
    }

    /// <inheritdoc/>
    public override string Name { get; }

    // ------------------------------------------------------------------ collection lifecycle

    /// <inheritdoc/>
    public override Task<bool> CollectionExistsAsync(CancellationToken cancellationToken = default) => Task.FromResult(Errors.Exists(_store, Name));

    /// <inheritdoc/>
    public override Task EnsureCollectionExistsAsync(CancellationToken cancellationToken = default)
    {
        Collection c;
        try { c = _store.GetOrCreateCollection(Name, _space); }
        catch (ManagedEmbedException e) { throw Errors.Wrap(e, _store, Name, "EnsureCollectionExists"); }
        CheckSchema(c, "EnsureCollectionExists");
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public override Task EnsureCollectionDeletedAsync(CancellationToken cancellationToken = default)
    {
        Errors.DeleteIfExists(_store, Name);
        return Task.CompletedTask;
    }

    private Collection Open(string operation)
    {
        Collection c;
        try { c = _store.GetCollection(Name); }
        catch (ManagedEmbedException e) { throw Errors.Wrap(e, _store, Name, operation); }
        CheckSchema(c, operation);
        return c;
    }

    private void CheckSchema(Collection c, string operation)
    {
        if (c.Space != _space)
            throw Errors.Wrap(new ManagedEmbedException($"collection '{Name}' uses the {c.Space} space; the record definition's distance function {_distance} needs {_space}"), _store, Name, operation);
        int dim = c.Dimension;
        if (dim != 0 && dim != _vector.Dimensions)
            throw Errors.Wrap(new ManagedEmbedException($"collection '{Name}' holds {dim}-dimensional vectors; the record definition says {_vector.Dimensions}"), _store, Name, operation);
    }

    private T Run<T>(string operation, Func<T> f)
    {
        try { return f(); }
        catch (ManagedEmbedException e) { throw Errors.Wrap(e, _store, Name, operation); }
    }

    // ------------------------------------------------------------------ reads

    /// <inheritdoc/>
    public override Task<TRecord?> GetAsync(TKey key, RecordRetrievalOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        bool vectors = IncludeVectors(options?.IncludeVectors ?? false);
        var c = Open("Get");
        var r = Run("Get", () => c.Get(ids: [KeyToId(key)], include: Includes(vectors)));
        return Task.FromResult(r.Ids.Count == 0 ? null : ToRecord(r.Ids[0], r.Documents![0], r.Metadatas![0], vectors ? r.Embeddings![0] : null));
    }

    /// <inheritdoc/>
    public override async IAsyncEnumerable<TRecord> GetAsync(IEnumerable<TKey> keys, RecordRetrievalOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        bool vectors = IncludeVectors(options?.IncludeVectors ?? false);
        var ids = keys.Select(k => KeyToId(k)).ToList();
        if (ids.Count == 0) yield break;
        var c = Open("GetBatch");
        var r = Run("GetBatch", () => c.Get(ids: ids, include: Includes(vectors)));
        for (int i = 0; i < r.Ids.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return ToRecord(r.Ids[i], r.Documents![i], r.Metadatas![i], vectors ? r.Embeddings![i] : null);
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public override async IAsyncEnumerable<TRecord> GetAsync(Expression<Func<TRecord, bool>> filter, int top,
        FilteredRecordRetrievalOptions<TRecord>? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        options ??= new();
        ArgumentOutOfRangeException.ThrowIfNegative(options.Skip);
        if (options.OrderBy is not null) throw new NotSupportedException("GetAsync with OrderBy is not supported; records come in insertion order");
        bool vectors = IncludeVectors(options.IncludeVectors);
        var where = new FilterTranslator().Translate(filter, _model);
        var c = Open("GetFiltered");
        var r = Run("GetFiltered", () => c.Get(where: where, limit: top, offset: options.Skip, include: Includes(vectors)));
        for (int i = 0; i < r.Ids.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return ToRecord(r.Ids[i], r.Documents![i], r.Metadatas![i], vectors ? r.Embeddings![i] : null);
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    private bool IncludeVectors(bool requested)
    {
        if (requested && _model.EmbeddingGenerationRequired)
            throw new NotSupportedException(VectorDataStrings.IncludeVectorsNotSupportedWithEmbeddingGeneration);
        return requested;
    }

    private static Include Includes(bool vectors) => Include.Documents | Include.Metadatas | (vectors ? Include.Embeddings : 0);

    // ------------------------------------------------------------------ writes

    /// <inheritdoc/>
    public override Task UpsertAsync(TRecord record, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        return UpsertAsync([record], cancellationToken);
    }

    /// <inheritdoc/>
    public override async Task UpsertAsync(IEnumerable<TRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        var list = records.ToList();
        if (list.Count == 0) return;
        foreach (var r in list) ArgumentNullException.ThrowIfNull(r, nameof(records));

        float[][] vectors = new float[list.Count][];
        string?[]? texts = null;
        if (_textVector)
        {
            texts = new string?[list.Count];
            for (int i = 0; i < list.Count; i++)
                texts[i] = _vector.GetValueAsObject(list[i]) as string
                    ?? throw new ArgumentException($"vector property '{_vector.ModelName}' of record {i} is null; it needs the text to embed", nameof(records));
            var embeddings = await _vector.GenerateEmbeddingsAsync(texts!, cancellationToken).ConfigureAwait(false);
            for (int i = 0; i < list.Count; i++)
                vectors[i] = embeddings[i] is Embedding<float> e ? e.Vector.ToArray()
                    : throw new InvalidOperationException($"the embedding generator of vector property '{_vector.ModelName}' did not produce Embedding<float>");
        }
        else
        {
            for (int i = 0; i < list.Count; i++)
                vectors[i] = ToVector(_vector.GetValueAsObject(list[i]))
                    ?? throw new ArgumentException($"vector property '{_vector.ModelName}' of record {i} is null", nameof(records));
        }
        for (int i = 0; i < list.Count; i++) CheckDimensions(vectors[i], $"vector property '{_vector.ModelName}' of record {i}");

        var keyProp = _model.KeyProperty;
        // Within one batch the last record of a key wins (the store rejects a key twice in one write).
        var slot = new Dictionary<string, int>(StringComparer.Ordinal);
        var ids = new List<string>(list.Count);
        var metas = new List<IReadOnlyDictionary<string, MetadataValue>?>(list.Count);
        var docs = new List<string?>(list.Count);
        var vecs = new List<float[]>(list.Count);
        for (int i = 0; i < list.Count; i++)
        {
            var rec = list[i];
            object? key = keyProp.GetValueAsObject(rec);
            if (keyProp.IsAutoGenerated && (key is null || (key is Guid g && g == Guid.Empty)))
            {
                key = Guid.NewGuid();
                keyProp.SetValueAsObject(rec, key);
            }
            string id = KeyToId(key ?? throw new ArgumentException($"key property '{keyProp.ModelName}' of record {i} is null", nameof(records)));
            var meta = new Dictionary<string, MetadataValue>(StringComparer.Ordinal);
            foreach (var dp in _model.DataProperties)
                meta[dp.StorageName] = ToMetadata(dp.GetValueAsObject(rec), dp);
            if (slot.TryGetValue(id, out int at))
            {
                metas[at] = meta; docs[at] = texts?[i]; vecs[at] = vectors[i];
                continue;
            }
            slot[id] = ids.Count;
            ids.Add(id); metas.Add(meta); docs.Add(texts?[i]); vecs.Add(vectors[i]);
        }
        var c = Open("Upsert");
        Run("Upsert", () => { c.Upsert(ids, _textVector ? docs : null, metas, vecs); return 0; });
    }

    /// <inheritdoc/>
    public override Task DeleteAsync(TKey key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        return DeleteAsync([key], cancellationToken);
    }

    /// <inheritdoc/>
    public override Task DeleteAsync(IEnumerable<TKey> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var ids = keys.Select(k => KeyToId(k)).Distinct(StringComparer.Ordinal).ToList();
        if (ids.Count == 0) return Task.CompletedTask;
        var c = Open("Delete");
        Run("Delete", () => c.Delete(ids: ids));
        return Task.CompletedTask;
    }

    // ------------------------------------------------------------------ search

    /// <inheritdoc/>
    public override async IAsyncEnumerable<VectorSearchResult<TRecord>> SearchAsync<TInput>(TInput searchValue, int top,
        VectorSearchOptions<TRecord>? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(searchValue);
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        options ??= new();
        ArgumentOutOfRangeException.ThrowIfNegative(options.Skip);
        bool vectors = IncludeVectors(options.IncludeVectors);
        if (options.VectorProperty is not null) _model.GetVectorPropertyOrSingle(options); // validates the selector
        float[] query = searchValue switch
        {
            ReadOnlyMemory<float> m => m.ToArray(),
            float[] f => (float[])f.Clone(),
            Embedding<float> e => e.Vector.ToArray(),
            _ when _vector.EmbeddingGenerator is IEmbeddingGenerator<TInput, Embedding<float>> g
                => (await g.GenerateVectorAsync(searchValue, cancellationToken: cancellationToken).ConfigureAwait(false)).ToArray(),
            _ => _vector.EmbeddingGenerator is null
                ? throw new NotSupportedException(VectorDataStrings.InvalidSearchInputAndNoEmbeddingGeneratorWasConfigured(searchValue.GetType(), ModelBuilder.SupportedVectorTypes))
                : throw new InvalidOperationException(VectorDataStrings.IncompatibleEmbeddingGeneratorWasConfiguredForInputType(typeof(TInput), _vector.EmbeddingGenerator.GetType())),
        };
        CheckDimensions(query, "the search vector");
        var where = options.Filter is null ? null : new FilterTranslator().Translate(options.Filter, _model);
        int n = checked(top + options.Skip);
        var c = Open("Search");
        var r = Run("Search", () => c.Query(queryEmbeddings: [query], nResults: n, where: where,
            include: Includes(vectors) | Include.Distances));
        var ids = r.Ids[0];
        for (int i = options.Skip; i < ids.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double score = Score(r.Distances![0][i]);
            if (options.ScoreThreshold is { } t && (IsSimilarity ? score < t : score > t)) yield break; // results come best first
            yield return new VectorSearchResult<TRecord>(
                ToRecord(ids[i], r.Documents![0][i], r.Metadatas![0][i], vectors ? r.Embeddings![0][i] : null), score);
        }
    }

    private bool IsSimilarity => _distance is DistanceFunction.CosineSimilarity or DistanceFunction.DotProductSimilarity;

    /// <summary>The abstraction's score from the store's distance (cosine: 1 − cos; ip: 1 − dot; l2: squared Euclidean).</summary>
    private double Score(float d) => _distance switch
    {
        DistanceFunction.CosineSimilarity or DistanceFunction.DotProductSimilarity => 1.0 - d,
        DistanceFunction.EuclideanDistance => Math.Sqrt(Math.Max(0, d)),
        _ => d,
    };

    // ------------------------------------------------------------------ mapping

    private void CheckDimensions(float[] v, string what)
    {
        if (v.Length != _vector.Dimensions)
            throw new ArgumentException($"{what} has {v.Length} dimensions; the record definition of collection '{Name}' says {_vector.Dimensions}");
    }

    private static float[]? ToVector(object? value) => value switch
    {
        null => null,
        ReadOnlyMemory<float> m => m.ToArray(),
        float[] f => f,
        Embedding<float> e => e.Vector.ToArray(),
        _ => throw new NotSupportedException($"vector value of type {value.GetType().Name} is not supported; supported: {ModelBuilder.SupportedVectorTypes}"),
    };

    private static string KeyToId(object key) => key switch
    {
        string s => s,
        Guid g => g.ToString("D"),
        int i => i.ToString(CultureInfo.InvariantCulture),
        long l => l.ToString(CultureInfo.InvariantCulture),
        _ => throw new NotSupportedException($"key of type {key.GetType().Name} is not supported; supported: string, Guid, int, long"),
    };

    private object IdToKey(string id)
    {
        var t = _model.KeyProperty.Type;
        try
        {
            if (t == typeof(Guid)) return Guid.ParseExact(id, "D");
            if (t == typeof(int)) return int.Parse(id, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            if (t == typeof(long)) return long.Parse(id, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        }
        catch (FormatException) { throw new VectorStoreException($"collection '{Name}' holds id '{id}', which is not a {t.Name} key") { CollectionName = Name, VectorStoreSystemName = ManagedEmbedVectorStore.SystemName }; }
        catch (OverflowException) { throw new VectorStoreException($"collection '{Name}' holds id '{id}', which is not a {t.Name} key") { CollectionName = Name, VectorStoreSystemName = ManagedEmbedVectorStore.SystemName }; }
        return id;
    }

    private static MetadataValue ToMetadata(object? v, PropertyModel p) => v switch
    {
        // Null removes the key from the stored metadata (upsert merges metadata).
        null => MetadataValue.Null,
        string s => MetadataValue.From(s),
        bool b => MetadataValue.From(b),
        int i => MetadataValue.From((long)i),
        long l => MetadataValue.From(l),
        float f => float.IsFinite(f) ? MetadataValue.From((double)f) : throw NotFinite(p),
        double d => double.IsFinite(d) ? MetadataValue.From(d) : throw NotFinite(p),
        _ => throw new NotSupportedException($"data property '{p.ModelName}' holds a {v.GetType().Name}; supported: string, int, long, float, double, bool"),
    };

    private static ArgumentException NotFinite(PropertyModel p) => new($"data property '{p.ModelName}' is NaN or infinite; the store keeps finite numbers only");

    private static object? FromMetadata(MetadataValue v, Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(string)) return v.Kind == MetadataKind.String ? v.AsString : v.ToString();
        if (t == typeof(bool)) return v.AsBool;
        if (t == typeof(int)) return checked((int)(v.Kind == MetadataKind.Integer ? v.AsInteger : (long)v.AsNumber));
        if (t == typeof(long)) return v.Kind == MetadataKind.Integer ? v.AsInteger : (long)v.AsNumber;
        if (t == typeof(float)) return (float)v.AsNumber;
        return v.AsNumber;
    }

    private TRecord ToRecord(string id, string? document, IReadOnlyDictionary<string, MetadataValue>? meta, float[]? vector)
    {
        var rec = _model.CreateRecord<TRecord>();
        var dynamic = rec as Dictionary<string, object?>;
        _model.KeyProperty.SetValueAsObject(rec, IdToKey(id));
        foreach (var dp in _model.DataProperties)
        {
            if (meta is not null && meta.TryGetValue(dp.StorageName, out var v)) dp.SetValueAsObject(rec, FromMetadata(v, dp.Type));
            else if (dynamic is not null) dynamic[dp.ModelName] = null;
        }
        if (_textVector) _vector.SetValueAsObject(rec, document);
        else if (vector is not null)
        {
            var t = _vector.Type;
            object value = t == typeof(float[]) ? vector : t == typeof(Embedding<float>) ? new Embedding<float>(vector) : new ReadOnlyMemory<float>(vector);
            _vector.SetValueAsObject(rec, value);
        }
        return rec;
    }

    /// <inheritdoc/>
    public override object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(VectorStoreCollectionMetadata) ? _metadata
            : serviceType == typeof(CollectionStore) ? _store
            : serviceType.IsInstanceOfType(this) ? this
            : null;
    }
}

/// <summary>
/// A membed collection of <c>Dictionary&lt;string, object?&gt;</c> records described by a
/// <see cref="VectorStoreCollectionDefinition"/>: the NativeAOT- and trimming-safe route (no reflection over record types).
/// </summary>
public sealed class ManagedEmbedDynamicCollection : ManagedEmbedCollection<object, Dictionary<string, object?>>
{
    /// <summary>Opens the collection <paramref name="name"/> of <paramref name="store"/> with the schema <paramref name="definition"/>.</summary>
    public ManagedEmbedDynamicCollection(CollectionStore store, string name, VectorStoreCollectionDefinition definition, IEmbeddingGenerator? embeddingGenerator = null)
        : base(store, name, new ModelBuilder().BuildDynamic(definition ?? throw new ArgumentNullException(nameof(definition)), embeddingGenerator))
    {
    }
}
