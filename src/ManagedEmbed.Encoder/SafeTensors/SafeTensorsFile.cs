using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using System.Text.Json;

namespace ManagedEmbed.Encoder.SafeTensors;

/// <summary>
/// A safetensors file: an 8-byte little-endian header length N, N bytes of JSON header, then the data
/// section. The whole header is validated on open (length in bounds, valid JSON object, known dtypes, shape × dtype
/// size equal to each byte range, ranges inside the data section and not overlapping); every error names the file
/// and the offending tensor. Tensors are read with positional file reads; F16/BF16/F64 are converted to float32 on
/// read. F32 matrices can also be addressed in a read-only memory map of the file (<see cref="MappedF32"/>), which the
/// encoder's GEMM reads in place until (and unless) it has packed them.
/// Names are looked up exactly: prefix fallbacks (bert., distilbert., …) belong to the model loader (ModelWeights).
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>Largest header accepted (the format's own limit).</summary>
    public const long MaxHeaderLength = 100_000_000;

    private readonly SafeFileHandle _handle;
    private readonly Dictionary<string, SafeTensorInfo> _byName;
    private volatile bool _disposed;
    private readonly Lock _mapGate = new();
    private MemoryMappedFile? _map;
    private MemoryMappedViewAccessor? _view;
    private nint _mapBase;

    /// <summary>The path the file was opened from.</summary>
    public string Path { get; }
    /// <summary>Byte offset of the data section in the file (8 + header length).</summary>
    public long DataOffset { get; }
    /// <summary>Bytes actually present in the data section.</summary>
    public long DataLength { get; }
    /// <summary>Tensors in header order (the __metadata__ entry excluded).</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }
    /// <summary>The optional __metadata__ string map.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>True when some tensor's bytes lie past the end of the file (only possible with allowTruncated).</summary>
    public bool IsTruncated { get; }

    private SafeTensorsFile(string path, long dataOffset, long dataLength, List<SafeTensorInfo> tensors, Dictionary<string, string> metadata,
                            SafeFileHandle handle)
    {
        _handle = handle;
        Path = path; DataOffset = dataOffset; DataLength = dataLength; Tensors = tensors; Metadata = metadata;
        _byName = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
        foreach (var t in tensors) _byName[t.Name] = t;
        IsTruncated = tensors.Any(t => !t.IsComplete);
    }

    /// <summary>
    /// Opens and validates <paramref name="path"/>. With <paramref name="allowTruncated"/> a file whose data section is
    /// cut short still opens (its complete tensors stay readable); otherwise a truncated file is an error.
    /// </summary>
    public static SafeTensorsFile Open(string path, bool allowTruncated = false)
    {
        if (!File.Exists(path)) throw new ManagedEmbedException($"safetensors file '{path}' does not exist");
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        long fileLength = fs.Length;
        if (fileLength < 8)
            throw new ManagedEmbedException($"safetensors file '{path}' is truncated: {fileLength} bytes, shorter than the 8-byte header length field");
        Span<byte> lenBytes = stackalloc byte[8];
        fs.ReadExactly(lenBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLength > (ulong)(fileLength - 8))
            throw new ManagedEmbedException($"safetensors file '{path}' is truncated or corrupt: header length {headerLength} exceeds the {fileLength - 8} bytes after the length field");
        if (headerLength > MaxHeaderLength)
            throw new ManagedEmbedException($"safetensors file '{path}': header length {headerLength} exceeds the {MaxHeaderLength}-byte limit");
        var header = new byte[(int)headerLength];
        fs.ReadExactly(header);
        long dataOffset = 8 + (long)headerLength;
        long dataLength = fileLength - dataOffset;
        var (tensors, metadata) = ParseHeader(header, dataLength, allowTruncated, path);
        fs.Dispose();

        return new SafeTensorsFile(path, dataOffset, dataLength, tensors, metadata, File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read));
    }

    /// <summary>
    /// Parses and validates a header JSON against a data section of <paramref name="dataLength"/> bytes.
    /// <paramref name="source"/> names the file in error messages.
    /// </summary>
    public static (List<SafeTensorInfo> Tensors, Dictionary<string, string> Metadata) ParseHeader(ReadOnlySpan<byte> headerJson, long dataLength, bool allowTruncated, string source)
    {
        if (!System.Text.Unicode.Utf8.IsValid(headerJson))
            throw new ManagedEmbedException($"safetensors file '{source}': header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(headerJson.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new ManagedEmbedException($"safetensors file '{source}': header is not valid JSON ({e.Message})");
        }
        catch (ArgumentException e)
        {
            throw new ManagedEmbedException($"safetensors file '{source}': header is not valid UTF-8 JSON ({e.Message})");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ManagedEmbedException($"safetensors file '{source}': header must be a JSON object, found {root.ValueKind}");
            var tensors = new List<SafeTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in root.EnumerateObject())
            {
                string name = prop.Name;
                if (!seen.Add(name)) throw new ManagedEmbedException($"safetensors file '{source}': tensor '{name}' appears twice in the header");
                if (name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object)
                        throw new ManagedEmbedException($"safetensors file '{source}': __metadata__ must be an object of strings");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                            throw new ManagedEmbedException($"safetensors file '{source}': __metadata__ value '{m.Name}' is not a string");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                tensors.Add(ParseEntry(name, prop.Value, dataLength, allowTruncated, source));
            }

            // Ranges must not overlap (sorted by start; empty tensors take no bytes and cannot overlap).
            var sorted = tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.Begin).ThenBy(t => t.End).ToList();
            for (int i = 1; i < sorted.Count; i++)
                if (sorted[i].Begin < sorted[i - 1].End)
                    throw new ManagedEmbedException($"safetensors file '{source}': tensor '{sorted[i].Name}' bytes [{sorted[i].Begin}, {sorted[i].End}) overlap tensor '{sorted[i - 1].Name}' bytes [{sorted[i - 1].Begin}, {sorted[i - 1].End})");
            return (tensors, metadata);
        }
    }

    private static SafeTensorInfo ParseEntry(string name, JsonElement e, long dataLength, bool allowTruncated, string source)
    {
        string Where() => $"safetensors file '{source}': tensor '{name}'";
        if (e.ValueKind != JsonValueKind.Object) throw new ManagedEmbedException($"{Where()}: entry must be an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new ManagedEmbedException($"{Where()}: missing or non-string 'dtype'");
        string dtypeName = dt.GetString()!;
        if (!SafeTensorDTypes.TryParse(dtypeName, out var dtype))
            throw new ManagedEmbedException($"{Where()}: unknown dtype '{dtypeName}'");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new ManagedEmbedException($"{Where()}: missing or non-array 'shape'");
        var shape = new int[sh.GetArrayLength()];
        long count = 1;
        int k = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0 || v > int.MaxValue)
                throw new ManagedEmbedException($"{Where()}: shape entry {d.GetRawText()} is not a non-negative integer");
            shape[k++] = (int)v;
            try { count = checked(count * v); }
            catch (OverflowException) { throw new ManagedEmbedException($"{Where()}: shape {SafeTensorInfo.FormatShape(shape)} is too large"); }
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new ManagedEmbedException($"{Where()}: 'data_offsets' must be an array of two integers");
        var offs = new long[2];
        k = 0;
        foreach (var d in off.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
                throw new ManagedEmbedException($"{Where()}: data offset {d.GetRawText()} is not a non-negative integer");
            offs[k++] = v;
        }
        long begin = offs[0], end = offs[1];
        if (end < begin) throw new ManagedEmbedException($"{Where()}: data_offsets [{begin}, {end}) end before they begin");
        long expected;
        try { expected = checked(count * SafeTensorDTypes.SizeOf(dtype)); }
        catch (OverflowException) { throw new ManagedEmbedException($"{Where()}: shape {SafeTensorInfo.FormatShape(shape)} is too large"); }
        if (end - begin != expected)
            throw new ManagedEmbedException($"{Where()}: shape {SafeTensorInfo.FormatShape(shape)} × {SafeTensorDTypes.Name(dtype)} needs {expected} bytes but data_offsets [{begin}, {end}) hold {end - begin}");
        bool complete = end <= dataLength;
        if (!complete && !allowTruncated)
            throw new ManagedEmbedException($"{Where()}: data_offsets [{begin}, {end}) lie past the end of the {dataLength}-byte data section: the file is truncated");
        return new SafeTensorInfo(name, dtype, shape, count, begin, end, complete);
    }

    /// <summary>Finds a tensor by its exact name.</summary>
    public bool TryGet(string name, out SafeTensorInfo info) => _byName.TryGetValue(name, out info!);

    /// <summary>Finds a tensor by name (see <see cref="TryGet"/>); an error naming it when absent.</summary>
    public SafeTensorInfo Get(string name)
    {
        if (TryGet(name, out var info)) return info;
        throw new ManagedEmbedException($"safetensors file '{Path}': tensor '{name}' is missing");
    }

    /// <summary>The raw bytes of a tensor (a new copy).</summary>
    public ReadOnlySpan<byte> GetBytes(SafeTensorInfo info)
    {
        ThrowIfDisposed();
        EnsureComplete(info);
        return ReadRaw(info);
    }

    /// <summary>The tensor as float32 with its shape: F32, or F16, BF16 and F64 converted. Other dtypes are an error.</summary>
    public FloatTensor ReadFloat(SafeTensorInfo info) => new(info.Name, info.Shape.ToArray(), ReadFloatArray(info));

    private byte[] ReadRaw(SafeTensorInfo info)
    {
        var bytes = new byte[checked((int)info.ByteLength)];
        int read = 0;
        while (read < bytes.Length)
        {
            int r = RandomAccess.Read(_handle, bytes.AsSpan(read), DataOffset + info.Begin + read);
            if (r <= 0) throw new ManagedEmbedException($"safetensors file '{Path}': tensor '{info.Name}' could not be read: the file shrank while open");
            read += r;
        }
        return bytes;
    }

    /// <summary>
    /// The tensor as a new float32 array. F16/BF16/F64 are converted; other dtypes are an error.
    /// </summary>
    public float[] ReadFloatArray(SafeTensorInfo info)
    {
        ThrowIfDisposed();
        EnsureComplete(info);
        int n = checked((int)info.ElementCount);
        var bytes = ReadRaw(info);
        var a = new float[n];
        switch (info.DType)
        {
            case SafeTensorDType.F32:
                for (int i = 0; i < n; i++) a[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i));
                return a;
            case SafeTensorDType.F16:
                for (int i = 0; i < n; i++) a[i] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)));
                return a;
            case SafeTensorDType.BF16:
                for (int i = 0; i < n; i++) a[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)) << 16);
                return a;
            case SafeTensorDType.F64:
                for (int i = 0; i < n; i++) a[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(bytes.AsSpan(8 * i));
                return a;
            default:
                throw new ManagedEmbedException($"safetensors file '{Path}': tensor '{info.Name}' has dtype {SafeTensorDTypes.Name(info.DType)}, expected a floating-point type (F32, F16, BF16)");
        }
    }

    /// <summary>
    /// Copies a tensor as float32 into <paramref name="destination"/> (length = element count); F32 data is read
    /// straight into it, so weights that are repacked at load time (the encoder's dense layers) are never held twice.
    /// </summary>
    public void ReadFloatInto(SafeTensorInfo info, Span<float> destination)
    {
        ThrowIfDisposed();
        EnsureComplete(info);
        if (destination.Length != info.ElementCount)
            throw new ArgumentException($"destination holds {destination.Length} floats, tensor '{info.Name}' has {info.ElementCount}");
        if (info.DType != SafeTensorDType.F32 || !BitConverter.IsLittleEndian)
        {
            ReadFloatArray(info).CopyTo(destination);
            return;
        }
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(destination);
        long offset = DataOffset + info.Begin;
        while (!bytes.IsEmpty)
        {
            int n = RandomAccess.Read(_handle, bytes, offset);
            if (n <= 0) throw new ManagedEmbedException($"safetensors file '{Path}': tensor '{info.Name}' could not be read (file shrank?)");
            bytes = bytes[n..];
            offset += n;
        }
    }

    /// <summary>True when rows of <paramref name="info"/> can be gathered with <see cref="ReadRowF32"/> (F32 data on a little-endian machine).</summary>
    public static bool CanReadRowsDirectly(SafeTensorInfo info) =>
        info.DType == SafeTensorDType.F32 && BitConverter.IsLittleEndian && info.Shape.Count == 2;

    /// <summary>
    /// Copies row <paramref name="row"/> of the 2-D F32 tensor <paramref name="info"/> into <paramref name="destination"/>
    /// (length = columns) with a positional file read, so gathering a few rows of a large table (the word embeddings)
    /// reads only those rows. Thread-safe (positional reads share no file offset) and
    /// allocation-free; after <see cref="Dispose"/> it throws <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void ReadRowF32(SafeTensorInfo info, int row, Span<float> destination)
    {
        if (!CanReadRowsDirectly(info))
            throw new ArgumentException($"tensor '{info.Name}' is {SafeTensorDTypes.Name(info.DType)} {info.ShapeText}; row reads need a little-endian F32 matrix");
        int cols = info.Shape[1];
        if ((uint)row >= (uint)info.Shape[0]) throw new ArgumentOutOfRangeException(nameof(row));
        if (destination.Length != cols) throw new ArgumentException($"destination holds {destination.Length} floats, rows of '{info.Name}' have {cols}");
        ThrowIfDisposed();
        EnsureComplete(info);
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(destination);
        long offset = DataOffset + info.Begin + (long)row * cols * sizeof(float);
        while (!bytes.IsEmpty)
        {
            int n = RandomAccess.Read(_handle, bytes, offset);
            if (n <= 0) throw new ManagedEmbedException($"safetensors file '{Path}': row {row} of tensor '{info.Name}' could not be read: the file shrank while open");
            bytes = bytes[n..];
            offset += n;
        }
    }

    /// <summary>
    /// The address of <paramref name="info"/>'s data in a read-only memory map of the whole file (created on the first
    /// call), or 0 when the tensor is not a complete little-endian F32 matrix. The address stays valid until
    /// <see cref="Dispose"/>; a reader that may run concurrently with Dispose holds a <see cref="LeaseMapping"/>.
    /// </summary>
    public nint MappedF32(SafeTensorInfo info)
    {
        if (!CanReadRowsDirectly(info) || !info.IsComplete) return 0;
        lock (_mapGate)
        {
            ThrowIfDisposed();
            if (_mapBase == 0)
            {
                _map = MemoryMappedFile.CreateFromFile(_handle, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
                _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
                unsafe
                {
                    byte* p = null;
                    _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
                    _mapBase = (nint)(p + _view.PointerOffset);
                }
            }
            return _mapBase + (nint)(DataOffset + info.Begin);
        }
    }

    /// <summary>
    /// Keeps the memory map (if any) alive until the lease is disposed, even across a concurrent <see cref="Dispose"/>
    /// (which then unmaps when the last lease ends). Throws <see cref="ObjectDisposedException"/> after Dispose, and
    /// <see cref="ManagedEmbedException"/> when the file was truncated in place since it was opened: reading the missing
    /// pages through the map would end the process with SIGBUS, so each lease checks the length first (one fstat).
    /// </summary>
    public MappingLease LeaseMapping()
    {
        var view = _view?.SafeMemoryMappedViewHandle;
        ThrowIfDisposed();
        if (view is null) return default;
        long expected = DataOffset + DataLength, now = RandomAccess.GetLength(_handle);
        if (now < expected)
            throw new ManagedEmbedException($"safetensors file '{Path}' shrank while open ({now} of {expected} bytes): load the model again");
        bool added = false;
        view.DangerousAddRef(ref added);
        return new MappingLease(added ? view : null);
    }

    /// <summary>A reference on the file's memory map (see <see cref="LeaseMapping"/>); dispose it once.</summary>
    public readonly struct MappingLease : IDisposable
    {
        private readonly SafeHandle? _handle;
        internal MappingLease(SafeHandle? handle) => _handle = handle;
        /// <summary>Releases the reference.</summary>
        public void Dispose() => _handle?.DangerousRelease();
    }

    /// <summary>Reads a tensor by name as float32 (see <see cref="ReadFloat(SafeTensorInfo)"/>).</summary>
    public FloatTensor ReadFloat(string name) => ReadFloat(Get(name));

    /// <summary>Reads an integer tensor (I64, I32, I16, I8, U8, U16, U32) widened to long.</summary>
    public long[] ReadInt64(SafeTensorInfo info)
    {
        var bytes = GetBytes(info);
        int n = checked((int)info.ElementCount);
        var a = new long[n];
        for (int i = 0; i < n; i++)
        {
            a[i] = info.DType switch
            {
                SafeTensorDType.I64 => BinaryPrimitives.ReadInt64LittleEndian(bytes.Slice(8 * i)),
                SafeTensorDType.I32 => BinaryPrimitives.ReadInt32LittleEndian(bytes.Slice(4 * i)),
                SafeTensorDType.U32 => BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(4 * i)),
                SafeTensorDType.I16 => BinaryPrimitives.ReadInt16LittleEndian(bytes.Slice(2 * i)),
                SafeTensorDType.U16 => BinaryPrimitives.ReadUInt16LittleEndian(bytes.Slice(2 * i)),
                SafeTensorDType.I8 => (sbyte)bytes[i],
                SafeTensorDType.U8 => bytes[i],
                _ => throw new ManagedEmbedException($"safetensors file '{Path}': tensor '{info.Name}' has dtype {SafeTensorDTypes.Name(info.DType)}, expected an integer type"),
            };
        }
        return a;
    }

    /// <summary>Throws when the file is too short to hold <paramref name="info"/>'s bytes (checked at load for deferred reads).</summary>
    internal void EnsureComplete(SafeTensorInfo info)
    {
        if (!info.IsComplete)
            throw new ManagedEmbedException($"safetensors file '{Path}': tensor '{info.Name}' bytes [{info.Begin}, {info.End}) lie past the end of the {DataLength}-byte data section: the file is truncated");
    }

    internal void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Closes the file and unmaps it (once no <see cref="LeaseMapping"/> is held); later reads throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        lock (_mapGate)
        {
            if (_disposed) return;
            _disposed = true;
            if (_view is not null)
            {
                _view.SafeMemoryMappedViewHandle.ReleasePointer();
                _view.Dispose();
                _map!.Dispose();
                _view = null; _map = null; _mapBase = 0;
            }
        }
        _handle.Dispose();
    }
}
