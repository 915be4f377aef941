using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.SafeTensors;

namespace ManagedEmbed.Encoder.Models;

/// <summary>
/// Hugging Face BertModel without the pooler: embeddings (word + token type 0 + position from 0), then post-norm
/// layers named encoder.layer.N.attention.{self.query,self.key,self.value,output.dense,output.LayerNorm} and
/// intermediate.dense / output.dense / output.LayerNorm.
/// </summary>
public sealed class BertModel : EncoderModel
{
    /// <param name="file">The weights file (null while only describing the model).</param>
    /// <param name="w">The scope holding embeddings.* and encoder.*.</param>
    /// <param name="c">The configuration.</param>
    /// <param name="poolerRequested">True when a task head around this model requests pooler.dense itself (see
    /// <see cref="BertForSequenceClassification"/>); otherwise the pooler is accepted and unused.</param>
    internal BertModel(SafeTensorsFile? file, WeightScope w, BertConfig c, bool poolerRequested = false)
        : base(file, c, BuildEmbeddings(w, c), BuildLayers(w, c))
    {
        w.Optional(BertTensorNames.PositionIds, [1, c.MaxPositionEmbeddings], TensorKind.PositionIds);
        if (poolerRequested) return;
        w.Scope("pooler").Optional("dense.weight", [c.HiddenSize, c.HiddenSize], TensorKind.LinearWeight);
        w.Scope("pooler").Optional("dense.bias", [c.HiddenSize], TensorKind.LinearBias);
    }

    /// <summary>The configuration.</summary>
    public new BertConfig Config => (BertConfig)base.Config;

    private static EmbeddingsBlock BuildEmbeddings(WeightScope w, BertConfig c) =>
        new(w.Scope("embeddings"), c, c.TypeVocabSize, PositionPolicy.FromZero);

    private static readonly AttentionNames AttentionNames = new("self.query", "self.key", "self.value", "output.dense", "output.LayerNorm");
    private static readonly FeedForwardNames FeedForwardNames = new("intermediate.dense", "output.dense", "output.LayerNorm");

    private static TransformerLayer[] BuildLayers(WeightScope w, BertConfig c)
    {
        var layers = new TransformerLayer[c.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            var l = w.Scope($"encoder.layer.{i}");
            layers[i] = new TransformerLayer(new SelfAttentionBlock(l.Scope("attention"), c, AttentionNames), new FeedForwardBlock(l, c, FeedForwardNames));
        }
        return layers;
    }

    /// <summary>Loads the weights at <paramref name="safetensorsPath"/> for <paramref name="config"/>.</summary>
    public static BertModel Load(string safetensorsPath, BertConfig config) => (BertModel)EncoderRegistry.LoadModel(safetensorsPath, config);
}
