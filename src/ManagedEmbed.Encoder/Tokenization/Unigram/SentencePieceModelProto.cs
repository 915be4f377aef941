using System.Text;

namespace ManagedEmbed.Encoder.Tokenization.Unigram;

/// <summary>The type of a SentencePiece vocabulary entry (sentencepiece_model.proto, <c>SentencePiece.Type</c>).</summary>
public enum SentencePieceType
{
    /// <summary>An ordinary piece, matched by the segmenter.</summary>
    Normal = 1,
    /// <summary>The unknown-symbol piece.</summary>
    Unknown = 2,
    /// <summary>A control symbol (&lt;s&gt;, &lt;/s&gt;, ...): never produced from text.</summary>
    Control = 3,
    /// <summary>A user-defined symbol: always kept whole when it occurs in the text.</summary>
    UserDefined = 4,
    /// <summary>An unused piece: in the vocabulary but never produced.</summary>
    Unused = 5,
    /// <summary>A byte-fallback piece (&lt;0xNN&gt;).</summary>
    Byte = 6,
}

/// <summary>One vocabulary entry of a SentencePiece model.</summary>
/// <param name="Piece">The piece text (whitespace already escaped as U+2581).</param>
/// <param name="Score">The log-probability (Unigram) of the piece.</param>
/// <param name="Type">The piece type.</param>
public readonly record struct SentencePieceEntry(string Piece, float Score, SentencePieceType Type);

/// <summary>The normalizer settings of a SentencePiece model (sentencepiece_model.proto, <c>NormalizerSpec</c>).</summary>
public sealed class SentencePieceNormalizerSpec
{
    /// <summary>The rule name the model was trained with (nmt_nfkc, identity, ...); informational only.</summary>
    public string Name { get; init; } = "";

    /// <summary>The compiled normalization rules (a Darts trie and replacement strings); empty = no character mapping.</summary>
    public byte[] PrecompiledCharsmap { get; init; } = [];

    /// <summary>Whether a whitespace is prepended to the text (proto default true).</summary>
    public bool AddDummyPrefix { get; init; } = true;

    /// <summary>Whether leading, trailing and repeated whitespace is removed (proto default true).</summary>
    public bool RemoveExtraWhitespaces { get; init; } = true;

    /// <summary>Whether ' ' is replaced by U+2581 (proto default true).</summary>
    public bool EscapeWhitespaces { get; init; } = true;
}

/// <summary>
/// The parts of a SentencePiece <c>ModelProto</c> (a <c>.model</c> file such as XLM-R's sentencepiece.bpe.model) that
/// encoding needs, read by a small bounded protobuf reader (no generated code, no reflection).
/// </summary>
public sealed class SentencePieceModelProto
{
    /// <summary>Largest accepted model file (the real XLM-R model is 5 MB).</summary>
    public const int MaxModelBytes = 512 << 20;

    /// <summary>The vocabulary, index = SentencePiece id.</summary>
    public required IReadOnlyList<SentencePieceEntry> Pieces { get; init; }

    /// <summary>The normalizer settings (proto defaults when the field is absent).</summary>
    public required SentencePieceNormalizerSpec Normalizer { get; init; }

    /// <summary>trainer_spec.model_type: 1 Unigram, 2 BPE, 3 word, 4 char (proto default 1).</summary>
    public int ModelType { get; init; } = 1;

    /// <summary>trainer_spec.unk_id (proto default 0).</summary>
    public int UnkId { get; init; }

    /// <summary>trainer_spec.bos_id (proto default 1; -1 = none).</summary>
    public int BosId { get; init; } = 1;

    /// <summary>trainer_spec.eos_id (proto default 2; -1 = none).</summary>
    public int EosId { get; init; } = 2;

    /// <summary>trainer_spec.pad_id (proto default -1 = none).</summary>
    public int PadId { get; init; } = -1;

    /// <summary>trainer_spec.byte_fallback (proto default false).</summary>
    public bool ByteFallback { get; init; }

    /// <summary>trainer_spec.treat_whitespace_as_suffix (proto default false).</summary>
    public bool TreatWhitespaceAsSuffix { get; init; }

