using System.Text.Json;

namespace ManagedEmbed.Collections;

/// <summary>
/// Reader of the <c>chroma.json</c> sidecar in which earlier builds of the server kept a collection's Chroma identity
/// ({"id", "name", "tenant", "database", "metadata", "configuration_json", "model"}). Collections now record it in the
/// MANIFEST; a sidecar found on open is folded in and removed (see <c>Collection.MigrateChromaSidecar</c>). Its
/// "model" (the id the server embedded with), when the manifest records no model, becomes the manifest's legacy model
/// reference, which a writable open with a resolver records by name, as for format-1 collections.
/// </summary>
internal static class ChromaSidecar
{
    public const string FileName = "chroma.json";

    public static (ChromaIdentity Identity, Dictionary<string, MetadataValue>? Metadata, string? Model) Read(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var r = doc.RootElement;
            string? ef = null;
            if (r.TryGetProperty("configuration_json", out var conf) && conf.ValueKind == JsonValueKind.Object
                && conf.TryGetProperty("embedding_function", out var e) && e.ValueKind != JsonValueKind.Null)
                ef = e.GetRawText();
            var identity = new ChromaIdentity(Guid.Parse(r.GetProperty("id").GetString()!), r.GetProperty("name").GetString()!,
                r.GetProperty("tenant").GetString()!, r.GetProperty("database").GetString()!, ef);
            var meta = r.TryGetProperty("metadata", out var m) && m.ValueKind == JsonValueKind.Object && m.EnumerateObject().Any()
                ? MetadataJson.Parse(m, "chroma.json", allowNull: false) : null;
            string? model = r.TryGetProperty("model", out var mo) && mo.ValueKind == JsonValueKind.String ? mo.GetString() : null;
            return (identity, meta, model);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentNullException or ManagedEmbedException)
        {
            throw new ManagedEmbedException($"{path} (a Chroma identity written by an earlier build) has unexpected content ({e.Message}); refusing to open");
        }
    }
}
