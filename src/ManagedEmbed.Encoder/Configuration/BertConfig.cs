using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Configuration;

/// <summary>The BERT hyper-parameters of a Hugging Face config.json. Every model dimension comes from here.</summary>
public sealed class BertConfig : TransformerConfig
{
    /// <inheritdoc />
    public override string ModelType => "bert";
    /// <summary>Rows of the token-type table.</summary>
    public required int TypeVocabSize { get; init; }

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

    private static BertConfig FromDocument(System.Text.Json.JsonDocument doc, string path) => FromObject(JsonFile.RequireObject(doc, path), path);

    /// <summary>Parses the keys of a BERT config.json object.</summary>
    internal static BertConfig FromObject(System.Text.Json.JsonElement o, string path)
    {
        string? modelType = JsonFile.GetString(o, "model_type", path);
        if (modelType is not null && modelType != "bert")
            throw new ManagedEmbedException($"'{path}': model_type \"{modelType}\" is not supported (supported: bert)");
        string? posType = JsonFile.GetString(o, "position_embedding_type", path);
        if (posType is not null && posType != "absolute")
            throw new ManagedEmbedException($"'{path}': position_embedding_type \"{posType}\" is not supported (supported: absolute)");
        string act = JsonFile.GetString(o, "hidden_act", path) ?? "gelu";
        var activation = ParseActivation(act, "hidden_act", path);
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
        c.ValidateCommon(path, "hidden_size", "num_attention_heads");
        return c;
    }
}
