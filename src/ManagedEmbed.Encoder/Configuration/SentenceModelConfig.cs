using System.Text.Json;
using ManagedEmbed.Encoder.Pooling;

namespace ManagedEmbed.Encoder.Configuration;

/// <summary>
/// Everything a sentence-transformers model directory says about the pipeline: the transformer's config, max_seq_length,
/// the pooling modes, whether a Normalize module follows, and the tokenizer's lowercasing.
/// </summary>
public sealed class SentenceModelConfig
{
    /// <summary>The model directory.</summary>
    public required string Directory { get; init; }
    /// <summary>config.json, parsed by the architecture its model_type names (<see cref="Models.EncoderRegistry"/>).</summary>
    public required TransformerConfig Transformer { get; init; }
    /// <summary>Tokens per text including the special tokens (sentence_bert_config.json, default 512, capped by the positions the model has).</summary>
    public required int MaxSeqLength { get; init; }
    /// <summary>Pooling modes from the Pooling module's config.json.</summary>
    public required PoolingMode Pooling { get; init; }
    /// <summary>True when modules.json lists a Normalize module after pooling.</summary>
    public required bool Normalize { get; init; }
    /// <summary>
    /// The model's sentence-transformers settings: prompts, default prompt and similarity function
    /// (config_sentence_transformers.json, all optional).
    /// </summary>
    public SentenceTransformersConfig SentenceTransformers { get; init; } = SentenceTransformersConfig.Empty;
    /// <summary>
    /// The Pooling module's include_prompt (default true). When false, the prompt's tokens (counted as
    /// sentence-transformers does: the prompt tokenized alone, less its final special token) are left out of the pool.
    /// </summary>
    public bool PoolingIncludesPrompt { get; init; } = true;
    /// <summary>Path of the weights file.</summary>
    public string WeightsPath => Path.Combine(Directory, "model.safetensors");

    /// <summary>Default sequence length when sentence_bert_config.json does not give one.</summary>
    public const int DefaultMaxSeqLength = 512;

    /// <summary>Reads and validates the configuration files of <paramref name="directory"/>.</summary>
    public static SentenceModelConfig Load(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new ManagedEmbedException($"model directory '{directory}' does not exist");
        var transformer = Models.EncoderRegistry.LoadConfig(Path.Combine(directory, "config.json"));

        // modules.json: Transformer -> Pooling -> optional Normalize. Anything else would change the output, so it is an error.
        string modulesPath = Path.Combine(directory, "modules.json");
        string? poolingDir = null;
        bool normalize = false;
        using (var doc = JsonFile.Load(modulesPath))
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new ManagedEmbedException($"'{modulesPath}' must hold a JSON array of modules");
            bool hasTransformer = false;
            foreach (var m in doc.RootElement.EnumerateArray())
            {
                if (m.ValueKind != JsonValueKind.Object) throw new ManagedEmbedException($"'{modulesPath}': each module must be an object");
                string type = JsonFile.GetString(m, "type", modulesPath) ?? throw new ManagedEmbedException($"'{modulesPath}': a module has no \"type\"");
                string mpath = JsonFile.GetString(m, "path", modulesPath) ?? "";
                CheckInside(directory, mpath, modulesPath);
                switch (type)
                {
                    case "sentence_transformers.models.Transformer":
                        if (hasTransformer || poolingDir is not null) throw new ManagedEmbedException($"'{modulesPath}': Transformer must be the first and only transformer module");
                        if (mpath.Length != 0) throw new ManagedEmbedException($"'{modulesPath}': a Transformer in sub-folder '{mpath}' is not supported (expected path \"\")");
                        hasTransformer = true; break;
                    case "sentence_transformers.models.Pooling":
                        if (!hasTransformer || poolingDir is not null) throw new ManagedEmbedException($"'{modulesPath}': Pooling must follow the Transformer exactly once");
                        poolingDir = mpath; break;
                    case "sentence_transformers.models.Normalize":
                        if (poolingDir is null || normalize) throw new ManagedEmbedException($"'{modulesPath}': Normalize must follow Pooling exactly once");
                        normalize = true; break;
                    default:
                        throw new ManagedEmbedException($"'{modulesPath}': module type '{type}' is not supported (supported: Transformer, Pooling, Normalize)");
                }
            }
            if (!hasTransformer) throw new ManagedEmbedException($"'{modulesPath}' lists no sentence_transformers.models.Transformer module");
            if (poolingDir is null) throw new ManagedEmbedException($"'{modulesPath}' lists no sentence_transformers.models.Pooling module");
        }

