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
        _intermediate = w.Pack(p + "intermediate.dense.weight");
        _intermediateBias = w.GetArray(p + "intermediate.dense.bias");
        _output = w.Pack(p + "output.dense.weight");
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
        int tokens = batch.TotalTokens, h = _hidden;
        Span<float> hidden = ws.Hidden.AsSpan(0, tokens * h);
        Span<float> next = ws.Next.AsSpan(0, tokens * h);
        // Rows go through both GEMMs in blocks of BertWorkspace.FeedForwardRows, so the [rows, intermediate]
        // activations stay small (cache-resident, and a bounded workspace however large the batch).
        for (int r0 = 0; r0 < tokens; r0 += BertWorkspace.FeedForwardRows)
        {
            int rows = Math.Min(BertWorkspace.FeedForwardRows, tokens - r0);
            Span<float> block = hidden.Slice(r0 * h, rows * h);
            Span<float> intermediate = ws.Intermediate.AsSpan(0, rows * _ff);
            // intermediate = act(block·W₁ᵀ + b₁)
            Gemm.Linear(block, rows, _intermediate, _intermediateBias, intermediate, _activation, default, pool);
            // next = (intermediate·W₂ᵀ + b₂) + block: the residual joins in the GEMM epilogue after the dense output is
            // complete, Hugging Face's rounding order (an in-place residual would accumulate the product onto it and
            // measured 10x the parity error).
            Gemm.Linear(intermediate, rows, _output, _outputBias, next.Slice(r0 * h, rows * h), Activation.None, block, pool);
        }
        RowParallel.LayerNorm(ws.Next, tokens, _lnGamma, _lnBeta, _eps, ws, pool);
        ws.SwapHidden();
    }
}
