using System.Text.Json;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Encoder.Tokenization;

namespace ManagedEmbed.Encoder.Models;

/// <summary>An encoder architecture: how config.json names it, how its config is parsed and how the model is built.</summary>
/// <param name="ModelType">config.json model_type.</param>
/// <param name="Architectures">config.json architectures entries that mean this model (used when model_type is absent).</param>
/// <param name="DisplayName">Name printed by <c>membed info</c>.</param>
/// <param name="LayersKey">The config key of the layer count (for error messages).</param>
/// <param name="ParseConfig">Parses a config.json object (the path names it in errors).</param>
/// <param name="Build">Builds the model from a weight scope; the file is null while only describing it.</param>
public sealed record EncoderArchitecture(
    string ModelType,
    IReadOnlyList<string> Architectures,
    string DisplayName,
    string LayersKey,
    Func<JsonElement, string, TransformerConfig> ParseConfig,
    Func<SafeTensorsFile?, WeightScope, TransformerConfig, EncoderModel> Build);

/// <summary>A tokenizer implementation and the names that select it.</summary>
/// <param name="Name">tokenizer.json model.type it reads (WordPiece, Unigram, …).</param>
/// <param name="TokenizerClasses">tokenizer_config.json tokenizer_class values (the "Fast" variants are implied).</param>
/// <param name="Load">Loads the tokenizer of a model directory.</param>
public sealed record TokenizerImplementation(string Name, IReadOnlyList<string> TokenizerClasses, Func<string, ITokenizer> Load);

/// <summary>
/// Chooses implementations for a model directory: the encoder by config.json model_type (or architectures), the
/// tokenizer by tokenizer_config.json tokenizer_class, else tokenizer.json model.type, else vocab.txt (WordPiece).
/// Adding an architecture or a tokenizer is one entry here plus its own file.
/// </summary>
public static class EncoderRegistry
{
    /// <summary>The supported encoder architectures.</summary>
    public static IReadOnlyList<EncoderArchitecture> Architectures { get; } =
    [
        new("bert", ["BertModel", "BertForMaskedLM", "BertForPreTraining"], "bert", "num_hidden_layers",
            (o, p) => BertConfig.FromObject(o, p), (f, w, c) => new BertModel(f, w, (BertConfig)c)),
        new("distilbert", ["DistilBertModel", "DistilBertForMaskedLM"], "distilbert", "n_layers",
            (o, p) => DistilBertConfig.FromObject(o, p), (f, w, c) => new DistilBertModel(f, w, (DistilBertConfig)c)),
        new("mpnet", ["MPNetModel", "MPNetForMaskedLM"], "mpnet", "num_hidden_layers",
            (o, p) => MPNetConfig.FromObject(o, p), (f, w, c) => new MPNetModel(f, w, (MPNetConfig)c)),
    ];

    /// <summary>The supported tokenizers (the XLM-R Unigram tokenizer plugs in here).</summary>
    public static IReadOnlyList<TokenizerImplementation> Tokenizers { get; } =
    [
        new("WordPiece", ["BertTokenizer", "DistilBertTokenizer", "MPNetTokenizer"], BertTokenizer.Load),
        // paraphrase-multilingual-MiniLM-L12-v2 and other XLM-R models: tokenizer.json (Unigram) or sentencepiece.bpe.model.
        new("Unigram", ["XLMRobertaTokenizer"], Tokenization.Unigram.XlmRobertaTokenizer.Load),
    ];

    /// <summary>The architecture a config belongs to.</summary>
    public static EncoderArchitecture Architecture(TransformerConfig config) =>
        Architectures.FirstOrDefault(a => a.ModelType == config.ModelType)
        ?? throw new ManagedEmbedException($"model_type \"{config.ModelType}\" has no registered architecture");

    /// <summary>Reads config.json and parses it with the architecture its model_type (or architectures) names.</summary>
    public static TransformerConfig LoadConfig(string path)
    {
        using var doc = JsonFile.Load(path);
        return ParseConfig(JsonFile.RequireObject(doc, path), path);
    }

    /// <summary>Parses config.json text (<paramref name="source"/> names it in errors).</summary>
    public static TransformerConfig ParseConfig(string json, string source)
    {
        using var doc = JsonFile.Parse(json, source);
        return ParseConfig(JsonFile.RequireObject(doc, source), source);
    }

