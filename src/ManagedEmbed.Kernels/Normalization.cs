using System.Numerics.Tensors;

namespace ManagedEmbed.Kernels;

/// <summary>Row-wise LayerNorm and softmax.</summary>
public static class Normalization
{
    /// <summary>
    /// In-place LayerNorm over each of the <c>x.Length / gamma.Length</c> rows:
    /// (x - mean) / sqrt(var + eps) * gamma + beta, with biased variance as PyTorch computes it.
    /// </summary>
    public static void LayerNorm(Span<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, float eps)
    {
        int d = gamma.Length;
        if (beta.Length != d || x.Length % d != 0) throw new ArgumentException("LayerNorm shapes do not match.");
        for (int r = 0; r < x.Length / d; r++)
        {
            var row = x.Slice(r * d, d);
            double mean = 0; for (int i = 0; i < d; i++) mean += row[i]; mean /= d;
            double var = 0; for (int i = 0; i < d; i++) { double t = row[i] - mean; var += t * t; } var /= d;
            float inv = (float)(1.0 / Math.Sqrt(var + eps));
            float mf = (float)mean;
            for (int i = 0; i < d; i++) row[i] = (row[i] - mf) * inv * gamma[i] + beta[i];
        }
    }

    /// <summary>In-place numerically stable softmax of one row.</summary>
    public static void Softmax(Span<float> x)
    {
        if (x.IsEmpty) return;
        float max = TensorPrimitives.Max(x);
        float sum = 0;
        for (int i = 0; i < x.Length; i++) { float e = MathF.Exp(x[i] - max); x[i] = e; sum += e; }
        float inv = 1f / sum;
        for (int i = 0; i < x.Length; i++) x[i] *= inv;
    }
}
