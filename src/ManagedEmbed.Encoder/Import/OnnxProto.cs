using System.Buffers.Binary;
using System.Text;

namespace ManagedEmbed.Encoder.Import;

// A hand-written reader for the parts of onnx.proto (proto2, onnx/onnx.proto) that the importer needs. Field numbers:
//   ModelProto:         ir_version=1, producer_name=2, producer_version=3, graph=7, opset_import=8
//   OperatorSetIdProto: domain=1, version=2
//   GraphProto:         node=1, name=2, initializer=5, input=11, output=12, sparse_initializer=15
//   ValueInfoProto:     name=1
//   NodeProto:          input=1, output=2, name=3, op_type=4, attribute=5, domain=7
//   AttributeProto:     name=1, f=2, i=3, s=4, t=5, g=6, floats=7, ints=8, graphs=11, type=20
//   TensorProto:        dims=1, data_type=2, segment=3, float_data=4, int32_data=5, int64_data=7, name=8, raw_data=9,
//                       double_data=10, external_data=13, data_location=14
// Everything else is skipped by wire type. Every length is checked against the enclosing message before it is used,
// so a truncated or corrupted file fails with a ManagedEmbedException naming the offset and field, never with an
// IndexOutOfRangeException. Tensor bytes (raw_data) are slices of the input, not copies.

/// <summary>ONNX TensorProto.DataType values used here.</summary>
internal enum OnnxDataType
{
    Undefined = 0, Float = 1, UInt8 = 2, Int8 = 3, UInt16 = 4, Int16 = 5, Int32 = 6, Int64 = 7, String = 8, Bool = 9,
    Float16 = 10, Double = 11, UInt32 = 12, UInt64 = 13, Complex64 = 14, Complex128 = 15, BFloat16 = 16,
}

/// <summary>A parsed TensorProto (initializer or Constant value).</summary>
internal sealed class OnnxTensor
{
    public string Name = "";
    public long[] Dims = [];
    public int DataType;
    /// <summary>Offset of the TensorProto message in the file (for error messages).</summary>
    public int Offset;
    public ReadOnlyMemory<byte>? Raw;
    public List<float>? FloatData;
    public List<long>? Int64Data;
    public List<int>? Int32Data;
    public List<double>? DoubleData;
    public bool External;
    public bool Segmented;

    public OnnxDataType Type => (OnnxDataType)DataType;

