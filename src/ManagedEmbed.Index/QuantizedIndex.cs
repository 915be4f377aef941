using ManagedEmbed.Kernels;

namespace ManagedEmbed.Index;

/// <summary>The first pass of a <see cref="QuantizedIndex"/> search.</summary>
public enum QuantizedFirstPass
{
    /// <summary>Hamming distance between the query's sign bits and the documents' (ubinary codes, dim / 8 bytes).</summary>
    Binary,
    /// <summary>int8·int8 dot product of the query quantized with the index's ranges and the documents' int8 codes.</summary>
    Int8,
}

/// <summary>What a <see cref="QuantizedIndex"/> rescores the first pass's candidates with.</summary>
public enum QuantizedRescore
{
    /// <summary>Float query · dequantized int8 documents (dim bytes per document).</summary>
    Int8,
    /// <summary>Float query · the original float documents (dim × 4 bytes per document, kept in memory).</summary>
    Float32,
    /// <summary>No rescoring: the first pass's order and scores (Hamming distances are returned negated).</summary>
    None,
}

/// <summary>
/// Inner-product search over quantized embeddings with rescoring, the recipe of sentence-transformers'
/// <c>semantic_search_faiss</c>: a cheap first pass over the whole corpus (binary Hamming or int8 dot) keeps
/// <c>k × rescoreMultiplier</c> candidates, which are rescored with the float query and the top k returned.
/// </summary>
/// <remarks>
/// int8 rescoring dequantizes each document to bucket centres, <c>x̂ = min + (code + 128 + ½) · step</c>, so the
/// score approximates the float inner product: <c>q·x̂ = Σ q·(min + 128.5·step) + Σ (q·step)·code</c>, one
/// float·int8 dot product per candidate. (sentence-transformers' own helper multiplies the float query with the raw
/// codes; dequantizing keeps the scores comparable to cosine and weights every dimension by its bucket width.)
/// Ties keep the lower id, as everywhere in the index library (the one top-k, <see cref="TopKHeap"/>).
/// </remarks>
public sealed class QuantizedIndex
{
    private readonly byte[]? _binary;
    private readonly sbyte[]? _int8;
    private readonly float[]? _float;
    private readonly QuantizationRanges? _ranges;
    private readonly float[]? _steps;

    /// <summary>The dimension of the float embeddings.</summary>
    public int Dimension { get; }
    /// <summary>Number of documents.</summary>
    public int Count { get; }
    /// <summary>The first pass.</summary>
    public QuantizedFirstPass FirstPass { get; }
    /// <summary>The rescoring.</summary>
    public QuantizedRescore Rescore { get; }
    /// <summary>The int8 ranges (null for a binary first pass without int8 rescoring).</summary>
    public QuantizationRanges? Ranges => _ranges;
    /// <summary>Worker threads of batch search (≥ 1).</summary>
    public int Threads { get; set; } = Environment.ProcessorCount;

    /// <summary>Bytes held per document: the first pass's codes plus the rescoring's (int8 codes shared by both).</summary>
    public int BytesPerVector =>
        (_binary is null ? 0 : Dimension / 8) + (_int8 is null ? 0 : Dimension) + (_float is null ? 0 : Dimension * 4);

    /// <summary>
    /// Builds the index over <paramref name="corpus"/> (row-major, <paramref name="dimension"/> wide, normalized when
    /// inner product should mean cosine). int8 codes use <paramref name="ranges"/>, else ranges calibrated on the corpus.
    /// </summary>
    public QuantizedIndex(ReadOnlySpan<float> corpus, int dimension, QuantizedFirstPass firstPass, QuantizedRescore rescore = QuantizedRescore.Int8, QuantizationRanges? ranges = null)
    {
        Count = EmbeddingQuantizer.Rows(corpus, dimension);
        Dimension = dimension;
        FirstPass = firstPass;
        Rescore = rescore;
        if (firstPass == QuantizedFirstPass.Binary)
            _binary = EmbeddingQuantizer.Quantize(corpus, dimension, EmbeddingPrecision.UBinary);
        if (firstPass == QuantizedFirstPass.Int8 || rescore == QuantizedRescore.Int8)
        {
            if (Count == 0 && ranges is null) throw new ManagedEmbedException("an int8 index over no documents needs explicit ranges");
            _ranges = ranges ?? QuantizationRanges.Calibrate(corpus, dimension);
            _steps = _ranges.Steps();
            var codes = EmbeddingQuantizer.Quantize(corpus, dimension, EmbeddingPrecision.Int8, _ranges);
            _int8 = new sbyte[codes.Length];
            Buffer.BlockCopy(codes, 0, _int8, 0, codes.Length);
        }
        if (rescore == QuantizedRescore.Float32) _float = corpus.ToArray();
    }

