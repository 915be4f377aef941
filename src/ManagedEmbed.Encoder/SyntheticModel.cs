using System.Text;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Encoder.Pooling;
using ManagedEmbed.Encoder.SafeTensors;

namespace ManagedEmbed.Encoder;

/// <summary>Arguments of <see cref="SyntheticModel.Write"/>.</summary>
public sealed class SyntheticModelOptions
{
    /// <summary>Path of a Hugging Face config.json of a supported architecture (copied verbatim).</summary>
    public required string ConfigPath { get; init; }
    /// <summary>Path of a WordPiece vocab.txt (copied verbatim).</summary>
    public required string VocabPath { get; init; }
    /// <summary>
    /// Expected architecture (bert, distilbert, mpnet); null = whatever config.json's model_type says. A config of
    /// another architecture is an error.
    /// </summary>
    public string? Architecture { get; init; }
    /// <summary>Seed of the weight generator.</summary>
    public required ulong Seed { get; init; }
    /// <summary>Pooling mode (default mean).</summary>
    public PoolingMode Pooling { get; init; } = PoolingMode.Mean;
    /// <summary>max_seq_length (default min(256, max_position_embeddings)).</summary>
    public int? MaxSeqLength { get; init; }
    /// <summary>Whether modules.json lists a Normalize module (default true).</summary>
    public bool Normalize { get; init; } = true;
    /// <summary>
    /// Writes a cross-encoder instead: a Hugging Face BertForSequenceClassification directory (config.json,
    /// vocab.txt, tokenizer_config.json, special_tokens_map.json, model.safetensors with bert.*, bert.pooler.dense and
    /// classifier.*; num_labels from config.json). The config must be a BERT one; pooling options do not apply.
    /// </summary>
    public bool CrossEncoder { get; init; }
}

/// <summary>
/// Writes a complete sentence-transformers model directory with seeded synthetic weights of any registered
/// architecture (the tensor list comes from <see cref="EncoderRegistry.Describe"/>), so tests, fixtures and
/// benchmarks run end to end without downloads. The output is byte-identical for the same arguments on every run and
/// machine.
/// <para>
/// Weights generator (documented so it can be reproduced): <see cref="Kernels.SplitMix64"/> seeded with <c>seed</c>;
/// each normal sample z is one <see cref="Kernels.SplitMix64.NextNormal"/>: one 64-bit draw split into four 16-bit
/// integers a₀..a₃ (low bits first), z = (Σ (aᵢ + 0.5) / 65536 − 2) · √3 (Irwin–Hall with 4 terms: mean 0,
/// variance 1). Only integer arithmetic and correctly rounded IEEE operations are used — unlike Box–Muller's
/// log/cos, whose last bits differ between math libraries — so every machine produces the same bytes. Tensors are generated in file order (element size
/// descending, then name): embeddings, Linear weights and biases ~ initializer_range · z (config.json, default 0.02),
/// LayerNorm gamma = 1 + 0.1 · z, beta = 0.05 · z, each value rounded once from double to float.
/// The optional tensors real checkpoints carry are written too (ignored by the encoder): embeddings.position_ids as
/// I64 [1, max_position_embeddings] = 0, 1, 2, ..., and pooler.dense for BERT and MPNet. A cross-encoder
/// (<see cref="SyntheticModelOptions.CrossEncoder"/>) is generated the same way from its own tensor list
/// (bert.*, bert.pooler.dense, classifier.*).
/// </para>
/// </summary>
public static class SyntheticModel
{
    /// <summary>Largest synthetic weights file (element count × 4 bytes); synthetic models are for tests and benchmarks.</summary>
    public const long MaxWeightBytes = 16L << 30;

    /// <summary>What <see cref="Write"/> puts in a model directory (relative paths).</summary>
    private static readonly HashSet<string> ModelFiles = new(StringComparer.Ordinal)
    {
        "config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "sentence_bert_config.json",
        "modules.json", "1_Pooling", "1_Pooling/config.json", "model.safetensors",
    };

    /// <summary>Test seam: called with each file path before it is written; throwing simulates a full disk there.</summary>
    internal static Action<string>? WriteFaultHook { get; set; }