    public bool IsFloat => Type is OnnxDataType.Float or OnnxDataType.Float16 or OnnxDataType.BFloat16 or OnnxDataType.Double;

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (long d in Dims) n *= d; // dims are validated non-negative and bounded on parse
            return n;
        }
    }

    public static int ElementSize(OnnxDataType t) => t switch
    {
        OnnxDataType.UInt8 or OnnxDataType.Int8 or OnnxDataType.Bool => 1,
        OnnxDataType.UInt16 or OnnxDataType.Int16 or OnnxDataType.Float16 or OnnxDataType.BFloat16 => 2,
        OnnxDataType.Float or OnnxDataType.Int32 or OnnxDataType.UInt32 => 4,
        OnnxDataType.Int64 or OnnxDataType.UInt64 or OnnxDataType.Double => 8,
        _ => 0,
    };

    public string Describe() => $"'{Name}' ({Type} [{string.Join(", ", Dims)}], TensorProto at offset {Offset})";

    /// <summary>The little-endian element bytes, from raw_data or converted from the typed repeated field.</summary>
    public ReadOnlyMemory<byte> Bytes()
    {
        if (External) throw new ManagedEmbedException($"tensor {Describe()} keeps its data in an external file; only self-contained .onnx files are supported (re-export without external data, e.g. onnx.save(model, path, save_as_external_data=False))");
        if (Segmented) throw new ManagedEmbedException($"tensor {Describe()} is segmented (TensorProto.segment); segmented tensors are not supported");
        int size = ElementSize(Type);
        if (size == 0) throw new ManagedEmbedException($"tensor {Describe()} has unsupported data type {DataType}");
        long count = ElementCount;
        long expected = count * size;
        if (Raw is { } raw)
        {
            if (raw.Length != expected)
                throw new ManagedEmbedException($"tensor {Describe()}: raw_data has {raw.Length} bytes, expected {expected}");
            return raw;
        }
        if (expected > int.MaxValue) throw new ManagedEmbedException($"tensor {Describe()} is too large");
        var b = new byte[expected];
        switch (Type)
        {
            case OnnxDataType.Float:
                Check(FloatData?.Count ?? 0, count, "float_data");
                for (int i = 0; i < count; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(4 * i), FloatData![i]);
                break;
            case OnnxDataType.Double:
                Check(DoubleData?.Count ?? 0, count, "double_data");
                for (int i = 0; i < count; i++) BinaryPrimitives.WriteDoubleLittleEndian(b.AsSpan(8 * i), DoubleData![i]);
                break;
            case OnnxDataType.Int64:
                Check(Int64Data?.Count ?? 0, count, "int64_data");
                for (int i = 0; i < count; i++) BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(8 * i), Int64Data![i]);
                break;
            case OnnxDataType.Int32:
                Check(Int32Data?.Count ?? 0, count, "int32_data");
                for (int i = 0; i < count; i++) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4 * i), Int32Data![i]);
                break;
            case OnnxDataType.Float16 or OnnxDataType.BFloat16 or OnnxDataType.UInt16 or OnnxDataType.Int16:
                // onnx.proto: 16-bit types without raw_data keep their bit patterns in int32_data.
                Check(Int32Data?.Count ?? 0, count, "int32_data");
                for (int i = 0; i < count; i++) BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2 * i), (ushort)Int32Data![i]);
                break;
            case OnnxDataType.Int8 or OnnxDataType.UInt8 or OnnxDataType.Bool:
                Check(Int32Data?.Count ?? 0, count, "int32_data");
                for (int i = 0; i < count; i++) b[i] = (byte)Int32Data![i];
                break;
            default:
                throw new ManagedEmbedException($"tensor {Describe()} has data type {Type}, which this importer does not read");
        }
        return b;
    }

    private void Check(int have, long want, string field)
    {
        if (have != want) throw new ManagedEmbedException($"tensor {Describe()}: {field} has {have} values, expected {want}");
    }

    /// <summary>The values of an integer tensor (INT64 or INT32), for shape constants.</summary>
    public long[]? Ints()
    {
        if (Type is not (OnnxDataType.Int64 or OnnxDataType.Int32) || External || Segmented || ElementCount > 64) return null;
        var bytes = Bytes().Span;
        long n = ElementCount;
        var r = new long[n];
        for (int i = 0; i < n; i++)
            r[i] = Type == OnnxDataType.Int64 ? BinaryPrimitives.ReadInt64LittleEndian(bytes[(8 * i)..]) : BinaryPrimitives.ReadInt32LittleEndian(bytes[(4 * i)..]);
        return r;
    }

    /// <summary>The value of a one-element float tensor (FLOAT or DOUBLE), or null.</summary>
    public double? Scalar()
    {
        if (ElementCount != 1 || External || Segmented) return null;
        var bytes = Bytes().Span;
        return Type switch
        {
            OnnxDataType.Float => BinaryPrimitives.ReadSingleLittleEndian(bytes),
            OnnxDataType.Double => BinaryPrimitives.ReadDoubleLittleEndian(bytes),
            OnnxDataType.Float16 => (double)BinaryPrimitives.ReadHalfLittleEndian(bytes),
            _ => null,
        };
    }
}

/// <summary>A parsed AttributeProto (the value kinds the importer looks at).</summary>
internal sealed class OnnxAttribute
{
    public string Name = "";
    public int Type;
    public float F;
    public long I;
    public byte[]? S;
    public OnnxTensor? T;
    public List<float> Floats = new();
    public List<long> Ints = new();
}

/// <summary>A parsed NodeProto.</summary>
internal sealed class OnnxNode
{
    public string Name = "";
    public string OpType = "";
    public string Domain = "";
    public List<string> Inputs = new();
    public List<string> Outputs = new();
    public List<OnnxAttribute> Attributes = new();
    public int Offset;

    public OnnxAttribute? Attr(string name) => Attributes.Find(a => a.Name == name);

