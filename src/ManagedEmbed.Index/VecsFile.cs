using System.Buffers.Binary;
using System.Runtime.InteropServices;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Index;

/// <summary>Vectors read from a .fvecs/.ivecs file: <see cref="Count"/> rows of <see cref="Dimension"/> values, row-major.</summary>
public sealed class VecsData<T> where T : unmanaged
{
    internal VecsData(T[] data, int count, int dim) { Data = data; Count = count; Dimension = dim; }
    /// <summary>All values, row-major [Count, Dimension].</summary>
    public T[] Data { get; }
    /// <summary>Number of rows.</summary>
    public int Count { get; }
    /// <summary>Values per row.</summary>
    public int Dimension { get; }
    /// <summary>Row <paramref name="i"/>.</summary>
    public ReadOnlySpan<T> Row(int i) => Data.AsSpan(i * Dimension, Dimension);
}

/// <summary>
/// The TEXMEX .fvecs / .ivecs formats: each row is a little-endian int32 dimension followed by that many float32
/// (fvecs) or int32 (ivecs) values. Readers check that every row has the same positive dimension and that the file
/// length is an exact number of rows; writers are atomic (temporary file, then rename).
/// </summary>
public static class VecsFile
{
    /// <summary>Reads a .fvecs file; every value must be finite.</summary>
    public static VecsData<float> ReadFvecs(string path)
    {
        var v = Read<float>(path, "fvecs");
        int bad = Validation.FirstNonFinite(v.Data);
        if (bad >= 0) throw new ManagedEmbedException($"{path}: vector {bad / v.Dimension} has a non-finite value at coordinate {bad % v.Dimension}");
        return v;
    }

    /// <summary>Reads a .ivecs file.</summary>
    public static VecsData<int> ReadIvecs(string path) => Read<int>(path, "ivecs");

    /// <summary>Writes <c>data.Length / dim</c> rows to a .fvecs file.</summary>
    public static void WriteFvecs(string path, ReadOnlySpan<float> data, int dim) => Write(path, data, dim);

    /// <summary>Writes <c>data.Length / dim</c> rows to a .ivecs file.</summary>
    public static void WriteIvecs(string path, ReadOnlySpan<int> data, int dim) => Write(path, data, dim);

    private static VecsData<T> Read<T>(string path, string kind) where T : unmanaged
    {
        if (!File.Exists(path)) throw new ManagedEmbedException($"{kind} file not found: {path}");
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        long len = fs.Length;
        if (len == 0) throw new ManagedEmbedException($"{path}: empty {kind} file");
        Span<byte> head = stackalloc byte[4];
        if (len < 4) throw new ManagedEmbedException($"{path}: truncated {kind} file ({len} bytes)");
        fs.ReadExactly(head);
        int dim = BinaryPrimitives.ReadInt32LittleEndian(head);
        if (dim < 1 || dim > (1 << 24)) throw new ManagedEmbedException($"{path}: invalid {kind} dimension {dim} in the first row");
        long rowBytes = 4 + (long)dim * 4;
        if (len % rowBytes != 0)
            throw new ManagedEmbedException($"{path}: {len} bytes is not a whole number of {kind} rows of dimension {dim} ({rowBytes} bytes each); truncated or mixed dimensions");
        long count = len / rowBytes;
        if (count * dim > Array.MaxLength) throw new ManagedEmbedException($"{path}: {count} rows of dimension {dim} are too many to load");
        var data = new T[count * dim];
        fs.Position = 0;
        var bytes = MemoryMarshal.AsBytes(data.AsSpan());
        for (long i = 0; i < count; i++)
        {
            fs.ReadExactly(head);
            int d = BinaryPrimitives.ReadInt32LittleEndian(head);
            if (d != dim) throw new ManagedEmbedException($"{path}: row {i} has dimension {d}, the first row has {dim}");
            fs.ReadExactly(bytes.Slice((int)(i * dim * 4), dim * 4));
        }
        return new VecsData<T>(data, (int)count, dim);
    }

    private static void Write<T>(string path, ReadOnlySpan<T> data, int dim) where T : unmanaged
    {
        if (dim < 1) throw new ManagedEmbedException($"dimension must be at least 1, got {dim}");
        if (data.Length % dim != 0) throw new ManagedEmbedException($"{data.Length} values is not a multiple of the dimension {dim}");
        FaissIndexIO.RequireDirectory(path);
        DurableFile.Write(path, data, (fs, rows) =>
        {
            Span<byte> head = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(head, dim);
            for (int i = 0; i < rows.Length; i += dim)
            {
                fs.Write(head);
                fs.Write(MemoryMarshal.AsBytes(rows.Slice(i, dim)));
            }
        });
    }
}
