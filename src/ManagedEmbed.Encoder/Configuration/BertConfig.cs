using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Configuration;

/// <summary>The BERT hyper-parameters of a Hugging Face config.json. Every model dimension comes from here.</summary>
public sealed class BertConfig
{
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
    /// <summary>Rows of the position-embedding table (the longest sequence the model accepts).</summary>
    public required int MaxPositionEmbeddings { get; init; }
    /// <summary>Rows of the token-type table.</summary>
    public required int TypeVocabSize { get; init; }
    /// <summary>LayerNorm epsilon (inside the square root, as PyTorch applies it).</summary>
    public required float LayerNormEps { get; init; }
    /// <summary>The hidden_act string as written in config.json.</summary>
    public required string HiddenAct { get; init; }
    /// <summary>The feed-forward activation.</summary>
    public required Activation Activation { get; init; }
    /// <summary>Standard deviation used by the synthetic-model generator (initializer_range, default 0.02).</summary>
    public double InitializerRange { get; init; } = 0.02;

    /// <summary>Width of one attention head.</summary>
    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Reads and validates config.json at <paramref name="path"/>.</summary>
    public static BertConfig Load(string path)
    {
        using var doc = JsonFile.Load(path);
        return FromDocument(doc, path);
    }

    /// <summary>Parses and validates config.json text; <paramref name="source"/> names it in error messages.</summary>
    public static BertConfig Parse(string json, string source)
    {
        using var doc = JsonFile.Parse(json, source);
        return FromDocument(doc, source);
    }

    private static BertConfig FromDocument(System.Text.Json.JsonDocument doc, string path)
    {
        var o = JsonFile.RequireObject(doc, path);
        string? modelType = JsonFile.GetString(o, "model_type", path);
        if (modelType is not null && modelType != "bert")
            throw new ManagedEmbedException($"'{path}': model_type \"{modelType}\" is not supported (supported: bert)");
        string? posType = JsonFile.GetString(o, "position_embedding_type", path);
        if (posType is not null && posType != "absolute")
            throw new ManagedEmbedException($"'{path}': position_embedding_type \"{posType}\" is not supported (supported: absolute)");
        string act = JsonFile.GetString(o, "hidden_act", path) ?? "gelu";
        var activation = act switch
        {
            "gelu" => Activation.Gelu,
            "gelu_new" or "gelu_pytorch_tanh" => Activation.GeluTanh,
            "relu" => Activation.Relu,
            _ => throw new ManagedEmbedException($"'{path}': hidden_act \"{act}\" is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh, relu)"),
        };
        var c = new BertConfig
        {
            HiddenSize = JsonFile.RequireInt(o, "hidden_size", path),
            NumAttentionHeads = JsonFile.RequireInt(o, "num_attention_heads", path),
            NumHiddenLayers = JsonFile.RequireInt(o, "num_hidden_layers", path),
            IntermediateSize = JsonFile.RequireInt(o, "intermediate_size", path),
            VocabSize = JsonFile.RequireInt(o, "vocab_size", path),
            MaxPositionEmbeddings = JsonFile.RequireInt(o, "max_position_embeddings", path),
            TypeVocabSize = JsonFile.GetInt(o, "type_vocab_size", path, 2),
            LayerNormEps = (float)JsonFile.GetDouble(o, "layer_norm_eps", path, 1e-12),
            HiddenAct = act,
            Activation = activation,
            InitializerRange = JsonFile.GetDouble(o, "initializer_range", path, 0.02),
        };
        if (c.HiddenSize % c.NumAttentionHeads != 0)
            throw new ManagedEmbedException($"'{path}': hidden_size {c.HiddenSize} is not a multiple of num_attention_heads {c.NumAttentionHeads}");
        if (!(c.LayerNormEps > 0)) throw new ManagedEmbedException($"'{path}': layer_norm_eps must be positive");
        if (!(c.InitializerRange > 0)) throw new ManagedEmbedException($"'{path}': initializer_range must be positive");
        return c;
    }
}
