using System.Text.Json;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.SafeTensors;

namespace ManagedEmbed.Encoder.Models;

/// <summary>
/// DistilBERT's config.json keys: dim, n_heads, n_layers, hidden_dim, activation, vocab_size,
/// max_position_embeddings; LayerNorm epsilon is fixed at 1e-12 by the architecture.
/// </summary>
public sealed class DistilBertConfig : TransformerConfig
{
    /// <inheritdoc />
    public override string ModelType => "distilbert";

    internal static DistilBertConfig FromObject(JsonElement o, string path)
    {
        // Sinusoidal tables would be computed, not read: refused rather than silently replaced by learned ones.
        if (JsonFile.GetBool(o, "sinusoidal_pos_embds", path) == true)
            throw new ManagedEmbedException($"'{path}': sinusoidal_pos_embds true is not supported (learned position embeddings only)");
        string act = JsonFile.GetString(o, "activation", path) ?? "gelu";
        var c = new DistilBertConfig
        {
            HiddenSize = JsonFile.RequireInt(o, "dim", path),
            NumAttentionHeads = JsonFile.RequireInt(o, "n_heads", path),
            NumHiddenLayers = JsonFile.RequireInt(o, "n_layers", path),
            IntermediateSize = JsonFile.RequireInt(o, "hidden_dim", path),
            VocabSize = JsonFile.RequireInt(o, "vocab_size", path),
            MaxPositionEmbeddings = JsonFile.RequireInt(o, "max_position_embeddings", path),
            LayerNormEps = 1e-12f,
            HiddenAct = act,
            Activation = ParseActivation(act, "activation", path),
            InitializerRange = JsonFile.GetDouble(o, "initializer_range", path, 0.02),
        };
        c.ValidateCommon(path, "dim", "n_heads");
        return c;
    }
}

/// <summary>
/// Hugging Face DistilBertModel: embeddings (word + learned position from 0, no token types), then post-norm layers
/// transformer.layer.N.attention.{q_lin,k_lin,v_lin,out_lin}, sa_layer_norm, ffn.{lin1,lin2}, output_layer_norm.
/// (DistilBERT scales q before QKᵀ, BERT the scores after: the same product up to float rounding.)
/// </summary>
public sealed class DistilBertModel : EncoderModel
{
    internal DistilBertModel(SafeTensorsFile? file, WeightScope w, DistilBertConfig c)
        : base(file, c, new EmbeddingsBlock(w.Scope("embeddings"), c, 0, PositionPolicy.FromZero), BuildLayers(w, c))
    {
        w.Optional("embeddings.position_ids", [1, c.MaxPositionEmbeddings], TensorKind.PositionIds);
    }

    private static readonly AttentionNames AttentionNames = new("attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin", "sa_layer_norm");
    private static readonly FeedForwardNames FeedForwardNames = new("ffn.lin1", "ffn.lin2", "output_layer_norm");

    private static TransformerLayer[] BuildLayers(WeightScope w, DistilBertConfig c)
    {
        var layers = new TransformerLayer[c.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            var l = w.Scope($"transformer.layer.{i}");
            layers[i] = new TransformerLayer(new SelfAttentionBlock(l, c, AttentionNames), new FeedForwardBlock(l, c, FeedForwardNames));
        }
        return layers;
    }
}
