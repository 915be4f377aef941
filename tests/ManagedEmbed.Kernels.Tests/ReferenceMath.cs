namespace ManagedEmbed.Kernels.Tests;

/// <summary>
/// Independent double-precision references (different algorithms from the library): erf by the all-positive-terms
/// series erf(x) = 2/√π·e^(−x²)·Σ 2ⁿx^(2n+1)/(1·3·…·(2n+1)), erfc by the Laplace continued fraction for x ≥ 2.
/// </summary>
internal static class ReferenceMath
{
    public static double Erf(double x)
    {
        if (x < 0) return -Erf(-x);
        if (x >= 2) return 1 - Erfc(x);
        double x2 = x * x, term = x, sum = x;
        for (int n = 1; n < 400; n++)
        {
            term *= 2 * x2 / (2 * n + 1);
            sum += term;
            if (term < 1e-18 * sum) break;
        }
        return 2 / Math.Sqrt(Math.PI) * Math.Exp(-x2) * sum;
    }

    public static double Erfc(double x)
    {
        if (x < 2) return 1 - Erf(x);
        // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))), evaluated bottom-up.
        double f = x;
        for (int n = x < 4 ? 3000 : 300; n >= 1; n--) f = x + n / 2.0 / f;
        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / f;
    }

    public static double GeluErf(double x) => x >= 0 ? x * (1 - 0.5 * Erfc(x / Math.Sqrt(2))) : x * 0.5 * Erfc(-x / Math.Sqrt(2));

    /// <summary>0.5x(1 + tanh u); for u &lt; −1 the exact identity 1 + tanh u = 2e^(2u)/(1 + e^(2u)) avoids cancellation.</summary>
    public static double GeluTanh(double x)
    {
        double u = Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
        if (u >= -1) return 0.5 * x * (1 + Math.Tanh(u));
        double e = Math.Exp(2 * u);
        return x * e / (1 + e);
    }

    public static double Act(double v, Activation a) => a switch
    {
        Activation.Gelu => GeluErf(v),
        Activation.GeluTanh => GeluTanh(v),
        Activation.Relu => Math.Max(0, v),
        _ => v,
    };
}
