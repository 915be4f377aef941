using ManagedEmbed.Encoder;
using ManagedEmbed.Util;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// sentence-transformers' util toolbox against straightforward references written here from its published
/// algorithms (all pairs in double precision, then sorting), on sizes that cross the library's block boundaries.
/// </summary>
public class SentenceUtilTests
{
    private static EmbeddingMatrix Clustered(int n, int dim, int clusters, int seed, double noise = 0.3)
    {
        var rng = new Random(seed);
        var centres = Enumerable.Range(0, clusters).Select(_ => Enumerable.Range(0, dim).Select(_ => rng.NextDouble() * 2 - 1).ToArray()).ToArray();
        var data = new float[n * dim];
        for (int i = 0; i < n; i++)
            for (int d = 0; d < dim; d++)
                data[i * dim + d] = (float)(centres[i % clusters][d] + noise * (rng.NextDouble() * 2 - 1));
        return new EmbeddingMatrix(n, dim, data);
    }

    private static double Sim(SimilarityFunction f, ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0, l2 = 0, l1 = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i]; na += (double)a[i] * a[i]; nb += (double)b[i] * b[i];
            l2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]); l1 += Math.Abs((double)a[i] - b[i]);
        }
        return f switch
        {
            SimilarityFunction.Cosine => dot / (Math.Max(Math.Sqrt(na), 1e-12) * Math.Max(Math.Sqrt(nb), 1e-12)),
            SimilarityFunction.Dot => dot,
            SimilarityFunction.Euclidean => -Math.Sqrt(l2),
            _ => -l1,
        };
    }

    [Theory]
    [InlineData(SimilarityFunction.Cosine, 70, 8229, 5)]
    [InlineData(SimilarityFunction.Dot, 3, 50, 60)]
    [InlineData(SimilarityFunction.Euclidean, 65, 300, 7)]
    [InlineData(SimilarityFunction.Manhattan, 9, 120, 200)]
    public void Semantic_search_returns_the_reference_top_k(SimilarityFunction f, int nq, int nc, int topK)
    {
        var corpus = Clustered(nc, 17, 11, 1);
        var queries = Clustered(nq, 17, 11, 2);
        var got = SentenceUtil.SemanticSearch(queries, corpus, topK, f);
        Assert.Equal(nq, got.Count);
        for (int q = 0; q < nq; q++)
        {
            var want = Enumerable.Range(0, nc).Select(j => (Id: j, S: Sim(f, queries.Row(q), corpus.Row(j))))
                .OrderByDescending(x => x.S).ThenBy(x => x.Id).Take(Math.Min(topK, nc)).ToArray();
            Assert.Equal(want.Length, got[q].Count);
            for (int r = 0; r < want.Length; r++)
            {
                Assert.True(Math.Abs(got[q][r].Score - want[r].S) <= 1e-4 * Math.Max(1, Math.Abs(want[r].S)), $"q{q} rank {r}: {got[q][r].Score} vs {want[r].S}");
                // The id must be the reference's unless the two scores are within float rounding of each other.
                if (got[q][r].CorpusId != want[r].Id)
                    Assert.True(Math.Abs(Sim(f, queries.Row(q), corpus.Row(got[q][r].CorpusId)) - want[r].S) <= 1e-5 * Math.Max(1, Math.Abs(want[r].S)),
                        $"q{q} rank {r}: id {got[q][r].CorpusId} instead of {want[r].Id}");
            }
        }
    }

    [Theory]
    [InlineData(200, 5, 1000)]
    [InlineData(150, 100, 60)]
    public void Paraphrase_mining_equals_the_reference_algorithm(int n, int topK, int maxPairs)
    {
        var e = Clustered(n, 12, 9, 3);
        // sentence-transformers: each row's top_k + 1 (itself included) → (score, i, j) for j != i; a bounded queue
        // keeps the best max_pairs − 1; each unordered pair once; best first.
        var candidates = new List<(double S, int I, int J)>();
        for (int i = 0; i < n; i++)
            candidates.AddRange(Enumerable.Range(0, n).Select(j => (S: Sim(SimilarityFunction.Cosine, e.Row(i), e.Row(j)), I: i, J: j))
                .OrderByDescending(x => x.S).ThenBy(x => x.J).Take(topK + 1).Where(x => x.J != i));
        var kept = candidates.OrderByDescending(c => c.S).Take(maxPairs - 1);
        var want = new List<(double S, int I, int J)>();
        var seen = new HashSet<(int, int)>();
        foreach (var c in kept)
            if (seen.Add((Math.Min(c.I, c.J), Math.Max(c.I, c.J)))) want.Add((c.S, Math.Min(c.I, c.J), Math.Max(c.I, c.J)));
        var got = SentenceUtil.ParaphraseMining(e, topK, maxPairs);
        Assert.Equal(want.Count, got.Count);
        for (int t = 0; t < want.Count; t++)
            Assert.True(Math.Abs(got[t].Score - want[t].S) <= 1e-5, $"pair {t}: {got[t].Score} vs {want[t].S}");
        Assert.Equal(want.Select(w => (w.I, w.J)).ToHashSet(), got.Select(g => (g.I, g.J)).ToHashSet());

        // Halfway between two neighbouring scores, so float rounding cannot move a pair across the threshold.
        int at = Enumerable.Range(want.Count / 3, want.Count - want.Count / 3 - 1).First(t => want[t].S - want[t + 1].S > 1e-4);
        float th = (float)((want[at].S + want[at + 1].S) / 2);
        var cut = SentenceUtil.ParaphraseMining(e, topK, maxPairs, threshold: th);
        Assert.Equal(at + 1, cut.Count);
    }

    [Fact]
    public void Community_detection_on_a_hand_made_case()
    {
        // Rows 0–2 point the same way, 3–4 another, 5 alone; threshold 0.9, min size 2.
        float[] v = [1, 0, 0, 0.99f, 0.1f, 0, 0.98f, 0, 0.1f, 0, 1, 0, 0.1f, 0.99f, 0, 0, 0, 1];
        var c = SentenceUtil.CommunityDetection(new EmbeddingMatrix(6, 3, v), 0.9f, 2);
        Assert.Equal(2, c.Count);
        Assert.Equal([0, 1, 2], c[0].Order());
        Assert.Equal([3, 4], c[1].Order());
        Assert.Empty(SentenceUtil.CommunityDetection(new EmbeddingMatrix(6, 3, v), 0.9f, 4));
    }

    [Theory]
    [InlineData(300, 0.75f, 10)]
    [InlineData(130, 0.9f, 3)]
    [InlineData(90, 0.5f, 40)]
    public void Community_detection_equals_the_reference_algorithm(int n, float threshold, int minSize)
    {
        var e = Clustered(n, 10, 7, 4, noise: 0.45);
        int min = Math.Min(minSize, n);
        var proposed = new List<int[]>();
        for (int i = 0; i < n; i++)
        {
            var s = Enumerable.Range(0, n).Select(j => (J: j, S: Sim(SimilarityFunction.Cosine, e.Row(i), e.Row(j)))).OrderByDescending(x => x.S).ThenBy(x => x.J).ToArray();
            if (s[min - 1].S >= threshold) proposed.Add(s.Where(x => x.S >= threshold).Select(x => x.J).ToArray());
        }
        var taken = new HashSet<int>();
        var want = new List<int[]>();
        foreach (var c in proposed.OrderByDescending(c => c.Length))
        {
            var rest = c.Where(x => !taken.Contains(x)).ToArray();
            if (rest.Length >= min) { want.Add(rest); taken.UnionWith(rest); }
        }
        want = want.OrderByDescending(c => c.Length).ToList();
        var got = SentenceUtil.CommunityDetection(e, threshold, minSize);
        Assert.True(want.Count > 0, "the data should form communities");
        Assert.Equal(want.Count, got.Count);
        for (int c = 0; c < want.Count; c++) Assert.Equal(want[c].Order(), got[c].Order());
    }

    [Fact]
    public void Bad_arguments_are_clear_errors()
    {
        var e = Clustered(5, 4, 2, 1);
        Assert.Equal("top_k must be at least 1, got 0", Assert.Throws<ManagedEmbedException>(() => SentenceUtil.SemanticSearch(e, e, 0)).Message);
        Assert.Equal("embeddings have different dimensions (4 and 3)",
            Assert.Throws<ManagedEmbedException>(() => SentenceUtil.SemanticSearch(e, new EmbeddingMatrix(1, 3, new float[3]))).Message);
        Assert.Equal("min_community_size must be at least 1, got 0", Assert.Throws<ManagedEmbedException>(() => SentenceUtil.CommunityDetection(e, 0.5f, 0)).Message);
    }
}
