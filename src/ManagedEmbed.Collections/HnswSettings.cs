namespace ManagedEmbed.Collections;

/// <summary>
/// A collection's HNSW parameters (ChromaDB's <c>hnsw:M</c>, <c>hnsw:construction_ef</c>, <c>hnsw:search_ef</c>
/// collection metadata, or configuration <c>max_neighbors</c>, <c>ef_construction</c>, <c>ef_search</c>). A collection
/// that has them indexes each compacted segment with an HNSW graph (approximate); one without them uses an exact
/// flat index (IVF from <see cref="CollectionOptions.IvfThreshold"/> rows). Records still in the write-ahead log are
/// always scanned exactly, and deleted segment rows are filtered out of the graph's answers until the next compaction
/// rebuilds the graph without them.
/// </summary>
/// <param name="M">Neighbours per node above level 0 (2·M at level 0); ChromaDB's default 16.</param>
/// <param name="ConstructionEf">Candidate list size while building; ChromaDB's default 100.</param>
/// <param name="SearchEf">Candidate list size while searching (at least n_results + 16 is used); ChromaDB's default 100.</param>
public sealed record HnswSettings(int M = HnswSettings.DefaultM, int ConstructionEf = HnswSettings.DefaultConstructionEf, int SearchEf = HnswSettings.DefaultSearchEf)
{
    /// <summary>ChromaDB's default <c>hnsw:M</c>.</summary>
    public const int DefaultM = 16;
    /// <summary>ChromaDB's default <c>hnsw:construction_ef</c>.</summary>
    public const int DefaultConstructionEf = 100;
    /// <summary>ChromaDB's default <c>hnsw:search_ef</c>.</summary>
    public const int DefaultSearchEf = 100;

    /// <summary>ChromaDB's collection metadata key for <see cref="M"/>.</summary>
    public const string MKey = "hnsw:M";
    /// <summary>ChromaDB's collection metadata key for <see cref="ConstructionEf"/>.</summary>
    public const string ConstructionEfKey = "hnsw:construction_ef";
    /// <summary>ChromaDB's collection metadata key for <see cref="SearchEf"/>.</summary>
    public const string SearchEfKey = "hnsw:search_ef";

    /// <summary>Throws when a parameter is out of range.</summary>
    public void Validate()
    {
        if (M is < 2 or > 4096) throw new ManagedEmbedException($"HNSW M must be in [2, 4096], got {M}");
        if (ConstructionEf is < 1 or > 1_000_000) throw new ManagedEmbedException($"HNSW construction ef must be in [1, 1000000], got {ConstructionEf}");
        if (SearchEf is < 1 or > 1_000_000) throw new ManagedEmbedException($"HNSW search ef must be in [1, 1000000], got {SearchEf}");
    }

    /// <summary>
    /// The settings named by collection metadata (<c>hnsw:M</c>, <c>hnsw:construction_ef</c>, <c>hnsw:search_ef</c>;
    /// missing ones take ChromaDB's defaults), or null when it names none of them.
    /// </summary>
    /// <exception cref="ManagedEmbedException">A key holds something other than an integer in range.</exception>
    public static HnswSettings? FromMetadata(IReadOnlyDictionary<string, MetadataValue>? metadata)
    {
        if (metadata is null) return null;
        int? m = Int(metadata, MKey), c = Int(metadata, ConstructionEfKey), s = Int(metadata, SearchEfKey);
        if (m is null && c is null && s is null) return null;
        var h = new HnswSettings(m ?? DefaultM, c ?? DefaultConstructionEf, s ?? DefaultSearchEf);
        h.Validate();
        return h;
    }

    private static int? Int(IReadOnlyDictionary<string, MetadataValue> m, string key)
    {
        if (!m.TryGetValue(key, out var v) || v.Kind == MetadataKind.Null) return null;
        if (v.Kind != MetadataKind.Integer || v.AsInteger is < 1 or > int.MaxValue)
            throw new ManagedEmbedException($"collection metadata \"{key}\" must be a positive integer, got {v}");
        return (int)v.AsInteger;
    }
}

/// <summary>
/// What ChromaDB's API knows about a collection beyond the store (recorded in the collection's MANIFEST, so a copied
/// directory keeps it): its UUID, its Chroma name (the directory name may differ), tenant and database, and the
/// embedding function configuration the client declared (raw JSON, returned as given; null when none).
/// </summary>
/// <param name="Id">ChromaDB's collection id.</param>
/// <param name="Name">ChromaDB's collection name.</param>
/// <param name="Tenant">ChromaDB's tenant.</param>
/// <param name="Database">ChromaDB's database.</param>
/// <param name="ClientEmbeddingFunction">The configuration's <c>embedding_function</c> as the client sent it (JSON), or null.</param>
public sealed record ChromaIdentity(Guid Id, string Name, string Tenant, string Database, string? ClientEmbeddingFunction);
