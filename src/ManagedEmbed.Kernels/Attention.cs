using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ManagedEmbed.Kernels;

/// <summary>
/// Scaled dot-product attention of one (sequence, head), sized for sentence lengths: no GEMM job, chunk plan, tile
/// dispatch or packing of V for products this small. Kᵀ is transposed once into an L1 panel; scores are computed 8
/// rows at a time, softmaxed while those rows are in L1 and multiplied by V read in place (a packed copy of V
/// measured 1-11% slower, 2 threads and 1, every shape of attention-ab).
/// </summary>
/// <remarks>
/// Every score is the chain acc ← q[i, c]·k[j, c] + acc over c = 0..d−1 from 0, and every context element the chain
/// over j = 0..len−1 of p[i, j]·v[j, c], with the multiply-add of the GEMM micro-kernel of the same vector path (fused
/// where the hardware has FMA), and the softmax is <see cref="Normalization.Softmax(Span{float}, float)"/>'s: results
/// are bit-identical to <see cref="Gemm.MatMulTransB(ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, Span{float}, int, int, int, int)"/>,
/// the softmax and <see cref="Gemm.MatMul"/> at three or more tokens.
/// </remarks>
public static partial class Attention
{
    /// <summary>
    /// Rows per block: the register tile's rows (8 x 2 vectors on the 512-bit path; two 4 x 2 halves on the 16-register
    /// paths: 16 or 8 accumulators, enough FMA chains in flight) and the rows one softmax call overlaps.
    /// </summary>
    private const int TileRows = 8;

    /// <summary>
    /// context[i, c] = Σⱼ softmax(scale·q[i]·Kᵀ)[j]·v[j, c] for i, j &lt; <paramref name="len"/>, c &lt; <paramref name="headDim"/>;
    /// q, k, v and context are row-major with row strides <paramref name="ldq"/>, <paramref name="ldk"/>, <paramref name="ldv"/>,
    /// <paramref name="ldc"/> (e.g. one head's columns of a fused [tokens, 3·hidden] Q | K | V buffer). Runs on the
    /// calling thread; context must not overlap the inputs.
    /// </summary>
    public static unsafe void Forward(ReadOnlySpan<float> q, int ldq, ReadOnlySpan<float> k, int ldk, ReadOnlySpan<float> v, int ldv,
        Span<float> context, int ldc, int len, int headDim, float scale)
    {
        if (!(scale > 0) || float.IsInfinity(scale)) throw new ArgumentOutOfRangeException(nameof(scale), "scale must be positive and finite.");
        Gemm.CheckStrided(q, ldq, len, headDim, nameof(q));
        Gemm.CheckStrided(k, ldk, len, headDim, nameof(k));
        Gemm.CheckStrided(v, ldv, len, headDim, nameof(v));
        Gemm.CheckStrided(context, ldc, len, headDim, nameof(context));
        if (len == 0 || headDim == 0) return;
        fixed (float* pq = q)
        fixed (float* pk = k)
        fixed (float* pv = v)
        fixed (float* pc = context)
            ScoreBlocks(pq, ldq, pk, ldk, len, headDim, scale, pv, ldv, pc, ldc);
    }

    /// <summary>
    /// scores[i, j] = q[i]·k[j] (unscaled) for i, j &lt; <paramref name="len"/>, row stride <paramref name="lds"/>: the first
    /// step of attention when something (an additive bias) must see the scores before the softmax.
    /// </summary>
    public static unsafe void Scores(ReadOnlySpan<float> q, int ldq, ReadOnlySpan<float> k, int ldk, Span<float> scores, int lds, int len, int headDim)
    {
        Gemm.CheckStrided(q, ldq, len, headDim, nameof(q));
        Gemm.CheckStrided(k, ldk, len, headDim, nameof(k));
        Gemm.CheckStrided(scores, lds, len, len, nameof(scores));
        if (len == 0) return;
        if (headDim == 0) { for (int i = 0; i < len; i++) scores.Slice(i * lds, len).Clear(); return; }
        fixed (float* pq = q)
        fixed (float* pk = k)
        fixed (float* ps = scores)
            ScoreBlocks(pq, ldq, pk, ldk, len, headDim, 0, null, 0, ps, lds);
    }

    /// <summary>
    /// Kᵀ transposed once into an L1 panel, then blocks of <see cref="TileRows"/> score rows: with <paramref name="v"/>,
    /// each block is softmaxed (× <paramref name="scale"/>) and multiplied by V into <paramref name="output"/> (the
    /// context); without, the raw scores are copied to <paramref name="output"/> (exactly len values per row).
    /// </summary>
    private static unsafe void ScoreBlocks(float* q, nint ldq, float* k, nint ldk, int len, int headDim, float scale, float* v, nint ldv, float* output, nint ldo)
    {
        int lp = PaddedLength(len);
        float[] scratch = Gemm.Scratch.Packed((headDim + TileRows) * lp);
        fixed (float* kt = scratch)
        {
            // Whole vectors land in the padded rows of s.
            float* s = kt + (long)headDim * lp;
            Gemm.PackTransposed(k, ldk, len, headDim, kt, lp);
            for (int i0 = 0; i0 < len; i0 += TileRows)
            {
                int rows = Math.Min(TileRows, len - i0);
                ScoreRows(q + i0 * ldq, ldq, rows, kt, lp, headDim, s);
                if (v != null)
                {
                    SimdMath.SoftmaxRows(s, lp, rows, len, scale, padded: true);
                    ContextRows(s, lp, rows, v, ldv, len, headDim, output + i0 * ldo, ldo);
                }
                else
                    for (int r = 0; r < rows; r++) new ReadOnlySpan<float>(s + r * lp, len).CopyTo(new Span<float>(output + (i0 + r) * ldo, len));
            }
        }
    }

