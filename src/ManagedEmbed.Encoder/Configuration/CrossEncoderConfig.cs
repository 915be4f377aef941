using System.Text.Json;

namespace ManagedEmbed.Encoder.Configuration;

/// <summary>The function sentence-transformers' CrossEncoder applies to the classifier's logits.</summary>
public enum ScoreActivation
{
    /// <summary>The raw logits (torch.nn.modules.linear.Identity).</summary>
    Identity,
    /// <summary>1 / (1 + e^−x) (torch.nn.modules.activation.Sigmoid).</summary>
    Sigmoid,
    /// <summary>tanh x (torch.nn.modules.activation.Tanh).</summary>
    Tanh,
}

/// <summary>
/// The config.json of a Hugging Face BertForSequenceClassification model as sentence-transformers' CrossEncoder reads
/// it: the BERT hyper-parameters, the number of labels and the activation of the scores.
/// </summary>
public sealed class CrossEncoderConfig
{
    /// <summary>The encoder's hyper-parameters.</summary>
    public required BertConfig Bert { get; init; }
    /// <summary>Outputs of the classifier: id2label's size, else num_labels, else 2 (transformers' default).</summary>
    public required int NumLabels { get; init; }
    /// <summary>The activation applied to the logits.</summary>
    public required ScoreActivation Activation { get; init; }
    /// <summary>Where <see cref="Activation"/> came from (the config key and value, or the default rule), for <c>info</c>-style output.</summary>
    public required string ActivationSource { get; init; }

    /// <summary>The torch class paths sentence-transformers may record, and what they mean here.</summary>
    private static readonly Dictionary<string, ScoreActivation> TorchActivations = new(StringComparer.Ordinal)
    {
        ["torch.nn.modules.linear.Identity"] = ScoreActivation.Identity,
        ["torch.nn.modules.activation.Sigmoid"] = ScoreActivation.Sigmoid,
        ["torch.nn.modules.activation.Tanh"] = ScoreActivation.Tanh,
    };

    /// <summary>Reads and validates config.json at <paramref name="path"/>.</summary>
    public static CrossEncoderConfig Load(string path)
    {
        using var doc = JsonFile.Load(path);
        var o = JsonFile.RequireObject(doc, path);
        if (o.TryGetProperty("architectures", out var list) && list.ValueKind == JsonValueKind.Array && list.GetArrayLength() > 0)
        {
            var names = list.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() : null).ToList();
            if (!names.Contains("BertForSequenceClassification"))
                throw new ManagedEmbedException($"'{path}': architectures {list.GetRawText()} is not a cross-encoder (supported: BertForSequenceClassification)");
        }
        var bert = BertConfig.FromObject(o, path);
        int labels = NumLabelsOf(o, path);
        var (activation, source) = ActivationOf(o, path, labels);
        return new CrossEncoderConfig { Bert = bert, NumLabels = labels, Activation = activation, ActivationSource = source };
    }

    private static int NumLabelsOf(JsonElement o, string path)
    {
        int? fromMap = null;
        if (o.TryGetProperty("id2label", out var map) && map.ValueKind != JsonValueKind.Null)
        {
            if (map.ValueKind != JsonValueKind.Object) throw new ManagedEmbedException($"'{path}': \"id2label\" must be an object");
            fromMap = map.EnumerateObject().Count();
        }
        int? given = o.TryGetProperty("num_labels", out var n) && n.ValueKind != JsonValueKind.Null ? JsonFile.GetInt(o, "num_labels", path, 0) : null;
        if (fromMap is int m && given is int g && m != g)
            throw new ManagedEmbedException($"'{path}': num_labels {g} disagrees with the {m} entries of id2label");
        int labels = fromMap ?? given ?? 2;
        if (labels < 1) throw new ManagedEmbedException($"'{path}': a classifier needs at least one label");
        return labels;
    }

    /// <summary>
    /// sentence-transformers' rule (CrossEncoder.get_default_activation_fn): config.json's
    /// sentence_transformers.activation_fn, else the older sbert_ce_default_activation_function, else sigmoid for one
    /// label and identity otherwise. A path outside torch.* is not trusted by sentence-transformers without
    /// trust_remote_code and falls back to the default; so does it here.
    /// </summary>
    private static (ScoreActivation, string) ActivationOf(JsonElement o, string path, int labels)
    {
        string? key = null, value = null;
        if (o.TryGetProperty("sentence_transformers", out var st) && st.ValueKind == JsonValueKind.Object
            && st.TryGetProperty("activation_fn", out var fn) && fn.ValueKind != JsonValueKind.Null)
        {
            if (fn.ValueKind != JsonValueKind.String) throw new ManagedEmbedException($"'{path}': \"sentence_transformers.activation_fn\" must be a string");
            (key, value) = ("sentence_transformers.activation_fn", fn.GetString());
        }
        else if (JsonFile.GetString(o, "sbert_ce_default_activation_function", path) is { } legacy)
            (key, value) = ("sbert_ce_default_activation_function", legacy);
        if (value is not null && value.StartsWith("torch.", StringComparison.Ordinal))
        {
            if (!TorchActivations.TryGetValue(value, out var a))
                throw new ManagedEmbedException($"'{path}': {key} \"{value}\" is not supported (supported: {string.Join(", ", TorchActivations.Keys)})");
            return (a, $"{key} {value}");
        }
        string ignored = value is null ? "" : $" ({key} \"{value}\" is outside torch.* and not trusted)";
        return labels == 1 ? (ScoreActivation.Sigmoid, "default for 1 label: sigmoid" + ignored) : (ScoreActivation.Identity, $"default for {labels} labels: identity" + ignored);
    }
}
