namespace ManagedEmbed.Encoder.SafeTensors;

/// <summary>A float32 copy of a tensor with its shape (see <see cref="SafeTensorsFile.ReadFloat(SafeTensorInfo)"/>).</summary>
public sealed class FloatTensor
{
    private readonly float[] _data;
    private readonly int[] _shape;

    internal FloatTensor(string name, int[] shape, float[] data)
    {
        Name = name; _shape = shape; _data = data;
    }

    /// <summary>The tensor's name as stored in the file.</summary>
    public string Name { get; }
    /// <summary>Dimensions, outermost first.</summary>
    public IReadOnlyList<int> Shape => _shape;
    /// <summary>Number of elements.</summary>
    public int Length => _data.Length;

    /// <summary>The values, row-major.</summary>
    public ReadOnlySpan<float> Span => _data;

    /// <summary>Row <paramref name="row"/> of a 2-D tensor.</summary>
    public ReadOnlySpan<float> Row(int row)
    {
        int cols = _shape[^1];
        return Span.Slice(row * cols, cols);
    }
}
