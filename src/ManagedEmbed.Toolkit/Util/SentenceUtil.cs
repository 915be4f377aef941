using ManagedEmbed.Encoder;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Util;

/// <summary>One corpus hit of <see cref="SentenceUtil.SemanticSearch"/>: the corpus row and its score.</summary>
public readonly record struct CorpusHit(int CorpusId, float Score);

/// <summary>One pair of <see cref="SentenceUtil.ParaphraseMining"/>: rows <see cref="I"/> &lt; <see cref="J"/> and their score.</summary>
public readonly record struct ParaphrasePair(float Score, int I, int J);

/// <summary>
/// sentence-transformers' <c>util</c> toolbox over embeddings: <c>semantic_search</c>, <c>paraphrase_mining</c> and
/// <c>community_detection</c>, with its similarity functions. Scores are computed block by block (a few MB at a
/// time), so memory is bounded by the results, not by queries × corpus.
/// </summary>
public static class SentenceUtil
{
    private const int QueryBlock = 64, CorpusBlock = 8192;

    /// <summary>
    /// <c>util.semantic_search</c>: for each query row, the <paramref name="topK"/> corpus rows with the highest
    /// score, best first (ties: lower corpus id first).
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<CorpusHit>> SemanticSearch(EmbeddingMatrix queries, EmbeddingMatrix corpus, int topK = 10,
        SimilarityFunction similarity = SimilarityFunction.Cosine)
    {
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentNullException.ThrowIfNull(corpus);
        CheckDims(queries, corpus);
        if (topK < 1) throw new ManagedEmbedException($"top_k must be at least 1, got {topK}");
        int k = Math.Min(topK, corpus.Count);
        var results = new IReadOnlyList<CorpusHit>[queries.Count];
        if (k == 0) { Array.Fill(results, []); return results; }
        var heaps = Enumerable.Range(0, Math.Min(QueryBlock, queries.Count)).Select(_ => new TopKHeap(k)).ToArray();
        var keys = new float[k];
        var ids = new long[k];
        ForEachBlock(queries, corpus, similarity, (q0, qn, c0, cn, scores) =>
        {
            for (int i = 0; i < qn; i++) heaps[i].PushRange(scores.AsSpan(i * cn, cn), c0, 1f);
            if (c0 + cn < corpus.Count) return;
            for (int i = 0; i < qn; i++)
            {
                int real = heaps[i].Drain(keys, ids);
                var hits = new CorpusHit[real];
                for (int j = 0; j < real; j++) hits[j] = new CorpusHit((int)ids[j], keys[j]);
                results[q0 + i] = hits;
            }
        });
        return results;
    }

