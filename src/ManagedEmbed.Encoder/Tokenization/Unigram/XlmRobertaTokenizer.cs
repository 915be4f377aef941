using System.Buffers;
using System.Text;

namespace ManagedEmbed.Encoder.Tokenization.Unigram;

/// <summary>
/// The XLM-RoBERTa tokenizer (paraphrase-multilingual-MiniLM-L12-v2 and other XLM-R models): SentencePiece
/// normalization and Unigram segmentation, token-exact with Google SentencePiece, with the fairseq id layout Hugging
/// Face uses: &lt;s&gt;=0, &lt;pad&gt;=1, &lt;/s&gt;=2, &lt;unk&gt;=3, SentencePiece piece i (i ≥ 3) = i + 1,
/// &lt;mask&gt; = the last id. <see cref="Encode"/> returns &lt;s&gt; … &lt;/s&gt;.
/// </summary>
/// <remarks>Load it from a model directory (<see cref="Load"/>), a <c>sentencepiece.bpe.model</c>
/// (<see cref="LoadSentencePieceModel"/>) or a tokenizer.json (<see cref="LoadTokenizerJson"/>). Instances are
/// immutable and thread-safe.</remarks>
public sealed partial class XlmRobertaTokenizer : ITokenizer
{
    /// <inheritdoc/>
    public string Description => "SentencePiece Unigram (XLM-R ids: <s> … </s>)";

    /// <inheritdoc/>
    public string IdToToken(int id) => IdToPiece(id);

    /// <inheritdoc/>
    public bool IsSpecial(int id) => id == BosId || id == EosId || id == PadId;

    private readonly UnigramModel _model;
    private readonly string[] _pieces;

    private XlmRobertaTokenizer(string[] pieces, UnigramModel model, SentencePieceNormalizer normalizer,
        int bosId, int eosId, int padId, int maskId)
    {
        _pieces = pieces;
        _model = model;
        Normalizer = normalizer;
        BosId = bosId;
        EosId = eosId;
        PadId = padId;
        MaskId = maskId;
    }

    /// <summary>The text normalizer (charsmap and whitespace handling).</summary>
    public SentencePieceNormalizer Normalizer { get; }

    /// <summary>Number of ids (the vocabulary including the special tokens).</summary>
    public int VocabSize => _pieces.Length;

    /// <summary>Id of &lt;s&gt; (the CLS / beginning-of-sentence token), 0 for XLM-R.</summary>
    public int BosId { get; }

    /// <summary>Id of &lt;/s&gt; (the SEP / end-of-sentence token), 2 for XLM-R.</summary>
    public int EosId { get; }

    /// <summary>Id of &lt;pad&gt;, 1 for XLM-R (-1 when the vocabulary has none).</summary>
    public int PadId { get; }

    /// <summary>Id of &lt;unk&gt;, 3 for XLM-R.</summary>
    public int UnkId => _model.UnknownId;

    /// <summary>Id of &lt;mask&gt;, the last id for XLM-R (-1 when the vocabulary has none).</summary>
    public int MaskId { get; }

    /// <summary>The piece text of an id.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is not in the vocabulary.</exception>
    public string IdToPiece(int id)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(id);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(id, _pieces.Length);
        return _pieces[id];
    }

    /// <summary>SentencePiece's normalized form of <paramref name="text"/> (whitespace escaped as U+2581).</summary>
    public string Normalize(string text) => Normalizer.Normalize(text);

    /// <summary>
    /// Model input ids: &lt;s&gt;, the text's pieces truncated to <paramref name="maxLength"/> − 2, &lt;/s&gt; (as HF
    /// truncates the content, then adds the special tokens). Empty or whitespace-only text gives [&lt;s&gt;, &lt;/s&gt;].
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxLength"/> is less than 2.</exception>
    public int[] Encode(string text, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        List<(int Start, int Length, int Id)> pieces = Segment(text, out _);
        int n = Math.Min(pieces.Count, maxLength - 2);
        var ids = new int[n + 2];
        ids[0] = BosId;
        for (int i = 0; i < n; i++) ids[i + 1] = pieces[i].Id;
        ids[n + 1] = EosId;
        return ids;
    }

    /// <summary>The ids of the text's pieces, without special tokens and without truncation.</summary>
    public int[] EncodePieces(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return [.. Segment(text, out _).Select(p => p.Id)];
    }

    /// <summary>The text's pieces as strings (unknown runs as their normalized surface), for debugging.</summary>
    public IReadOnlyList<string> Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        List<(int Start, int Length, int Id)> pieces = Segment(text, out byte[] normalized);
        return [.. pieces.Select(p => Encoding.UTF8.GetString(normalized, p.Start, p.Length))];
    }

    private List<(int Start, int Length, int Id)> Segment(string text, out byte[] normalized)
    {
        normalized = Normalizer.Normalize(Encoding.UTF8.GetBytes(text));
        var result = new List<(int, int, int)>(normalized.Length / 2 + 1);
        _model.Encode(normalized, result);
        return result;
    }
}
