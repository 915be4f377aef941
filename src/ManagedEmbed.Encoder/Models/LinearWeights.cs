using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Models;

/// <summary>
/// The weight of one Linear layer (or of several fused ones) as the forward pass uses it: float32 panels for the
/// float GEMM, or int8 codes with per-output-channel scales for <see cref="Int8Gemm"/> (activations quantized per
/// row on the fly). Handed out by <see cref="WeightScope.Linear"/>: the one place the choice is made.
/// </summary>
public sealed class LinearWeights
{
    /// <summary>The float32 weight, or null when int8.</summary>
    public PackedMatrix? Float { get; }
    /// <summary>The int8 weight, or null when float32.</summary>
    public Int8Matrix? Int8 { get; }

    /// <summary>Wraps a float32 weight.</summary>
    public LinearWeights(PackedMatrix weight) => Float = weight ?? throw new ArgumentNullException(nameof(weight));
    /// <summary>Wraps an int8 weight.</summary>
    public LinearWeights(Int8Matrix weight) => Int8 = weight ?? throw new ArgumentNullException(nameof(weight));

    /// <summary>True for int8 weights.</summary>
    public bool IsInt8 => Int8 is not null;
    /// <summary>Output features.</summary>
    public int Rows => Int8?.Rows ?? Float!.Rows;
    /// <summary>Input features.</summary>
    public int Cols => Int8?.Cols ?? Float!.Cols;

    /// <summary>y = act(x·Wᵀ + bias) + residual, with the semantics of <see cref="Gemm.Linear(ReadOnlySpan{float}, int, PackedMatrix, ReadOnlySpan{float}, Span{float}, Activation, ReadOnlySpan{float}, KernelThreadPool?)"/>.</summary>
    public void Forward(ReadOnlySpan<float> x, int m, ReadOnlySpan<float> bias, Span<float> y, Activation activation, ReadOnlySpan<float> residual, KernelThreadPool? pool)
    {
        if (Int8 is { } q) Int8Gemm.Linear(x, m, q, bias, y, activation, residual, pool);
        else Gemm.Linear(x, m, Float!, bias, y, activation, residual, pool);
    }
}
