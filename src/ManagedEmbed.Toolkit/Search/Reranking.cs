using ManagedEmbed.Encoder;

namespace ManagedEmbed.Search;

/// <summary>
/// Two-stage retrieval ("retrieve and re-rank", as in the sentence-transformers documentation): a bi-encoder search
/// finds candidates fast, a cross-encoder reads each (query, candidate) pair and orders them again.
/// </summary>
public static class Reranking
{
    /// <summary>
    /// Scores every candidate of <paramref name="query"/> with <paramref name="crossEncoder"/> and returns the best
    /// <paramref name="topK"/>, re-ranked from 1, each hit keeping its document id and carrying the cross-encoder's
    /// score (ties keep the first-stage order).
    /// </summary>
    public static IReadOnlyList<SearchHit> Rerank(CrossEncoder crossEncoder, string query, IReadOnlyList<SearchHit> candidates, int topK)
    {
        ArgumentNullException.ThrowIfNull(crossEncoder);
        ArgumentNullException.ThrowIfNull(candidates);
        if (candidates.Count == 0) return [];
        var ranked = crossEncoder.Rank(query, candidates.Select(h => h.Document).ToArray(), topK);
        var hits = new SearchHit[ranked.Count];
        for (int r = 0; r < hits.Length; r++) hits[r] = new SearchHit(r + 1, candidates[ranked[r].Index].Id, ranked[r].Score, ranked[r].Document);
        return hits;
    }
}