        string poolingPath = Path.Combine(directory, poolingDir, "config.json");
        var pooling = LoadPooling(poolingPath, transformer.HiddenSize);
        bool includePrompt;
        using (var doc = JsonFile.Load(poolingPath))
            includePrompt = JsonFile.GetBool(JsonFile.RequireObject(doc, poolingPath), "include_prompt", poolingPath) ?? true;

        int maxSeq = DefaultMaxSeqLength;
        string sbertPath = Path.Combine(directory, "sentence_bert_config.json");
        if (File.Exists(sbertPath))
        {
            using var doc = JsonFile.Load(sbertPath);
            var o = JsonFile.RequireObject(doc, sbertPath);
            maxSeq = JsonFile.GetInt(o, "max_seq_length", sbertPath, DefaultMaxSeqLength, min: 2);
            // sentence-transformers would apply Python's str.lower() before the tokenizer; its full-Unicode mapping
            // (final sigma, U+0130) is not reproduced here, so such a model is refused rather than tokenized differently.
            if (JsonFile.GetBool(o, "do_lower_case", sbertPath) == true)
                throw new ManagedEmbedException($"'{sbertPath}': do_lower_case true (lowercasing before the tokenizer) is not supported");
        }
        maxSeq = Math.Min(maxSeq, transformer.MaxSequenceLength);

        return new SentenceModelConfig
        {
            Directory = directory, Transformer = transformer, MaxSeqLength = maxSeq, Pooling = pooling, Normalize = normalize,
            SentenceTransformers = SentenceTransformersConfig.Load(directory), PoolingIncludesPrompt = includePrompt,
        };
    }

    /// <summary>
    /// A module path must name a folder inside the model directory: "../../etc" or "/etc" would make loading read
    /// files the model does not own. Symbolic links are not resolved (a link inside the directory is the owner's choice).
    /// </summary>
    private static void CheckInside(string directory, string modulePath, string modulesPath)
    {
        string root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)) + Path.DirectorySeparatorChar;
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.Combine(directory, modulePath))) + Path.DirectorySeparatorChar;
        if (Path.IsPathRooted(modulePath) || !full.StartsWith(root, StringComparison.Ordinal))
            throw new ManagedEmbedException($"'{modulesPath}': module path '{modulePath}' leaves the model directory");
    }

    /// <summary>Reads a sentence-transformers Pooling config (pooling_mode_* booleans).</summary>
    public static PoolingMode LoadPooling(string path, int hiddenSize)
    {
        using var doc = JsonFile.Load(path);
        var o = JsonFile.RequireObject(doc, path);
        int dim = JsonFile.GetInt(o, "word_embedding_dimension", path, hiddenSize);
        if (dim != hiddenSize)
            throw new ManagedEmbedException($"'{path}': word_embedding_dimension {dim} does not match config.json hidden_size {hiddenSize}");
        var mode = PoolingMode.None;
        if (JsonFile.GetBool(o, "pooling_mode_cls_token", path) == true) mode |= PoolingMode.Cls;
        if (JsonFile.GetBool(o, "pooling_mode_max_tokens", path) == true) mode |= PoolingMode.Max;
        if (JsonFile.GetBool(o, "pooling_mode_mean_tokens", path) == true) mode |= PoolingMode.Mean;
        if (JsonFile.GetBool(o, "pooling_mode_mean_sqrt_len_tokens", path) == true) mode |= PoolingMode.MeanSqrtLen;
        foreach (string unsupported in new[] { "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken" })
            if (JsonFile.GetBool(o, unsupported, path) == true)
                throw new ManagedEmbedException($"'{path}': {unsupported} is not supported (supported: cls, max, mean, mean_sqrt_len)");
        if (mode == PoolingMode.None) throw new ManagedEmbedException($"'{path}': no pooling_mode_* is enabled");
        return mode;
    }
}
