using System.Text.Json;

namespace ManagedEmbed.Collections;

/// <summary>Metadata as JSON objects (ChromaDB's shape): string, number, bool, or a list of one of them.</summary>
public static class MetadataJson
{
    /// <summary>Writes <paramref name="m"/> as a JSON object, or null.</summary>
    public static void Write(Utf8JsonWriter j, IReadOnlyDictionary<string, MetadataValue>? m)
    {
        ArgumentNullException.ThrowIfNull(j);
        if (m is null) { j.WriteNullValue(); return; }
        j.WriteStartObject();
        foreach (var (k, v) in m)
        {
            if (v.Kind == MetadataKind.Null) continue;
            j.WritePropertyName(k);
            WriteValue(j, v);
        }
        j.WriteEndObject();
    }

    /// <summary>Writes one value (a list as a JSON array).</summary>
    public static void WriteValue(Utf8JsonWriter j, MetadataValue v)
    {
        ArgumentNullException.ThrowIfNull(j);
        switch (v.Kind)
        {
            case MetadataKind.String: j.WriteStringValue(v.AsString); break;
            case MetadataKind.Integer: j.WriteNumberValue(v.AsInteger); break;
            case MetadataKind.Float: j.WriteNumberValue(v.AsFloat); break;
            case MetadataKind.Bool: j.WriteBooleanValue(v.AsBool); break;
            case MetadataKind.List:
                j.WriteStartArray();
                foreach (var x in v.AsList) WriteValue(j, x);
                j.WriteEndArray();
                break;
            default: j.WriteNullValue(); break;
        }
    }

    /// <summary>
    /// Parses a metadata object. <paramref name="what"/> prefixes error messages; with <paramref name="allowNull"/> a
    /// null value is <see cref="MetadataValue.Null"/> (removes the key in update/upsert). Duplicate keys are refused.
    /// </summary>
    /// <exception cref="ManagedEmbedException">Not an object, a duplicate key, or an unsupported value.</exception>
    public static Dictionary<string, MetadataValue> Parse(JsonElement e, string what, bool allowNull)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new ManagedEmbedException($"{what}: metadata must be an object");
        var m = new Dictionary<string, MetadataValue>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject())
        {
            MetadataValue v;
            if (p.Value.ValueKind == JsonValueKind.Null && allowNull) v = MetadataValue.Null;
            else if (p.Value.ValueKind == JsonValueKind.Array)
            {
                var items = new List<MetadataValue>(p.Value.GetArrayLength());
                foreach (var x in p.Value.EnumerateArray())
                    items.Add(Scalar(x) ?? throw new ManagedEmbedException($"{what}: metadata \"{p.Name}\" is a list; its elements must be strings, numbers or bools"));
                try { v = MetadataValue.From(items); }
                catch (ManagedEmbedException ex) { throw new ManagedEmbedException($"{what}: metadata \"{p.Name}\": {ex.Message}"); }
            }
            else v = Scalar(p.Value) ?? throw new ManagedEmbedException(
                $"{what}: metadata \"{p.Name}\" must be a string, number, bool or a list of them{(allowNull ? " (or null to remove it)" : "")}");
            if (!m.TryAdd(p.Name, v)) throw new ManagedEmbedException($"{what}: metadata key \"{p.Name}\" appears twice");
        }
        return m;
    }

    private static MetadataValue? Scalar(JsonElement x)
    {
        switch (x.ValueKind)
        {
            case JsonValueKind.String:
                try { return MetadataValue.From(x.GetString()!); }
                catch (InvalidOperationException) { throw new ManagedEmbedException("metadata string is not valid UTF-8/Unicode"); }
            case JsonValueKind.True: return MetadataValue.From(true);
            case JsonValueKind.False: return MetadataValue.From(false);
            case JsonValueKind.Number when x.TryGetInt64(out long l): return MetadataValue.From(l);
            case JsonValueKind.Number when double.IsFinite(x.GetDouble()): return MetadataValue.From(x.GetDouble());
            default: return null;
        }
    }
}
