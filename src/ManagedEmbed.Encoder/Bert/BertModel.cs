using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Bert;

/// <summary>
/// BertModel without the pooler: embeddings, then the encoder stack. Produces the last hidden state of every token.
/// Immutable after loading, so one instance serves concurrent forward passes (each with its own workspace).
/// </summary>
public sealed class BertModel : IDisposable
{
    private readonly SafeTensorsFile _file;

    /// <summary>The configuration.</summary>
    public BertConfig Config { get; }
    /// <summary>The embedding block.</summary>
    public BertEmbeddings Embeddings { get; }
    /// <summary>The layer stack.</summary>
    public BertEncoder Encoder { get; }

    private BertModel(SafeTensorsFile file, BertConfig config)
    {
        _file = file;
        Config = config;
        var weights = BertWeights.Resolve(file, config);
        Embeddings = new BertEmbeddings(weights, config);
        Encoder = new BertEncoder(weights, config);
        weights.ReleasePackBuffer();
    }

    /// <summary>Loads the weights at <paramref name="safetensorsPath"/> for <paramref name="config"/>.</summary>
    public static BertModel Load(string safetensorsPath, BertConfig config)
    {
        var file = SafeTensorsFile.Open(safetensorsPath);
        try { return new BertModel(file, config); }
        catch { file.Dispose(); throw; }
    }

    /// <summary>
    /// Runs the forward pass; on return <c>ws.Hidden[0 .. batch.TotalTokens·hidden)</c> holds the last hidden states,
    /// row r being token r of the packed batch. Kernels are split across <paramref name="pool"/> (null = calling thread).
    /// </summary>
    public void Forward(TokenBatch batch, BertWorkspace ws, KernelThreadPool? pool = null)
    {
        var c = Config;
        ws.Ensure(batch.TotalTokens, batch.MaxLength, c.HiddenSize, c.IntermediateSize, c.HeadDim);
        Embeddings.Forward(batch, ws.Hidden);
        Encoder.Forward(batch, ws, pool);
    }

    /// <summary>Unmaps the weights file.</summary>
    public void Dispose() => _file.Dispose();
}
