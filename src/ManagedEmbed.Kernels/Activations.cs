namespace ManagedEmbed.Kernels;

/// <summary>Element-wise activations (GELU erf/tanh forms, ReLU).</summary>
public static class Activations
{
    /// <summary>Applies <paramref name="activation"/> in place.</summary>
    public static void Apply(Span<float> x, Activation activation)
    {
        switch (activation)
        {
            case Activation.None: return;
            case Activation.Relu: for (int i = 0; i < x.Length; i++) x[i] = MathF.Max(0f, x[i]); return;
            case Activation.Gelu: for (int i = 0; i < x.Length; i++) x[i] = GeluErf(x[i]); return;
            case Activation.GeluTanh: for (int i = 0; i < x.Length; i++) x[i] = GeluTanh(x[i]); return;
            default: throw new ArgumentOutOfRangeException(nameof(activation));
        }
    }

    /// <summary>GELU, erf form, computed in double for a correctly rounded float result.</summary>
    public static float GeluErf(float x) => (float)(0.5 * x * (1.0 + SpecialFunctions.Erf(x * 0.70710678118654752440)));

    /// <summary>GELU, tanh form: 0.5x(1 + tanh(sqrt(2/π)(x + 0.044715x³))).</summary>
    public static float GeluTanh(float x)
    {
        double xd = x;
        return (float)(0.5 * xd * (1.0 + Math.Tanh(0.79788456080286535588 * (xd + 0.044715 * xd * xd * xd))));
    }
}
