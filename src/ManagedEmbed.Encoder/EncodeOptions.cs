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
    /// <summary>Reports texts embedded so far after each batch.</summary>
    public IProgress<EncodeProgress>? Progress { get; init; }
}