    public string Describe() => $"{OpType} node{(Name.Length > 0 ? $" '{Name}'" : "")} (NodeProto at offset {Offset})";
}

/// <summary>A parsed GraphProto.</summary>
internal sealed class OnnxGraph
{
    public string Name = "";
    public List<OnnxNode> Nodes = new();
    public List<OnnxTensor> Initializers = new();
    public List<string> Inputs = new();
    public List<string> Outputs = new();
    public int SparseInitializers;
}

/// <summary>A parsed ModelProto.</summary>
internal sealed class OnnxModel
{
    public long IrVersion;
    public string ProducerName = "";
    public string ProducerVersion = "";
    public OnnxGraph? Graph;
    public List<(string Domain, long Version)> Opsets = new();

    /// <summary>Version of the default ("" or "ai.onnx") operator set, or null.</summary>
    public long? DefaultOpset => Opsets.Where(o => o.Domain is "" or "ai.onnx").Select(o => (long?)o.Version).FirstOrDefault();

    /// <summary>Parses a serialized ModelProto.</summary>
    public static OnnxModel Parse(ReadOnlyMemory<byte> data) => new OnnxParser(data).Model();
}

/// <summary>The wire-format reader. Positions are absolute offsets into the input.</summary>
internal sealed class OnnxParser
{
    private readonly ReadOnlyMemory<byte> _data;
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    public OnnxParser(ReadOnlyMemory<byte> data) { _data = data; }

    private ReadOnlySpan<byte> Span => _data.Span;

    private static ManagedEmbedException Bad(int offset, string what) =>
        new($"invalid ONNX file: {what} at byte offset {offset}");

