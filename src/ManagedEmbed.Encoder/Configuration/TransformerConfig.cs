using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Configuration;

/// <summary>
/// What every encoder architecture's config.json resolves to: the dimensions the shared building blocks and the
/// pipeline need. Each architecture parses its own keys (BERT's hidden_size, DistilBERT's dim, …) into a subclass.
/// </summary>
public abstract class TransformerConfig
{
    /// <summary>config.json model_type of the architecture (bert, distilbert, mpnet).</summary>
    public abstract string ModelType { get; }
    /// <summary>Width of the hidden states.</summary>
    public required int HiddenSize { get; init; }
    /// <summary>Number of attention heads (divides <see cref="HiddenSize"/>).</summary>
    public required int NumAttentionHeads { get; init; }
    /// <summary>Number of transformer layers.</summary>
    public required int NumHiddenLayers { get; init; }
    /// <summary>Width of the feed-forward layer.</summary>
    public required int IntermediateSize { get; init; }
    /// <summary>Rows of the word-embedding table.</summary>
    public required int VocabSize { get; init; }
    /// <summary>Rows of the position-embedding table.</summary>
    public required int MaxPositionEmbeddings { get; init; }
    /// <summary>LayerNorm epsilon (inside the square root, as PyTorch applies it).</summary>
    public required float LayerNormEps { get; init; }
    /// <summary>The activation name as written in config.json.</summary>
    public required string HiddenAct { get; init; }
    /// <summary>The feed-forward activation.</summary>
    public required Activation Activation { get; init; }
    /// <summary>Standard deviation used by the synthetic-model generator (initializer_range, default 0.02).</summary>
    public double InitializerRange { get; init; } = 0.02;

    /// <summary>
    /// True when config.json declares int8 Linear weights (quantization_config, see
    /// <see cref="Models.Int8Checkpoint"/>): the weights file must then hold them as I8 with per-channel scales.
    /// </summary>
    public bool Int8Weights { get; internal set; }

    /// <summary>Width of one attention head.</summary>
    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Position-table rows taken before the first token (RoBERTa-style positions start at padding_idx + 1).</summary>
    public virtual int PositionOffset => 0;

    /// <summary>Longest sequence (special tokens included) the position table can embed.</summary>
    public int MaxSequenceLength => MaxPositionEmbeddings - PositionOffset;

    /// <summary>Maps an activation name (hidden_act / activation) to the kernel activation.</summary>
    internal static Activation ParseActivation(string act, string key, string path) => act switch
    {
        "gelu" => Activation.Gelu,
        "gelu_new" or "gelu_pytorch_tanh" => Activation.GeluTanh,
        "relu" => Activation.Relu,
        _ => throw new ManagedEmbedException($"'{path}': {key} \"{act}\" is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)"),
    };

    /// <summary>Checks the relations between the dimensions (shared by every architecture).</summary>
    internal void ValidateCommon(string path, string hiddenKey, string headsKey)
    {
        if (HiddenSize % NumAttentionHeads != 0)
            throw new ManagedEmbedException($"'{path}': {hiddenKey} {HiddenSize} is not a multiple of {headsKey} {NumAttentionHeads}");
        if (!(LayerNormEps > 0)) throw new ManagedEmbedException($"'{path}': layer_norm_eps must be positive");
        if (!(InitializerRange > 0)) throw new ManagedEmbedException($"'{path}': initializer_range must be positive");
        if (MaxSequenceLength < 2)
            throw new ManagedEmbedException($"'{path}': max_position_embeddings {MaxPositionEmbeddings} leaves room for fewer than 2 tokens");
    }
}
