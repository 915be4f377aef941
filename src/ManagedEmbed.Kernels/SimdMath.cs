using System.Runtime.Intrinsics;

namespace ManagedEmbed.Kernels;

/// <summary>Width dispatch for the element-wise vector loops (widest accelerated vector, chosen once by the JIT/AOT).</summary>
internal static partial class SimdMath
{
    /// <summary>Vector part of y = act(y + bias) + res; returns how many leading elements were done (the rest is the caller's scalar tail).</summary>
    internal static unsafe int Epilogue(float* y, float* bias, float* res, int len, Activation activation)
    {
        if (Vector512.IsHardwareAccelerated) return Epilogue512(y, bias, res, len, activation);
        if (Vector256.IsHardwareAccelerated) return Epilogue256(y, bias, res, len, activation);
        if (Vector128.IsHardwareAccelerated) return Epilogue128(y, bias, res, len, activation);
        return 0;
    }

    /// <summary>Vector part of x = exp(x - max) with the running sum; returns how many leading elements were done.</summary>
    internal static unsafe int ExpSub(float* x, int len, float max, ref float sum)
    {
        if (Vector512.IsHardwareAccelerated) return ExpSub512(x, len, max, ref sum);
        if (Vector256.IsHardwareAccelerated) return ExpSub256(x, len, max, ref sum);
        if (Vector128.IsHardwareAccelerated) return ExpSub128(x, len, max, ref sum);
        return 0;
    }
}
