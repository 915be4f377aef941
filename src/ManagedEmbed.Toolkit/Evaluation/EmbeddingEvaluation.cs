using ManagedEmbed.Encoder;
using ManagedEmbed.Text;

namespace ManagedEmbed.Evaluation;

/// <summary>The result of <see cref="EmbeddingEvaluation.EvaluatePairs"/>.</summary>
/// <param name="Threshold">A pair is predicted similar when its cosine is above this.</param>
/// <param name="Similarities">Cosine similarity of each pair, in input order.</param>
/// <param name="Predictions">1 = predicted similar, per pair.</param>
/// <param name="Correct">Number of pairs whose prediction equals the label.</param>
public sealed record PairEvaluationResult(double Threshold, float[] Similarities, int[] Predictions, int Correct)
{
    /// <summary>Correct / pairs.</summary>
    public double Accuracy => Similarities.Length == 0 ? 0 : (double)Correct / Similarities.Length;
}

/// <summary>The result of <see cref="EmbeddingEvaluation.EvaluateSts"/>.</summary>
/// <param name="Similarities">Cosine similarity of each pair, in input order.</param>
/// <param name="Spearman">Spearman's ρ of cosine vs gold (average ranks for ties), the STS-B headline number.</param>
/// <param name="Pearson">Pearson's r of cosine vs gold.</param>
public sealed record StsEvaluationResult(float[] Similarities, double Spearman, double Pearson);

/// <summary>
/// The tutorial's evaluate_embeddings (labeled pairs, cosine above a threshold = similar) and the STS-B protocol
/// (Spearman and Pearson correlation of cosine similarity with human scores).
/// </summary>
public static class EmbeddingEvaluation
{
    /// <summary>Cosine similarity of each (text1, text2) pair, both sides encoded in batches.</summary>
    public static float[] PairSimilarities(SentenceEncoder encoder, IReadOnlyList<string> texts1, IReadOnlyList<string> texts2,
        int batchSize = 32, IProgress<EncodeProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        if (texts1.Count != texts2.Count) throw new ArgumentException("both sides need the same number of texts");
        // One encode call for both sides: batches sort by length across all texts.
        var all = new List<string>(texts1.Count * 2);
        all.AddRange(texts1);
        all.AddRange(texts2);
        EmbeddingMatrix e = encoder.Encode(all, batchSize, normalize: null, progress);
        var sims = new float[texts1.Count];
        for (int i = 0; i < sims.Length; i++) sims[i] = Similarity.Cosine(e.Row(i), e.Row(texts1.Count + i));
        return sims;
    }

    /// <summary>Accuracy of "cosine &gt; threshold ⇔ label 1" over <paramref name="pairs"/>.</summary>
    public static PairEvaluationResult EvaluatePairs(SentenceEncoder encoder, IReadOnlyList<LabeledPair> pairs, double threshold = 0.5,
        int batchSize = 32, IProgress<EncodeProgress>? progress = null)
    {
        if (pairs.Count == 0) throw new ManagedEmbedException("no pairs to evaluate");
        if (!double.IsFinite(threshold)) throw new ManagedEmbedException("threshold must be a finite number");
        float[] sims = PairSimilarities(encoder, pairs.Select(p => p.Text1).ToList(), pairs.Select(p => p.Text2).ToList(), batchSize, progress);
        var preds = new int[sims.Length];
        int correct = 0;
        for (int i = 0; i < sims.Length; i++)
        {
            preds[i] = sims[i] > threshold ? 1 : 0;
            if (preds[i] == pairs[i].Label) correct++;
        }
        return new PairEvaluationResult(threshold, sims, preds, correct);
    }

    /// <summary>Spearman and Pearson correlation of cosine similarity with the gold scores.</summary>
    public static StsEvaluationResult EvaluateSts(SentenceEncoder encoder, IReadOnlyList<ScoredPair> pairs,
        int batchSize = 32, IProgress<EncodeProgress>? progress = null)
    {
        if (pairs.Count < 2) throw new ManagedEmbedException($"STS evaluation needs at least 2 pairs, got {pairs.Count}");
        float[] sims = PairSimilarities(encoder, pairs.Select(p => p.Text1).ToList(), pairs.Select(p => p.Text2).ToList(), batchSize, progress);
        double[] s = sims.Select(v => (double)v).ToArray();
        double[] gold = pairs.Select(p => p.Gold).ToArray();
        return new StsEvaluationResult(sims, Correlation.Spearman(s, gold), Correlation.Pearson(s, gold));
    }
}
