// Attention's register tiles on Vector512. AttentionProduct256.cs and AttentionProduct128.cs are generated from this
// file by tools/gen_simdmath.sh (the body is width-independent); edit this file and regenerate.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ManagedEmbed.Kernels;

public static partial class Attention
{
    /// <summary>
    /// c[r, j] = Σ_p a[r, p]·b[p, j] over p = 0..<paramref name="kdim"/>−1 in order, for r &lt; <paramref name="rows"/> (≤ 8)
    /// and j &lt; <paramref name="n"/>: column blocks of two vectors, then of one, then a scalar tail (b is read only below n).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Product512(float* a, nint lda, int rows, float* b, nint ldb, int kdim, float* c, nint ldc, int n)
    {
        int w = Vector512<float>.Count, j = 0;
        if (w != 16)
        {
            // 16 registers (the generated narrower files): two halves of 4 rows x 2 vectors, 8 accumulators each
            // (measured: 8 x 1 blocks on Vector256 were 10-15% slower than the GEMM path at 128 tokens).
            Rows4x512(a, lda, Math.Min(rows, 4), b, ldb, kdim, c, ldc, n);
            if (rows > 4) Rows4x512(a + 4 * lda, lda, rows - 4, b, ldb, kdim, c + 4 * ldc, ldc, n);
            return;
        }
        // Rows past the last one repeat it (their results are not stored), so the tile needs no row-count variants.
        float* a0 = a, a1 = rows > 1 ? a + lda : a0, a2 = rows > 2 ? a + 2 * lda : a1, a3 = rows > 3 ? a + 3 * lda : a2;
        float* a4 = rows > 4 ? a + 4 * lda : a3, a5 = rows > 5 ? a + 5 * lda : a4, a6 = rows > 6 ? a + 6 * lda : a5, a7 = rows > 7 ? a + 7 * lda : a6;
        // 8 rows x 2 vectors: 16 accumulators in 32 registers.
        for (; j + 2 * w <= n; j += 2 * w)
        {
            Vector512<float> c00 = Vector512<float>.Zero, c01 = Vector512<float>.Zero, c10 = Vector512<float>.Zero, c11 = Vector512<float>.Zero, c20 = Vector512<float>.Zero, c21 = Vector512<float>.Zero, c30 = Vector512<float>.Zero, c31 = Vector512<float>.Zero;
            Vector512<float> c40 = Vector512<float>.Zero, c41 = Vector512<float>.Zero, c50 = Vector512<float>.Zero, c51 = Vector512<float>.Zero, c60 = Vector512<float>.Zero, c61 = Vector512<float>.Zero, c70 = Vector512<float>.Zero, c71 = Vector512<float>.Zero;
            float* bp = b + j;
            for (int p = 0; p < kdim; p++, bp += ldb)
            {
                Vector512<float> b0 = Vector512.Load(bp), b1 = Vector512.Load(bp + w);
                Vector512<float> x = Vector512.Create(a0[p]); c00 = Vector512.MultiplyAddEstimate(x, b0, c00); c01 = Vector512.MultiplyAddEstimate(x, b1, c01);
                x = Vector512.Create(a1[p]); c10 = Vector512.MultiplyAddEstimate(x, b0, c10); c11 = Vector512.MultiplyAddEstimate(x, b1, c11);
                x = Vector512.Create(a2[p]); c20 = Vector512.MultiplyAddEstimate(x, b0, c20); c21 = Vector512.MultiplyAddEstimate(x, b1, c21);
                x = Vector512.Create(a3[p]); c30 = Vector512.MultiplyAddEstimate(x, b0, c30); c31 = Vector512.MultiplyAddEstimate(x, b1, c31);
                x = Vector512.Create(a4[p]); c40 = Vector512.MultiplyAddEstimate(x, b0, c40); c41 = Vector512.MultiplyAddEstimate(x, b1, c41);
                x = Vector512.Create(a5[p]); c50 = Vector512.MultiplyAddEstimate(x, b0, c50); c51 = Vector512.MultiplyAddEstimate(x, b1, c51);
                x = Vector512.Create(a6[p]); c60 = Vector512.MultiplyAddEstimate(x, b0, c60); c61 = Vector512.MultiplyAddEstimate(x, b1, c61);
                x = Vector512.Create(a7[p]); c70 = Vector512.MultiplyAddEstimate(x, b0, c70); c71 = Vector512.MultiplyAddEstimate(x, b1, c71);
            }
            float* cp = c + j;
            Vector512.Store(c00, cp); Vector512.Store(c01, cp + w);
            if (rows > 1) { Vector512.Store(c10, cp + ldc); Vector512.Store(c11, cp + ldc + w); }
            if (rows > 2) { Vector512.Store(c20, cp + 2 * ldc); Vector512.Store(c21, cp + 2 * ldc + w); }
            if (rows > 3) { Vector512.Store(c30, cp + 3 * ldc); Vector512.Store(c31, cp + 3 * ldc + w); }
            if (rows > 4) { Vector512.Store(c40, cp + 4 * ldc); Vector512.Store(c41, cp + 4 * ldc + w); }
            if (rows > 5) { Vector512.Store(c50, cp + 5 * ldc); Vector512.Store(c51, cp + 5 * ldc + w); }
            if (rows > 6) { Vector512.Store(c60, cp + 6 * ldc); Vector512.Store(c61, cp + 6 * ldc + w); }
            if (rows > 7) { Vector512.Store(c70, cp + 7 * ldc); Vector512.Store(c71, cp + 7 * ldc + w); }
        }
        for (; j + w <= n; j += w)
        {
            Vector512<float> c0 = Vector512<float>.Zero, c1 = Vector512<float>.Zero, c2 = Vector512<float>.Zero, c3 = Vector512<float>.Zero;
            Vector512<float> c4 = Vector512<float>.Zero, c5 = Vector512<float>.Zero, c6 = Vector512<float>.Zero, c7 = Vector512<float>.Zero;
            float* bp = b + j;
            for (int p = 0; p < kdim; p++, bp += ldb)
            {
                Vector512<float> b0 = Vector512.Load(bp);
                c0 = Vector512.MultiplyAddEstimate(Vector512.Create(a0[p]), b0, c0);
                c1 = Vector512.MultiplyAddEstimate(Vector512.Create(a1[p]), b0, c1);
                c2 = Vector512.MultiplyAddEstimate(Vector512.Create(a2[p]), b0, c2);
                c3 = Vector512.MultiplyAddEstimate(Vector512.Create(a3[p]), b0, c3);
                c4 = Vector512.MultiplyAddEstimate(Vector512.Create(a4[p]), b0, c4);
                c5 = Vector512.MultiplyAddEstimate(Vector512.Create(a5[p]), b0, c5);
                c6 = Vector512.MultiplyAddEstimate(Vector512.Create(a6[p]), b0, c6);
                c7 = Vector512.MultiplyAddEstimate(Vector512.Create(a7[p]), b0, c7);
            }
            float* cp = c + j;
            Vector512.Store(c0, cp);
            if (rows > 1) Vector512.Store(c1, cp + ldc);
            if (rows > 2) Vector512.Store(c2, cp + 2 * ldc);
            if (rows > 3) Vector512.Store(c3, cp + 3 * ldc);
            if (rows > 4) Vector512.Store(c4, cp + 4 * ldc);
            if (rows > 5) Vector512.Store(c5, cp + 5 * ldc);
            if (rows > 6) Vector512.Store(c6, cp + 6 * ldc);
            if (rows > 7) Vector512.Store(c7, cp + 7 * ldc);
        }
        if (j < n) Tail512(a, lda, rows, b, ldb, kdim, c, ldc, j, n);
    }