    /// <summary>Reads a <c>.model</c> file.</summary>
    /// <exception cref="ManagedEmbedException">The file is missing, unreadable, too large or not a valid model proto;
    /// the message names the file.</exception>
    public static SentencePieceModelProto Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new ManagedEmbedException($"SentencePiece model not found: {path}");
            if (info.Length > MaxModelBytes)
                throw new ManagedEmbedException($"{path}: {info.Length} bytes is larger than the {MaxModelBytes}-byte limit for a SentencePiece model");
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ManagedEmbedException($"cannot read {path}: {e.Message}", e);
        }
        return Parse(bytes, path);
    }

    /// <summary>Parses the bytes of a <c>.model</c> file.</summary>
    /// <param name="bytes">The serialized ModelProto.</param>
    /// <param name="source">A name for error messages (usually the path).</param>
    /// <exception cref="ManagedEmbedException">The bytes are not a valid model proto.</exception>
    public static SentencePieceModelProto Parse(ReadOnlySpan<byte> bytes, string source = "SentencePiece model")
    {
        if (bytes.Length > MaxModelBytes)
            throw new ManagedEmbedException($"{source}: {bytes.Length} bytes is larger than the {MaxModelBytes}-byte limit");
        try
        {
            return ParseCore(bytes);
        }
        catch (FormatException e)
        {
            throw new ManagedEmbedException($"{source}: not a valid SentencePiece model ({e.Message})", e);
        }
    }

    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    private static SentencePieceModelProto ParseCore(ReadOnlySpan<byte> bytes)
    {
        var pieces = new List<SentencePieceEntry>();
        SentencePieceNormalizerSpec? normalizer = null;
        int modelType = 1, unk = 0, bos = 1, eos = 2, pad = -1;
        bool byteFallback = false, suffix = false, sawTrainer = false;
        var r = new ProtoReader(bytes);
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == ProtoReader.Len:
                    pieces.Add(ReadPiece(r.Bytes(), pieces.Count));
                    break;
                case 2 when wire == ProtoReader.Len:
                    sawTrainer = true;
                    var t = new ProtoReader(r.Bytes());
                    while (t.Next(out int tf, out int tw))
                    {
                        switch (tf)
                        {
                            case 3 when tw == ProtoReader.VarintWire: modelType = t.Int32(); break;
                            case 24 when tw == ProtoReader.VarintWire: suffix = t.Varint() != 0; break;
                            case 35 when tw == ProtoReader.VarintWire: byteFallback = t.Varint() != 0; break;
                            case 40 when tw == ProtoReader.VarintWire: unk = t.Int32(); break;
                            case 41 when tw == ProtoReader.VarintWire: bos = t.Int32(); break;
                            case 42 when tw == ProtoReader.VarintWire: eos = t.Int32(); break;
                            case 43 when tw == ProtoReader.VarintWire: pad = t.Int32(); break;
                            case 3 or 24 or 35 or 40 or 41 or 42 or 43:
                                throw new FormatException($"trainer_spec field {tf} has wire type {tw}, expected a varint");
                            default: t.Skip(tw); break;
                        }
                    }
                    break;
                case 3 when wire == ProtoReader.Len:
                    normalizer = ReadNormalizer(r.Bytes());
                    break;
                case 1 or 2 or 3:
                    throw new FormatException($"field {field} has wire type {wire}, expected a length-delimited message");
                default:
                    r.Skip(wire);   // self_test_data, denormalizer_spec, future fields
                    break;
            }
        }
        if (pieces.Count == 0) throw new FormatException("no pieces");
        if (!sawTrainer) throw new FormatException("no trainer_spec");
        return new SentencePieceModelProto
        {
            Pieces = pieces,
            Normalizer = normalizer ?? new SentencePieceNormalizerSpec(),
            ModelType = modelType,
            UnkId = unk,
            BosId = bos,
            EosId = eos,
            PadId = pad,
            ByteFallback = byteFallback,
            TreatWhitespaceAsSuffix = suffix,
        };
    }

    private static SentencePieceEntry ReadPiece(ReadOnlySpan<byte> msg, int index)
    {
        string? piece = null;
        float score = 0;
        int type = 1;
        var r = new ProtoReader(msg);
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == ProtoReader.Len: piece = Utf8(r.Bytes(), $"piece {index}"); break;
                case 2 when wire == ProtoReader.Fixed32: score = r.Float(); break;
                case 3 when wire == ProtoReader.VarintWire: type = r.Int32(); break;
                case 1 or 2 or 3: throw new FormatException($"piece {index}: field {field} has the wrong wire type {wire}");
                default: r.Skip(wire); break;
            }
        }
        if (piece is null) throw new FormatException($"piece {index} has no text");
        if (type is < 1 or > 6) throw new FormatException($"piece {index} \"{piece}\" has an unknown type {type}");
        if (!float.IsFinite(score)) throw new FormatException($"piece {index} \"{piece}\" has a non-finite score");
        return new SentencePieceEntry(piece, score, (SentencePieceType)type);
    }

    private static SentencePieceNormalizerSpec ReadNormalizer(ReadOnlySpan<byte> msg)
    {
        string name = "";
        byte[] charsmap = [];
        bool dummy = true, extra = true, escape = true;
        var r = new ProtoReader(msg);
        while (r.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == ProtoReader.Len: name = Utf8(r.Bytes(), "normalizer_spec.name"); break;
                case 2 when wire == ProtoReader.Len: charsmap = r.Bytes().ToArray(); break;
                case 3 when wire == ProtoReader.VarintWire: dummy = r.Varint() != 0; break;
                case 4 when wire == ProtoReader.VarintWire: extra = r.Varint() != 0; break;
                case 5 when wire == ProtoReader.VarintWire: escape = r.Varint() != 0; break;
                case 1 or 2 or 3 or 4 or 5: throw new FormatException($"normalizer_spec field {field} has the wrong wire type {wire}");
                default: r.Skip(wire); break;
            }
        }
        return new SentencePieceNormalizerSpec
        {
            Name = name, PrecompiledCharsmap = charsmap, AddDummyPrefix = dummy, RemoveExtraWhitespaces = extra, EscapeWhitespaces = escape,
        };
    }

    private static string Utf8(ReadOnlySpan<byte> b, string what)
    {
        try
        {
            return StrictUtf8.GetString(b);
        }
        catch (DecoderFallbackException)
        {
            throw new FormatException($"{what} is not valid UTF-8");
        }
    }

    /// <summary>A bounds-checked protobuf wire-format reader; every malformation is a FormatException.</summary>
    private ref struct ProtoReader(ReadOnlySpan<byte> data)
    {
        public const int VarintWire = 0, Fixed64 = 1, Len = 2, Fixed32 = 5;
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (_pos >= _data.Length) return false;
            ulong key = Varint();
            wire = (int)(key & 7);
            ulong f = key >> 3;
            if (f is 0 or > 536_870_911) throw new FormatException($"invalid field number {f} at byte {_pos}");
            field = (int)f;
            return true;
        }

        public ulong Varint()
        {
            ulong v = 0;
            for (int shift = 0; shift < 70; shift += 7)
            {
                if (_pos >= _data.Length) throw new FormatException("truncated varint");
                byte b = _data[_pos++];
                if (shift == 63 && b > 1) throw new FormatException("varint overflows 64 bits");
                v |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return v;
            }
            throw new FormatException("varint longer than 10 bytes");
        }

        /// <summary>An int32 field: negative values are sign-extended to 10 bytes on the wire.</summary>
        public int Int32()
        {
            long v = (long)Varint();
            if (v is < int.MinValue or > int.MaxValue) throw new FormatException($"int32 value {v} out of range");
            return (int)v;
        }

        public float Float()
        {
            if (_data.Length - _pos < 4) throw new FormatException("truncated float");
            float f = BitConverter.Int32BitsToSingle(System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(_data[_pos..]));
            _pos += 4;
            return f;
        }

        public ReadOnlySpan<byte> Bytes()
        {
            ulong n = Varint();
            if (n > (ulong)(_data.Length - _pos)) throw new FormatException($"length {n} at byte {_pos} runs past the end ({_data.Length - _pos} bytes left)");
            var s = _data.Slice(_pos, (int)n);
            _pos += (int)n;
            return s;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case VarintWire: Varint(); break;
                case Len: Bytes(); break;
                case Fixed64: Advance(8); break;
                case Fixed32: Advance(4); break;
                default: throw new FormatException($"unsupported wire type {wire} at byte {_pos}");
            }
        }

        private void Advance(int n)
        {
            if (_data.Length - _pos < n) throw new FormatException("truncated fixed-size field");
            _pos += n;
        }
    }
}
