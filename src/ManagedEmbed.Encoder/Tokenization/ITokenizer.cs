namespace ManagedEmbed.Encoder.Tokenization;

/// <summary>
/// A sentence tokenizer as the encoder uses it: text in, model ids out, the model's special tokens included
/// ([CLS] … [SEP] for BERT, &lt;s&gt; … &lt;/s&gt; for MPNet and XLM-R), truncated to a maximum length.
/// Implementations are chosen by <see cref="Models.EncoderRegistry.LoadTokenizer"/>.
/// </summary>
public interface ITokenizer
{
    /// <summary>Ids of <paramref name="text"/> with the special tokens, at most <paramref name="maxLength"/> of them (≥ 2).</summary>
    int[] Encode(string text, int maxLength);

    /// <summary>Number of ids the tokenizer can produce (highest id + 1).</summary>
    int VocabSize { get; }

    /// <summary>What the tokenizer is and where it was read from, e.g. "WordPiece (vocab.txt)".</summary>
    string Description { get; }

    /// <summary>The vocabulary entry of <paramref name="id"/> (a WordPiece token or a SentencePiece piece).</summary>
    string IdToToken(int id);

    /// <summary>True for the framing and padding ids the tokenizer adds itself (e.g. [CLS]/[SEP]/[PAD], &lt;s&gt;/&lt;/s&gt;/&lt;pad&gt;).</summary>
    bool IsSpecial(int id);
}
