using System.Numerics.Tensors;

namespace ManagedEmbed.Kernels;

/// <summary>Matrix products used by the encoder and by batched index search.</summary>
public static class Gemm
{
    /// <summary>
    /// y[m, n] = act(x[m, k] · Wᵀ + bias), with W packed as [n, k]. <paramref name="bias"/> may be empty.
    /// </summary>
    public static void Linear(ReadOnlySpan<float> x, int m, PackedMatrix w, ReadOnlySpan<float> bias, Span<float> y, Activation activation = Activation.None)
    {
        int n = w.Rows, k = w.Cols;
        if (x.Length < (long)m * k) throw new ArgumentException("x is smaller than m*k.");
        if (y.Length < (long)m * n) throw new ArgumentException("y is smaller than m*n.");
        if (!bias.IsEmpty && bias.Length != n) throw new ArgumentException("bias length must equal the output width.");
        ReadOnlySpan<float> wd = w.Data;
        for (int i = 0; i < m; i++)
        {
            var xi = x.Slice(i * k, k);
            var yi = y.Slice(i * n, n);
            for (int j = 0; j < n; j++) yi[j] = TensorPrimitives.Dot(xi, wd.Slice(j * k, k)) + (bias.IsEmpty ? 0f : bias[j]);
            Activations.Apply(yi, activation);
        }
    }

    /// <summary>C[m, n] = A[m, k] · B[n, k]ᵀ with explicit row strides (in elements) for A, B and C.</summary>
    public static void MatMulTransB(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, int m, int n, int k)
    {
        for (int i = 0; i < m; i++)
        {
            var ai = a.Slice(i * lda, k);
            for (int j = 0; j < n; j++) c[i * ldc + j] = TensorPrimitives.Dot(ai, b.Slice(j * ldb, k));
        }
    }
}
