using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;

namespace ManagedEmbed.Collections;

/// <summary>Similarity space of a collection (ChromaDB's <c>hnsw:space</c>).</summary>
public enum DistanceSpace
{
    /// <summary>distance = 1 − cosine similarity (vectors are stored unit-normalized).</summary>
    Cosine,
    /// <summary>distance = squared Euclidean distance.</summary>
    L2,
    /// <summary>distance = 1 − dot product.</summary>
    InnerProduct,
}

/// <summary>
/// The collection's root of truth, replaced atomically (write MANIFEST.tmp, fsync, rename, fsync directory).
/// Layout: "MEMBMAN\0" | u32 format version | u32 payload length | u32 CRC-32C(payload) | payload (UTF-8 JSON) with
/// the collection name, space, embedding function (name + configuration, never a path), collection metadata, dimension,
/// the live segment (files, sizes, checksums) and the WAL generation. Format 1 (older builds) recorded the model as a
/// directory path in "model"; it is read as <see cref="LegacyModelPath"/> and rewritten on the next publish. Format 3
/// adds the HNSW settings ("hnsw") and the Chroma identity ("chroma", formerly a chroma.json sidecar: see
/// <see cref="ChromaSidecar"/>); an older build refuses it by its version instead of misreading an HNSW segment.
/// </summary>
internal sealed class Manifest
{
    public const uint FormatVersion = 3;
    public const string FileName = "MANIFEST";
    private static ReadOnlySpan<byte> Magic => "MEMBMAN\0"u8;

    public required string Name;
    public DistanceSpace Space;
    public EmbeddingFunctionSpec? EmbeddingFunction;
    /// <summary>Format 1's model directory path (kept until the model is recorded by name).</summary>
    public string? LegacyModelPath;
    public Dictionary<string, MetadataValue>? Metadata;
    public int Dim;
    public ulong Generation;
    public ulong WalGeneration;
    public ulong NextSeq;
    public SegmentInfo? Segment;
    /// <summary>HNSW parameters: segments are indexed by an HNSW graph; null: flat (IVF when large).</summary>
    public HnswSettings? Hnsw;
    /// <summary>The collection's Chroma identity, when it has one.</summary>
    public ChromaIdentity? Chroma;

    public static string SpaceName(DistanceSpace s) => s switch { DistanceSpace.Cosine => "cosine", DistanceSpace.L2 => "l2", _ => "ip" };

    public static DistanceSpace ParseSpace(string s) => s switch
    {
        "cosine" => DistanceSpace.Cosine,
        "l2" => DistanceSpace.L2,
        "ip" => DistanceSpace.InnerProduct,
        _ => throw new ManagedEmbedException($"unknown space '{s}' (expected cosine, l2 or ip)"),
    };

