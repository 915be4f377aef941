using System.Numerics.Tensors;

namespace ManagedEmbed.Kernels;

/// <summary>Vector primitives shared by the encoder, the indexes and k-means.</summary>
public static class VectorMath
{
    /// <summary>Dot product of two equal-length vectors.</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Vectors must have the same length.");
        return TensorPrimitives.Dot(a, b);
    }

    /// <summary>Squared Euclidean distance of two equal-length vectors.</summary>
    public static float SquaredL2(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Vectors must have the same length.");
        float s = 0;
        for (int i = 0; i < a.Length; i++) { float d = a[i] - b[i]; s += d * d; }
        return s;
    }

    /// <summary>Scales <paramref name="x"/> to unit L2 norm (left unchanged when its norm is zero).</summary>
    public static void L2Normalize(Span<float> x)
    {
        float n = TensorPrimitives.Norm(x);
        if (n > 0) TensorPrimitives.Divide(x, MathF.Max(n, 1e-12f), x);
    }
}
