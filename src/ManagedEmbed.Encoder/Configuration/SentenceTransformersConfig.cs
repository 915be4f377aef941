using System.Text.Json;

namespace ManagedEmbed.Encoder.Configuration;

/// <summary>
/// config_sentence_transformers.json: named prompts, the prompt applied when the caller names none, and the
/// similarity function the model was trained for. Every field is optional, as in sentence-transformers.
/// </summary>
public sealed class SentenceTransformersConfig
{
    /// <summary>The file's name inside a model directory.</summary>
    public const string FileName = "config_sentence_transformers.json";

    /// <summary>The settings of a model directory without the file: no prompts, cosine similarity.</summary>
    public static SentenceTransformersConfig Empty { get; } = new();

    /// <summary>Prompt name → prompt text (e.g. "query" → "query: ").</summary>
    public IReadOnlyDictionary<string, string> Prompts { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);
    /// <summary>The prompt applied when a caller gives neither a prompt nor a prompt name (null: none).</summary>
    public string? DefaultPromptName { get; init; }
    /// <summary>similarity_fn_name: "cosine" (default), "dot", "euclidean" or "manhattan".</summary>
    public SimilarityFunction Similarity { get; init; } = SimilarityFunction.Cosine;

    /// <summary>Reads <see cref="FileName"/> in <paramref name="directory"/>; a missing file gives <see cref="Empty"/>.</summary>
    public static SentenceTransformersConfig Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return Empty;
        using var doc = JsonFile.Load(path);
        var o = JsonFile.RequireObject(doc, path);
        var prompts = new Dictionary<string, string>(StringComparer.Ordinal);
        if (o.TryGetProperty("prompts", out var p) && p.ValueKind != JsonValueKind.Null)
        {
            if (p.ValueKind != JsonValueKind.Object) throw new ManagedEmbedException($"'{path}': \"prompts\" must be an object of name → text");
            foreach (var kv in p.EnumerateObject())
            {
                if (kv.Value.ValueKind != JsonValueKind.String) throw new ManagedEmbedException($"'{path}': prompt \"{kv.Name}\" must be a string");
                prompts[kv.Name] = kv.Value.GetString()!;
            }
        }
        string? defaultName = JsonFile.GetString(o, "default_prompt_name", path);
        // sentence-transformers refuses a default that names no prompt when the model loads; so do we.
        if (defaultName is not null && !prompts.ContainsKey(defaultName))
            throw new ManagedEmbedException($"'{path}': default_prompt_name \"{defaultName}\" is not one of its prompts ({Names(prompts)})");
        string? sim = JsonFile.GetString(o, "similarity_fn_name", path);
        return new SentenceTransformersConfig
        {
            Prompts = prompts,
            DefaultPromptName = defaultName,
            Similarity = sim is null ? SimilarityFunction.Cosine : SimilarityFunctions.Parse(sim)
                ?? throw new ManagedEmbedException($"'{path}': similarity_fn_name \"{sim}\" is not one of cosine, dot, euclidean, manhattan"),
        };
    }

    /// <summary>
    /// The prompt text for one encode call, by sentence-transformers' rules: an explicit <paramref name="prompt"/> wins
    /// (even the empty string, which turns the default off); else <paramref name="promptName"/> must name a prompt;
    /// else the default prompt, if any. Returns null when no prompt applies. An empty prompt is returned as "" (not
    /// null) because sentence-transformers still counts its prompt length (the opening special token) for pooling.
    /// </summary>
    public string? ResolvePrompt(string? promptName, string? prompt)
    {
        if (prompt is not null) return prompt;
        if (promptName is not null)
        {
            if (!Prompts.TryGetValue(promptName, out var text))
                throw new ManagedEmbedException(Prompts.Count == 0
                    ? $"prompt name \"{promptName}\" given, but the model has no prompts"
                    : $"prompt name \"{promptName}\" is not one of the model's prompts ({Names(Prompts)})");
            return text;
        }
        return DefaultPromptName is null ? null : Prompts[DefaultPromptName];
    }

    /// <summary>The prompt name sentence-transformers' encode_query uses: "query" when the model has one.</summary>
    public string? QueryPromptName => Prompts.ContainsKey("query") ? "query" : null;

    /// <summary>The prompt name encode_document uses: the first of "document", "passage", "corpus" the model has.</summary>
    public string? DocumentPromptName => new[] { "document", "passage", "corpus" }.FirstOrDefault(Prompts.ContainsKey);

    private static string Names(IReadOnlyDictionary<string, string> prompts) =>
        prompts.Count == 0 ? "none" : string.Join(", ", prompts.Keys.Order(StringComparer.Ordinal));
}