    /// <summary>The same product for r &lt; <paramref name="rows"/> ≤ 4: blocks of 4 rows x 2 vectors, then x 1, then the scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Rows4x512(float* a, nint lda, int rows, float* b, nint ldb, int kdim, float* c, nint ldc, int n)
    {
        int w = Vector512<float>.Count, j = 0;
        float* a0 = a, a1 = rows > 1 ? a + lda : a0, a2 = rows > 2 ? a + 2 * lda : a1, a3 = rows > 3 ? a + 3 * lda : a2;
        for (; j + 2 * w <= n; j += 2 * w)
        {
            Vector512<float> c00 = Vector512<float>.Zero, c01 = Vector512<float>.Zero, c10 = Vector512<float>.Zero, c11 = Vector512<float>.Zero;
            Vector512<float> c20 = Vector512<float>.Zero, c21 = Vector512<float>.Zero, c30 = Vector512<float>.Zero, c31 = Vector512<float>.Zero;
            float* bp = b + j;
            for (int p = 0; p < kdim; p++, bp += ldb)
            {
                Vector512<float> b0 = Vector512.Load(bp), b1 = Vector512.Load(bp + w);
                Vector512<float> x = Vector512.Create(a0[p]); c00 = Vector512.MultiplyAddEstimate(x, b0, c00); c01 = Vector512.MultiplyAddEstimate(x, b1, c01);
                x = Vector512.Create(a1[p]); c10 = Vector512.MultiplyAddEstimate(x, b0, c10); c11 = Vector512.MultiplyAddEstimate(x, b1, c11);
                x = Vector512.Create(a2[p]); c20 = Vector512.MultiplyAddEstimate(x, b0, c20); c21 = Vector512.MultiplyAddEstimate(x, b1, c21);
                x = Vector512.Create(a3[p]); c30 = Vector512.MultiplyAddEstimate(x, b0, c30); c31 = Vector512.MultiplyAddEstimate(x, b1, c31);
            }
            float* cp = c + j;
            Vector512.Store(c00, cp); Vector512.Store(c01, cp + w);
            if (rows > 1) { Vector512.Store(c10, cp + ldc); Vector512.Store(c11, cp + ldc + w); }
            if (rows > 2) { Vector512.Store(c20, cp + 2 * ldc); Vector512.Store(c21, cp + 2 * ldc + w); }
            if (rows > 3) { Vector512.Store(c30, cp + 3 * ldc); Vector512.Store(c31, cp + 3 * ldc + w); }
        }
        for (; j + w <= n; j += w)
        {
            Vector512<float> c0 = Vector512<float>.Zero, c1 = Vector512<float>.Zero, c2 = Vector512<float>.Zero, c3 = Vector512<float>.Zero;
            float* bp = b + j;
            for (int p = 0; p < kdim; p++, bp += ldb)
            {
                Vector512<float> b0 = Vector512.Load(bp);
                c0 = Vector512.MultiplyAddEstimate(Vector512.Create(a0[p]), b0, c0);
                c1 = Vector512.MultiplyAddEstimate(Vector512.Create(a1[p]), b0, c1);
                c2 = Vector512.MultiplyAddEstimate(Vector512.Create(a2[p]), b0, c2);
                c3 = Vector512.MultiplyAddEstimate(Vector512.Create(a3[p]), b0, c3);
            }
            float* cp = c + j;
            Vector512.Store(c0, cp);
            if (rows > 1) Vector512.Store(c1, cp + ldc);
            if (rows > 2) Vector512.Store(c2, cp + 2 * ldc);
            if (rows > 3) Vector512.Store(c3, cp + 3 * ldc);
        }
        if (j < n) Tail512(a, lda, rows, b, ldb, kdim, c, ldc, j, n);
    }

    /// <summary>Columns [<paramref name="j0"/>, n) of the product, one lane of the vector multiply-add at a time (fused where the vector's is).</summary>
    private static unsafe void Tail512(float* a, nint lda, int rows, float* b, nint ldb, int kdim, float* c, nint ldc, int j0, int n)
    {
        for (int r = 0; r < rows; r++)
            for (int j = j0; j < n; j++)
            {
                float* ar = a + r * lda;
                Vector512<float> acc = Vector512<float>.Zero;
                for (int p = 0; p < kdim; p++) acc = Vector512.MultiplyAddEstimate(Vector512.Create(ar[p]), Vector512.Create(b[p * ldb + j]), acc);
                c[r * ldc + j] = Vector512.ToScalar(acc);
            }
    }
}
