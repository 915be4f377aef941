using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace ManagedEmbed.Encoder.SafeTensors;

/// <summary>A tensor to write: its header entry and a callback producing its little-endian bytes on demand.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="DType">Element type.</param>
/// <param name="Shape">Dimensions.</param>
/// <param name="Data">Called once, in file order, when the tensor's bytes are written; must return exactly shape × dtype-size bytes.</param>
public sealed record SafeTensorEntry(string Name, SafeTensorDType DType, int[] Shape, Func<byte[]> Data)
{
    /// <summary>
    /// Optional zero-copy alternative to <see cref="Data"/> that <see cref="SafeTensorsWriter.Write"/> prefers: returns
    /// the bytes as memory that may belong to the producer (a slice of a larger buffer, a reused scratch buffer). The
    /// memory is only read until the next tensor's callback runs. Must return exactly <see cref="ByteLength"/> bytes.
    /// </summary>
    public Func<ReadOnlyMemory<byte>>? Memory { get; init; }

    /// <summary>Byte length the data must have.</summary>
    public long ByteLength => Shape.Aggregate(1L, (a, d) => checked(a * d)) * SafeTensorDTypes.SizeOf(DType);
}

/// <summary>
/// Writes safetensors files the way the reference Python library lays them out: tensors ordered by element size
/// (largest first) then name, a compact JSON header starting with __metadata__, padded with spaces to a multiple of 8.
/// The output depends only on the entries, so it is byte-identical across runs and machines.
/// </summary>
public static class SafeTensorsWriter
{
    /// <summary>The order tensors are laid out in (and their Data callbacks invoked in).</summary>
    public static List<SafeTensorEntry> FileOrder(IEnumerable<SafeTensorEntry> entries) =>
        entries.OrderByDescending(e => SafeTensorDTypes.SizeOf(e.DType)).ThenBy(e => e.Name, StringComparer.Ordinal).ToList();

    /// <summary>Writes the file to <paramref name="output"/>.</summary>
    public static void Write(Stream output, IEnumerable<SafeTensorEntry> entries, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ordered = FileOrder(entries);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in ordered)
            if (!names.Add(e.Name) || e.Name == "__metadata__") throw new ArgumentException($"duplicate or reserved tensor name '{e.Name}'");

        var header = new MemoryStream();
        using (var w = new Utf8JsonWriter(header, new JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata is not null)
            {
                w.WriteStartObject("__metadata__");
                foreach (var kv in metadata.OrderBy(k => k.Key, StringComparer.Ordinal)) w.WriteString(kv.Key, kv.Value);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var e in ordered)
            {
                w.WriteStartObject(e.Name);
                w.WriteString("dtype", SafeTensorDTypes.Name(e.DType));
                w.WriteStartArray("shape");
                foreach (int d in e.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += e.ByteLength;
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        // Pad with spaces so the data section starts 8-byte aligned (as the reference writer does).
        while (header.Length % 8 != 0) header.WriteByte((byte)' ');

        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
        output.Write(len);
        header.Position = 0;
        header.CopyTo(output);
        foreach (var e in ordered)
        {
            if (e.Memory is { } memory)
            {
                var m = memory();
                if (m.Length != e.ByteLength)
                    throw new ArgumentException($"tensor '{e.Name}': memory callback returned {m.Length} bytes, expected {e.ByteLength}");
                output.Write(m.Span);
                continue;
            }
            byte[] data = e.Data();
            if (data.LongLength != e.ByteLength)
                throw new ArgumentException($"tensor '{e.Name}': data callback returned {data.LongLength} bytes, expected {e.ByteLength}");
            output.Write(data);
        }
    }

    /// <summary>Little-endian bytes of a float array.</summary>
    public static byte[] ToBytes(ReadOnlySpan<float> values)
    {
        var b = new byte[values.Length * 4];
        if (BitConverter.IsLittleEndian) System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).CopyTo(b);
        else for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), values[i]);
        return b;
    }

    /// <summary>Little-endian bytes of a long array.</summary>
    public static byte[] ToBytes(ReadOnlySpan<long> values)
    {
        var b = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(8 * i), values[i]);
        return b;
    }
}
