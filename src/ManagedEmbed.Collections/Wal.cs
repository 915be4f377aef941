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
/// v2 record = u32 magic 0x324C5752 ("RWL2") | u32 payload length | u32 CRC-32C(payload) | u32 CRC-32C(the 12 bytes before) | payload
/// v1 record = u32 magic 0x314C5752 ("RWL1") | u32 payload length | u32 CRC-32C(length ‖ payload) | payload (read; appended to v1 logs only)
/// payload = u8 kind (1) | u64 seq | u32 dim | u32 nPut | u32 nDel | nPut × (record body ‖ dim × f32) | nDel × id
/// Each Add/Upsert/Update/Delete call is exactly one record, written and fsynced before the call returns, so a call
/// is all-or-nothing. v2's header checksum tells a torn write (intact header, payload running past the end of the
/// file) from damage to a complete record; v1 cannot, so a v1 length field flipped past the end reads as torn.
/// Recovery classification (see <see cref="Read"/>): damage followed by a valid record refuses to open; otherwise the
/// damaged tail is <see cref="RecoveryFindingKind.TornTail"/> or <see cref="RecoveryFindingKind.CorruptTail"/>.
/// </summary>
internal static class Wal
{
    public const uint FormatVersion = 2;
    public const uint LegacyFormatVersion = 1;
    public const int HeaderSize = 24;
    public const uint RecordMagic = 0x324C5752;
    public const uint LegacyRecordMagic = 0x314C5752;
    public const int RecordHeaderSize = 16;
    public const int LegacyRecordHeaderSize = 12;
    private static ReadOnlySpan<byte> Magic => "MEMBWAL\0"u8;

    public static string FileName(ulong generation) => $"wal-{generation:D10}.log";

    /// <summary>Quarantine files sit beside the log and are never removed as orphans.</summary>
    public const string QuarantineMarker = ".quarantine-";

    public static int RecordHeaderSizeOf(uint version) => version == LegacyFormatVersion ? LegacyRecordHeaderSize : RecordHeaderSize;

