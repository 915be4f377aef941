using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Bert;

/// <summary>
/// BertIntermediate + BertOutput: act(x W₁ᵀ + b₁) W₂ᵀ + b₂, then the residual add and LayerNorm.
/// The activation (gelu erf form, gelu tanh form, relu) runs in the first GEMM's epilogue, the residual in the second's.
/// </summary>
public sealed class BertFeedForward
{
    private readonly PackedMatrix _intermediate, _output;
    private readonly float[] _intermediateBias, _outputBias, _lnGamma, _lnBeta;
    private readonly Activation _activation;
    private readonly int _hidden, _ff;
    private readonly float _eps;

    internal BertFeedForward(BertWeights w, BertConfig c, int layer)
    {
        string p = $"encoder.layer.{layer}.";
        _hidden = c.HiddenSize;
        _ff = c.IntermediateSize;
        _intermediate = PackedMatrix.FromRowMajor(w.Get(p + "intermediate.dense.weight").Span, _ff, _hidden);
        _intermediateBias = w.GetArray(p + "intermediate.dense.bias");
        _output = PackedMatrix.FromRowMajor(w.Get(p + "output.dense.weight").Span, _hidden, _ff);
        _outputBias = w.GetArray(p + "output.dense.bias");
        _lnGamma = w.GetArray(p + "output.LayerNorm.weight");
        _lnBeta = w.GetArray(p + "output.LayerNorm.bias");
        _activation = c.Activation;
        _eps = c.LayerNormEps;
    }

    /// <summary>hidden ← LayerNorm(FFN(hidden) + hidden), in place, on the calling thread.</summary>
    public void Forward(TokenBatch batch, BertWorkspace ws) => Forward(batch, ws, null);

    /// <summary>hidden ← LayerNorm(FFN(hidden) + hidden), in place, split across <paramref name="pool"/>.</summary>
    public void Forward(TokenBatch batch, BertWorkspace ws, KernelThreadPool? pool)
    {
        int tokens = batch.TotalTokens;
        Span<float> hidden = ws.Hidden.AsSpan(0, tokens * _hidden);
        Span<float> intermediate = ws.Intermediate.AsSpan(0, tokens * _ff);
        Gemm.Linear(hidden, tokens, _intermediate, _intermediateBias, intermediate, _activation, default, pool);
        // hidden += intermediate·W₂ᵀ + b₂ (in-place residual in the GEMM epilogue), then LayerNorm.
        Gemm.Linear(intermediate, tokens, _output, _outputBias, hidden, Activation.None, hidden, pool);
        RowParallel.LayerNorm(hidden, tokens, _lnGamma, _lnBeta, _eps, ws, pool);
    }
}
