using System.Text;
using ManagedEmbed.Encoder;
using ManagedEmbed.Encoder.Import;
using ManagedEmbed.Encoder.Pooling;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Encoder.Tokenization;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Hub;

/// <summary>Inputs of <see cref="OnnxModelImport.WriteDirectory"/> besides the ONNX bytes.</summary>
public sealed class OnnxModelImportOptions
{
    /// <summary>The model's config.json text; null to infer it from the graph.</summary>
    public string? ConfigJson { get; init; }
    /// <summary>vocab.txt bytes (CRLF line ends are normalized to LF). Exactly one of this and <see cref="TokenizerJson"/>.</summary>
    public byte[]? VocabTxt { get; init; }
    /// <summary>tokenizer.json bytes (a WordPiece tokenizer), copied as is.</summary>
    public byte[]? TokenizerJson { get; init; }
    /// <summary>Pooling mode (default mean).</summary>
    public PoolingMode Pooling { get; init; } = PoolingMode.Mean;
    /// <summary>Whether modules.json lists a Normalize module (default true).</summary>
    public bool Normalize { get; init; } = true;
    /// <summary>max_seq_length; default max_position_embeddings.</summary>
    public int? MaxSeqLength { get; init; }
    /// <summary>Whether model.safetensors carries embeddings.position_ids (see <see cref="OnnxImportOptions.IncludePositionIds"/>).</summary>
    public bool IncludePositionIds { get; init; }
    /// <summary>tokenizer_config.json do_lower_case (default true: uncased models).</summary>
    public bool DoLowerCase { get; init; } = true;
    /// <summary>How error messages name the ONNX input.</summary>
    public string SourceName { get; init; } = "the ONNX model";
    /// <summary>Called while model.safetensors is written with (tensor bytes written, tensor bytes in all); null: no reports.</summary>
    public Action<long, long>? WeightsProgress { get; init; }
}