    /// <summary>
    /// The top <paramref name="k"/> documents of each of the <c>queries.Length / Dimension</c> float queries: the first
    /// pass keeps <c>k × rescoreMultiplier</c> candidates, rescored as <see cref="Rescore"/> says. Rows of fewer than k
    /// hits end with id −1.
    /// </summary>
    public SearchResult Search(ReadOnlySpan<float> queries, int k, int rescoreMultiplier = 4)
    {
        int m = EmbeddingQuantizer.Rows(queries, Dimension);
        if (k < 1) throw new ManagedEmbedException($"k must be at least 1, got {k}");
        if (rescoreMultiplier < 1) throw new ManagedEmbedException($"the rescore multiplier must be at least 1, got {rescoreMultiplier}");
        for (int i = 0; i < queries.Length; i++)
            if (!float.IsFinite(queries[i])) throw new ManagedEmbedException($"query {i / Dimension} is not finite");
        var distances = new float[(long)m * k];
        var labels = new long[(long)m * k];
        int candidates = (int)Math.Min((long)k * (Rescore == QuantizedRescore.None ? 1 : rescoreMultiplier), Math.Max(1, Count));
        float[] q = queries.ToArray();
        // Queries go in groups of QueryGroup; each group scans the codes once, in chunks that stay in L2 while every
        // query of the group scores them (the scan is memory-bound one query at a time: 38 MB of int8 codes per query
        // at 100k × 384). Per query the documents are still pushed in increasing order, so results do not change.
        int groups = (m + QueryGroup - 1) / QueryGroup;
        Parallel.For(0, groups, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Threads) },
            () => new Scratch(this, candidates, k),
            (g, _, s) =>
            {
                int q0 = g * QueryGroup, count = Math.Min(QueryGroup, m - q0);
                ScanCodes(q.AsSpan(q0 * Dimension, count * Dimension), count, s);
                for (int i = 0; i < count; i++)
                    Finish(q.AsSpan((q0 + i) * Dimension, Dimension), s, s.First[i], distances.AsSpan((q0 + i) * k, k), labels.AsSpan((q0 + i) * k, k));
                return s;
            },
            _ => { });
        return new SearchResult(m, k, distances, labels);
    }

    /// <summary>Queries scored together against each chunk of codes.</summary>
    private const int QueryGroup = 16;

    /// <summary>Bytes of codes per chunk: with a group's query codes, well inside a 512 KiB L2.</summary>
    private const int ChunkBytes = 128 << 10;

    private sealed class Scratch(QuantizedIndex ix, int candidates, int k)
    {
        public readonly TopKHeap[] First = [.. Enumerable.Range(0, QueryGroup).Select(_ => new TopKHeap(candidates))];
        public readonly TopKHeap Final = new(k);
        public readonly float[] Keys = new float[candidates];
        public readonly long[] Ids = new long[candidates];
        public readonly byte[] QueryBits = new byte[QueryGroup * (ix.Dimension / 8)];
        public readonly sbyte[] QueryInt8 = new sbyte[QueryGroup * ix.Dimension];
        public readonly byte[] QueryCode = new byte[ix.Dimension];
        public readonly float[] Weights = new float[ix.Dimension];
        public readonly int[] Hamming = new int[Math.Max(1, ChunkBytes / Math.Max(1, ix.Dimension / 8))];
    }

    /// <summary>The first pass of <paramref name="count"/> queries: every document's code into each query's heap.</summary>
    private void ScanCodes(ReadOnlySpan<float> queries, int count, Scratch s)
    {
        if (FirstPass == QuantizedFirstPass.Binary)
        {
            int w = Dimension / 8;
            for (int i = 0; i < count; i++) EmbeddingQuantizer.PackBits(queries.Slice(i * Dimension, Dimension), s.QueryBits.AsSpan(i * w, w), 0);
            int chunk = s.Hamming.Length;
            for (int start = 0; start < Count; start += chunk)
            {
                int len = Math.Min(chunk, Count - start);
                var codes = _binary.AsSpan(start * w, len * w);
                for (int i = 0; i < count; i++)
                {
                    QuantizedDistance.HammingRows(s.QueryBits.AsSpan(i * w, w), codes, s.Hamming.AsSpan(0, len));
                    var heap = s.First[i];
                    for (int j = 0; j < len; j++) heap.Push(-s.Hamming[j], start + j);
                }
            }
        }
        else
        {
            int d = Dimension;
            for (int i = 0; i < count; i++)
            {
                EmbeddingQuantizer.Quantize(queries.Slice(i * d, d), d, EmbeddingPrecision.Int8, _ranges, s.QueryCode);
                Buffer.BlockCopy(s.QueryCode, 0, s.QueryInt8, i * d, d);
            }
            int chunk = Math.Max(1, ChunkBytes / d);
            for (int start = 0; start < Count; start += chunk)
            {
                int end = Math.Min(Count, start + chunk);
                for (int i = 0; i < count; i++)
                {
                    ReadOnlySpan<sbyte> qi = s.QueryInt8.AsSpan(i * d, d);
                    var heap = s.First[i];
                    for (int j = start; j < end; j++)
                        heap.Push(QuantizedDistance.DotInt8(qi, _int8.AsSpan(j * d, d)), j);
                }
            }
        }
    }

    /// <summary>Drains a query's first-pass heap and rescores its candidates into its output row.</summary>
    private void Finish(ReadOnlySpan<float> q, Scratch s, TopKHeap first, Span<float> outScores, Span<long> outIds)
    {
        int found = first.Drain(s.Keys, s.Ids);
        if (Rescore == QuantizedRescore.None)
        {
            for (int j = 0; j < outIds.Length; j++) { outScores[j] = s.Keys[j]; outIds[j] = s.Ids[j]; }
            return;
        }
        // Rescore the candidates with the float query.
        float constant = 0;
        if (Rescore == QuantizedRescore.Int8)
        {
            float[] steps = _steps!;
            for (int t = 0; t < Dimension; t++)
            {
                s.Weights[t] = q[t] * steps[t];
                constant += q[t] * (_ranges!.Min[t] + 128.5f * steps[t]);
            }
        }
        for (int c = 0; c < found; c++)
        {
            int id = (int)s.Ids[c];
            float score = Rescore == QuantizedRescore.Int8
                ? constant + QuantizedDistance.DotFloatInt8(s.Weights, _int8.AsSpan(id * Dimension, Dimension))
                : Distance.Score(q, _float.AsSpan(id * Dimension, Dimension), l2: false);
            s.Final.Push(score, id);
        }
        s.Final.Drain(outScores, outIds);
    }
}
