using Microsoft.Extensions.VectorData;

namespace ManagedEmbed.VectorData.Tests;

public sealed class Hotel
{
    [VectorStoreKey] public string Id { get; set; } = "";
    [VectorStoreData] public string Name { get; set; } = "";
    [VectorStoreData] public int Rating { get; set; }
    [VectorStoreData] public double Price { get; set; }
    [VectorStoreData] public bool Open { get; set; }
    [VectorStoreData(StorageName = "tag")] public string? Tag { get; set; }
    [VectorStoreVector(4, DistanceFunction = DistanceFunction.CosineSimilarity)] public ReadOnlyMemory<float> Embedding { get; set; }
}

/// <summary>The same schema with 8 dimensions: opening a 4-dimensional collection with it must fail.</summary>
public sealed class WideHotel
{
    [VectorStoreKey] public string Id { get; set; } = "";
    [VectorStoreData] public string Name { get; set; } = "";
    [VectorStoreVector(8)] public ReadOnlyMemory<float> Embedding { get; set; }
}

public sealed class DotRecord
{
    [VectorStoreKey] public int Id { get; set; }
    [VectorStoreData] public long Big { get; set; }
    [VectorStoreData] public float Ratio { get; set; }
    [VectorStoreVector(4, DistanceFunction = DistanceFunction.DotProductSimilarity)] public float[]? Embedding { get; set; }
}

public sealed class EuclidRecord
{
    [VectorStoreKey] public Guid Id { get; set; }
    [VectorStoreVector(4, DistanceFunction = DistanceFunction.EuclideanDistance)] public ReadOnlyMemory<float> Embedding { get; set; }
}

public sealed class HammingRecord
{
    [VectorStoreKey] public string Id { get; set; } = "";
    [VectorStoreVector(4, DistanceFunction = DistanceFunction.HammingDistance)] public ReadOnlyMemory<float> Embedding { get; set; }
}

public sealed class Sentence
{
    [VectorStoreKey] public string Id { get; set; } = "";
    [VectorStoreData] public string Source { get; set; } = "";
    /// <summary>Embedded by the store's generator on upsert; kept as the row's document.</summary>
    [VectorStoreVector(384)] public string Text { get; set; } = "";
}
