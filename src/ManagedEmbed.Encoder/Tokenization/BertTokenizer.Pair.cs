namespace ManagedEmbed.Encoder.Tokenization;

/// <summary>A text pair encoded for a sequence-pair model: ids and the segment (token type) of each id.</summary>
/// <param name="Ids">[CLS] a [SEP] b [SEP].</param>
/// <param name="TypeIds">0 for [CLS], a and the first [SEP]; 1 for b and the final [SEP].</param>
public sealed record EncodedPair(int[] Ids, int[] TypeIds);

public sealed partial class BertTokenizer
{
    /// <summary>Special tokens a pair adds: [CLS], [SEP], [SEP].</summary>
    public const int PairSpecialTokens = 3;

    /// <summary>
    /// Encodes a text pair as Hugging Face's BertTokenizerFast does with <c>truncation="longest_first"</c>:
    /// [CLS] a [SEP] b [SEP] with token types 0 … 0 1 … 1, the two wordpiece lists cut to fit
    /// <paramref name="maxLength"/> by <see cref="LongestFirst"/>.
    /// </summary>
    public EncodedPair EncodePair(string first, string second, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        if (maxLength < PairSpecialTokens)
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "maxLength must be at least 3 ([CLS] and two [SEP])");
        // Both sides are tokenized whole: the cut depends on the full lengths (which side is longer).
        int[] a = EncodeWithoutSpecialTokens(first), b = EncodeWithoutSpecialTokens(second);
        var (na, nb) = LongestFirst(a.Length, b.Length, maxLength - PairSpecialTokens);
        var ids = new int[na + nb + PairSpecialTokens];
        var types = new int[ids.Length];
        ids[0] = ClsId;
        a.AsSpan(0, na).CopyTo(ids.AsSpan(1));
        ids[na + 1] = SepId;
        b.AsSpan(0, nb).CopyTo(ids.AsSpan(na + 2));
        ids[^1] = SepId;
        types.AsSpan(na + 2).Fill(1);
        return new EncodedPair(ids, types);
    }

    /// <summary>
    /// The lengths the Hugging Face tokenizers library's longest_first strategy keeps of two token lists of lengths
    /// <paramref name="n1"/> and <paramref name="n2"/> within <paramref name="budget"/> tokens (max_length less the
    /// special tokens), right truncation. Nothing is cut when both fit. Otherwise, with s the shorter length, the
    /// longer list keeps max(s, budget − s) (all of s when s alone exceeds the budget); if the two still overflow,
    /// both are cut to budget / 2 and the longer one (the second on a tie) keeps the odd token.
    /// </summary>
    public static (int First, int Second) LongestFirst(int n1, int n2, int budget)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n1);
        ArgumentOutOfRangeException.ThrowIfNegative(n2);
        ArgumentOutOfRangeException.ThrowIfNegative(budget);
        if ((long)n1 + n2 <= budget) return (n1, n2);
        bool swap = n1 > n2;
        int s = swap ? n2 : n1, l = swap ? n1 : n2;
        int keepLong = s > budget ? s : Math.Max(s, budget - s);
        int keepShort = s;
        if ((long)keepShort + keepLong > budget)
        {
            keepShort = budget / 2;
            keepLong = keepShort + budget % 2;
        }
        keepShort = Math.Min(keepShort, s);
        keepLong = Math.Min(keepLong, l);
        return swap ? (keepLong, keepShort) : (keepShort, keepLong);
    }
}
