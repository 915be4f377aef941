using ManagedEmbed.Encoder.Configuration;

namespace ManagedEmbed.Encoder.Bert;

/// <summary>What a BERT parameter is, which decides how the synthetic generator initializes it.</summary>
public enum BertTensorKind
{
    /// <summary>An embedding table.</summary>
    Embedding,
    /// <summary>A Linear weight [out, in].</summary>
    LinearWeight,
    /// <summary>A Linear bias.</summary>
    LinearBias,
    /// <summary>A LayerNorm gamma.</summary>
    LayerNormWeight,
    /// <summary>A LayerNorm beta.</summary>
    LayerNormBias,
}

/// <summary>One expected parameter of a Hugging Face BertModel.</summary>
/// <param name="Name">Hugging Face name (without a "bert." prefix).</param>
/// <param name="Shape">Shape implied by config.json.</param>
/// <param name="Kind">What the parameter is.</param>
public sealed record BertTensorSpec(string Name, int[] Shape, BertTensorKind Kind);

/// <summary>The Hugging Face parameter names and shapes of a BertModel with a given config.</summary>
public static class BertTensorNames
{
    /// <summary>The position_ids buffer that Hugging Face checkpoints carry (I64 [1, max_position_embeddings]); not a weight.</summary>
    public const string PositionIds = "embeddings.position_ids";

    /// <summary>Every parameter the forward pass needs, in module order.</summary>
    public static List<BertTensorSpec> Required(BertConfig c)
    {
        int h = c.HiddenSize, ff = c.IntermediateSize;
        var list = new List<BertTensorSpec>
        {
            new("embeddings.word_embeddings.weight", [c.VocabSize, h], BertTensorKind.Embedding),
            new("embeddings.position_embeddings.weight", [c.MaxPositionEmbeddings, h], BertTensorKind.Embedding),
            new("embeddings.token_type_embeddings.weight", [c.TypeVocabSize, h], BertTensorKind.Embedding),
            new("embeddings.LayerNorm.weight", [h], BertTensorKind.LayerNormWeight),
            new("embeddings.LayerNorm.bias", [h], BertTensorKind.LayerNormBias),
        };
        for (int i = 0; i < c.NumHiddenLayers; i++)
        {
            string p = $"encoder.layer.{i}.";
            foreach (string qkv in new[] { "query", "key", "value" })
            {
                list.Add(new(p + $"attention.self.{qkv}.weight", [h, h], BertTensorKind.LinearWeight));
                list.Add(new(p + $"attention.self.{qkv}.bias", [h], BertTensorKind.LinearBias));
            }
            list.Add(new(p + "attention.output.dense.weight", [h, h], BertTensorKind.LinearWeight));
            list.Add(new(p + "attention.output.dense.bias", [h], BertTensorKind.LinearBias));
            list.Add(new(p + "attention.output.LayerNorm.weight", [h], BertTensorKind.LayerNormWeight));
            list.Add(new(p + "attention.output.LayerNorm.bias", [h], BertTensorKind.LayerNormBias));
            list.Add(new(p + "intermediate.dense.weight", [ff, h], BertTensorKind.LinearWeight));
            list.Add(new(p + "intermediate.dense.bias", [ff], BertTensorKind.LinearBias));
            list.Add(new(p + "output.dense.weight", [h, ff], BertTensorKind.LinearWeight));
            list.Add(new(p + "output.dense.bias", [h], BertTensorKind.LinearBias));
            list.Add(new(p + "output.LayerNorm.weight", [h], BertTensorKind.LayerNormWeight));
            list.Add(new(p + "output.LayerNorm.bias", [h], BertTensorKind.LayerNormBias));
        }
        return list;
    }

    /// <summary>The optional pooler (present in Hugging Face checkpoints, unused by sentence-transformers).</summary>
    public static List<BertTensorSpec> Pooler(BertConfig c) =>
    [
        new("pooler.dense.weight", [c.HiddenSize, c.HiddenSize], BertTensorKind.LinearWeight),
        new("pooler.dense.bias", [c.HiddenSize], BertTensorKind.LinearBias),
    ];
}