/// <summary>
/// Writes a complete sentence-transformers model directory (config.json, model.safetensors, vocab.txt or
/// tokenizer.json, tokenizer_config.json, special_tokens_map.json, modules.json, sentence_bert_config.json,
/// 1_Pooling/config.json) from an ONNX export, via <see cref="OnnxImporter"/>.
/// <para>
/// Publication is atomic: everything is converted and validated first, written into a hidden staging directory beside
/// the target, fsynced, checked (the tokenizer loads, the safetensors header parses), and only then renamed to the
/// target. On any failure the staging directory is removed and the target does not appear.
/// </para>
/// </summary>
public static class OnnxModelImport
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>Imports <paramref name="onnx"/> into the new directory <paramref name="outDir"/>.</summary>
    /// <exception cref="ManagedEmbedException">Bad input (see <see cref="OnnxImporter.Import(ReadOnlyMemory{byte}, string?, OnnxImportOptions?)"/>), a bad
    /// vocabulary, or <paramref name="outDir"/> exists and is not an empty directory.</exception>
    public static OnnxImportResult WriteDirectory(ReadOnlyMemory<byte> onnx, OnnxModelImportOptions o, string outDir)
    {
        ArgumentNullException.ThrowIfNull(o);
        // "out/" names the directory "out": drop the trailing separator, or the parent would be the target itself.
        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outDir));
        CheckTarget(target, outDir);
        if ((o.VocabTxt is null) == (o.TokenizerJson is null))
            throw new ManagedEmbedException("give exactly one vocabulary: a vocab.txt or a tokenizer.json");
        if (o.Pooling == PoolingMode.None) throw new ManagedEmbedException("no pooling mode given");

        // Convert and validate everything before touching the disk.
        var result = OnnxImporter.Import(onnx, o.ConfigJson, new OnnxImportOptions { IncludePositionIds = o.IncludePositionIds, SourceName = o.SourceName });
        var config = result.Config;
        int maxSeq = o.MaxSeqLength ?? config.MaxPositionEmbeddings;
        if (maxSeq < 2 || maxSeq > config.MaxPositionEmbeddings)
            throw new ManagedEmbedException($"max_seq_length {maxSeq} must be in [2, {config.MaxPositionEmbeddings}] (max_position_embeddings)");
        byte[]? vocab = o.VocabTxt is null ? null : NormalizeVocab(o.VocabTxt, config.VocabSize);

        string parent = Path.GetDirectoryName(target) ?? throw new ManagedEmbedException($"output directory '{outDir}' has no parent directory");
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, "." + Path.GetFileName(target) + ".import-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            Directory.CreateDirectory(staging);
            Directory.CreateDirectory(Path.Combine(staging, "1_Pooling"));
            Write(staging, "config.json", s => s.Write(Encoding.UTF8.GetBytes(result.ConfigJson)));
            if (vocab is not null) Write(staging, "vocab.txt", s => s.Write(vocab));
            else Write(staging, "tokenizer.json", s => s.Write(o.TokenizerJson));
            var pipeline = new SentencePipelineOptions
            {
                HiddenSize = config.HiddenSize, MaxPositionEmbeddings = config.MaxPositionEmbeddings, Pooling = o.Pooling,
                MaxSeqLength = maxSeq, Normalize = o.Normalize, DoLowerCase = o.DoLowerCase,
            };
            foreach (var (rel, text) in SentencePipelineFiles.Render(pipeline))
                Write(staging, rel, s => s.Write(Encoding.UTF8.GetBytes(text)));
            Write(staging, "model.safetensors", s => result.WriteSafeTensors(s, o.WeightsProgress));

            // What we publish must load: the tokenizer (vocab.txt or tokenizer.json) and the safetensors header.
            var tok = BertTokenizer.Load(staging);
            if (tok.VocabSize > config.VocabSize)
                throw new ManagedEmbedException($"the vocabulary has {tok.VocabSize} tokens, more than vocab_size {config.VocabSize} of the model");
            using (var st = SafeTensorsFile.Open(Path.Combine(staging, "model.safetensors")))
                if (st.Tensors.Count != result.Tensors.Count) throw new InvalidOperationException("model.safetensors did not read back");

            DurableFile.PublishDirectory(staging, target); // target is absent or empty (checked above)
        }
        catch
        {
            Durable.TryDeleteDirectory(staging);
            throw;
        }
        return result;
    }

    private static void CheckTarget(string target, string outDir)
    {
        if (File.Exists(target)) throw new TargetDirectoryConflictException(target, $"output directory '{outDir}' is a file");
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
            throw new TargetDirectoryConflictException(target, $"output directory '{outDir}' already exists and is not empty; choose a new directory");
    }

    /// <summary>Validates vocab.txt (UTF-8, the BERT special tokens, at most vocab_size tokens) and normalizes CRLF to LF.</summary>
    private static byte[] NormalizeVocab(byte[] bytes, int vocabSize)
    {
        string text;
        try { text = StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException) { throw new ManagedEmbedException("the vocab.txt is not valid UTF-8"); }
        text = text.Replace("\r\n", "\n");
        var tokens = text.Split('\n').ToList();
        if (tokens.Count > 0 && tokens[^1].Length == 0) tokens.RemoveAt(tokens.Count - 1);
        if (tokens.Count == 0) throw new ManagedEmbedException("the vocab.txt is empty");
        if (tokens.Count > vocabSize)
            throw new ManagedEmbedException($"the vocab.txt has {tokens.Count} tokens, more than vocab_size {vocabSize} of the model");
        foreach (string special in new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]" })
            if (!tokens.Contains(special)) throw new ManagedEmbedException($"the vocab.txt lacks the special token {special}");
        return StrictUtf8.GetBytes(string.Join('\n', tokens) + "\n");
    }

    private static void Write(string dir, string rel, Action<Stream> write) =>
        DurableFile.WriteNew(Path.Combine(dir, rel.Replace('/', Path.DirectorySeparatorChar)), write);
}
