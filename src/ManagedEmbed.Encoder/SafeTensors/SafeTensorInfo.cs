namespace ManagedEmbed.Encoder.SafeTensors;

/// <summary>One tensor entry of a safetensors header.</summary>
public sealed class SafeTensorInfo
{
    internal SafeTensorInfo(string name, SafeTensorDType dtype, int[] shape, long elementCount, long begin, long end, bool isComplete)
    {
        Name = name; DType = dtype; _shape = shape; ElementCount = elementCount; Begin = begin; End = end; IsComplete = isComplete;
    }

    private readonly int[] _shape;

    /// <summary>The tensor name exactly as stored (possibly with a "bert." prefix).</summary>
    public string Name { get; }
    /// <summary>Element type.</summary>
    public SafeTensorDType DType { get; }
    /// <summary>Dimensions, outermost first (empty for a scalar).</summary>
    public IReadOnlyList<int> Shape => _shape;
    /// <summary>Product of the dimensions.</summary>
    public long ElementCount { get; }
    /// <summary>Start of the data, in bytes from the start of the data section.</summary>
    public long Begin { get; }
    /// <summary>End (exclusive) of the data, in bytes from the start of the data section.</summary>
    public long End { get; }
    /// <summary>Byte length of the data.</summary>
    public long ByteLength => End - Begin;
    /// <summary>False when the file was opened with truncation allowed and this tensor's bytes are cut off.</summary>
    public bool IsComplete { get; }

    /// <summary>The shape as "[a, b]".</summary>
    public string ShapeText => FormatShape(_shape);

    internal static string FormatShape(IReadOnlyList<int> shape) => "[" + string.Join(", ", shape) + "]";

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {SafeTensorDTypes.Name(DType)} {ShapeText} [{Begin}, {End})";
}
