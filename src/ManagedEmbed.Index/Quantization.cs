using System.Buffers.Binary;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Index;

/// <summary>The precisions of sentence-transformers' <c>quantize_embeddings</c>.</summary>
public enum EmbeddingPrecision
{
    /// <summary>Unchanged 32-bit floats.</summary>
    Float32,
    /// <summary>One signed byte per dimension: <c>trunc((x − min) / ((max − min) / 255) − 128)</c> with per-dimension ranges.</summary>
    Int8,
    /// <summary>One unsigned byte per dimension: <c>trunc((x − min) / ((max − min) / 255))</c> with per-dimension ranges.</summary>
    UInt8,
    /// <summary>One bit per dimension (x &gt; 0), packed big-endian 8 per byte, each byte minus 128 as int8.</summary>
    Binary,
    /// <summary>One bit per dimension (x &gt; 0), packed big-endian 8 per byte (numpy <c>packbits</c>).</summary>
    UBinary,
}

/// <summary>Per-dimension [min, max] ranges of the int8/uint8 precisions (sentence-transformers' <c>ranges</c>, shape [2, dim]).</summary>
public sealed class QuantizationRanges
{
    /// <summary>Per-dimension minimum (the start of the 256 buckets).</summary>
    public float[] Min { get; }
    /// <summary>Per-dimension maximum.</summary>
    public float[] Max { get; }
    /// <summary>The dimension.</summary>
    public int Dimension => Min.Length;

    /// <summary>Ranges given explicitly; both arrays have the embedding dimension and finite values.</summary>
    public QuantizationRanges(float[] min, float[] max)
    {
        ArgumentNullException.ThrowIfNull(min);
        ArgumentNullException.ThrowIfNull(max);
        if (min.Length != max.Length || min.Length == 0) throw new ManagedEmbedException($"quantization ranges need equally long, non-empty min and max rows, got {min.Length} and {max.Length}");
        for (int j = 0; j < min.Length; j++)
            if (!float.IsFinite(min[j]) || !float.IsFinite(max[j])) throw new ManagedEmbedException($"quantization range of dimension {j} is not finite");
        Min = min;
        Max = max;
    }

    /// <summary>
    /// Ranges calibrated on <paramref name="embeddings"/> (row-major, <paramref name="dimension"/> wide): the
    /// per-dimension minimum and maximum, as sentence-transformers computes them from <c>calibration_embeddings</c>.
    /// </summary>
    public static QuantizationRanges Calibrate(ReadOnlySpan<float> embeddings, int dimension)
    {
        int n = EmbeddingQuantizer.Rows(embeddings, dimension);
        if (n == 0) throw new ManagedEmbedException("calibration needs at least one embedding");
        var min = embeddings[..dimension].ToArray();
        var max = embeddings[..dimension].ToArray();
        for (int i = 1; i < n; i++)
        {
            var row = embeddings.Slice(i * dimension, dimension);
            for (int j = 0; j < dimension; j++)
            {
                float v = row[j];
                if (v < min[j]) min[j] = v;
                if (v > max[j]) max[j] = v;
            }
        }
        return new QuantizationRanges(min, max);
    }

    /// <summary>The bucket width per dimension, <c>(max − min) / 255</c> in float32 as numpy computes it.</summary>
    public float[] Steps()
    {
        var s = new float[Dimension];
        for (int j = 0; j < s.Length; j++) s[j] = (Max[j] - Min[j]) / 255f;
        return s;
    }
}

/// <summary>
/// sentence-transformers' <c>quantize_embeddings</c>, byte for byte: float32 arithmetic, truncation toward zero and
/// numpy's float→int8/uint8 cast (a value outside the type's range wraps modulo 256, as the cast of a value beyond
/// the calibrated range does in numpy on x86; sentence-transformers does not clip).
/// </summary>
public static class EmbeddingQuantizer
{
    /// <summary>Bytes per quantized vector: dim × 4 (float32), dim (int8/uint8) or dim / 8 (binary/ubinary).</summary>
    public static int CodeBytes(int dimension, EmbeddingPrecision precision) => precision switch
    {
        EmbeddingPrecision.Float32 => checked(dimension * 4),
        EmbeddingPrecision.Int8 or EmbeddingPrecision.UInt8 => dimension,
        _ => dimension / 8,
    };