    /// <summary>Reads a base-128 varint (at most 10 bytes) that must end before <paramref name="end"/>.</summary>
    private ulong Varint(ref int pos, int end, string field)
    {
        var s = Span;
        ulong v = 0;
        int start = pos;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (pos >= end) throw Bad(start, $"truncated varint in {field}");
            byte b = s[pos++];
            if (shift == 63 && b > 1) throw Bad(start, $"varint longer than 64 bits in {field}");
            v |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return v;
        }
        throw Bad(start, $"varint longer than 10 bytes in {field}");
    }

    /// <summary>Reads a length prefix and returns the [start, end) of the payload, bounded by <paramref name="end"/>.</summary>
    private (int Start, int End) Bytes(ref int pos, int end, string field)
    {
        int at = pos;
        ulong len = Varint(ref pos, end, field);
        if (len > (ulong)(end - pos)) throw Bad(at, $"{field} claims {len} bytes but only {end - pos} remain in its enclosing message (truncated or corrupted file)");
        int start = pos;
        pos += (int)len;
        return (start, pos);
    }

    private string Str(ref int pos, int end, string field)
    {
        var (a, b) = Bytes(ref pos, end, field);
        try { return StrictUtf8.GetString(Span[a..b]); }
        catch (DecoderFallbackException) { throw Bad(a, $"{field} is not valid UTF-8"); }
    }

    private uint Fixed32(ref int pos, int end, string field)
    {
        if (end - pos < 4) throw Bad(pos, $"truncated 32-bit value in {field}");
        uint v = BinaryPrimitives.ReadUInt32LittleEndian(Span[pos..]);
        pos += 4;
        return v;
    }

    private ulong Fixed64(ref int pos, int end, string field)
    {
        if (end - pos < 8) throw Bad(pos, $"truncated 64-bit value in {field}");
        ulong v = BinaryPrimitives.ReadUInt64LittleEndian(Span[pos..]);
        pos += 8;
        return v;
    }

    /// <summary>Reads a field key; the field number and wire type.</summary>
    private (int Field, int Wire) Tag(ref int pos, int end, string message)
    {
        int at = pos;
        ulong key = Varint(ref pos, end, message + " field key");
        int wire = (int)(key & 7);
        ulong field = key >> 3;
        if (field == 0 || field > 536_870_911) throw Bad(at, $"invalid field number {field} in {message}");
        if (wire is 3 or 4 or 6 or 7) throw Bad(at, $"unsupported wire type {wire} (field {field}) in {message}");
        return ((int)field, wire);
    }

    private void Skip(ref int pos, int end, int wire, string field)
    {
        switch (wire)
        {
            case 0: Varint(ref pos, end, field); break;
            case 1: Fixed64(ref pos, end, field); break;
            case 2: Bytes(ref pos, end, field); break;
            case 5: Fixed32(ref pos, end, field); break;
            default: throw Bad(pos, $"unsupported wire type {wire} in {field}");
        }
    }

    private void Expect(int wire, int want, int at, string field)
    {
        if (wire != want) throw Bad(at, $"{field} has wire type {wire}, expected {want}");
    }

    public OnnxModel Model()
    {
        if (_data.Length == 0) throw new ManagedEmbedException("invalid ONNX file: it is empty");
        var m = new OnnxModel();
        int pos = 0, end = _data.Length;
        bool sawGraph = false;
        while (pos < end)
        {
            int at = pos;
            var (f, w) = Tag(ref pos, end, "ModelProto");
            switch (f)
            {
                case 1: Expect(w, 0, at, "ModelProto.ir_version"); m.IrVersion = (long)Varint(ref pos, end, "ModelProto.ir_version"); break;
                case 2: Expect(w, 2, at, "ModelProto.producer_name"); m.ProducerName = Str(ref pos, end, "ModelProto.producer_name"); break;
                case 3: Expect(w, 2, at, "ModelProto.producer_version"); m.ProducerVersion = Str(ref pos, end, "ModelProto.producer_version"); break;
                case 7:
                    {
                        Expect(w, 2, at, "ModelProto.graph");
                        if (sawGraph) throw Bad(at, "second ModelProto.graph");
                        sawGraph = true;
                        var (a, b) = Bytes(ref pos, end, "ModelProto.graph");
                        m.Graph = Graph(a, b);
                        break;
                    }
                case 8:
                    {
                        Expect(w, 2, at, "ModelProto.opset_import");
                        var (a, b) = Bytes(ref pos, end, "ModelProto.opset_import");
                        m.Opsets.Add(Opset(a, b));
                        break;
                    }
                default: Skip(ref pos, end, w, $"ModelProto field {f}"); break;
            }
        }
        if (m.Graph is null) throw new ManagedEmbedException("invalid ONNX file: no graph (ModelProto field 7) in the file; is it an ONNX model, and complete?");
        if (m.DefaultOpset is null) throw new ManagedEmbedException("invalid ONNX file: no opset_import for the default ONNX domain (ModelProto field 8); the file is truncated or not an ONNX model");
        return m;
    }

    private (string, long) Opset(int pos, int end)
    {
        string domain = "";
        long version = 0;
        while (pos < end)
        {
            int at = pos;
            var (f, w) = Tag(ref pos, end, "OperatorSetIdProto");
            if (f == 1) { Expect(w, 2, at, "OperatorSetIdProto.domain"); domain = Str(ref pos, end, "OperatorSetIdProto.domain"); }
            else if (f == 2) { Expect(w, 0, at, "OperatorSetIdProto.version"); version = (long)Varint(ref pos, end, "OperatorSetIdProto.version"); }
            else Skip(ref pos, end, w, $"OperatorSetIdProto field {f}");
        }
        return (domain, version);
    }

    private OnnxGraph Graph(int pos, int end)
    {
        var g = new OnnxGraph();
        while (pos < end)
        {
            int at = pos;
            var (f, w) = Tag(ref pos, end, "GraphProto");
            switch (f)
            {
                case 1: { Expect(w, 2, at, "GraphProto.node"); var (a, b) = Bytes(ref pos, end, "GraphProto.node"); g.Nodes.Add(Node(a, b)); break; }
                case 2: Expect(w, 2, at, "GraphProto.name"); g.Name = Str(ref pos, end, "GraphProto.name"); break;
                case 5: { Expect(w, 2, at, "GraphProto.initializer"); var (a, b) = Bytes(ref pos, end, "GraphProto.initializer"); g.Initializers.Add(Tensor(a, b)); break; }
                case 11: { Expect(w, 2, at, "GraphProto.input"); var (a, b) = Bytes(ref pos, end, "GraphProto.input"); g.Inputs.Add(ValueInfoName(a, b)); break; }
                case 12: { Expect(w, 2, at, "GraphProto.output"); var (a, b) = Bytes(ref pos, end, "GraphProto.output"); g.Outputs.Add(ValueInfoName(a, b)); break; }
                case 15: Expect(w, 2, at, "GraphProto.sparse_initializer"); Bytes(ref pos, end, "GraphProto.sparse_initializer"); g.SparseInitializers++; break;
                default: Skip(ref pos, end, w, $"GraphProto field {f}"); break;
            }
        }
        return g;
    }

    private string ValueInfoName(int pos, int end)
    {
        string name = "";
        while (pos < end)
        {
            int at = pos;
            var (f, w) = Tag(ref pos, end, "ValueInfoProto");
            if (f == 1) { Expect(w, 2, at, "ValueInfoProto.name"); name = Str(ref pos, end, "ValueInfoProto.name"); }
            else Skip(ref pos, end, w, $"ValueInfoProto field {f}");
        }
        return name;
    }

    private OnnxNode Node(int pos, int end)
    {
        var n = new OnnxNode { Offset = pos };
        while (pos < end)
        {
            int at = pos;
            var (f, w) = Tag(ref pos, end, "NodeProto");
            switch (f)
            {
                case 1: Expect(w, 2, at, "NodeProto.input"); n.Inputs.Add(Str(ref pos, end, "NodeProto.input")); break;
                case 2: Expect(w, 2, at, "NodeProto.output"); n.Outputs.Add(Str(ref pos, end, "NodeProto.output")); break;
                case 3: Expect(w, 2, at, "NodeProto.name"); n.Name = Str(ref pos, end, "NodeProto.name"); break;
                case 4: Expect(w, 2, at, "NodeProto.op_type"); n.OpType = Str(ref pos, end, "NodeProto.op_type"); break;
                case 5: { Expect(w, 2, at, "NodeProto.attribute"); var (a, b) = Bytes(ref pos, end, "NodeProto.attribute"); n.Attributes.Add(Attribute(a, b)); break; }
                case 7: Expect(w, 2, at, "NodeProto.domain"); n.Domain = Str(ref pos, end, "NodeProto.domain"); break;
                default: Skip(ref pos, end, w, $"NodeProto field {f}"); break;
            }
        }
        return n;
    }

    private OnnxAttribute Attribute(int pos, int end)
    {
        var a = new OnnxAttribute();
        while (pos < end)
        {
            int at = pos;
            var (f, w) = Tag(ref pos, end, "AttributeProto");
            switch (f)
            {
                case 1: Expect(w, 2, at, "AttributeProto.name"); a.Name = Str(ref pos, end, "AttributeProto.name"); break;
                case 2: Expect(w, 5, at, "AttributeProto.f"); a.F = BitConverter.UInt32BitsToSingle(Fixed32(ref pos, end, "AttributeProto.f")); break;
                case 3: Expect(w, 0, at, "AttributeProto.i"); a.I = (long)Varint(ref pos, end, "AttributeProto.i"); break;
                case 4: { Expect(w, 2, at, "AttributeProto.s"); var (s, e) = Bytes(ref pos, end, "AttributeProto.s"); a.S = Span[s..e].ToArray(); break; }
                case 5: { Expect(w, 2, at, "AttributeProto.t"); var (s, e) = Bytes(ref pos, end, "AttributeProto.t"); a.T = Tensor(s, e); break; }
                case 7: RepeatedFloat(ref pos, end, w, at, a.Floats, "AttributeProto.floats"); break;
                case 8: RepeatedVarint(ref pos, end, w, at, a.Ints, "AttributeProto.ints"); break;
                case 20: Expect(w, 0, at, "AttributeProto.type"); a.Type = (int)(long)Varint(ref pos, end, "AttributeProto.type"); break;
                // Sub-graphs (g, graphs) and the other kinds are not needed: skipped unparsed.
                default: Skip(ref pos, end, w, $"AttributeProto field {f}"); break;
            }
        }
        return a;
    }

    private void RepeatedFloat(ref int pos, int end, int wire, int at, List<float> into, string field)
    {
        if (wire == 5) { into.Add(BitConverter.UInt32BitsToSingle(Fixed32(ref pos, end, field))); return; }
        Expect(wire, 2, at, field);
        var (a, b) = Bytes(ref pos, end, field);
        if ((b - a) % 4 != 0) throw Bad(a, $"packed {field} has {b - a} bytes, not a multiple of 4");
        for (int p = a; p < b; p += 4) into.Add(BinaryPrimitives.ReadSingleLittleEndian(Span[p..]));
    }

    private void RepeatedDouble(ref int pos, int end, int wire, int at, List<double> into, string field)
    {
        if (wire == 1) { into.Add(BitConverter.UInt64BitsToDouble(Fixed64(ref pos, end, field))); return; }
        Expect(wire, 2, at, field);
        var (a, b) = Bytes(ref pos, end, field);
        if ((b - a) % 8 != 0) throw Bad(a, $"packed {field} has {b - a} bytes, not a multiple of 8");
        for (int p = a; p < b; p += 8) into.Add(BinaryPrimitives.ReadDoubleLittleEndian(Span[p..]));
    }

    private void RepeatedVarint(ref int pos, int end, int wire, int at, List<long> into, string field)
    {
        if (wire == 0) { into.Add((long)Varint(ref pos, end, field)); return; }
        Expect(wire, 2, at, field);
        var (a, b) = Bytes(ref pos, end, field);
        int p = a;
        while (p < b) into.Add((long)Varint(ref p, b, field));
    }

    private OnnxTensor Tensor(int pos, int end)
    {
        var t = new OnnxTensor { Offset = pos };
        var dims = new List<long>();
        while (pos < end)
        {
            int at = pos;
            var (f, w) = Tag(ref pos, end, "TensorProto");
            switch (f)
            {
                case 1: RepeatedVarint(ref pos, end, w, at, dims, "TensorProto.dims"); break;
                case 2: Expect(w, 0, at, "TensorProto.data_type"); t.DataType = (int)(long)Varint(ref pos, end, "TensorProto.data_type"); break;
                case 3: Expect(w, 2, at, "TensorProto.segment"); Bytes(ref pos, end, "TensorProto.segment"); t.Segmented = true; break;
                case 4: RepeatedFloat(ref pos, end, w, at, t.FloatData ??= new(), "TensorProto.float_data"); break;
                case 5:
                    {
                        var tmp = new List<long>();
                        RepeatedVarint(ref pos, end, w, at, tmp, "TensorProto.int32_data");
                        t.Int32Data ??= new();
                        foreach (long v in tmp) t.Int32Data.Add((int)v);
                        break;
                    }
                case 7: RepeatedVarint(ref pos, end, w, at, t.Int64Data ??= new(), "TensorProto.int64_data"); break;
                case 8: Expect(w, 2, at, "TensorProto.name"); t.Name = Str(ref pos, end, "TensorProto.name"); break;
                case 9: { Expect(w, 2, at, "TensorProto.raw_data"); var (a, b) = Bytes(ref pos, end, "TensorProto.raw_data"); t.Raw = _data[a..b]; break; }
                case 10: RepeatedDouble(ref pos, end, w, at, t.DoubleData ??= new(), "TensorProto.double_data"); break;
                case 13: Expect(w, 2, at, "TensorProto.external_data"); Bytes(ref pos, end, "TensorProto.external_data"); t.External = true; break;
                case 14: Expect(w, 0, at, "TensorProto.data_location"); if (Varint(ref pos, end, "TensorProto.data_location") == 1) t.External = true; break;
                default: Skip(ref pos, end, w, $"TensorProto field {f}"); break;
            }
        }
        // Bound the shape by the file: a tensor cannot hold more elements than the file has bytes (unless external).
        long count = 1;
        foreach (long d in dims)
        {
            if (d < 0 || d > int.MaxValue) throw Bad(t.Offset, $"tensor '{t.Name}' has dimension {d}");
            count = d == 0 ? 0 : count;
            if (count != 0 && d > (long)_data.Length * 8 / count) throw Bad(t.Offset, $"tensor '{t.Name}' has shape [{string.Join(", ", dims)}], larger than the file");
            count *= d;
        }
        t.Dims = dims.ToArray();
        return t;
    }
}