    /// <summary>
    /// In place, each of <paramref name="rows"/> rows of <paramref name="len"/> scores (row stride <paramref name="lds"/>)
    /// becomes softmax(scale·row), with the arithmetic of <see cref="Normalization.Softmax(Span{float}, float)"/> row by
    /// row but several rows per pass (their reductions overlap): the middle step after <see cref="Scores"/> and a bias.
    /// </summary>
    public static unsafe void Softmax(Span<float> scores, int lds, int rows, int len, float scale)
    {
        if (!(scale > 0) || float.IsInfinity(scale)) throw new ArgumentOutOfRangeException(nameof(scale), "scale must be positive and finite.");
        Gemm.CheckStrided(scores, lds, rows, len, nameof(scores));
        if (rows == 0 || len == 0) return;
        fixed (float* ps = scores) SimdMath.SoftmaxRows(ps, lds, rows, len, scale);
    }

    /// <summary>
    /// context[i, c] = Σⱼ p[i, j]·v[j, c] for i, j &lt; <paramref name="len"/>, c &lt; <paramref name="headDim"/> (row strides
    /// <paramref name="ldp"/>, <paramref name="ldv"/>, <paramref name="ldc"/>): the last step of attention, after
    /// <see cref="Scores"/> and <see cref="Softmax"/>.
    /// </summary>
    public static unsafe void Context(ReadOnlySpan<float> p, int ldp, ReadOnlySpan<float> v, int ldv, Span<float> context, int ldc, int len, int headDim)
    {
        Gemm.CheckStrided(p, ldp, len, len, nameof(p));
        Gemm.CheckStrided(v, ldv, len, headDim, nameof(v));
        Gemm.CheckStrided(context, ldc, len, headDim, nameof(context));
        if (len == 0 || headDim == 0) return;
        fixed (float* pp = p)
        fixed (float* pv = v)
        fixed (float* pc = context)
        {
            for (int i0 = 0; i0 < len; i0 += TileRows)
                ContextRows(pp + (long)i0 * ldp, ldp, Math.Min(TileRows, len - i0), pv, ldv, len, headDim, pc + (long)i0 * ldc, ldc);
        }
    }

    /// <summary>Row stride of the Kᵀ panel and of the score rows: len rounded up to whole vectors (the padding is zero in Kᵀ).</summary>
    private static int PaddedLength(int len)
    {
        int w = GemmKernels.Isa switch { 3 => Vector512<float>.Count, 2 => Vector256<float>.Count, 1 => Vector128<float>.Count, _ => 1 };
        return (len + w - 1) / w * w;
    }

    /// <summary>s[r, j] = Σ_c a[r, c]·kt[c, j] for r &lt; rows and all <paramref name="lp"/> (padded) columns.</summary>
    private static unsafe void ScoreRows(float* a, nint lda, int rows, float* kt, int lp, int d, float* s)
    {
        switch (GemmKernels.Isa)
        {
            case 3: Product512(a, lda, rows, kt, lp, d, s, lp, lp); break;
            case 2: Product256(a, lda, rows, kt, lp, d, s, lp, lp); break;
            case 1: Product128(a, lda, rows, kt, lp, d, s, lp, lp); break;
            default: ProductScalar(a, lda, rows, kt, lp, d, s, lp, lp); break;
        }
    }

    /// <summary>c[r, :d] = Σⱼ p[r, j]·v[j, :d] for r &lt; rows, V read in place.</summary>
    private static unsafe void ContextRows(float* p, nint ldp, int rows, float* v, nint ldv, int len, int d, float* c, nint ldc)
    {
        switch (GemmKernels.Isa)
        {
            case 3: Product512(p, ldp, rows, v, ldv, len, c, ldc, d); break;
            case 2: Product256(p, ldp, rows, v, ldv, len, c, ldc, d); break;
            case 1: Product128(p, ldp, rows, v, ldv, len, c, ldc, d); break;
            default: ProductScalar(p, ldp, rows, v, ldv, len, c, ldc, d); break;
        }
    }

    /// <summary>The portable path: the chains of <see cref="GemmKernels.KernelScalar"/> (multiply, then add).</summary>
    private static unsafe void ProductScalar(float* a, nint lda, int rows, float* b, nint ldb, int kdim, float* c, nint ldc, int n)
    {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < n; j++)
            {
                float acc = 0f;
                for (int p = 0; p < kdim; p++) acc += a[r * lda + p] * b[p * ldb + j];
                c[r * ldc + j] = acc;
            }
    }
}