    /// <summary>
    /// Quantizes the row-major <paramref name="embeddings"/> (<paramref name="dimension"/> wide) to
    /// <paramref name="precision"/>; one code of <see cref="CodeBytes"/> bytes per row, int8 values stored as
    /// two's-complement bytes and float32 little-endian. int8/uint8 use <paramref name="ranges"/>, or — as
    /// sentence-transformers without ranges or calibration embeddings — ranges calibrated on the embeddings themselves.
    /// </summary>
    public static byte[] Quantize(ReadOnlySpan<float> embeddings, int dimension, EmbeddingPrecision precision, QuantizationRanges? ranges = null)
    {
        int n = Rows(embeddings, dimension);
        var codes = new byte[checked((long)n * CodeBytes(dimension, precision))];
        Quantize(embeddings, dimension, precision, ranges, codes);
        return codes;
    }

    /// <summary>Like <see cref="Quantize(ReadOnlySpan{float}, int, EmbeddingPrecision, QuantizationRanges?)"/>, into <paramref name="codes"/>.</summary>
    public static void Quantize(ReadOnlySpan<float> embeddings, int dimension, EmbeddingPrecision precision, QuantizationRanges? ranges, Span<byte> codes)
    {
        int n = Rows(embeddings, dimension);
        int w = CodeBytes(dimension, precision);
        if (precision is EmbeddingPrecision.Binary or EmbeddingPrecision.UBinary && dimension % 8 != 0)
            throw new ManagedEmbedException($"binary precision packs 8 dimensions per byte; the dimension {dimension} is not a multiple of 8");
        if (codes.Length < (long)n * w) throw new ArgumentException("codes is shorter than rows × code bytes.");
        for (int i = 0; i < embeddings.Length; i++)
            if (!float.IsFinite(embeddings[i])) throw new ManagedEmbedException($"embedding {i / dimension} is not finite at dimension {i % dimension}");
        switch (precision)
        {
            case EmbeddingPrecision.Float32:
                for (int i = 0; i < embeddings.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(codes[(i * 4)..], embeddings[i]);
                break;
            case EmbeddingPrecision.Int8:
            case EmbeddingPrecision.UInt8:
            {
                ranges ??= n > 0 ? QuantizationRanges.Calibrate(embeddings, dimension) : null;
                if (ranges is null) break;
                if (ranges.Dimension != dimension) throw new ManagedEmbedException($"quantization ranges have dimension {ranges.Dimension}, the embeddings {dimension}");
                float[] steps = ranges.Steps();
                float offset = precision == EmbeddingPrecision.Int8 ? 128f : 0f;
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < dimension; j++)
                        codes[i * dimension + j] = NumpyByteCast((embeddings[i * dimension + j] - ranges.Min[j]) / steps[j] - offset);
                break;
            }
            default:
            {
                byte shift = precision == EmbeddingPrecision.Binary ? (byte)128 : (byte)0;
                for (int i = 0; i < n; i++)
                    PackBits(embeddings.Slice(i * dimension, dimension), codes.Slice(i * w, w), shift);
                break;
            }
        }
    }

    /// <summary>numpy <c>packbits(x &gt; 0)</c> of one row (first dimension in the most significant bit), minus <paramref name="shift"/> modulo 256.</summary>
    internal static void PackBits(ReadOnlySpan<float> row, Span<byte> code, byte shift)
    {
        for (int b = 0; b < code.Length; b++)
        {
            int v = 0;
            for (int t = 0; t < 8; t++) v = (v << 1) | (row[b * 8 + t] > 0 ? 1 : 0);
            code[b] = unchecked((byte)(v - shift));
        }
    }

    /// <summary>
    /// numpy's float32 → int8/uint8 cast on x86: truncation toward zero to int32, then the low byte; values outside
    /// int32 (and NaN from a zero-width range) become the "integer indefinite" 0x80000000, whose low byte is 0.
    /// </summary>
    internal static byte NumpyByteCast(float t) =>
        float.IsFinite(t) && t > -2147483648f && t < 2147483648f ? unchecked((byte)(int)t) : (byte)0;

    internal static int Rows(ReadOnlySpan<float> embeddings, int dimension)
    {
        if (dimension < 1) throw new ManagedEmbedException($"the dimension must be at least 1, got {dimension}");
        if (embeddings.Length % dimension != 0) throw new ManagedEmbedException($"{embeddings.Length} values are not whole rows of dimension {dimension}");
        return embeddings.Length / dimension;
    }
}
