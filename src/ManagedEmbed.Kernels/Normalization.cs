using System.Numerics.Tensors;

namespace ManagedEmbed.Kernels;

/// <summary>Row-wise LayerNorm and softmax, vectorized.</summary>
public static class Normalization
{
    /// <summary>
    /// In-place LayerNorm over each of the <c>x.Length / gamma.Length</c> rows:
    /// (x - mean) / sqrt(var + eps) * gamma + beta, with biased variance as PyTorch computes it.
    /// </summary>
    /// <remarks>
    /// Two passes in float32 over vector accumulators (TensorPrimitives picks Vector512/256/128): the mean, then the
    /// variance of the centered row, which avoids the cancellation of the one-pass E[x²] − E[x]² form.
    /// </remarks>
    public static void LayerNorm(Span<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float eps)
    {
        int d = gamma.Length;
        if (d == 0 || beta.Length != d || x.Length % d != 0) throw new ArgumentException("LayerNorm shapes do not match.");
        for (int r = 0; r < x.Length / d; r++)
        {
            var row = x.Slice(r * d, d);
            float mean = TensorPrimitives.Sum<float>(row) / d;
            TensorPrimitives.Subtract(row, mean, row);
            float var = TensorPrimitives.SumOfSquares<float>(row) / d;
            float inv = 1f / MathF.Sqrt(var + eps);
            // row = (row * inv) * gamma + beta
            TensorPrimitives.Multiply(row, inv, row);
            TensorPrimitives.FusedMultiplyAdd(row, gamma, beta, row);
        }
    }

    /// <summary>In-place numerically stable softmax of one row (vectorized exp, |rel err| ≲ 2 ulp per term).</summary>
    public static void Softmax(Span<float> x) => Softmax(x, 1f);

    /// <summary>
    /// In-place softmax of <paramref name="scale"/>·x (scale &gt; 0), as attention uses it (scale = 1/√head_dim):
    /// exp(scale·x − scale·max) / Σ: one pass for the max, one for the exponentials and their sum, one to normalize,
    /// all in one call (attention rows are short, so per-call overhead matters).
    /// </summary>
    public static unsafe void Softmax(Span<float> x, float scale)
    {
        if (!(scale > 0) || float.IsInfinity(scale)) throw new ArgumentOutOfRangeException(nameof(scale), "scale must be positive and finite.");
        if (x.IsEmpty) return;
        fixed (float* p = x) SimdMath.SoftmaxRows(p, 0, 1, x.Length, scale);
    }
}
