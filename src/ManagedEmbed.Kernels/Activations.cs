using System.Runtime.Intrinsics;

namespace ManagedEmbed.Kernels;

/// <summary>
/// Element-wise activations (GELU erf/tanh forms, ReLU). The vector paths compute GELU erf in float lanes (≤ 4e-7
/// relative) and GELU tanh in double lanes; the scalar functions below are the double-core references.
/// </summary>
public static class Activations
{
    /// <summary>Applies <paramref name="activation"/> in place.</summary>
    public static unsafe void Apply(Span<float> x, Activation activation)
    {
        if (activation is < Activation.None or > Activation.Relu) throw new ArgumentOutOfRangeException(nameof(activation));
        if (activation == Activation.None || x.IsEmpty) return;
        fixed (float* p = x)
        {
            int done = SimdMath.Epilogue(p, 0, 1, null, null, 0, x.Length, activation);
            for (int i = done; i < x.Length; i++) p[i] = ApplyScalar(p[i], activation);
        }
    }

    internal static float ApplyScalar(float v, Activation activation) => activation switch
    {
        Activation.Relu => MathF.Max(0f, v),
        Activation.Gelu => GeluErf(v),
        Activation.GeluTanh => GeluTanh(v),
        _ => v,
    };

    /// <summary>GELU, erf form x·Φ(x), computed in double from erfc so the negative tail keeps full float precision.</summary>
    public static float GeluErf(float x)
    {
        double xd = x;
        double halfErfc = 0.5 * SpecialFunctions.Erfc(Math.Abs(xd) * 0.70710678118654752440);
        return (float)(xd * (xd >= 0 ? 1.0 - halfErfc : halfErfc));
    }

    /// <summary>GELU, tanh form: 0.5x(1 + tanh(sqrt(2/π)(x + 0.044715x³))), evaluated as x / (1 + e^(−2u)).</summary>
    public static float GeluTanh(float x)
    {
        double xd = x;
        double u = 0.79788456080286535588 * (xd + 0.044715 * xd * xd * xd);
        return (float)(xd / (1.0 + Math.Exp(-2.0 * u)));
    }
}
