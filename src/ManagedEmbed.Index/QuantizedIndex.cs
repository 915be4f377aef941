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
        Parallel.For(0, m, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Threads) },
            () => new Scratch(this, candidates, k),
            (i, _, s) => { SearchOne(q.AsSpan(i * Dimension, Dimension), s, distances.AsSpan(i * k, k), labels.AsSpan(i * k, k)); return s; },
            _ => { });
        return new SearchResult(m, k, distances, labels);
    }

    private sealed class Scratch(QuantizedIndex ix, int candidates, int k)
    {
        public readonly TopKHeap First = new(candidates);
        public readonly TopKHeap Final = new(k);
        public readonly float[] Keys = new float[candidates];
        public readonly long[] Ids = new long[candidates];
        public readonly byte[] QueryBits = new byte[ix.Dimension / 8];
        public readonly sbyte[] QueryInt8 = new sbyte[ix.Dimension];
        public readonly byte[] QueryCode = new byte[ix.Dimension];
        public readonly float[] Weights = new float[ix.Dimension];
        public readonly int[] Hamming = new int[4096];
    }

    private void SearchOne(ReadOnlySpan<float> q, Scratch s, Span<float> outScores, Span<long> outIds)
    {
        // First pass over every document.
        if (FirstPass == QuantizedFirstPass.Binary)
        {
            EmbeddingQuantizer.PackBits(q, s.QueryBits, 0);
            int w = Dimension / 8;
            for (int start = 0; start < Count; start += s.Hamming.Length)
            {
                int len = Math.Min(s.Hamming.Length, Count - start);
                QuantizedDistance.HammingRows(s.QueryBits, _binary.AsSpan(start * w, len * w), s.Hamming.AsSpan(0, len));
                for (int j = 0; j < len; j++) s.First.Push(-s.Hamming[j], start + j);
            }
        }
        else
        {
            EmbeddingQuantizer.Quantize(q, Dimension, EmbeddingPrecision.Int8, _ranges, s.QueryCode);
            Buffer.BlockCopy(s.QueryCode, 0, s.QueryInt8, 0, Dimension);
            for (int j = 0; j < Count; j++)
                s.First.Push(QuantizedDistance.DotInt8(s.QueryInt8, _int8.AsSpan(j * Dimension, Dimension)), j);
        }
        int found = s.First.Drain(s.Keys, s.Ids);
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
