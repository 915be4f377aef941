using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Bert;

/// <summary>BertLayer: self-attention block, then feed-forward block.</summary>
public sealed class BertLayer
{
    /// <summary>The attention block.</summary>
    public BertSelfAttention Attention { get; }
    /// <summary>The feed-forward block.</summary>
    public BertFeedForward FeedForward { get; }

    internal BertLayer(BertWeights w, BertConfig c, int layer)
    {
        Attention = new BertSelfAttention(w, c, layer);
        FeedForward = new BertFeedForward(w, c, layer);
    }

    /// <summary>Transforms the hidden states in place (kernels split across <paramref name="pool"/>, null = calling thread).</summary>
    public void Forward(TokenBatch batch, BertWorkspace ws, KernelThreadPool? pool = null)
    {
        Attention.Forward(batch, ws, pool);
        FeedForward.Forward(batch, ws, pool);
    }
}

/// <summary>BertEncoder: the stack of layers.</summary>
public sealed class BertEncoder
{
    /// <summary>The layers, bottom first.</summary>
    public IReadOnlyList<BertLayer> Layers { get; }

    internal BertEncoder(BertWeights w, BertConfig c)
    {
        var layers = new BertLayer[c.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++) layers[i] = new BertLayer(w, c, i);
        Layers = layers;
    }

    /// <summary>Runs every layer over the hidden states in place (kernels split across <paramref name="pool"/>, null = calling thread).</summary>
    public void Forward(TokenBatch batch, BertWorkspace ws, KernelThreadPool? pool = null)
    {
        // Indexed loop: foreach over the IReadOnlyList interface would allocate an enumerator per pass.
        for (int i = 0; i < Layers.Count; i++) Layers[i].Forward(batch, ws, pool);
    }
}
