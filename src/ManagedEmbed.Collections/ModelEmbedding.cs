namespace ManagedEmbed.Collections;

/// <summary>Glue between a collection and the sentence encoder of its model directory.</summary>
internal static class ModelEmbedding
{
    public static int Dimension(string modelDir) =>
        throw new ManagedEmbedException($"model-backed collections need the encoder, which this build does not include yet (model {modelDir})");

    public static Func<IReadOnlyList<string>, float[][]> Create(string modelDir) =>
        throw new ManagedEmbedException($"model-backed collections need the encoder, which this build does not include yet (model {modelDir})");
}