    /// <summary>
    /// Writes the model directory <paramref name="outDir"/>. Everything is written into a staging directory beside it
    /// first and renamed into place at the end, so a failure (a full disk) leaves no partial model: either the
    /// previous directory (if any) or the complete new one.
    /// </summary>
    public static void Write(SyntheticModelOptions o, string outDir)
    {
        // Validate every input before touching the output.
        var config = EncoderRegistry.LoadConfig(o.ConfigPath);
        CrossEncoderConfig? cross = null;
        if (o.CrossEncoder)
        {
            if (config is not BertConfig) throw new ManagedEmbedException($"'{o.ConfigPath}' is a {config.ModelType} config; a synthetic cross-encoder is a BERT one");
            cross = CrossEncoderConfig.Load(o.ConfigPath);
        }
        if (o.Architecture is not null && o.Architecture != config.ModelType)
        {
            if (!EncoderRegistry.Architectures.Any(a => a.ModelType == o.Architecture))
                throw new ManagedEmbedException($"unknown architecture '{o.Architecture}' (supported: {string.Join(", ", EncoderRegistry.Architectures.Select(a => a.ModelType))})");
            throw new ManagedEmbedException($"'{o.ConfigPath}' is a {config.ModelType} config, not {o.Architecture}");
        }
        CheckSize(config, o.ConfigPath);
        byte[] configBytes = InputFile.ReadAllBytes(o.ConfigPath);
        if (!File.Exists(o.VocabPath)) throw new ManagedEmbedException($"vocab file '{o.VocabPath}' does not exist");
        byte[] vocabBytes = InputFile.ReadAllBytes(o.VocabPath);
        string vocabText;
        try { vocabText = new UTF8Encoding(false, true).GetString(vocabBytes); }
        catch (DecoderFallbackException) { throw new ManagedEmbedException($"vocab file '{o.VocabPath}' is not valid UTF-8"); }
        var tokens = vocabText.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        if (tokens.Count > 0 && tokens[^1].Length == 0) tokens.RemoveAt(tokens.Count - 1);
        if (tokens.Count > config.VocabSize)
            throw new ManagedEmbedException($"vocab file '{o.VocabPath}' has {tokens.Count} tokens, more than vocab_size {config.VocabSize} in '{o.ConfigPath}'");
        foreach (string special in SentencePipelineFiles.SpecialTokens(config.ModelType))
            if (!tokens.Contains(special)) throw new ManagedEmbedException($"vocab file '{o.VocabPath}' lacks the special token {special}");
        if (o.Pooling == PoolingMode.None) throw new ManagedEmbedException("no pooling mode given");
        int maxSeq = o.MaxSeqLength ?? Math.Min(256, config.MaxSequenceLength);
        if (maxSeq < 2 || maxSeq > config.MaxSequenceLength)
            throw new ManagedEmbedException($"max_seq_length {maxSeq} must be in [2, {config.MaxSequenceLength}] (max_position_embeddings of '{o.ConfigPath}')");

        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outDir));
        if (File.Exists(target)) throw new ManagedEmbedException($"output '{outDir}' is a file, not a directory");
        // The directory is replaced as a whole, so it may hold only what a synthetic model consists of.
        if (Directory.Exists(target))
        {
            string? foreign = Directory.EnumerateFileSystemEntries(target, "*", SearchOption.AllDirectories)
                .Select(e => Path.GetRelativePath(target, e).Replace(Path.DirectorySeparatorChar, '/'))
                .FirstOrDefault(r => !ModelFiles.Contains(r));
            if (foreign is not null)
                throw new ManagedEmbedException($"output '{outDir}' holds '{foreign}', which is not part of a synthetic model; use a new or empty directory");
        }
        string parent = Path.GetDirectoryName(target) ?? throw new ManagedEmbedException($"output '{outDir}' has no parent directory");
        Directory.CreateDirectory(parent);
        string full = Path.Combine(parent, $".{Path.GetFileName(target)}.staging-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(full);
            if (cross is null) Directory.CreateDirectory(Path.Combine(full, "1_Pooling"));
            WriteFiles(o, config, cross, configBytes, vocabBytes, maxSeq, full);
            Publish(full, target);
        }
        catch
        {
            try { if (Directory.Exists(full)) Directory.Delete(full, true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Replaces <paramref name="target"/> by the staged directory: a rename, with the old directory (if any) moved aside first and removed after.</summary>
    private static void Publish(string staged, string target)
    {
        string? old = null;
        if (Directory.Exists(target))
        {
            old = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.old-{Guid.NewGuid():N}");
            Directory.Move(target, old);
        }
        try { Directory.Move(staged, target); }
        catch
        {
            if (old is not null) Directory.Move(old, target); // put the previous model back
            throw;
        }
        if (old is not null)
        {
            try { Directory.Delete(old, true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>
    /// Refuses configs whose weights could not be generated, before any list of tensors is built: a tensor beyond the
    /// largest .NET array used to crash mid-write, and num_hidden_layers 1e9 to allocate without bound.
    /// </summary>
    private static void CheckSize(TransformerConfig c, string configPath)
    {
        long h = c.HiddenSize, ff = c.IntermediateSize;
        int types = c is BertConfig b ? b.TypeVocabSize : 0;
        long[] largest = [c.VocabSize * h, c.MaxPositionEmbeddings * h, types * h, ff * h, h * h];
        long biggest = largest.Max();
        if (biggest > Array.MaxLength)
            throw new ManagedEmbedException($"'{configPath}': a tensor of {biggest} values is larger than a synthetic model supports ({Array.MaxLength})");
        long perLayer = 4 * (h * h + h) + 2 * h + (ff * h + ff) + (h * ff + h) + 2 * h;
        double bytes = 4.0 * ((c.VocabSize + c.MaxPositionEmbeddings + types) * (double)h + 2 * h + h * h + h + (double)perLayer * c.NumHiddenLayers);
        if (bytes > MaxWeightBytes)
            throw new ManagedEmbedException($"'{configPath}': the weights would take {bytes:0.###e0} bytes (num_hidden_layers {c.NumHiddenLayers}, hidden_size {c.HiddenSize}); synthetic models are limited to {MaxWeightBytes} bytes");
    }

    private static void WriteFiles(SyntheticModelOptions o, TransformerConfig config, CrossEncoderConfig? cross, byte[] configBytes, byte[] vocabBytes, int maxSeq, string full)
    {

        WriteAtomic(Path.Combine(full, "config.json"), s => s.Write(configBytes));
        WriteAtomic(Path.Combine(full, "vocab.txt"), s => s.Write(vocabBytes));
        var pipeline = new SentencePipelineOptions
        {
            HiddenSize = config.HiddenSize, MaxPositionEmbeddings = config.MaxPositionEmbeddings, Pooling = o.Pooling,
            MaxSeqLength = maxSeq, Normalize = o.Normalize, Architecture = config.ModelType,
        };
        // A cross-encoder directory is a plain Hugging Face one: the tokenizer files, no sentence-transformers modules.
        foreach (var (rel, text) in SentencePipelineFiles.Render(pipeline))
            if (cross is null || rel is "tokenizer_config.json" or "special_tokens_map.json")
                WriteText(Path.Combine(full, rel.Replace('/', Path.DirectorySeparatorChar)), text);
        if (cross is null) WriteAtomic(Path.Combine(full, "model.safetensors"), s => WriteWeights(config, o.Seed, s));
        else WriteAtomic(Path.Combine(full, "model.safetensors"), s => WriteWeights(BertForSequenceClassification.Describe(cross.Bert, cross.NumLabels), config.InitializerRange, o.Seed, s));
    }

    /// <summary>Writes the synthetic weights of <paramref name="config"/> as safetensors to <paramref name="output"/>.</summary>
    public static void WriteWeights(TransformerConfig config, ulong seed, Stream output) =>
        WriteWeights(EncoderRegistry.Describe(config), config.InitializerRange, seed, output);

    private static void WriteWeights(IReadOnlyList<TensorSpec> specs, double std, ulong seed, Stream output)
    {
        var rng = new Kernels.SplitMix64(seed);
        var entries = new List<SafeTensorEntry>();
        foreach (var spec in specs)
        {
            var s = spec;
            if (s.Kind == TensorKind.PositionIds)
            {
                entries.Add(new SafeTensorEntry(s.Name, SafeTensorDType.I64, s.Shape, () =>
                {
                    var ids = new long[s.Shape[^1]];
                    for (int i = 0; i < ids.Length; i++) ids[i] = i;
                    return SafeTensorsWriter.ToBytes(ids);
                }));
                continue;
            }
            entries.Add(new SafeTensorEntry(s.Name, SafeTensorDType.F32, s.Shape, () =>
            {
                long n = s.Shape.Aggregate(1L, (a, d) => a * d);
                var values = new float[n];
                for (long i = 0; i < n; i++)
                {
                    double z = rng.NextNormal();
                    values[i] = s.Kind switch
                    {
                        TensorKind.LayerNormWeight => (float)(1.0 + 0.1 * z),
                        TensorKind.LayerNormBias => (float)(0.05 * z),
                        _ => (float)(std * z),
                    };
                }
                return SafeTensorsWriter.ToBytes(values);
            }));
        }
        // The callbacks run in file order, so the generator stream is consumed in that fixed order.
        SafeTensorsWriter.Write(output, entries, new Dictionary<string, string> { ["format"] = "pt" });
    }

    private static void WriteText(string path, string text) => WriteAtomic(path, s => s.Write(new UTF8Encoding(false).GetBytes(text)));

    /// <summary>Writes to a temporary sibling, then renames over <paramref name="path"/>: readers never see a partial file.</summary>
    internal static void WriteAtomic(string path, Action<Stream> write)
    {
        WriteFaultHook?.Invoke(path);
        Kernels.DurableFile.Write(path, write);
    }
}
