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
        _intermediate = PackedMatrix.FromRowMajor(w.GetArray(p + "intermediate.dense.weight"), _ff, _hidden);
        _intermediateBias = w.GetArray(p + "intermediate.dense.bias");
        _output = PackedMatrix.FromRowMajor(w.GetArray(p + "output.dense.weight"), _hidden, _ff);
        _outputBias = w.GetArray(p + "output.dense.bias");
        _lnGamma = w.GetArray(p + "output.LayerNorm.weight");
        _lnBeta = w.GetArray(p + "output.LayerNorm.bias");
        _activation = c.Activation;
        _eps = c.LayerNormEps;
    }

    /// <summary>hidden ← LayerNorm(FFN(hidden) + hidden), in place.</summary>
    public void Forward(TokenBatch batch, BertWorkspace ws)
    {
        int tokens = batch.TotalTokens, h = _hidden;
        Span<float> hidden = ws.Hidden.AsSpan(0, tokens * h);
        Span<float> next = ws.Next.AsSpan(0, tokens * h);
        // Rows go through both GEMMs in blocks of BertWorkspace.FeedForwardRows, so the [rows, intermediate]
        // activations stay small (cache-resident, and a bounded workspace however large the batch):
        // intermediate = act(hidden·W₁ᵀ + b₁); next = (intermediate·W₂ᵀ + b₂) + hidden (residual in the epilogue,
        // Hugging Face's order); then LayerNorm; next becomes the hidden states.
        for (int r0 = 0; r0 < tokens; r0 += BertWorkspace.FeedForwardRows)
        {
            int rows = Math.Min(BertWorkspace.FeedForwardRows, tokens - r0);
            Span<float> intermediate = ws.Intermediate.AsSpan(0, rows * _ff);
            Gemm.Linear(hidden.Slice(r0 * h, rows * h), rows, _intermediate, _intermediateBias, intermediate, _activation, default, ws.Pool);
            Gemm.Linear(intermediate, rows, _output, _outputBias, next.Slice(r0 * h, rows * h), Activation.None, hidden.Slice(r0 * h, rows * h), ws.Pool);
        }
        RowParallel.LayerNorm(ws.Next, tokens, _lnGamma, _lnBeta, _eps, ws);
        ws.SwapHidden();
    }
}
