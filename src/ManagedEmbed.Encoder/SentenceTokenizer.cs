using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Encoder.Tokenization;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder;

/// <summary>
/// A model directory's tokenizer with its sentence-transformers pipeline settings, loaded without the weights: what
/// tokenizing alone needs (model.safetensors is neither opened nor packed). Gives the ids <see cref="SentenceEncoder.Tokenize(string)"/> gives.
/// </summary>
public sealed class SentenceTokenizer
{
    private readonly ITokenizer _tokenizer;

    /// <summary>Sequences are truncated to this many tokens (max_seq_length).</summary>
    public int MaxSeqLength { get; }

    private SentenceTokenizer(ITokenizer tokenizer, int maxSeqLength)
    {
        _tokenizer = tokenizer;
        MaxSeqLength = maxSeqLength;
    }

    /// <summary>Loads the tokenizer and config files of <paramref name="modelDirectory"/> (not the weights).</summary>
    public static SentenceTokenizer Load(string modelDirectory)
    {
        var config = SentenceModelConfig.Load(modelDirectory);
        var tokenizer = EncoderRegistry.LoadTokenizer(modelDirectory);
        CheckVocabulary(modelDirectory, tokenizer, config.Transformer);
        return new SentenceTokenizer(tokenizer, config.MaxSeqLength);
    }

    /// <summary>Token ids of <paramref name="text"/> with the model's special tokens, truncated to <see cref="MaxSeqLength"/>.</summary>
    public int[] Tokenize(string text) => Encode(_tokenizer, text, MaxSeqLength);

    /// <summary>The one tokenization of a sentence, shared with <see cref="SentenceEncoder"/>.</summary>
    internal static int[] Encode(ITokenizer tokenizer, string text, int maxSeqLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        // sentence-transformers tokenizes str(text).strip(): Python's strip also removes U+2028/U+2029 (and other
        // characters the BERT tokenizer drops or splits on anyway), which the tokenizer alone would keep as [UNK].
        return tokenizer.Encode(text.Trim(SentenceEncoder.PythonWhitespace), maxSeqLength);
    }

    /// <summary>Refuses a tokenizer whose ids would index past the model's embedding table.</summary>
    internal static void CheckVocabulary(string modelDirectory, ITokenizer tokenizer, TransformerConfig config)
    {
        if (tokenizer.VocabSize > config.VocabSize)
            throw new ManagedEmbedException($"model directory '{modelDirectory}': the vocabulary has {tokenizer.VocabSize} tokens but config.json vocab_size is {config.VocabSize}");
    }
}
