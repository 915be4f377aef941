using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ManagedEmbed.Kernels;

/// <summary>Width dispatch for the element-wise vector loops (widest accelerated vector, chosen once by the JIT/AOT).</summary>
internal static partial class SimdMath
{
    /// <summary>
    /// Vector part of y = act(y + bias) + res over <paramref name="rows"/> rows of <paramref name="len"/> (strides
    /// <paramref name="ldy"/>, <paramref name="ldr"/>); returns how many leading elements of each row were done (the
    /// rest is the caller's scalar tail).
    /// </summary>
    internal static unsafe int Epilogue(float* y, nint ldy, int rows, float* bias, float* res, nint ldr, int len, Activation activation)
    {
        if (Vector512.IsHardwareAccelerated) return Epilogue512(y, ldy, rows, bias, res, ldr, len, activation);
        if (Vector256.IsHardwareAccelerated) return Epilogue256(y, ldy, rows, bias, res, ldr, len, activation);
        if (Vector128.IsHardwareAccelerated) return Epilogue128(y, ldy, rows, bias, res, ldr, len, activation);
        return 0;
    }

    /// <summary>Largest lane (halving reductions, then four scalar compares).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float HorizontalMax(Vector512<float> v) => HorizontalMax(Vector256.Max(v.GetLower(), v.GetUpper()));

    /// <summary>Largest lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float HorizontalMax(Vector256<float> v) => HorizontalMax(Vector128.Max(v.GetLower(), v.GetUpper()));

    /// <summary>Largest lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float HorizontalMax(Vector128<float> v) =>
        MathF.Max(MathF.Max(v.GetElement(0), v.GetElement(1)), MathF.Max(v.GetElement(2), v.GetElement(3)));

    /// <summary>
    /// In-place softmax(scale·x) of <paramref name="rows"/> rows (stride <paramref name="ld"/>) with the widest
    /// accelerated vector (scalar when none); <paramref name="padded"/>: rows may be touched up to whole vectors past len
    /// (see <see cref="SoftmaxRows512"/>; the results are the same).
    /// </summary>
    internal static unsafe void SoftmaxRows(float* x, nint ld, int rows, int len, float scale, bool padded = false)
    {
        if (Vector512.IsHardwareAccelerated) { SoftmaxRows512(x, ld, rows, len, scale, padded); return; }
        if (Vector256.IsHardwareAccelerated) { SoftmaxRows256(x, ld, rows, len, scale, padded); return; }
        if (Vector128.IsHardwareAccelerated) { SoftmaxRows128(x, ld, rows, len, scale, padded); return; }
        for (int r = 0; r < rows; r++, x += ld)
        {
            float max = float.NegativeInfinity;
            for (int i = 0; i < len; i++) max = MathF.Max(max, x[i]);
            float ms = max * scale, sum = 0;
            for (int i = 0; i < len; i++) { float e = MathF.Exp(x[i] * scale - ms); x[i] = e; sum += e; }
            float inv = 1f / sum;
            for (int i = 0; i < len; i++) x[i] *= inv;
        }
    }
}