    public static byte[] Header(ulong generation, uint version = FormatVersion)
    {
        var h = new byte[HeaderSize];
        Magic.CopyTo(h);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(8), version);
        BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(16), generation);
        return h;
    }

    /// <summary>Creates a new log containing only its header, fsynced (the caller fsyncs the directory).</summary>
    public static void Create(IFileOps ops, string path, ulong generation)
    {
        using var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        ops.Write(fs, Header(generation));
        ops.Fsync(fs);
    }

    /// <summary>Encodes one batch as a complete framed record of the given log format version.</summary>
    public static void Encode(WalBatch b, ByteWriter w, uint version = FormatVersion)
    {
        int hs = RecordHeaderSizeOf(version);
        w.Clear();
        w.U32(version == LegacyFormatVersion ? LegacyRecordMagic : RecordMagic);
        for (int i = 4; i < hs; i += 4) w.U32(0); // length and checksums, patched below
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
        int payload = w.Length - hs;
        w.PatchU32(4, (uint)payload);
        if (version == LegacyFormatVersion)
        {
            uint crc = Crc32C.Compute(w.Span.Slice(4, 4));
            w.PatchU32(8, Crc32C.Append(crc, w.Span[hs..]));
            return;
        }
        w.PatchU32(8, Crc32C.Compute(w.Span[hs..]));
        // The header checksum is what makes "intact header, payload cut short" (torn) distinguishable from a damaged
        // length field or a damaged complete record.
        w.PatchU32(12, Crc32C.Compute(w.Span[..12]));
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

    /// <summary>Damage at the end of a log: from <see cref="Offset"/> to the end of the file, nothing valid after it.</summary>
    public sealed record TailDamage(long Offset, long FileLength, RecoveryFindingKind Kind, string Reason, int? Records);

    /// <summary>Result of scanning a log: where the valid prefix ends and what (if anything) follows it.</summary>
    public readonly record struct ScanResult(long ValidLength, long FileLength, int Records, uint Version, TailDamage? Damage);

    /// <summary>
    /// Reads every valid record in order, calling <paramref name="onBatch"/>; returns where the valid prefix ends and
    /// how the bytes after it (if any) are classified. Throws <see cref="ManagedEmbedException"/> when the header is
    /// wrong, a checksum-valid record does not decode, or damage is followed by a valid record (acknowledged history).
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
        if (ver != FormatVersion && ver != LegacyFormatVersion)
            throw new ManagedEmbedException($"write-ahead log {path} has format version {ver}; this build reads versions {LegacyFormatVersion} and {FormatVersion}; refusing to open");
        ulong gen = BinaryPrimitives.ReadUInt64LittleEndian(head.AsSpan(16));
        if (gen != expectedGeneration)
            throw new ManagedEmbedException($"write-ahead log {path} has generation {gen}, manifest expects {expectedGeneration}; refusing to open");

        int hs = RecordHeaderSizeOf(ver);
        long pos = HeaderSize;
        int records = 0;
        var rh = new byte[hs];
        byte[] payload = [];
        while (pos < fileLen)
        {
            var probe = Probe(fs, ver, pos, fileLen, rh, ref payload);
            if (probe.Len >= 0)
            {
                WalBatch b;
                try { b = DecodePayload(payload.AsSpan(0, (int)probe.Len)); }
                catch (Exception e) when (e is InvalidDataException or System.Text.DecoderFallbackException or OverflowException)
                {
                    // The checksum matched, so these bytes were written this way: not a torn write.
                    throw new ManagedEmbedException($"write-ahead log {path}: record at offset {pos} passes its checksum but cannot be decoded ({e.Message}); refusing to open");
                }
                onBatch(b);
                records++;
                pos += hs + probe.Len;
                continue;
            }
            // Damaged bytes at pos. Only a tail if nothing valid follows them.
            long next = FindValidRecord(fs, ver, pos + 1, fileLen);
            if (next >= 0)
                throw new ManagedEmbedException($"write-ahead log {path} is corrupt at offset {pos} ({probe.Problem}) and valid records follow at offset {next}; refusing to open rather than drop acknowledged writes");
            var kind = probe.Torn || IsAllZero(fs, pos, fileLen) ? RecoveryFindingKind.TornTail : RecoveryFindingKind.CorruptTail;
            string reason = !probe.Torn && kind == RecoveryFindingKind.TornTail ? "zero-filled tail: space allocated but never written" : probe.Problem!;
            return new ScanResult(pos, fileLen, records, ver, new TailDamage(pos, fileLen, kind, reason, probe.Records));
        }
        return new ScanResult(pos, fileLen, records, ver, null);
    }

    /// <summary>Outcome of looking at one record position: Len ≥ 0 = valid (payload in the buffer), else the problem.</summary>
    private readonly record struct ProbeResult(long Len, string? Problem, bool Torn, int? Records);

    private static ProbeResult Probe(FileStream fs, uint ver, long pos, long fileLen, byte[] rh, ref byte[] payload)
    {
        int hs = rh.Length;
        long rem = fileLen - pos;
        // Shorter than a header: a fragment of a write; an acknowledged record is never this short.
        if (rem < hs) return new(-1, "incomplete record header", true, 1);
        fs.Position = pos;
        fs.ReadExactly(rh);
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(rh);
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(rh.AsSpan(4));
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(rh.AsSpan(8));
        bool exact = len == rem - hs; // the damaged record ends exactly at the end of the file
        if (ver == LegacyFormatVersion)
        {
            if (magic != LegacyRecordMagic) return new(-1, "bad record magic", false, null);
            // v1 has no header checksum: a length running past the end reads as torn (documented limitation).
            if (len > rem - hs || len > Array.MaxLength) return new(-1, "record extends past end of file", true, 1);
            ReadPayload(fs, len, ref payload);
            uint actual = Crc32C.Append(Crc32C.Compute(rh.AsSpan(4, 4)), payload.AsSpan(0, (int)len));
            return actual == crc ? new(len, null, false, 1) : new(-1, "checksum mismatch", false, exact ? 1 : null);
        }
        uint hcrc = BinaryPrimitives.ReadUInt32LittleEndian(rh.AsSpan(12));
        if (Crc32C.Compute(rh.AsSpan(0, 12)) != hcrc || magic != RecordMagic)
            return new(-1, "record header fails its checksum", false, magic == RecordMagic && exact ? 1 : null);
        // The header is intact, so the length is what the writer wrote: a payload running past the end is torn.
        if (len > rem - hs || len > Array.MaxLength) return new(-1, "record extends past end of file", true, 1);
        ReadPayload(fs, len, ref payload);
        return Crc32C.Compute(payload.AsSpan(0, (int)len)) == crc ? new(len, null, false, 1) : new(-1, "payload checksum mismatch", false, exact ? 1 : null);
    }

    private static void ReadPayload(FileStream fs, uint len, ref byte[] payload)
    {
        if (payload.Length < len) payload = new byte[Math.Max(len, Math.Min((long)payload.Length * 2, Array.MaxLength))];
        fs.ReadExactly(payload, 0, (int)len);
    }

    private static bool IsAllZero(FileStream fs, long from, long fileLen)
    {
        var buf = new byte[1 << 16];
        fs.Position = from;
        long left = fileLen - from;
        while (left > 0)
        {
            int n = fs.Read(buf, 0, (int)Math.Min(buf.Length, left));
            if (n <= 0) break;
            if (buf.AsSpan(0, n).ContainsAnyExcept((byte)0)) return false;
            left -= n;
        }
        return true;
    }

    /// <summary>Offset of the first position ≥ from where a complete, checksum-valid record starts; -1 if none.</summary>
    private static long FindValidRecord(FileStream fs, uint ver, long from, long fileLen)
    {
        int hs = RecordHeaderSizeOf(ver);
        var buf = new byte[1 << 16];
        var mb = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(mb, ver == LegacyFormatVersion ? LegacyRecordMagic : RecordMagic);
        var rh = new byte[hs];
        byte[] payload = [];
        long pos = from;
        while (pos + hs <= fileLen)
        {
            fs.Position = pos;
            int n = fs.Read(buf, 0, (int)Math.Min(buf.Length, fileLen - pos));
            if (n < 4) break;
            int idx = buf.AsSpan(0, n).IndexOf(mb);
            if (idx < 0) { pos += n - 3; continue; }
            long cand = pos + idx;
            if (Probe(fs, ver, cand, fileLen, rh, ref payload).Len >= 0) return cand;
            pos = cand + 1;
        }
        return -1;
    }

    /// <summary>
    /// Moves the bytes from <paramref name="offset"/> to the end of the log into a new quarantine file beside it
    /// (written, fsynced, renamed into place, directory fsynced) and only then cuts the log there and fsyncs it, so a
    /// crash at any point loses no bytes. Returns the quarantine file's path.
    /// </summary>
    public static string Quarantine(IFileOps ops, string path, long offset)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string stamp = DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmssfff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        string target = path + QuarantineMarker + stamp;
        for (int i = 1; File.Exists(target); i++) target = $"{path}{QuarantineMarker}{stamp}-{i}";
        string tmp = target + ".tmp";
        using (var src = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16))
        using (var dst = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            src.Position = offset;
            var buf = new byte[1 << 16];
            int n;
            while ((n = src.Read(buf, 0, buf.Length)) > 0) ops.Write(dst, buf.AsSpan(0, n));
            ops.Fsync(dst);
        }
        ops.Rename(tmp, target);
        ops.FsyncDirectory(dir);
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete))
        {
            ops.SetLength(fs, offset);
            ops.Fsync(fs);
        }
        return target;
    }
}

