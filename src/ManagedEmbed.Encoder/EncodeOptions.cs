namespace ManagedEmbed.Encoder;

/// <summary>
/// The keywords of one <see cref="SentenceEncoder.Encode(IReadOnlyList{string}, EncodeOptions)"/> call, named and
/// applied as sentence-transformers' <c>encode</c> applies them.
/// </summary>
public sealed record EncodeOptions
{
    /// <summary>Texts per forward pass (texts are length-sorted, so a batch holds similar lengths).</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>
    /// Null: the model's pipeline decides (unit vectors when it has a Normalize module). True: also normalize the
    /// final vector, after <see cref="TruncateDim"/> (<c>normalize_embeddings=True</c>). False: no normalization at all,
    /// not even the pipeline's (the raw pooled vector; sentence-transformers has no such switch).
    /// </summary>
    public bool? Normalize { get; init; }
    /// <summary>A prompt name from the model's config_sentence_transformers.json (<c>prompt_name</c>).</summary>
    public string? PromptName { get; init; }
    /// <summary>
    /// A literal prompt prepended to every text (<c>prompt</c>); it wins over <see cref="PromptName"/>, and "" turns
    /// the model's default prompt off.
    /// </summary>
    public string? Prompt { get; init; }
    /// <summary>Keep only the first dimensions of each embedding (Matryoshka, <c>truncate_dim</c>).</summary>
    public int? TruncateDim { get; init; }
    /// <summary>
    /// Reports texts embedded so far after each batch, and once before the first batch (0 done) with the number of
    /// texts that were cut to <see cref="SentenceEncoder.MaxSeqLength"/>.
    /// </summary>
    public IProgress<EncodeProgress>? Progress { get; init; }
    /// <summary>
    /// What a text longer than <see cref="SentenceEncoder.MaxSeqLength"/> tokens does: <see cref="TruncationMode.Cut"/>
    /// (sentence-transformers' behaviour, the default; counted in <see cref="EncodeProgress.Truncated"/>) or
    /// <see cref="TruncationMode.Error"/> (a <see cref="TextTooLongException"/> before anything is encoded).
    /// </summary>
    public TruncationMode Truncation { get; init; } = TruncationMode.Cut;
}

/// <summary>What an encode call does with a text longer than the model's max_seq_length.</summary>
public enum TruncationMode
{
    /// <summary>Keep the first max_seq_length tokens (special tokens included), as sentence-transformers does.</summary>
    Cut,
    /// <summary>Refuse the call with a <see cref="TextTooLongException"/>.</summary>
    Error,
}

/// <summary>A text is longer than the model's max_seq_length and the encode call was asked not to cut it.</summary>
public sealed class TextTooLongException : ManagedEmbedException
{
    /// <summary>Creates the error for text <paramref name="index"/> of the call.</summary>
    public TextTooLongException(int index, int maxSeqLength)
        : base($"text {index} is longer than the model's limit of {maxSeqLength} tokens")
    {
        Index = index;
        MaxSeqLength = maxSeqLength;
    }

    /// <summary>0-based index of the first over-long text in the call's input.</summary>
    public int Index { get; }
    /// <summary>The limit it exceeds (tokens, special tokens included).</summary>
    public int MaxSeqLength { get; }
}