    public byte[] Serialize()
    {
        var buf = new ArrayBufferWriter<byte>();
        using (var j = new Utf8JsonWriter(buf))
        {
            j.WriteStartObject();
            j.WriteNumber("format", FormatVersion);
            j.WriteString("name", Name);
            j.WriteString("space", SpaceName(Space));
            if (EmbeddingFunction is { } ef)
            {
                // ChromaDB's shape: {"name": ..., "config": {...}}.
                j.WriteStartObject("embeddingFunction");
                j.WriteString("name", ef.Name);
                j.WriteStartObject("config");
                j.WriteString("model_name", ef.Model);
                j.WriteNumber("dimension", ef.Dimension);
                j.WriteBoolean("normalize_embeddings", ef.Normalize);
                if (ef.Fingerprint is null) j.WriteNull("fingerprint"); else j.WriteString("fingerprint", ef.Fingerprint);
                j.WriteEndObject();
                j.WriteEndObject();
            }
            else j.WriteNull("embeddingFunction");
            if (LegacyModelPath is not null) j.WriteString("legacyModelPath", LegacyModelPath);
            j.WritePropertyName("metadata");
            MetadataJson.Write(j, Metadata);
            if (Hnsw is { } h)
            {
                j.WriteStartObject("hnsw");
                j.WriteNumber("M", h.M);
                j.WriteNumber("constructionEf", h.ConstructionEf);
                j.WriteNumber("searchEf", h.SearchEf);
                j.WriteEndObject();
            }
            if (Chroma is { } c)
            {
                j.WriteStartObject("chroma");
                j.WriteString("id", c.Id.ToString());
                j.WriteString("name", c.Name);
                j.WriteString("tenant", c.Tenant);
                j.WriteString("database", c.Database);
                if (c.ClientEmbeddingFunction is null) j.WriteNull("embeddingFunction");
                else { j.WritePropertyName("embeddingFunction"); j.WriteRawValue(c.ClientEmbeddingFunction); }
                j.WriteEndObject();
            }
            j.WriteNumber("dim", Dim);
            j.WriteNumber("generation", Generation);
            j.WriteNumber("walGeneration", WalGeneration);
            j.WriteNumber("nextSeq", NextSeq);
            j.WriteStartArray("segments");
            if (Segment is { } s)
            {
                j.WriteStartObject();
                j.WriteString("docs", s.Docs); j.WriteNumber("docsBytes", s.DocsBytes); j.WriteNumber("docsCrc", s.DocsCrc);
                j.WriteString("index", s.Index); j.WriteString("indexKind", s.IndexKind); j.WriteNumber("indexBytes", s.IndexBytes); j.WriteNumber("indexCrc", s.IndexCrc);
                j.WriteNumber("count", s.Count);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteEndObject();
        }
        var payload = buf.WrittenSpan;
        var outb = new byte[20 + payload.Length];
        Magic.CopyTo(outb);
        BinaryPrimitives.WriteUInt32LittleEndian(outb.AsSpan(8), FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(outb.AsSpan(12), (uint)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(outb.AsSpan(16), Crc32C.Compute(payload));
        payload.CopyTo(outb.AsSpan(20));
        return outb;
    }

    public static Manifest Read(string dir)
    {
        string path = Path.Combine(dir, FileName);
        byte[] b;
        try { b = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new ManagedEmbedException($"{dir} is not a collection (no MANIFEST)"); }
        if (b.Length < 20 || !b.AsSpan(0, 8).SequenceEqual(Magic)) throw new ManagedEmbedException($"manifest {path} is damaged (bad header); refusing to open");
        uint ver = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(8));
        if (ver is < 1 or > FormatVersion) throw new ManagedEmbedException($"manifest {path} has format version {ver}; this build reads version {FormatVersion}");
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(12));
        if (len != b.Length - 20) throw new ManagedEmbedException($"manifest {path} is damaged (length mismatch); refusing to open");
        var payload = b.AsSpan(20);
        if (Crc32C.Compute(payload) != BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(16)))
            throw new ManagedEmbedException($"manifest {path} fails its checksum; refusing to open");
        try
        {
            using var doc = JsonDocument.Parse(b.AsMemory(20));
            var r = doc.RootElement;
            var m = new Manifest
            {
                Name = r.GetProperty("name").GetString()!,
                Space = ParseSpace(r.GetProperty("space").GetString()!),
                LegacyModelPath = ver == 1
                    ? (r.GetProperty("model").ValueKind == JsonValueKind.Null ? null : r.GetProperty("model").GetString())
                    : r.TryGetProperty("legacyModelPath", out var lp) ? lp.GetString() : null,
                EmbeddingFunction = ver == 1 ? null : ReadEmbeddingFunction(r.GetProperty("embeddingFunction")),
                Metadata = ver == 1 || r.GetProperty("metadata").ValueKind == JsonValueKind.Null ? null
                    : MetadataJson.Parse(r.GetProperty("metadata"), "collection metadata", allowNull: false),
                Dim = r.GetProperty("dim").GetInt32(),
                Generation = r.GetProperty("generation").GetUInt64(),
                WalGeneration = r.GetProperty("walGeneration").GetUInt64(),
                NextSeq = r.GetProperty("nextSeq").GetUInt64(),
                Hnsw = r.TryGetProperty("hnsw", out var h) ? ReadHnsw(h) : null,
                Chroma = r.TryGetProperty("chroma", out var ch) ? ReadChroma(ch) : null,
            };
            foreach (var s in r.GetProperty("segments").EnumerateArray())
            {
                if (m.Segment is not null) throw new InvalidDataException("more than one segment");
                m.Segment = new SegmentInfo(
                    SafeName(s.GetProperty("docs").GetString()!), s.GetProperty("docsBytes").GetInt64(), s.GetProperty("docsCrc").GetUInt32(),
                    SafeName(s.GetProperty("index").GetString()!), s.GetProperty("indexKind").GetString()!, s.GetProperty("indexBytes").GetInt64(), s.GetProperty("indexCrc").GetUInt32(),
                    s.GetProperty("count").GetInt64());
            }
            return m;
        }
        catch (ManagedEmbedException e)
        {
            throw new ManagedEmbedException($"manifest {path} has unexpected content ({e.Message}); refusing to open");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or InvalidDataException)
        {
            throw new ManagedEmbedException($"manifest {path} has unexpected content ({e.Message}); refusing to open");
        }
    }

    private static EmbeddingFunctionSpec? ReadEmbeddingFunction(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Null) return null;
        var c = e.GetProperty("config");
        var fp = c.GetProperty("fingerprint");
        return new EmbeddingFunctionSpec(e.GetProperty("name").GetString()!, c.GetProperty("model_name").GetString()!,
            c.GetProperty("dimension").GetInt32(), c.GetProperty("normalize_embeddings").GetBoolean(),
            fp.ValueKind == JsonValueKind.Null ? null : fp.GetString());
    }

    private static HnswSettings ReadHnsw(JsonElement e)
    {
        var h = new HnswSettings(e.GetProperty("M").GetInt32(), e.GetProperty("constructionEf").GetInt32(), e.GetProperty("searchEf").GetInt32());
        h.Validate();
        return h;
    }

    private static ChromaIdentity ReadChroma(JsonElement e)
    {
        var ef = e.GetProperty("embeddingFunction");
        return new ChromaIdentity(Guid.Parse(e.GetProperty("id").GetString()!), e.GetProperty("name").GetString()!,
            e.GetProperty("tenant").GetString()!, e.GetProperty("database").GetString()!, ef.ValueKind == JsonValueKind.Null ? null : ef.GetRawText());
    }

    /// <summary>A copy of the descriptive fields (name, space, embedding function, metadata, dimension) for a new publish.</summary>
    public Manifest Derive() => new()
    {
        Name = Name, Space = Space, EmbeddingFunction = EmbeddingFunction, LegacyModelPath = LegacyModelPath,
        Metadata = Metadata, Dim = Dim, Generation = Generation, WalGeneration = WalGeneration, NextSeq = NextSeq, Segment = Segment,
        Hnsw = Hnsw, Chroma = Chroma,
    };

    private static string SafeName(string s) =>
        s.Length > 0 && s.IndexOfAny(['/', '\\']) < 0 && s is not "." and not ".." ? s : throw new InvalidDataException("bad file name");
}