/// <summary>Append handle on the live log, owned by the single writer.</summary>
internal sealed class WalWriter : IDisposable
{
    private readonly FileStream _fs;
    private readonly IFileOps _ops;
    public string Path { get; }
    public long Length { get; private set; }
    /// <summary>Record format of this log (its header's version): appends keep one format per file.</summary>
    public uint Version { get; }

    public WalWriter(IFileOps ops, string path, long validLength, uint version)
    {
        _ops = ops;
        Path = path;
        Version = version;
        _fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read | FileShare.Delete);
        // Bytes past the valid prefix are quarantined (Wal.Quarantine) before a writer is made; never cut them here.
        if (_fs.Length != validLength)
        {
            _fs.Dispose();
            throw new ManagedEmbedException($"write-ahead log {path} changed while it was being opened ({validLength} valid bytes, file has more); reopen it");
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
            _ops.Write(_fs, record);
            _ops.Fsync(_fs);
            Length = before + record.Length;
        }
        catch
        {
            // The failed record was never acknowledged: cutting it off destroys nothing anyone was told is stored.
            try { _ops.SetLength(_fs, before); _ops.Fsync(_fs); _fs.Position = before; }
            catch (Exception e2) { throw new WalUnrestorableException($"write to {Path} failed and the log could not be restored: {e2.Message}", e2); }
            throw;
        }
    }

    /// <summary>Appends without fsync (compaction carries batches over, then calls <see cref="Sync"/> once).</summary>
    public void AppendNoSync(ReadOnlySpan<byte> record)
    {
        _fs.Position = Length;
        _ops.Write(_fs, record);
        Length += record.Length;
    }

    /// <summary>fsyncs everything appended so far.</summary>
    public void Sync() => _ops.Fsync(_fs);

    public void Dispose() => _fs.Dispose();
}

/// <summary>
/// A log append failed and cutting the log back failed too: the file may end in an unacknowledged record, so the
/// collection must stop accepting writes until it is reopened (recovery then drops the torn tail).
/// </summary>
internal sealed class WalUnrestorableException(string message, Exception inner) : IOException(message, inner);