    private static TransformerConfig ParseConfig(JsonElement o, string path)
    {
        string supported = string.Join(", ", Architectures.Select(a => a.ModelType));
        string? modelType = JsonFile.GetString(o, "model_type", path);
        EncoderArchitecture? arch = null;
        if (modelType is not null)
            arch = Architectures.FirstOrDefault(a => a.ModelType == modelType)
                ?? throw new ManagedEmbedException($"'{path}': model_type \"{modelType}\" is not supported (supported: {supported})");
        else if (o.TryGetProperty("architectures", out var list) && list.ValueKind == JsonValueKind.Array && list.GetArrayLength() > 0)
        {
            var names = list.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() : null).ToList();
            arch = Architectures.FirstOrDefault(a => names.Any(n => n is not null && a.Architectures.Contains(n)))
                ?? throw new ManagedEmbedException($"'{path}': architectures {list.GetRawText()} names no supported model (supported: {supported})");
        }
        // Old BERT configs carry neither key: BERT stays the default, as before the other architectures existed.
        var config = (arch ?? Architectures[0]).ParseConfig(o, path);
        config.Int8Weights = Int8Checkpoint.ParseDeclaration(o, path);
        return config;
    }

    /// <summary>
    /// Every tensor the architecture of <paramref name="config"/> requests (required and optional), in module order:
    /// the model's own constructors run against a plan that records their requests.
    /// </summary>
    public static IReadOnlyList<TensorSpec> Describe(TransformerConfig config) =>
        Plan(w => Architecture(config).Build(null, w, config));

    /// <summary>Every tensor <paramref name="build"/> requests when run against a plan (no file), in module order.</summary>
    internal static IReadOnlyList<TensorSpec> Plan(Action<WeightScope> build)
    {
        var plan = new WeightSource();
        build(new WeightScope(plan, ""));
        return plan.Specs;
    }

    /// <summary>Opens <paramref name="safetensorsPath"/>, checks it against the model's plan and loads the model.</summary>
    public static EncoderModel LoadModel(string safetensorsPath, TransformerConfig config) => LoadModel(safetensorsPath, config, false);

    /// <summary>
    /// As <see cref="LoadModel(string, TransformerConfig)"/>; <paramref name="quantizeToInt8"/> quantizes float Linear
    /// weights to int8 as they load (the scheme of <see cref="Int8Checkpoint"/>; a no-op for an int8 checkpoint).
    /// </summary>
    public static EncoderModel LoadModel(string safetensorsPath, TransformerConfig config, bool quantizeToInt8)
    {
        var arch = Architecture(config);
        return Load(safetensorsPath, config, arch.LayersKey, () => Describe(config), (f, w) => arch.Build(f, w, config), m => m, quantizeToInt8);
    }

    /// <summary>
    /// Opens a weights file, resolves and validates it against the tensors <paramref name="plan"/> lists (every tensor used, shapes
    /// from config.json) and builds the model with <paramref name="build"/>; <paramref name="encoderOf"/> names the encoder
    /// whose background packer packs the weights. The file is closed on failure.
    /// </summary>
    internal static T Load<T>(string safetensorsPath, TransformerConfig config, string layersKey, Func<IReadOnlyList<TensorSpec>> plan, Func<SafeTensorsFile, WeightScope, T> build, Func<T, EncoderModel> encoderOf, bool quantizeToInt8 = false)
    {
        var file = SafeTensorsFile.Open(safetensorsPath);
        try
        {
            // Each layer requests at least one tensor: refuse an impossible layer count before planning it (a config
            // claiming 1e9 layers must not build 1e9 layers first).
            if (config.NumHiddenLayers > file.Tensors.Count)
                throw new ManagedEmbedException($"'{file.Path}' does not match config.json: {layersKey} = {config.NumHiddenLayers} needs more than {config.NumHiddenLayers} tensors, the file holds {file.Tensors.Count}");
            var resolved = ModelWeights.Resolve(file, plan(), new TransformerConfigSummary(layersKey, config.NumHiddenLayers), config.Int8Weights);
            var source = new WeightSource(file, resolved, quantizeToInt8);
            var model = build(file, new WeightScope(source, ""));
            // Every matrix (the head's too) is packed by the encoder's background packer, which Dispose stops.
            encoderOf(model).StartPacking(source.Matrices);
            return model;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads the tokenizer of <paramref name="modelDirectory"/>: tokenizer_config.json's tokenizer_class decides when
    /// present, else tokenizer.json's model.type, else a vocab.txt means WordPiece.
    /// </summary>
    public static ITokenizer LoadTokenizer(string modelDirectory)
    {
        string configPath = Path.Combine(modelDirectory, "tokenizer_config.json");
        string jsonPath = Path.Combine(modelDirectory, "tokenizer.json");
        if (File.Exists(configPath))
        {
            using var doc = JsonFile.Load(configPath);
            string? cls = JsonFile.GetString(JsonFile.RequireObject(doc, configPath), "tokenizer_class", configPath);
            if (cls is not null)
            {
                string bare = cls.EndsWith("Fast", StringComparison.Ordinal) ? cls[..^4] : cls;
                var byClass = Tokenizers.FirstOrDefault(t => t.TokenizerClasses.Contains(bare))
                    ?? throw new ManagedEmbedException($"'{configPath}': tokenizer_class \"{cls}\" is not supported (supported: {string.Join(", ", Tokenizers.SelectMany(t => t.TokenizerClasses))})");
                return byClass.Load(modelDirectory);
            }
        }
        if (!File.Exists(Path.Combine(modelDirectory, "vocab.txt")) && File.Exists(jsonPath))
        {
            string? type = TokenizerJsonModelType(jsonPath);
            var byType = Tokenizers.FirstOrDefault(t => t.Name == type)
                ?? throw new ManagedEmbedException($"'{jsonPath}': model type \"{type}\" is not supported (supported: {string.Join(", ", Tokenizers.Select(t => t.Name))})");
            return byType.Load(modelDirectory);
        }
        return Tokenizers[0].Load(modelDirectory);
    }

    /// <summary>model.type of a tokenizers-library tokenizer.json, read without materializing its vocabulary.</summary>
    private static string? TokenizerJsonModelType(string path)
    {
        var reader = new Utf8JsonReader(InputFile.ReadAllBytes(path), new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        try
        {
            int depth = 0;
            bool inModel = false;
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray: depth++; break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray: depth--; if (inModel && depth < 2) return null; break;
                    case JsonTokenType.PropertyName when depth == 1 && reader.ValueTextEquals("model"): inModel = true; break;
                    case JsonTokenType.PropertyName when depth == 1: if (inModel) return null; break;
                    case JsonTokenType.PropertyName when depth == 2 && inModel && reader.ValueTextEquals("type"):
                        reader.Read();
                        return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
            }
        }
        catch (JsonException e)
        {
            throw new ManagedEmbedException($"'{path}' is not valid JSON ({e.Message})");
        }
        return null;
    }
}
