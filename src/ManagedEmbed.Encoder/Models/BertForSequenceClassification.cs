using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Models;

/// <summary>
/// Hugging Face BertForSequenceClassification: the BERT encoder under "bert.", its pooler (bert.pooler.dense, tanh,
/// applied to the [CLS] row) and the classifier Linear (classifier.weight [num_labels, hidden], classifier.bias);
/// dropout is the identity at inference. Outputs the logits, one row of num_labels per sequence.
/// </summary>
public sealed class BertForSequenceClassification : IDisposable
{
    private readonly LinearWeights _pooler, _classifier;
    private readonly float[] _poolerBias, _classifierBias;

    /// <summary>The encoder.</summary>
    public BertModel Bert { get; }
    /// <summary>Outputs per sequence.</summary>
    public int NumLabels { get; }

    internal BertForSequenceClassification(SafeTensorsFile? file, WeightScope w, BertConfig c, int numLabels)
    {
        var bert = w.Scope("bert");
        Bert = new BertModel(file, bert, c, poolerRequested: true);
        (_pooler, _poolerBias) = bert.Linear("pooler.dense", c.HiddenSize, c.HiddenSize);
        (_classifier, _classifierBias) = w.Linear("classifier", numLabels, c.HiddenSize);
        NumLabels = numLabels;
    }

    /// <summary>Every tensor the model requests, by Hugging Face name, in module order.</summary>
    public static IReadOnlyList<TensorSpec> Describe(BertConfig config, int numLabels) =>
        EncoderRegistry.Plan(w => _ = new BertForSequenceClassification(null, w, config, numLabels));

    /// <summary>Loads <paramref name="safetensorsPath"/>, whose tensors must match <paramref name="config"/> exactly (none missing, none unused).</summary>
    public static BertForSequenceClassification Load(string safetensorsPath, CrossEncoderConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return EncoderRegistry.Load(safetensorsPath, config.Bert, "num_hidden_layers", () => Describe(config.Bert, config.NumLabels),
            (f, w) => new BertForSequenceClassification(f, w, config.Bert, config.NumLabels), m => m.Bert);
    }

    /// <summary>
    /// Runs the model on <paramref name="batch"/> (token types from the batch) and writes the logits
    /// [batch.Count, NumLabels] into <paramref name="logits"/>.
    /// </summary>
    public void Forward(TokenBatch batch, EncoderWorkspace ws, Span<float> logits, KernelThreadPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int n = batch.Count, h = Bert.Config.HiddenSize;
        if (logits.Length < n * NumLabels) throw new ArgumentException($"logits holds {logits.Length} values, {n * NumLabels} needed", nameof(logits));
        Bert.Forward(batch, ws, pool);
        using var lease = Bert.LeaseWeights();
        var cls = new float[n * h];
        for (int s = 0; s < n; s++) ws.Hidden.AsSpan(batch.Offsets[s] * h, h).CopyTo(cls.AsSpan(s * h, h));
        var pooled = new float[n * h];
        _pooler.Forward(cls, n, _poolerBias, pooled, Activation.None, default, pool);
        // BertPooler: tanh(dense(hidden[:, 0])), in double and rounded once (no fused tanh epilogue exists).
        for (int i = 0; i < pooled.Length; i++) pooled[i] = (float)Math.Tanh(pooled[i]);
        _classifier.Forward(pooled, n, _classifierBias, logits[..(n * NumLabels)], Activation.None, default, pool);
    }

    /// <summary>Unmaps the weights file.</summary>
    public void Dispose() => Bert.Dispose();
}
