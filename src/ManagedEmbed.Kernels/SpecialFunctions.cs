namespace ManagedEmbed.Kernels;

/// <summary>Special functions .NET does not provide.</summary>
public static class SpecialFunctions
{
    /// <summary>Error function, |error| &lt; 1.2e-7 relative (Chebyshev fit to erfc, Numerical Recipes §6.2 form).</summary>
    public static double Erf(double x)
    {
        double z = Math.Abs(x);
        double t = 1.0 / (1.0 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
                   t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
                   t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1.0 - r : r - 1.0;
    }
}
