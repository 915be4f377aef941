using System.Numerics.Tensors;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Bert;

/// <summary>
/// BertIntermediate + BertOutput: act(x W₁ᵀ + b₁) W₂ᵀ + b₂, then the residual add and LayerNorm.
/// The activation (gelu erf form, gelu tanh form, relu) runs in the first GEMM's epilogue.
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

    /// <summary>hidden ← LayerNorm(FFN(hidden) + hidden), in place.</summary>
    public void Forward(TokenBatch batch, BertWorkspace ws)
    {
        int tokens = batch.TotalTokens;
        Span<float> hidden = ws.Hidden.AsSpan(0, tokens * _hidden);
        Span<float> intermediate = ws.Intermediate.AsSpan(0, tokens * _ff);
        Span<float> projected = ws.Projected.AsSpan(0, tokens * _hidden);
        Gemm.Linear(hidden, tokens, _intermediate, _intermediateBias, intermediate, _activation);
        Gemm.Linear(intermediate, tokens, _output, _outputBias, projected);
        TensorPrimitives.Add(projected, hidden, hidden);
        Normalization.LayerNorm(hidden, _lnGamma, _lnBeta, _eps);
    }
}
