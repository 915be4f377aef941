using System.Text.Json;

namespace ManagedEmbed.Encoder.Configuration;

/// <summary>Small helpers to read JSON configuration files with errors that name the file and the key.</summary>
internal static class JsonFile
{
    public static JsonDocument Load(string path)
    {
        if (!File.Exists(path)) throw new ManagedEmbedException($"missing {System.IO.Path.GetFileName(path)}: '{path}' does not exist");
        byte[] bytes = InputFile.ReadAllBytes(path);
        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new ManagedEmbedException($"'{path}' is not valid JSON ({e.Message})");
        }
        catch (ArgumentException e)
        {
            throw new ManagedEmbedException($"'{path}' is not valid UTF-8 JSON ({e.Message})");
        }
    }

    public static JsonDocument Parse(string text, string source)
    {
        try
        {
            return JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new ManagedEmbedException($"'{source}' is not valid JSON ({e.Message})");
        }
    }

    public static JsonElement RequireObject(JsonDocument doc, string path)
    {
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new ManagedEmbedException($"'{path}' must hold a JSON object");
        return doc.RootElement;
    }

    public static int RequireInt(JsonElement o, string key, string path, int min = 1)
    {
        if (!o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null)
            throw new ManagedEmbedException($"'{path}': missing \"{key}\"");
        return ToInt(v, key, path, min);
    }

    public static int GetInt(JsonElement o, string key, string path, int defaultValue, int min = 1)
    {
        if (!o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return defaultValue;
        return ToInt(v, key, path, min);
    }

    private static int ToInt(JsonElement v, string key, string path, int min)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i) || i < min)
            throw new ManagedEmbedException($"'{path}': \"{key}\" must be an integer ≥ {min}, got {v.GetRawText()}");
        return i;
    }

    public static double GetDouble(JsonElement o, string key, string path, double defaultValue)
    {
        if (!o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return defaultValue;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d))
            throw new ManagedEmbedException($"'{path}': \"{key}\" must be a number, got {v.GetRawText()}");
        return d;
    }

    public static string? GetString(JsonElement o, string key, string path)
    {
        if (!o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw new ManagedEmbedException($"'{path}': \"{key}\" must be a string, got {v.GetRawText()}");
        return v.GetString();
    }

    public static bool? GetBool(JsonElement o, string key, string path)
    {
        if (!o.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ManagedEmbedException($"'{path}': \"{key}\" must be true or false, got {v.GetRawText()}"),
        };
    }
}
