using ManagedEmbed.Encoder.Configuration;

namespace ManagedEmbed.Encoder.Models;

/// <summary>The Hugging Face parameter names and shapes of a BertModel, as the model's own constructors request them.</summary>
public static class BertTensorNames
{
    /// <summary>The position_ids buffer that Hugging Face checkpoints carry (I64 [1, max_position_embeddings]); not a weight.</summary>
    public const string PositionIds = "embeddings.position_ids";

    /// <summary>Every parameter the forward pass needs (from <see cref="EncoderRegistry.Describe"/>).</summary>
    public static List<TensorSpec> Required(BertConfig c) => EncoderRegistry.Describe(c).Where(s => !s.Optional).ToList();

    /// <summary>The optional pooler (present in Hugging Face checkpoints, unused by sentence-transformers).</summary>
    public static List<TensorSpec> Pooler(BertConfig c) =>
        EncoderRegistry.Describe(c).Where(s => s.Optional && s.Name.StartsWith("pooler.", StringComparison.Ordinal)).ToList();
}
