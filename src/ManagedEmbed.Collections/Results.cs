namespace ManagedEmbed.Collections;

/// <summary>Which fields Get/Query return (ChromaDB's <c>include</c>).</summary>
[Flags]
public enum Include
{
    /// <summary>Ids only.</summary>
    None = 0,
    /// <summary>Documents.</summary>
    Documents = 1,
    /// <summary>Metadata dictionaries.</summary>
    Metadatas = 2,
    /// <summary>Embeddings (unit-normalized in cosine collections).</summary>
    Embeddings = 4,
    /// <summary>Distances (Query only).</summary>
    Distances = 8,
}

/// <summary>Result of <see cref="Collection.Get"/>/<see cref="Collection.Peek"/>: parallel lists, one entry per record.</summary>
public sealed class GetResult
{
    /// <summary>Record ids.</summary>
    public required IReadOnlyList<string> Ids { get; init; }
    /// <summary>Documents (null entries for records without one); null when not included.</summary>
    public IReadOnlyList<string?>? Documents { get; init; }
    /// <summary>Metadata (null entries for records without any); null when not included.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, MetadataValue>?>? Metadatas { get; init; }
    /// <summary>Embeddings; null when not included.</summary>
    public IReadOnlyList<float[]>? Embeddings { get; init; }
}

/// <summary>Result of <see cref="Collection.Query"/>: one list per query, best match first.</summary>
public sealed class QueryResult
{
    /// <summary>Ids per query.</summary>
    public required IReadOnlyList<IReadOnlyList<string>> Ids { get; init; }
    /// <summary>Documents per query; null when not included.</summary>
    public IReadOnlyList<IReadOnlyList<string?>>? Documents { get; init; }
    /// <summary>Metadata per query; null when not included.</summary>
    public IReadOnlyList<IReadOnlyList<IReadOnlyDictionary<string, MetadataValue>?>>? Metadatas { get; init; }
    /// <summary>Distances per query (ChromaDB convention: cosine 1−cos, ip 1−dot, l2 squared L2); null when not included.</summary>
    public IReadOnlyList<IReadOnlyList<float>>? Distances { get; init; }
    /// <summary>Embeddings per query; null when not included.</summary>
    public IReadOnlyList<IReadOnlyList<float[]>>? Embeddings { get; init; }
}

/// <summary>Tuning knobs of a store; the defaults suit most uses.</summary>
public sealed class CollectionOptions
{
    /// <summary>Compaction runs when the WAL holds at least this many bytes… (default 64 MiB).</summary>
    public long CompactionMinWalBytes { get; init; } = 64L << 20;
    /// <summary>…and at least this fraction of the live segment's size (default 1.0: geometric growth, amortized O(1) rewrite).</summary>
    public double CompactionRatio { get; init; } = 1.0;
    /// <summary>A compacted segment gets an IVF index when it holds at least this many records, else a flat index (default 100,000).</summary>
    public int IvfThreshold { get; init; } = 100_000;
    /// <summary>IVF lists probed per query; 0 = ⌈nlist/16⌉ (default). Set it to a large value for exact IVF search.</summary>
    public int IvfNprobe { get; init; }
    /// <summary>Filtered queries scan the matching records exactly when they are at most this fraction of the live records (default 0.25).</summary>
    public double PrefilterMaxFraction { get; init; } = 0.25;
    /// <summary>
    /// Wait after the first failed automatic compaction before the next write may start another (default 1 s); the
    /// wait doubles after each further failure up to <see cref="CompactionMaxRetryDelay"/> and resets on success.
    /// </summary>
    public TimeSpan CompactionRetryDelay { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Upper bound of the automatic compaction retry wait (default 5 minutes).</summary>
    public TimeSpan CompactionMaxRetryDelay { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>
    /// Turns the model ids that collections record into embedding generators (the store itself loads no models).
    /// Null: collections with a model can still be read, and queried or written with explicit embeddings.
    /// </summary>
    public IEmbeddingFunctionResolver? EmbeddingFunctionResolver { get; init; }
    /// <summary>Test seam: the durable file operations (write, fsync, rename, directory fsync) the store uses.</summary>
    internal IFileOps FileOps { get; init; } = RealFileOps.Instance;
    /// <summary>Default options.</summary>
    public static CollectionOptions Default { get; } = new();

    /// <summary>A copy of these options with another <see cref="EmbeddingFunctionResolver"/> (a host wrapping the user's).</summary>
    public CollectionOptions WithEmbeddingFunctionResolver(IEmbeddingFunctionResolver? resolver) => new()
    {
        CompactionMinWalBytes = CompactionMinWalBytes, CompactionRatio = CompactionRatio, IvfThreshold = IvfThreshold, IvfNprobe = IvfNprobe,
        PrefilterMaxFraction = PrefilterMaxFraction, CompactionRetryDelay = CompactionRetryDelay, CompactionMaxRetryDelay = CompactionMaxRetryDelay,
        EmbeddingFunctionResolver = resolver, FileOps = FileOps,
    };
}
