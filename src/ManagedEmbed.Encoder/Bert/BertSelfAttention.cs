using System.Numerics.Tensors;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Bert;

/// <summary>
/// BertAttention = BertSelfAttention + BertSelfOutput: multi-head self-attention over each sequence's own tokens,
/// then the output dense layer, the residual add and LayerNorm. Query, key and value weights are fused into one
/// packed [3·hidden, hidden] matrix so one GEMM projects all three.
/// </summary>
public sealed class BertSelfAttention
{
    private readonly PackedMatrix _qkv;
    private readonly float[] _qkvBias;
    private readonly PackedMatrix _outDense;
    private readonly float[] _outBias, _lnGamma, _lnBeta;
    private readonly int _hidden, _heads, _headDim;
    private readonly float _eps, _scale;

    internal BertSelfAttention(BertWeights w, BertConfig c, int layer)
    {
        string p = $"encoder.layer.{layer}.attention.";
        int h = c.HiddenSize;
        var fused = new float[3 * h * h];
        _qkvBias = new float[3 * h];
        string[] parts = ["query", "key", "value"];
        for (int i = 0; i < 3; i++)
        {
            w.Get(p + $"self.{parts[i]}.weight").Span.CopyTo(fused.AsSpan(i * h * h, h * h));
            w.Get(p + $"self.{parts[i]}.bias").Span.CopyTo(_qkvBias.AsSpan(i * h, h));
        }
        _qkv = PackedMatrix.FromRowMajor(fused, 3 * h, h);
        _outDense = PackedMatrix.FromRowMajor(w.Get(p + "output.dense.weight").Span, h, h);
        _outBias = w.GetArray(p + "output.dense.bias");
        _lnGamma = w.GetArray(p + "output.LayerNorm.weight");
        _lnBeta = w.GetArray(p + "output.LayerNorm.bias");
        _hidden = h;
        _heads = c.NumAttentionHeads;
        _headDim = c.HeadDim;
        _eps = c.LayerNormEps;
        // Scores are scaled by 1/sqrt(head_dim) before the softmax, as in Hugging Face.
        _scale = (float)(1.0 / Math.Sqrt(_headDim));
    }

    /// <summary>hidden ← LayerNorm(dense(attention(hidden)) + hidden), in place.</summary>
    public void Forward(TokenBatch batch, BertWorkspace ws)
    {
        int tokens = batch.TotalTokens, h = _hidden, d = _headDim, ld = 3 * h;
        Span<float> hidden = ws.Hidden.AsSpan(0, tokens * h);
        Span<float> qkv = ws.Qkv.AsSpan(0, tokens * ld);
        Span<float> context = ws.Context.AsSpan(0, tokens * h);

        // 1. Q | K | V for every token: [tokens, 3h].
        Gemm.Linear(hidden, tokens, _qkv, _qkvBias, qkv);

        // 2. Per sequence and head: P = softmax(Q Kᵀ · scale) over the sequence's own tokens; context = P V.
        for (int s = 0; s < batch.Count; s++)
        {
            int offset = batch.Offsets[s], len = batch.Lengths[s];
            Span<float> scores = ws.Scores.AsSpan(0, len * len);
            Span<float> valuesT = ws.ValuesT.AsSpan(0, d * len);
            for (int head = 0; head < _heads; head++)
            {
                int q = offset * ld + head * d, k = q + h, v = q + 2 * h;
                Gemm.MatMulTransB(qkv[q..], ld, qkv[k..], ld, scores, len, len, len, d);
                TensorPrimitives.Multiply(scores, _scale, scores);
                for (int i = 0; i < len; i++) Normalization.Softmax(scores.Slice(i * len, len));

                // P V = P · (Vᵀ)ᵀ: transpose this head's values so the product is an A·Bᵀ GEMM.
                for (int t = 0; t < len; t++)
                {
                    var vrow = qkv.Slice(v + t * ld, d);
                    for (int j = 0; j < d; j++) valuesT[j * len + t] = vrow[j];
                }
                Gemm.MatMulTransB(scores, len, valuesT, len, context[(offset * h + head * d)..], h, len, d, len);
            }
        }

        // 3. Output dense, residual, LayerNorm.
        Span<float> projected = ws.Projected.AsSpan(0, tokens * h);
        Gemm.Linear(context, tokens, _outDense, _outBias, projected);
        TensorPrimitives.Add(projected, hidden, hidden);
        Normalization.LayerNorm(hidden, _lnGamma, _lnBeta, _eps);
    }
}
