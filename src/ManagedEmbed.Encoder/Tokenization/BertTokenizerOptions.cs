namespace ManagedEmbed.Encoder.Tokenization;

/// <summary>
/// Settings of a <see cref="BertTokenizer"/>, mirroring Hugging Face's BertTokenizer / tokenizer_config.json.
/// </summary>
public sealed class BertTokenizerOptions
{
    /// <summary>
    /// Lowercase the text (tokenizer_config.json do_lower_case; default true): the full Unicode lowercase mapping of
    /// each character (U+0130 → "i\u0307"), as Hugging Face applies it.
    /// </summary>
    public bool LowerCase { get; init; } = true;

    /// <summary>
    /// Apply Python str.lower's context-dependent final sigma (capital sigma at the end of a word → ς) when
    /// lowercasing. Default false, because Hugging Face never does: the slow tokenizer lowercases the text one
    /// character at a time before its BasicTokenizer runs (PreTrainedTokenizer.tokenize), and the Rust fast
    /// tokenizer's normalizer also maps each character on its own, so capital sigma always becomes σ.
    /// </summary>
    public bool LowercaseFinalSigma { get; init; }

    /// <summary>
    /// Strip accents (NFD, then drop Mn). <see langword="null"/> (the default, HF's strip_accents: null) follows
    /// <see cref="LowerCase"/>.
    /// </summary>
    public bool? StripAccents { get; init; }

    /// <summary>Put spaces around CJK ideographs so each is its own word (tokenize_chinese_chars; default true).</summary>
    public bool TokenizeChineseChars { get; init; } = true;

    /// <summary>The unknown token (default [UNK]); must be in the vocabulary.</summary>
    public string UnknownToken { get; init; } = "[UNK]";

    /// <summary>The classifier token prepended to every sequence (default [CLS]); must be in the vocabulary.</summary>
    public string ClsToken { get; init; } = "[CLS]";

    /// <summary>The separator token appended to every sequence (default [SEP]); must be in the vocabulary.</summary>
    public string SepToken { get; init; } = "[SEP]";

    /// <summary>The padding token (default [PAD]); must be in the vocabulary.</summary>
    public string PadToken { get; init; } = "[PAD]";

    /// <summary>The mask token (default [MASK]); optional in the vocabulary.</summary>
    public string MaskToken { get; init; } = "[MASK]";

    /// <summary>Prefix of word-continuation pieces (default ##).</summary>
    public string ContinuingSubwordPrefix { get; init; } = "##";

    /// <summary>A word with more Unicode code points than this becomes the unknown token (default 100).</summary>
    public int MaxInputCharsPerWord { get; init; } = 100;

    /// <summary>
    /// Recognize the special tokens (unk, cls, sep, pad, mask) written literally in the input text, as Hugging Face
    /// does ("a [SEP] b" encodes [SEP] as its id, not as "[", "sep", "]"). Default true.
    /// </summary>
    public bool RecognizeSpecialTokensInText { get; init; } = true;

    /// <summary>
    /// Further added tokens matched in the text (tokenizer.json "added_tokens" or tokenizer_config.json
    /// "added_tokens_decoder"), as Hugging Face's fast tokenizers match them: those with Normalized=false on the raw
    /// text together with the special tokens above, those with Normalized=true on the normalized (cleaned, lowercased,
    /// accent-stripped) text. all-mpnet-base-v2 lists "&lt;unk&gt;" (id 3) this way. Ignored when
    /// <see cref="RecognizeSpecialTokensInText"/> is false.
    /// </summary>
    public IReadOnlyList<BertAddedToken> AddedTokens { get; init; } = [];
}

/// <summary>An added token of a tokenizers-library tokenizer: its text, its id, and whether it is matched after
/// normalization (true) or on the raw text (false).</summary>
/// <param name="Content">The token text.</param>
/// <param name="Id">The id it encodes to.</param>
/// <param name="Normalized">Matched on the normalized text rather than on the raw text.</param>
public sealed record BertAddedToken(string Content, int Id, bool Normalized);
