using ManagedEmbed.Encoder;

namespace ManagedEmbed.Collections;

/// <summary>Glue between a collection and the sentence encoder of its model directory.</summary>
internal static class ModelEmbedding
{
    /// <summary>The model's embedding width (loads and validates the model directory).</summary>
    public static int Dimension(string modelDir)
    {
        using var enc = SentenceEncoder.Load(modelDir);
        return enc.Dimension;
    }

    /// <summary>
    /// An embedding function over the model, loaded on first use (read-only opens that never embed don't pay for it).
    /// </summary>
    public static Func<IReadOnlyList<string>, float[][]> Create(string modelDir)
    {
        var lazy = new Lazy<SentenceEncoder>(() => SentenceEncoder.Load(modelDir), LazyThreadSafetyMode.ExecutionAndPublication);
        return texts =>
        {
            var m = lazy.Value.Encode(texts);
            var r = new float[m.Count][];
            for (int i = 0; i < m.Count; i++) r[i] = m.RowArray(i);
            return r;
        };
    }
}
