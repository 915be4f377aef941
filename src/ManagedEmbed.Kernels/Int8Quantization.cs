using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ManagedEmbed.Kernels;

/// <summary>
/// Symmetric int8 quantization of one row of floats, the single rule used for both weights (per output channel, at
/// quantize time) and activations (per row, dynamically at every int8 GEMM):
/// <c>scale = max|x| / 127</c> (float32), <c>q = clamp(round_half_to_even(x / scale), −127, 127)</c>.
/// </summary>
/// <remarks>
/// Symmetric s8 for activations rather than asymmetric u8 with a zero point: the AVX2 product sign-extends both sides
/// to s16 and multiplies pairs with vpmaddwd (exact), so u8 buys nothing, and a zero point would add a row-sum
/// correction term per output. −128 is never produced, so the code range is symmetric and a negated row quantizes to
/// the negated codes. A row of zeros gets scale 0 and codes 0; a row holding NaN or ±∞ gets scale NaN and codes 0
/// (its products come out NaN, as the float GEMM's would). Every ISA path divides (never multiplies by a
/// reciprocal) and rounds half to even, so all paths give the same codes bit for bit.
/// </remarks>
public static class Int8Quantization
{
    /// <summary>The largest code magnitude (codes lie in [−127, 127]).</summary>
    public const int MaxCode = 127;

    /// <summary>Quantizes <paramref name="x"/> into <paramref name="codes"/> (same length); returns the row's scale.</summary>
    public static unsafe float QuantizeRow(ReadOnlySpan<float> x, Span<sbyte> codes)
    {
        if (codes.Length != x.Length) throw new ArgumentException("codes must have the length of x.");
        fixed (float* px = x)
        fixed (sbyte* pq = codes)
            return QuantizeRow(px, x.Length, pq);
    }

    /// <summary>Quantizes the <paramref name="rows"/> rows of <paramref name="x"/> [rows, cols]; writes one scale per row.</summary>
    public static void QuantizeRows(ReadOnlySpan<float> x, int rows, int cols, Span<sbyte> codes, Span<float> scales)
    {
        if (rows < 0 || cols < 0) throw new ArgumentOutOfRangeException(nameof(rows));
        if (x.Length < (long)rows * cols || codes.Length < (long)rows * cols) throw new ArgumentException("x and codes must hold rows*cols values.");
        if (scales.Length < rows) throw new ArgumentException("scales must hold one value per row.");
        for (int r = 0; r < rows; r++) scales[r] = QuantizeRow(x.Slice(r * cols, cols), codes.Slice(r * cols, cols));
    }

    /// <summary>Scalar reference of <see cref="QuantizeRow(ReadOnlySpan{float}, Span{sbyte})"/> (what every vector path must equal).</summary>
    public static float QuantizeRowScalar(ReadOnlySpan<float> x, Span<sbyte> codes)
    {
        if (codes.Length != x.Length) throw new ArgumentException("codes must have the length of x.");
        float max = 0f;
        bool finite = true;
        foreach (float v in x)
        {
            if (!float.IsFinite(v)) finite = false;
            else max = MathF.Max(max, MathF.Abs(v));
        }
        if (!finite || max == 0f)
        {
            codes.Clear();
            return finite ? 0f : float.NaN;
        }
        float scale = max / MaxCode;
        for (int i = 0; i < x.Length; i++) codes[i] = (sbyte)Math.Clamp(MathF.Round(x[i] / scale), -MaxCode, MaxCode);
        return scale;
    }

    /// <summary>Max |x| over a row (NaN when any element is not finite).</summary>
    private static unsafe float MaxAbs(float* x, int n)
    {
        if (n == 0) return 0f;
        // TensorPrimitives: NaN when any element is NaN, else the element of largest magnitude (±∞ when one is infinite).
        float max = MathF.Abs(TensorPrimitives.MaxMagnitude(new ReadOnlySpan<float>(x, n)));
        return float.IsFinite(max) ? max : float.NaN;
    }

    /// <summary>Quantizes one row of <paramref name="n"/> floats into s8 codes; returns the scale.</summary>
    internal static unsafe float QuantizeRow(float* x, int n, sbyte* q)
    {
        float max = MaxAbs(x, n);
        if (!(max > 0f))
        {
            new Span<sbyte>(q, n).Clear();
            return max == 0f ? 0f : float.NaN;
        }
        float scale = max / MaxCode;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var s = Vector256.Create(scale);
            var lo = Vector256.Create(-MaxCode);
            var hi = Vector256.Create(MaxCode);
            // 32 codes per step, narrowed int32 → int16 → int8 (exact: already clamped to ±127).
            for (; i <= n - 32; i += 32)
            {
                var c0 = Vector256.Clamp(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i) / s)), lo, hi);
                var c1 = Vector256.Clamp(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i + 8) / s)), lo, hi);
                var c2 = Vector256.Clamp(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i + 16) / s)), lo, hi);
                var c3 = Vector256.Clamp(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i + 24) / s)), lo, hi);
                Vector256.Narrow(Vector256.Narrow(c0, c1), Vector256.Narrow(c2, c3)).Store(q + i);
            }
            for (; i <= n - 8; i += 8)
            {
                var c = Vector256.Clamp(Vector256.ConvertToInt32(Vector256.Round(Vector256.Load(x + i) / s)), lo, hi);
                for (int j = 0; j < 8; j++) q[i + j] = (sbyte)c.GetElement(j);
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            var s = Vector128.Create(scale);
            var lo = Vector128.Create(-MaxCode);
            var hi = Vector128.Create(MaxCode);
            for (; i <= n - 4; i += 4)
            {
                var c = Vector128.Clamp(Vector128.ConvertToInt32(Vector128.Round(Vector128.Load(x + i) / s)), lo, hi);
                for (int j = 0; j < 4; j++) q[i + j] = (sbyte)c.GetElement(j);
            }
        }
        for (; i < n; i++) q[i] = (sbyte)Math.Clamp(MathF.Round(x[i] / scale), -MaxCode, MaxCode);
        return scale;
    }
}
