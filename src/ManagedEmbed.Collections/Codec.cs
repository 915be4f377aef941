using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace ManagedEmbed.Collections;

/// <summary>One stored record: id, optional document, optional metadata, embedding.</summary>
internal sealed class Rec
{
    public required string Id;
    public string? Document;
    public MetaMap? Metadata; // null when empty
    public float[]? Vector; // null: the vector lives in the segment index (see Collection.Vec)
}

/// <summary>Growable little-endian byte buffer used to encode WAL records and segments.</summary>
internal sealed class ByteWriter
{
    private static readonly UTF8Encoding Strict = new(false, true);
    private byte[] _buf;
    private int _len;

    public ByteWriter(int capacity = 4096) { _buf = new byte[Math.Max(16, capacity)]; }
    public int Length => _len;
    public ReadOnlySpan<byte> Span => _buf.AsSpan(0, _len);
    public void Clear() => _len = 0;

    private Span<byte> Grow(int n)
    {
        if ((long)_len + n > Array.MaxLength) throw new ManagedEmbedException("write batch too large (over 2 GB encoded); split it into smaller calls");
        if (_len + n > _buf.Length)
        {
            long cap = Math.Max((long)_buf.Length * 2, (long)_len + n);
            Array.Resize(ref _buf, (int)Math.Min(cap, Array.MaxLength));
        }
        var s = _buf.AsSpan(_len, n);
        _len += n;
        return s;
    }

    public void U8(byte v) => Grow(1)[0] = v;
    public void U16(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Grow(2), v);
    public void U32(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Grow(4), v);
    public void U64(ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(Grow(8), v);
    public void I64(long v) => BinaryPrimitives.WriteInt64LittleEndian(Grow(8), v);
    public void F64(double v) => BinaryPrimitives.WriteDoubleLittleEndian(Grow(8), v);
    public void Bytes(ReadOnlySpan<byte> b) => b.CopyTo(Grow(b.Length));
    public void PatchU32(int at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(_buf.AsSpan(at, 4), v);

    public void Str16(string s)
    {
        int n = Strict.GetByteCount(s);
        if (n > ushort.MaxValue) throw new ManagedEmbedException("string too long for a key or id");
        U16((ushort)n);
        Strict.GetBytes(s, Grow(n));
    }

    public void Str32(string s)
    {
        int n = Strict.GetByteCount(s);
        U32((uint)n);
        Strict.GetBytes(s, Grow(n));
    }

    public void Floats(ReadOnlySpan<float> v)
    {
        var dst = Grow(v.Length * 4);
        if (BitConverter.IsLittleEndian) MemoryMarshal.AsBytes(v).CopyTo(dst);
        else for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(dst[(4 * i)..], v[i]);
    }

    /// <summary>Record body without the vector: id, flags, document, metadata.</summary>
    public void RecordBody(Rec r)
    {
        Str16(r.Id);
        U8((byte)(r.Document is null ? 0 : 1));
        if (r.Document is not null) Str32(r.Document);
        var m = r.Metadata;
        int count = m?.Count ?? 0;
        if (count > ushort.MaxValue) throw new ManagedEmbedException($"id '{r.Id}': too many metadata keys (max {ushort.MaxValue})");
        U16((ushort)count);
        if (m is null) return;
        foreach (var (k, v) in m)
        {
            Str16(k);
            Value(v);
        }
    }

    // kind byte, then the value; a list is its element count (u32) and its elements, each a kind byte and a value.
    private void Value(MetadataValue v)
    {
        U8((byte)v.Kind);
        switch (v.Kind)
        {
            case MetadataKind.String: Str32(v.AsString); break;
            case MetadataKind.Integer: I64(v.AsInteger); break;
            case MetadataKind.Float: F64(v.AsFloat); break;
            case MetadataKind.Bool: U8((byte)(v.AsBool ? 1 : 0)); break;
            case MetadataKind.List:
                U32((uint)v.AsList.Count);
                foreach (var x in v.AsList) Value(x);
                break;
            default: throw new InvalidOperationException("null metadata value cannot be stored");
        }
    }
}

/// <summary>Bounds-checked little-endian reader; any overrun is reported as <see cref="InvalidDataException"/>.</summary>
internal ref struct ByteReader
{
    private static readonly UTF8Encoding Strict = new(false, true);
    private readonly ReadOnlySpan<byte> _s;
    private int _pos;

    public ByteReader(ReadOnlySpan<byte> s) { _s = s; _pos = 0; }
    public readonly int Position => _pos;
    public readonly int Remaining => _s.Length - _pos;

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || n > _s.Length - _pos) throw new InvalidDataException("record is truncated or has a bad length field");
        var r = _s.Slice(_pos, n);
        _pos += n;
        return r;
    }

    public byte U8() => Take(1)[0];
    public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
    public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
    public long I64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));
    public double F64() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));
    public string Str16() => Strict.GetString(Take(U16()));
    public string Str32() { uint n = U32(); if (n > int.MaxValue) throw new InvalidDataException("bad string length"); return Strict.GetString(Take((int)n)); }

    public float[] Floats(int n)
    {
        var src = Take(checked(n * 4));
        var v = new float[n];
        if (BitConverter.IsLittleEndian) src.CopyTo(MemoryMarshal.AsBytes(v.AsSpan()));
        else for (int i = 0; i < n; i++) v[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]);
        return v;
    }

    public Rec RecordBody()
    {
        string id = Str16();
        byte flags = U8();
        if (flags > 1) throw new InvalidDataException("bad record flags");
        string? doc = flags == 1 ? Str32() : null;
        int count = U16();
        var m = count == 0 ? null : new Dictionary<string, MetadataValue>(count, StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            string k = KeyPool.Intern(Str16());
            var v = Value(allowList: true);
            if (!m!.TryAdd(k, v)) throw new InvalidDataException("duplicate metadata key");
        }
        return new Rec { Id = id, Document = doc, Metadata = m is null ? null : MetaMap.From(m) };
    }

    private MetadataValue Value(bool allowList)
    {
        var kind = (MetadataKind)U8();
        switch (kind)
        {
            case MetadataKind.String: return MetadataValue.From(Str32());
            case MetadataKind.Integer: return MetadataValue.From(I64());
            case MetadataKind.Float: return MetadataValue.From(F64());
            case MetadataKind.Bool: return U8() switch { 0 => MetadataValue.From(false), 1 => MetadataValue.From(true), _ => throw new InvalidDataException("bad bool") };
            case MetadataKind.List when allowList:
                uint n = U32();
                if (n == 0 || n > Remaining) throw new InvalidDataException("bad metadata list length");
                var items = new MetadataValue[n];
                for (int i = 0; i < n; i++) items[i] = Value(allowList: false);
                try { return MetadataValue.From(items); }
                catch (ManagedEmbedException e) { throw new InvalidDataException(e.Message); }
            default: throw new InvalidDataException("bad metadata kind");
        }
    }
}
