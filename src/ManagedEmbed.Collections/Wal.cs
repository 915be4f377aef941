using System.Buffers.Binary;

namespace ManagedEmbed.Collections;

/// <summary>One logged operation: full final states of the records it writes and the ids it deletes.</summary>
internal sealed class WalBatch
{
    public ulong Seq;
    public int Dim;
    public List<Rec> Puts = new();
    public List<string> Deletes = new();
}

/// <summary>
/// The write-ahead log. File layout (little-endian):
/// header  = "MEMBWAL\0" | u32 format version | u32 reserved | u64 generation                      (24 bytes)
/// record  = u32 magic 0x314C5752 ("RWL1") | u32 payload length | u32 CRC-32C(length ‖ payload) | payload
/// payload = u8 kind (1) | u64 seq | u32 dim | u32 nPut | u32 nDel | nPut × (record body ‖ dim × f32) | nDel × id
/// Each Add/Upsert/Update/Delete call is exactly one record, written and fsynced before the call returns, so a call
/// is all-or-nothing. Recovery rule: records are read in order; the first record that is incomplete or fails its
/// checksum ends the log IF no valid record follows it (a torn tail, dropped). If a valid record does follow, the
/// damage is in the middle of acknowledged history and the collection refuses to open.
/// </summary>
internal static class Wal
{
    public const uint FormatVersion = 1;
    public const int HeaderSize = 24;
    public const uint RecordMagic = 0x314C5752;
    public const int RecordHeaderSize = 12;
    private static ReadOnlySpan<byte> Magic => "MEMBWAL\0"u8;

    public static string FileName(ulong generation) => $"wal-{generation:D10}.log";

