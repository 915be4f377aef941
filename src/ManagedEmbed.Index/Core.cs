namespace ManagedEmbed.Index;

/// <summary>How vectors are compared.</summary>
public enum Metric
{
    /// <summary>Inner product, higher is more similar (cosine on L2-normalized vectors). FAISS METRIC_INNER_PRODUCT = 0.</summary>
    InnerProduct = 0,
    /// <summary>Squared Euclidean distance, lower is more similar. FAISS METRIC_L2 = 1.</summary>
    L2 = 1,
}

/// <summary>A k-nearest-neighbour index over fixed-dimension float vectors, with FAISS conventions.</summary>
public interface IVectorIndex
{
    /// <summary>Vector dimension d.</summary>
    int Dimension { get; }
    /// <summary>Number of stored vectors.</summary>
    long Count { get; }
    /// <summary>The comparison metric.</summary>
    Metric Metric { get; }
    /// <summary>Worker threads used by batch search (≥ 1). Defaults to <see cref="Environment.ProcessorCount"/>.</summary>
    int Threads { get; set; }
    /// <summary>Appends <c>vectors.Length / Dimension</c> vectors (row-major); they get the next sequential ids.</summary>
    void Add(ReadOnlySpan<float> vectors);
    /// <summary>
    /// Finds the <paramref name="k"/> nearest stored vectors of each of the <c>queries.Length / Dimension</c> queries.
    /// </summary>
    SearchResult Search(ReadOnlySpan<float> queries, int k);
    /// <summary>
    /// Like <see cref="Search(ReadOnlySpan{float}, int)"/>, with per-call parameters: an id filter
    /// (<see cref="SearchParameters.Selector"/>: only its members are returned, as FAISS's IDSelector) and, for IVF,
    /// the number of probed lists.
    /// </summary>
    SearchResult Search(ReadOnlySpan<float> queries, int k, SearchParameters? parameters);
    /// <summary>
    /// The stored vector with id <paramref name="id"/> (FAISS reconstruct), as a view into the index that stays valid
    /// until the next <see cref="Add"/> or <see cref="Reset"/>. An IVF index needs its direct map
    /// (<see cref="IvfIndex.MakeDirectMap"/>).
    /// </summary>
    ReadOnlySpan<float> Reconstruct(long id);
    /// <summary>Removes all stored vectors (a trained IVF index stays trained).</summary>
    void Reset();
}

/// <summary>
/// Search results for a batch of queries, row-major [Count, K]. Scores follow FAISS: the inner product for
/// <see cref="Metric.InnerProduct"/> (best first = descending), the squared distance for <see cref="Metric.L2"/>
/// (ascending). Ties are broken by the lower id. Missing results have label −1 and distance −float.MaxValue (IP)
/// or +float.MaxValue (L2), as FAISS pads.
/// </summary>
public sealed class SearchResult
{
    /// <summary>Creates a result from its arrays (each of length count × k).</summary>
    public SearchResult(int count, int k, float[] distances, long[] labels)
    {
        if (count < 0 || k < 1) throw new ArgumentOutOfRangeException(nameof(count));
        if (distances.Length != (long)count * k || labels.Length != (long)count * k) throw new ArgumentException("Arrays must hold count * k entries.");
        Count = count; K = k; Distances = distances; Labels = labels;
    }

    /// <summary>Number of queries.</summary>
    public int Count { get; }
    /// <summary>Results per query.</summary>
    public int K { get; }
    /// <summary>Scores, row-major [Count, K].</summary>
    public float[] Distances { get; }
    /// <summary>Ids, row-major [Count, K]; −1 where fewer than K vectors matched.</summary>
    public long[] Labels { get; }

    /// <summary>The ids of query <paramref name="q"/>.</summary>
    public ReadOnlySpan<long> LabelsOf(int q) => Labels.AsSpan(q * K, K);
    /// <summary>The scores of query <paramref name="q"/>.</summary>
    public ReadOnlySpan<float> DistancesOf(int q) => Distances.AsSpan(q * K, K);
}

/// <summary>
/// Which ids a search may return (FAISS IDSelector). The scan asks only about vectors that would enter the top-k, so
/// a selector costs nothing for the bulk of rejected rows; it must be thread-safe (batch searches run in parallel).
/// </summary>
public interface IIdSelector
{
    /// <summary>True when <paramref name="id"/> may be returned.</summary>
    bool IsMember(long id);
}

/// <summary>Selects the ids whose entry in a bitmap is true (FAISS IDSelectorBitmap); ids beyond it are not members.</summary>
public sealed class IdSelectorBitmap(bool[] bitmap) : IIdSelector
{
    private readonly bool[] _bitmap = bitmap ?? throw new ArgumentNullException(nameof(bitmap));

    /// <inheritdoc/>
    public bool IsMember(long id) => (ulong)id < (ulong)_bitmap.Length && _bitmap[id];
}

/// <summary>Selects the ids a predicate accepts; the predicate must be thread-safe.</summary>
public sealed class IdSelectorPredicate(Func<long, bool> predicate) : IIdSelector
{
    private readonly Func<long, bool> _predicate = predicate ?? throw new ArgumentNullException(nameof(predicate));

    /// <inheritdoc/>
    public bool IsMember(long id) => _predicate(id);
}

/// <summary>Per-call search options (FAISS SearchParameters).</summary>
public class SearchParameters
{
    /// <summary>When set, only ids it selects are returned; fewer than k results are padded as usual.</summary>
    public IIdSelector? Selector { get; init; }
}

/// <summary>Per-call search options of an <see cref="IvfIndex"/> (FAISS SearchParametersIVF).</summary>
public sealed class IvfSearchParameters : SearchParameters
{
    /// <summary>Lists probed by this call (clamped to nlist); null uses <see cref="IvfIndex.Nprobe"/>.</summary>
    public int? Nprobe { get; init; }
}
