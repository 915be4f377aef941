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
    private IReadOnlyList<PackedMatrix>? _toPack;
    private int _packingStarted;
    private int _passes;
    private readonly Lock _packGate = new();
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
        int parts = SequenceSplit.Parts(batch, pool);
        // Split: the groups' own workspaces hold the activations; this one only receives the last hidden states.
        if (parts > 1) ws.EnsureHidden(batch.TotalTokens, Config.HiddenSize);
        else ws.Ensure(batch.TotalTokens, Config.HiddenSize, Config.IntermediateSize);
        // The panels are wanted from the second pass on, or now for a large batch: they are packed in the background
        // while passes read the layers not packed yet in place (identical results). A process that embeds one short
        // text (the CLI's cold start) never packs.
        if (batch.TotalTokens > SmallPassTokens || Interlocked.Exchange(ref _passes, 1) != 0) StartPackingNow();
        using (LeaseWeights())
        {
            if (parts > 1) ws.Split.Run(this, batch, ws, pool!, parts);
            else ForwardLayers(batch, ws, pool);
        }
    }

    /// <summary>Embeddings, then every layer, over the whole batch (the caller holds the mapping lease).</summary>
    internal void ForwardLayers(TokenBatch batch, EncoderWorkspace ws, KernelThreadPool? pool)
    {
        Embeddings.Forward(batch, ws.Hidden);
        var bias = AttentionBias;
        for (int i = 0; i < _layers.Length; i++) _layers[i].Forward(batch, ws, pool, bias);
    }

    /// <summary>
    /// A first pass of at most this many tokens does not start the packer: reading the weights in place costs about
    /// 2 ms of CPU per MiniLM pass more than the panels, packing them all several times that (BENCHMARKS.md "Cold
    /// start: weights read in place").
    /// </summary>
    private const int SmallPassTokens = 16;

    /// <summary>Keeps the weights' memory map alive while a pass reads it (a concurrent Dispose unmaps after it).</summary>
    internal SafeTensorsFile.MappingLease LeaseWeights() => _file?.LeaseMapping() ?? default;

    /// <summary>
    /// Schedules the packing of the GEMM weights on a background thread, bottom layer first. When every matrix can be
    /// read in place from the memory map (F32 weights), packing starts with the second forward pass, or the first if it
    /// has more than <see cref="SmallPassTokens"/> tokens: a process that embeds one short text never pays for panels
    /// (CPU, fresh memory), and later passes use each layer's panels once ready. Otherwise packing starts now, while
    /// the caller loads the tokenizer and tokenizes, and a forward pass that reaches a layer first packs it.
    /// </summary>
    internal void StartPacking(IReadOnlyList<PackedMatrix> matrices)
    {
        if (matrices.Count == 0) return;
        _toPack = matrices;
        if (!matrices.All(m => m.HasRowMajorSource)) StartPackingNow();
    }

    /// <summary>The GEMM weights the packer packs (for tests).</summary>
    internal IReadOnlyList<PackedMatrix> PackableMatrices => _toPack ?? [];

    /// <summary>True once the background packer has been started (see <see cref="StartPacking"/>).</summary>
    internal bool PackingStarted => Volatile.Read(ref _packingStarted) != 0;

    private void StartPackingNow()
    {
        if (_toPack is not { } matrices || Volatile.Read(ref _packingStarted) != 0) return;
        lock (_packGate)
        {
            // Under the lock so Dispose (which takes it too) never misses a packer that is just starting.
            if (_packingStarted != 0 || _stopPacking) return;
            _packingStarted = 1;
            StartPacker(matrices);
        }
    }

    private void StartPacker(IReadOnlyList<PackedMatrix> matrices)
    {
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
        lock (_packGate) _stopPacking = true;
        _packer?.Join();
        _file?.Dispose();
        GC.SuppressFinalize(this);
    }
}
