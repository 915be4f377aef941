namespace ManagedEmbed.Encoder.SafeTensors;

/// <summary>
/// A float32 view of a tensor: either zero-copy over the memory-mapped file (F32 data) or a converted array
/// (F16/BF16/F64 data). A mapped view is valid only while its <see cref="SafeTensorsFile"/> is open.
/// </summary>
public sealed unsafe class FloatTensor
{
    private readonly float[]? _array;
    private readonly float* _pointer;
    private readonly int _length;
    private readonly SafeTensorsFile? _owner;
    private readonly int[] _shape;

    internal FloatTensor(string name, int[] shape, float[] data)
    {
        Name = name; _shape = shape; _array = data; _length = data.Length;
    }

    internal FloatTensor(string name, int[] shape, float* pointer, int length, SafeTensorsFile owner)
    {
        Name = name; _shape = shape; _pointer = pointer; _length = length; _owner = owner;
    }

    /// <summary>The tensor's name as stored in the file.</summary>
    public string Name { get; }
    /// <summary>Dimensions, outermost first.</summary>
    public IReadOnlyList<int> Shape => _shape;
    /// <summary>Number of elements.</summary>
    public int Length => _length;
    /// <summary>True when the data is read in place from the mapping (F32), false when it was converted.</summary>
    public bool IsZeroCopy => _array is null;

    /// <summary>The values, row-major.</summary>
    public ReadOnlySpan<float> Span
    {
        get
        {
            if (_array is not null) return _array;
            _owner!.ThrowIfDisposed();
            return new ReadOnlySpan<float>(_pointer, _length);
        }
    }

    /// <summary>Row <paramref name="row"/> of a 2-D tensor.</summary>
    public ReadOnlySpan<float> Row(int row)
    {
        int cols = _shape[^1];
        return Span.Slice(row * cols, cols);
    }
}
