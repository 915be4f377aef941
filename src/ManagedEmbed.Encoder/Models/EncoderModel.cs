using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Models;

/// <summary>
/// A transformer encoder without its pooler: token ids in, the last hidden state of every token out. Implementations
/// (one short file per architecture) are chosen by <see cref="EncoderRegistry"/> from config.json. A loaded model
/// is immutable, so one instance serves concurrent forward passes, each with its own <see cref="EncoderWorkspace"/>.
/// </summary>
public interface IEncoderModel : IDisposable
{
    /// <summary>The parsed config.json.</summary>
    TransformerConfig Config { get; }

    /// <summary>
    /// Runs the forward pass; on return <c>ws.Hidden[0 .. batch.TotalTokens·hidden)</c> holds the last hidden states,
    /// row r being token r of the packed batch. Kernels are split across <paramref name="pool"/> (null = calling thread).
    /// </summary>
    void Forward(TokenBatch batch, EncoderWorkspace ws, KernelThreadPool? pool = null);
}

/// <summary>
/// Base of the architectures: owns the weights file, sizes the workspace and runs embeddings → layers, passing each
/// layer the architecture's attention bias (none for BERT and DistilBERT).
/// </summary>
public abstract class EncoderModel : IEncoderModel
{
    private readonly SafeTensorsFile? _file;
    private readonly TransformerLayer[] _layers;
    private Thread? _packer;
    private volatile bool _stopPacking;

    /// <inheritdoc />
    public TransformerConfig Config { get; }
    /// <summary>The embedding block.</summary>
    public EmbeddingsBlock Embeddings { get; }
    /// <summary>The layers, bottom first.</summary>
    public IReadOnlyList<TransformerLayer> Layers => _layers;

    /// <summary>Composes a model; <paramref name="file"/> is null while the model is only described (plan).</summary>
    protected EncoderModel(SafeTensorsFile? file, TransformerConfig config, EmbeddingsBlock embeddings, TransformerLayer[] layers)
    {
        _file = file;
        Config = config;
        Embeddings = embeddings;
        _layers = layers;
    }

    /// <summary>The additive attention bias shared by every layer, or null.</summary>
    protected virtual IAttentionBias? AttentionBias => null;

    /// <inheritdoc />
    public void Forward(TokenBatch batch, EncoderWorkspace ws, KernelThreadPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(ws);
        if (batch.MaxLength > Config.MaxSequenceLength)
            throw new ManagedEmbedException($"sequence of {batch.MaxLength} tokens exceeds the {Config.MaxSequenceLength} positions of max_position_embeddings {Config.MaxPositionEmbeddings}");
        ws.Ensure(batch.TotalTokens, Config.HiddenSize, Config.IntermediateSize);
        Embeddings.Forward(batch, ws.Hidden);
        var bias = AttentionBias;
        for (int i = 0; i < _layers.Length; i++) _layers[i].Forward(batch, ws, pool, bias);
    }

    /// <summary>
    /// Packs the GEMM weights on a background thread, bottom layer first, while the caller loads the tokenizer and
    /// tokenizes (cold start); a forward pass that reaches a layer first packs it itself.
    /// </summary>
    internal void StartPacking(IReadOnlyList<PackedMatrix> matrices)
    {
        if (matrices.Count == 0) return;
        _packer = new Thread(() =>
        {
            try
            {
                foreach (var m in matrices)
                {
                    if (_stopPacking) return;
                    m.EnsurePacked();
                }
            }
            catch (Exception e) when (e is ManagedEmbedException or IOException or ObjectDisposedException)
            {
                // Left unpacked: the forward pass that needs the matrix packs it and reports the error on its thread.
                return;
            }
            PackedMatrix.ReleaseStaging();
        }) { IsBackground = true, Name = "membed weight packer" };
        _packer.Start();
    }

    /// <summary>Stops the background packer and unmaps the weights file.</summary>
    public void Dispose()
    {
        // The packer reads the file: it must stop (after its current matrix) before the file closes.
        _stopPacking = true;
        _packer?.Join();
        _file?.Dispose();
        GC.SuppressFinalize(this);
    }
}