    public static byte[] Header(ulong generation)
    {
        var h = new byte[HeaderSize];
        Magic.CopyTo(h);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(8), FormatVersion);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(16), generation);
        return h;
    }

    /// <summary>Creates a new log containing only its header, fsynced (the caller fsyncs the directory).</summary>
    public static void Create(string path, ulong generation)
    {
        using var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        fs.Write(Header(generation));
        fs.Flush(true);
    }

    /// <summary>Encodes one batch as a complete framed record.</summary>
    public static void Encode(WalBatch b, ByteWriter w)
    {
        w.Clear();
        w.U32(RecordMagic);
        w.U32(0); // length, patched
        w.U32(0); // crc, patched
        w.U8(1);
        w.U64(b.Seq);
        w.U32((uint)b.Dim);
        w.U32((uint)b.Puts.Count);
        w.U32((uint)b.Deletes.Count);
        foreach (var r in b.Puts)
        {
            w.RecordBody(r);
            w.Floats(r.Vector!);
        }
        foreach (var id in b.Deletes) w.Str16(id);
        int payload = w.Length - RecordHeaderSize;
        w.PatchU32(4, (uint)payload);
        // CRC covers the length field too, so a flipped length cannot pass with a truncated payload.
        uint crc = Crc32C.Compute(w.Span.Slice(4, 4));
        crc = Crc32C.Append(crc, w.Span[RecordHeaderSize..]);
        w.PatchU32(8, crc);
    }

    private static WalBatch DecodePayload(ReadOnlySpan<byte> payload)
    {
        var r = new ByteReader(payload);
        if (r.U8() != 1) throw new InvalidDataException("unknown WAL record kind");
        var b = new WalBatch { Seq = r.U64(), Dim = (int)r.U32() };
        uint nPut = r.U32(), nDel = r.U32();
        if (b.Dim < 0 || nPut > int.MaxValue || nDel > int.MaxValue) throw new InvalidDataException("bad WAL counts");
        for (uint i = 0; i < nPut; i++)
        {
            var rec = r.RecordBody();
            rec.Vector = r.Floats(b.Dim);
            b.Puts.Add(rec);
        }
        for (uint i = 0; i < nDel; i++) b.Deletes.Add(r.Str16());
        if (r.Remaining != 0) throw new InvalidDataException("trailing bytes in WAL record");
        return b;
    }

    /// <summary>Result of scanning a log.</summary>
    public readonly record struct ScanResult(long ValidLength, long FileLength, int Records);

    /// <summary>
    /// Reads every valid record in order, calling <paramref name="onBatch"/>; returns where the valid prefix ends.
    /// Throws <see cref="ManagedEmbedException"/> when the header is wrong or damage is followed by valid records.
    /// </summary>
    public static ScanResult Read(string path, ulong expectedGeneration, Action<WalBatch> onBatch)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        long fileLen = fs.Length;
        var head = new byte[HeaderSize];
        if (fileLen < HeaderSize || fs.ReadAtLeast(head, HeaderSize, false) < HeaderSize)
            throw new ManagedEmbedException($"write-ahead log {path} is truncated inside its header; refusing to open");
        if (!head.AsSpan(0, 8).SequenceEqual(Magic))
            throw new ManagedEmbedException($"{path} is not a membed write-ahead log (bad magic); refusing to open");
        uint ver = BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(8));
        if (ver != FormatVersion)
            throw new ManagedEmbedException($"write-ahead log {path} has format version {ver}; this build reads version {FormatVersion}");
        ulong gen = BinaryPrimitives.ReadUInt64LittleEndian(head.AsSpan(16));
        if (gen != expectedGeneration)
            throw new ManagedEmbedException($"write-ahead log {path} has generation {gen}, manifest expects {expectedGeneration}; refusing to open");

        long pos = HeaderSize;
        int records = 0;
        var rh = new byte[RecordHeaderSize];
        byte[] payload = [];
        while (pos < fileLen)
        {
            string? problem = null;
            if (fileLen - pos < RecordHeaderSize) problem = "incomplete record header";
            else
            {
                fs.Position = pos;
                fs.ReadExactly(rh);
                uint magic = BinaryPrimitives.ReadUInt32LittleEndian(rh);
                uint len = BinaryPrimitives.ReadUInt32LittleEndian(rh.AsSpan(4));
                uint crc = BinaryPrimitives.ReadUInt32LittleEndian(rh.AsSpan(8));
                if (magic != RecordMagic) problem = "bad record magic";
                else if (len > fileLen - pos - RecordHeaderSize || len > Array.MaxLength) problem = "record extends past end of file";
                else
                {
                    if (payload.Length < len) payload = new byte[Math.Max(len, Math.Min((long)payload.Length * 2, Array.MaxLength))];
                    fs.ReadExactly(payload, 0, (int)len);
                    uint actual = Crc32C.Append(Crc32C.Compute(rh.AsSpan(4, 4)), payload.AsSpan(0, (int)len));
                    if (actual != crc) problem = "checksum mismatch";
                    else
                    {
                        WalBatch b;
                        try { b = DecodePayload(payload.AsSpan(0, (int)len)); }
                        catch (Exception e) when (e is InvalidDataException or System.Text.DecoderFallbackException or OverflowException)
                        {
                            // The checksum matched, so these bytes were written this way: not a torn write.
                            throw new ManagedEmbedException($"write-ahead log {path}: record at offset {pos} passes its checksum but cannot be decoded ({e.Message}); refusing to open");
                        }
                        onBatch(b);
                        records++;
                        pos += RecordHeaderSize + len;
                        continue;
                    }
                }
            }
            // Damaged record at pos. A torn tail only if nothing valid follows it.
            long next = FindValidRecord(fs, pos + 1, fileLen);
            if (next >= 0)
                throw new ManagedEmbedException($"write-ahead log {path} is corrupt at offset {pos} ({problem}) and valid records follow at offset {next}; refusing to open rather than drop acknowledged writes");
            return new ScanResult(pos, fileLen, records);
        }
        return new ScanResult(pos, fileLen, records);
    }

    /// <summary>Offset of the first position ≥ from where a complete, checksum-valid record starts; -1 if none.</summary>
    private static long FindValidRecord(FileStream fs, long from, long fileLen)
    {
        var buf = new byte[1 << 16];
        var mb = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(mb, RecordMagic);
        long pos = from;
        while (pos + RecordHeaderSize <= fileLen)
        {
            fs.Position = pos;
            int n = fs.Read(buf, 0, (int)Math.Min(buf.Length, fileLen - pos));
            if (n < 4) break;
            int idx = buf.AsSpan(0, n).IndexOf(mb);
            if (idx < 0) { pos += n - 3; continue; }
            long cand = pos + idx;
            if (IsValidRecordAt(fs, cand, fileLen)) return cand;
            pos = cand + 1;
        }
        return -1;
    }

    private static bool IsValidRecordAt(FileStream fs, long at, long fileLen)
    {
        if (fileLen - at < RecordHeaderSize) return false;
        var rh = new byte[RecordHeaderSize];
        fs.Position = at;
        fs.ReadExactly(rh);
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(rh.AsSpan(4));
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(rh.AsSpan(8));
        if (len > fileLen - at - RecordHeaderSize || len > Array.MaxLength) return false;
        var p = new byte[len];
        fs.ReadExactly(p);
        return Crc32C.Append(Crc32C.Compute(rh.AsSpan(4, 4)), p) == crc;
    }
}

/// <summary>Append handle on the live log, owned by the single writer.</summary>
internal sealed class WalWriter : IDisposable
{
    private readonly FileStream _fs;
    public string Path { get; }
    public long Length { get; private set; }

    public WalWriter(string path, long validLength)
    {
        Path = path;
        _fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        if (_fs.Length != validLength)
        {
            // Drop a torn tail before appending, so new records never follow damaged bytes.
            _fs.SetLength(validLength);
            _fs.Flush(true);
        }
        _fs.Position = validLength;
        Length = validLength;
    }

    /// <summary>Appends one framed record and fsyncs. On failure the log is cut back to its previous length.</summary>
    public void Append(ReadOnlySpan<byte> record)
    {
        long before = Length;
        try
        {
            _fs.Position = before;
            _fs.Write(record);
            _fs.Flush(true);
            Length = before + record.Length;
        }
        catch
        {
            try { _fs.SetLength(before); _fs.Flush(true); _fs.Position = before; }
            catch (Exception e2) { throw new IOException($"write to {Path} failed and the log could not be restored: {e2.Message}"); }
            throw;
        }
    }

    /// <summary>Appends without fsync (compaction carries batches over, then calls <see cref="Sync"/> once).</summary>
    public void AppendNoSync(ReadOnlySpan<byte> record)
    {
        _fs.Position = Length;
        _fs.Write(record);
        Length += record.Length;
    }

    /// <summary>fsyncs everything appended so far.</summary>
    public void Sync() => _fs.Flush(true);

    public void Dispose() => _fs.Dispose();
}