    /// <summary>
    /// <c>util.paraphrase_mining_embeddings</c>: every row's <paramref name="topK"/> most similar other rows become
    /// candidate pairs; the best <paramref name="maxPairs"/> − 1 candidates are kept (as sentence-transformers' bounded
    /// queue keeps them), each unordered pair once (I &lt; J), best score first. With <paramref name="threshold"/>,
    /// only pairs scoring at least that (an addition; sentence-transformers has none).
    /// </summary>
    public static IReadOnlyList<ParaphrasePair> ParaphraseMining(EmbeddingMatrix embeddings, int topK = 100, int maxPairs = 500_000,
        float? threshold = null, SimilarityFunction similarity = SimilarityFunction.Cosine)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        if (topK < 1) throw new ManagedEmbedException($"top_k must be at least 1, got {topK}");
        if (maxPairs < 2) throw new ManagedEmbedException($"max_pairs must be at least 2, got {maxPairs}");
        int n = embeddings.Count;
        if (n < 2) return [];
        // A row is its own best match: top_k + 1 neighbours leave top_k others.
        var neighbours = SemanticSearch(embeddings, embeddings, topK + 1, similarity);
        var best = new TopKHeap(maxPairs - 1);
        for (int i = 0; i < n; i++)
            foreach (var h in neighbours[i])
                if (h.CorpusId != i) best.Push(h.Score, (long)i * n + h.CorpusId);
        var keys = new float[best.K];
        var ids = new long[best.K];
        int count = best.Drain(keys, ids);
        var seen = new HashSet<long>();
        var pairs = new List<ParaphrasePair>();
        for (int t = 0; t < count; t++)
        {
            int a = (int)(ids[t] / n), b = (int)(ids[t] % n);
            int i = Math.Min(a, b), j = Math.Max(a, b);
            if (threshold is float th && keys[t] < th) break; // best first
            if (seen.Add((long)i * n + j)) pairs.Add(new ParaphrasePair(keys[t], i, j));
        }
        return pairs;
    }

    /// <summary>
    /// <c>util.community_detection</c> (fast clustering): a row with at least <paramref name="minCommunitySize"/> rows
    /// (itself included) at cosine ≥ <paramref name="threshold"/> proposes the community of all those rows, most
    /// similar first; communities are taken largest first, each keeping only rows no earlier community took, and
    /// kept when at least <paramref name="minCommunitySize"/> rows remain. Returns them largest first. Rows in no
    /// community are not returned.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<int>> CommunityDetection(EmbeddingMatrix embeddings, float threshold = 0.75f, int minCommunitySize = 10)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        if (!float.IsFinite(threshold)) throw new ManagedEmbedException($"threshold must be a finite number, got {threshold}");
        if (minCommunitySize < 1) throw new ManagedEmbedException($"min_community_size must be at least 1, got {minCommunitySize}");
        int n = embeddings.Count;
        if (n == 0) return [];
        int minSize = Math.Min(minCommunitySize, n);
        var proposed = new List<int[]>();
        // Whole rows are needed to decide: each query block gathers its rows' scores over the corpus blocks.
        var rows = new float[Math.Min(QueryBlock, n)][];
        for (int r = 0; r < rows.Length; r++) rows[r] = new float[n];
        var order = new int[n];
        ForEachBlock(embeddings, embeddings, SimilarityFunction.Cosine, (q0, qn, c0, cn, scores) =>
        {
            for (int i = 0; i < qn; i++) scores.AsSpan(i * cn, cn).CopyTo(rows[i].AsSpan(c0, cn));
            if (c0 + cn < n) return;
            for (int i = 0; i < qn; i++)
            {
                var row = rows[i];
                int m = 0;
                for (int j = 0; j < n; j++) if (row[j] >= threshold) order[m++] = j;
                if (m < minSize) continue;
                var members = order.AsSpan(0, m).ToArray();
                // Most similar first; ties by index (torch.topk's order at ties is unspecified).
                Array.Sort(members, (x, y) => row[y] != row[x] ? row[y].CompareTo(row[x]) : x.CompareTo(y));
                proposed.Add(members);
            }
        });

        // Stable sort, largest first (Python's sorted keeps the proposal order among equal sizes).
        var byLength = proposed.Select((c, idx) => (c, idx)).OrderByDescending(p => p.c.Length).ThenBy(p => p.idx).Select(p => p.c);
        var taken = new bool[n];
        var communities = new List<IReadOnlyList<int>>();
        foreach (var c in byLength)
        {
            var rest = c.Where(x => !taken[x]).ToArray();
            if (rest.Length < minSize) continue;
            foreach (int x in rest) taken[x] = true;
            communities.Add(rest);
        }
        return communities.Select((c, idx) => (c, idx)).OrderByDescending(p => p.c.Count).ThenBy(p => p.idx).Select(p => p.c).ToList();
    }

    /// <summary>
    /// Calls <paramref name="onBlock"/>(q0, qn, c0, cn, scores) for every block of queries × corpus, corpus blocks of a
    /// query block in order, scores row-major [qn, cn] under <paramref name="similarity"/>.
    /// </summary>
    private static void ForEachBlock(EmbeddingMatrix queries, EmbeddingMatrix corpus, SimilarityFunction similarity,
        Action<int, int, int, int, float[]> onBlock)
    {
        int dim = queries.Dimension;
        float[] q = queries.Data, c = corpus.Data;
        if (similarity == SimilarityFunction.Cosine)
        {
            // cos_sim normalizes both sides, then takes inner products.
            q = Normalized(queries);
            c = ReferenceEquals(queries, corpus) ? q : Normalized(corpus);
        }
        var scores = new float[QueryBlock * Math.Min(CorpusBlock, Math.Max(1, corpus.Count))];
        for (int q0 = 0; q0 < queries.Count; q0 += QueryBlock)
        {
            int qn = Math.Min(QueryBlock, queries.Count - q0);
            for (int c0 = 0; c0 < corpus.Count; c0 += CorpusBlock)
            {
                int cn = Math.Min(CorpusBlock, corpus.Count - c0);
                var qs = q.AsSpan(q0 * dim, qn * dim);
                var cs = c.AsSpan(c0 * dim, cn * dim);
                switch (similarity)
                {
                    case SimilarityFunction.Cosine or SimilarityFunction.Dot:
                        Distance.ScoreBlock(qs, qn, cs, cn, dim, scores, l2: false);
                        break;
                    case SimilarityFunction.Euclidean:
                        Distance.ScoreBlock(qs, qn, cs, cn, dim, scores, l2: true);
                        for (int t = 0; t < qn * cn; t++) scores[t] = -MathF.Sqrt(Math.Max(0f, scores[t]));
                        break;
                    default:
                        for (int i = 0; i < qn; i++)
                            for (int j = 0; j < cn; j++)
                                scores[i * cn + j] = SimilarityFunctions.Compute(similarity, qs.Slice(i * dim, dim), cs.Slice(j * dim, dim));
                        break;
                }
                onBlock(q0, qn, c0, cn, scores);
            }
        }
    }

    private static float[] Normalized(EmbeddingMatrix m)
    {
        var d = (float[])m.Data.Clone();
        for (int i = 0; i < m.Count; i++)
        {
            var row = d.AsSpan(i * m.Dimension, m.Dimension);
            double s = 0;
            foreach (float x in row) s += (double)x * x;
            // torch.nn.functional.normalize: x / max(‖x‖, 1e-12).
            float inv = (float)(1.0 / Math.Max(Math.Sqrt(s), 1e-12));
            for (int j = 0; j < row.Length; j++) row[j] *= inv;
        }
        return d;
    }

    private static void CheckDims(EmbeddingMatrix a, EmbeddingMatrix b)
    {
        if (a.Dimension != b.Dimension) throw new ManagedEmbedException($"embeddings have different dimensions ({a.Dimension} and {b.Dimension})");
    }
}
