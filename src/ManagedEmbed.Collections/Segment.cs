using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace ManagedEmbed.Collections;

/// <summary>Streams a file while accumulating its CRC-32C; short reads are reported as truncation.</summary>
internal sealed class CrcFileReader : IDisposable
{
    private readonly FileStream _fs;
    private readonly string _path;
    public uint Crc { get; private set; }
    public long Position { get; private set; }
    public long Length { get; }

    public CrcFileReader(string path)
    {
        _path = path;
        _fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 20);
        Length = _fs.Length;
    }

    public void ReadExactly(Span<byte> dst)
    {
        int got = _fs.ReadAtLeast(dst, dst.Length, false);
        if (got < dst.Length) throw new ManagedEmbedException($"segment file {_path} is truncated at offset {Position + got}; refusing to open");
        Crc = Crc32C.Append(Crc, dst);
        Position += dst.Length;
    }

    public void Dispose() => _fs.Dispose();
}

/// <summary>Files of one immutable segment and their checksums as named by the manifest.</summary>
internal sealed record SegmentInfo(
    string Docs, long DocsBytes, uint DocsCrc,
    string Index, string IndexKind, long IndexBytes, uint IndexCrc,
    long Count);

/// <summary>
/// Immutable segment files, written once by compaction and published by rename:
/// <c>seg-G.docs</c> = "MEMBSEG\0" | u32 version | u32 dim | u64 count | u32 reserved, then per record
///   u32 length | u32 CRC-32C(payload) | payload (id, document, metadata);
/// <c>seg-G.faiss</c> = the rows' vectors as a FAISS index (IndexFlat or IndexIVFFlat, label = row number).
/// The manifest records every file's size and whole-file CRC-32C, verified on open.
/// </summary>
internal static class Segment
{
    public const uint FormatVersion = 1;
    private static ReadOnlySpan<byte> DocsMagic => "MEMBSEG\0"u8;
    private const int HeaderSize = 28;

    private static byte[] Header(ReadOnlySpan<byte> magic, int dim, long count)
    {
        var h = new byte[HeaderSize];
        magic.CopyTo(h);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(8), FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(12), (uint)dim);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(16), (ulong)count);
        return h;
    }

    /// <summary>Writes the docs file (fsynced); returns (bytes, crc).</summary>
    public static (long Bytes, uint Crc) WriteDocs(IFileOps ops, string path, int dim, IReadOnlyList<Rec> rows)
    {
        using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        uint crc = 0;
        long bytes = 0;
        void Put(ReadOnlySpan<byte> s) { fs.Write(s); crc = Crc32C.Append(crc, s); bytes += s.Length; }
        Put(Header(DocsMagic, dim, rows.Count));
        var w = new ByteWriter(1 << 12);
        Span<byte> rh = stackalloc byte[8];
        foreach (var r in rows)
        {
            w.Clear();
            w.RecordBody(r);
            BinaryPrimitives.WriteUInt32LittleEndian(rh, (uint)w.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(rh[4..], Crc32C.Compute(w.Span));
            Put(rh);
            Put(w.Span);
        }
        ops.Fsync(fs);
        return (bytes, crc);
    }

    private static void CheckHeader(CrcFileReader rd, string path, ReadOnlySpan<byte> magic, int dim, long count)
    {
        var h = new byte[HeaderSize];
        rd.ReadExactly(h);
        if (!h.AsSpan(0, 8).SequenceEqual(magic)) throw new ManagedEmbedException($"segment file {path} has a bad magic; refusing to open");
        uint ver = BinaryPrimitives.ReadUInt32LittleEndian(h.AsSpan(8));
        if (ver != FormatVersion) throw new ManagedEmbedException($"segment file {path} has format version {ver}; this build reads version {FormatVersion}");
        if (BinaryPrimitives.ReadUInt32LittleEndian(h.AsSpan(12)) != dim || (long)BinaryPrimitives.ReadUInt64LittleEndian(h.AsSpan(16)) != count)
            throw new ManagedEmbedException($"segment file {path} header disagrees with the manifest (dim/count); refusing to open");
    }

    private static void CheckFile(CrcFileReader rd, string path, long bytes, uint crc)
    {
        if (rd.Length != bytes) throw new ManagedEmbedException($"segment file {path} has {rd.Length} bytes, manifest says {bytes} (truncated or damaged); refusing to open");
        if (rd.Position != rd.Length) throw new ManagedEmbedException($"segment file {path} has trailing bytes; refusing to open");
        if (rd.Crc != crc) throw new ManagedEmbedException($"segment file {path} fails its checksum (damaged); refusing to open");
    }

    /// <summary>Reads and verifies a segment's docs file (vectors come from its index file).</summary>
    public static List<Rec> Read(string dir, SegmentInfo s, int dim)
    {
        if (s.Count > int.MaxValue) throw new ManagedEmbedException("segment too large");
        int count = (int)s.Count;
        var rows = new List<Rec>(count);
        string docs = Path.Combine(dir, s.Docs);
        using (var rd = new CrcFileReader(docs))
        {
            if (rd.Length != s.DocsBytes) throw new ManagedEmbedException($"segment file {docs} has {rd.Length} bytes, manifest says {s.DocsBytes} (truncated or damaged); refusing to open");
            CheckHeader(rd, docs, DocsMagic, dim, count);
            var rh = new byte[8];
            byte[] p = new byte[1 << 12];
            for (int i = 0; i < count; i++)
            {
                rd.ReadExactly(rh);
                uint len = BinaryPrimitives.ReadUInt32LittleEndian(rh);
                uint crc = BinaryPrimitives.ReadUInt32LittleEndian(rh.AsSpan(4));
                if (len > rd.Length - rd.Position) throw new ManagedEmbedException($"segment file {docs}: record {i} has a bad length; refusing to open");
                if (p.Length < len) p = new byte[len];
                rd.ReadExactly(p.AsSpan(0, (int)len));
                if (Crc32C.Compute(p.AsSpan(0, (int)len)) != crc) throw new ManagedEmbedException($"segment file {docs}: record {i} fails its checksum; refusing to open");
                Rec r;
                try
                {
                    var br = new ByteReader(p.AsSpan(0, (int)len));
                    r = br.RecordBody();
                    if (br.Remaining != 0) throw new InvalidDataException("trailing bytes");
                }
                catch (Exception e) when (e is InvalidDataException or System.Text.DecoderFallbackException)
                {
                    throw new ManagedEmbedException($"segment file {docs}: record {i} cannot be decoded ({e.Message}); refusing to open");
                }
                rows.Add(r);
            }
            CheckFile(rd, docs, s.DocsBytes, s.DocsCrc);
        }
        return rows;
    }
}
