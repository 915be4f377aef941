using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Index;

/// <summary>The element types <see cref="NpyFile"/> writes: numpy's <c>float32</c>, <c>int8</c> and <c>uint8</c>.</summary>
public enum NpyDType
{
    /// <summary><c>&lt;f4</c>, little-endian float32.</summary>
    Float32,
    /// <summary><c>|i1</c>, signed byte.</summary>
    Int8,
    /// <summary><c>|u1</c>, unsigned byte.</summary>
    UInt8,
}

/// <summary>
/// Two-dimensional C-order arrays in numpy's <c>.npy</c> format, version 1.0: the magic <c>\x93NUMPY</c>, version
/// bytes 1 0, a little-endian uint16 header length, then an ASCII Python-dict header
/// <c>{'descr': ..., 'fortran_order': False, 'shape': (rows, cols), }</c> padded with spaces and a newline so the
/// data starts at a multiple of 64 bytes, then the raw row-major data.
/// </summary>
public static partial class NpyFile
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>The dtype string of <paramref name="type"/> (<c>&lt;f4</c>, <c>|i1</c>, <c>|u1</c>).</summary>
    public static string Descr(NpyDType type) => type switch { NpyDType.Float32 => "<f4", NpyDType.Int8 => "|i1", _ => "|u1" };

    /// <summary>The header (magic to the newline) of a [rows, cols] array of <paramref name="type"/>; the data follows it.</summary>
    public static byte[] Header(NpyDType type, long rows, long cols)
    {
        if (rows < 0 || cols < 0) throw new ArgumentOutOfRangeException(nameof(rows), "Shape must be non-negative.");
        string dict = string.Create(CultureInfo.InvariantCulture, $"{{'descr': '{Descr(type)}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
        int unpadded = Magic.Length + 2 + 2 + dict.Length + 1;
        int total = (unpadded + 63) / 64 * 64;
        var h = new byte[total];
        Magic.CopyTo(h);
        h[6] = 1; h[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(8), (ushort)(total - 10));
        Encoding.ASCII.GetBytes(dict, h.AsSpan(10));
        h.AsSpan(10 + dict.Length, total - 10 - dict.Length - 1).Fill((byte)' ');
        h[^1] = (byte)'\n';
        return h;
    }

    /// <summary>Writes a whole [rows, cols] array to <paramref name="path"/> atomically (see <see cref="DurableFile"/>).</summary>
    public static void Write(string path, NpyDType type, long rows, long cols, ReadOnlySpan<byte> data)
    {
        long size = type == NpyDType.Float32 ? 4 : 1;
        if (data.Length != rows * cols * size) throw new ArgumentException("data does not hold rows × cols elements.");
        byte[] header = Header(type, rows, cols);
        DurableFile.Write(path, data, (s, d) => { s.Write(header); s.Write(d); });
    }

    /// <summary>
    /// Reads a two-dimensional little-endian float32 C-order <c>.npy</c> file (version 1.0, 2.0 or 3.0) as
    /// (data, rows, cols). Other dtypes, Fortran order, or other ranks are refused with a one-line error.
    /// </summary>
    public static (float[] Data, int Rows, int Cols) ReadFloat32(string path)
    {
        byte[] bytes = InputFile.ReadAllBytes(path);
        string name = $"'{path}'";
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(Magic)) throw new ManagedEmbedException($"{name} is not a .npy file (no \\x93NUMPY magic)");
        int major = bytes[6];
        int headerLen, start;
        if (major == 1) { headerLen = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)); start = 10; }
        else if (major is 2 or 3 && bytes.Length >= 12) { headerLen = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)), int.MaxValue); start = 12; }
        else throw new ManagedEmbedException($"{name}: unsupported .npy version {major}");
        if ((long)start + headerLen > bytes.Length) throw new ManagedEmbedException($"{name}: the .npy header is truncated");
        string header = Encoding.Latin1.GetString(bytes, start, headerLen);
        var m = HeaderPattern().Match(header);
        if (!m.Success) throw new ManagedEmbedException($"{name}: unreadable .npy header {header.Trim()}");
        string descr = m.Groups["descr"].Value;
        if (descr is not ("<f4" or "=f4")) throw new ManagedEmbedException($"{name}: dtype {descr} is not float32 (<f4)");
        if (m.Groups["fortran"].Value != "False") throw new ManagedEmbedException($"{name}: Fortran-order arrays are not supported");
        string[] dims = m.Groups["shape"].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (dims.Length != 2) throw new ManagedEmbedException($"{name}: expected a 2-D array [rows, dim], got shape ({m.Groups["shape"].Value})");
        if (!int.TryParse(dims[0], NumberStyles.None, CultureInfo.InvariantCulture, out int rows) || !int.TryParse(dims[1], NumberStyles.None, CultureInfo.InvariantCulture, out int cols))
            throw new ManagedEmbedException($"{name}: shape ({m.Groups["shape"].Value}) is too large");
        long need = (long)rows * cols * 4;
        int dataStart = start + headerLen;
        if (bytes.Length - dataStart != need) throw new ManagedEmbedException($"{name}: {bytes.Length - dataStart} data bytes, shape ({rows}, {cols}) needs {need}");
        var data = new float[(long)rows * cols];
        for (int i = 0; i < data.Length; i++) data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(dataStart + 4 * i));
        return (data, rows, cols);
    }

    [GeneratedRegex(@"^\{\s*(?:'descr':\s*'(?<descr>[^']*)'|'fortran_order':\s*(?<fortran>True|False)|'shape':\s*\((?<shape>[^)]*)\)|\s*,\s*)+\}\s*$")]
    private static partial Regex HeaderPattern();
}
