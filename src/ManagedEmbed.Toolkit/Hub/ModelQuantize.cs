using System.Text;
using ManagedEmbed.Encoder;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Hub;

/// <summary>What <see cref="ModelQuantize.WriteDirectory"/> wrote.</summary>
/// <param name="Directory">The published directory (full path).</param>
/// <param name="QuantizedTensors">Linear weights stored as int8.</param>
/// <param name="FloatBytes">Size of the source model.safetensors.</param>
/// <param name="Int8Bytes">Size of the written model.safetensors.</param>
public sealed record ModelQuantizeResult(string Directory, int QuantizedTensors, long FloatBytes, long Int8Bytes);

/// <summary>
/// `membed model quantize`: an int8 copy of a sentence-transformers directory (see <see cref="Int8Checkpoint"/>).
/// The copy is staged beside the target, checked to load, and published by one rename: nothing partial is left.
/// </summary>
public static class ModelQuantize
{
    // Weight files of other formats are not copied: they would still hold the float weights.
    private static readonly string[] SkippedExtensions = [".safetensors", ".bin", ".onnx", ".pt", ".pth", ".h5", ".msgpack", ".ckpt", ".ot"];

    /// <summary>Writes the int8 copy of <paramref name="modelDir"/> to <paramref name="outDir"/> (absent or empty).</summary>
    public static ModelQuantizeResult WriteDirectory(string modelDir, string outDir)
    {
        ArgumentNullException.ThrowIfNull(modelDir);
        ArgumentNullException.ThrowIfNull(outDir);
        if (!Directory.Exists(modelDir)) throw new ManagedEmbedException($"model directory '{modelDir}' does not exist");
        string source = Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDir));
        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outDir));
        if (File.Exists(target)) throw new TargetDirectoryConflictException(target, $"output directory '{outDir}' is a file");
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
            throw new TargetDirectoryConflictException(target, $"output directory '{outDir}' already exists and is not empty; choose a new directory");
        if (target == source || target.StartsWith(source + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ManagedEmbedException($"output directory '{outDir}' lies inside the model directory '{modelDir}'");

        var config = SentenceModelConfig.Load(source);
        if (config.Transformer.Int8Weights)
            throw new ManagedEmbedException($"'{modelDir}' already has int8 weights (config.json quantization_config {Int8Checkpoint.Method}); quantize the float model instead");
        if (!File.Exists(config.WeightsPath)) throw new ManagedEmbedException($"missing model.safetensors: '{config.WeightsPath}' does not exist");
        string configPath = Path.Combine(source, "config.json");
        string configText = File.ReadAllText(configPath, new UTF8Encoding(false, true));

        string parent = Path.GetDirectoryName(target) ?? throw new ManagedEmbedException($"output directory '{outDir}' has no parent directory");
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, "." + Path.GetFileName(target) + ".quantize-" + Guid.NewGuid().ToString("N")[..8]);
        int quantized;
        long int8Bytes;
        try
        {
            Directory.CreateDirectory(staging);
            using (var file = SafeTensorsFile.Open(config.WeightsPath))
            {
                var entries = Int8Checkpoint.QuantizedEntries(file, config.Transformer, out quantized);
                var metadata = file.Metadata.Count == 0 ? null : file.Metadata;
                DurableFile.WriteNew(Path.Combine(staging, "model.safetensors"), s => SafeTensorsWriter.Write(s, entries, metadata));
            }
            DurableFile.WriteNew(Path.Combine(staging, "config.json"), s => s.Write(Encoding.UTF8.GetBytes(Int8Checkpoint.MarkConfig(configText, configPath, quantized))));
            CopyPipelineFiles(source, staging, top: true);
            int8Bytes = new FileInfo(Path.Combine(staging, "model.safetensors")).Length;

            // What we publish must load (config, tokenizer, every int8 tensor checked).
            using (SentenceEncoder.Load(staging, new EncoderOptions { Threads = 1 })) { }

            DurableFile.PublishDirectory(staging, target);
        }
        catch
        {
            Durable.TryDeleteDirectory(staging);
            throw;
        }
        return new ModelQuantizeResult(target, quantized, new FileInfo(config.WeightsPath).Length, int8Bytes);
    }

    /// <summary>Copies tokenizer and pipeline files (sub-directories such as 1_Pooling too); skips hidden entries and weight files.</summary>
    private static void CopyPipelineFiles(string from, string to, bool top)
    {
        foreach (string path in Directory.EnumerateFileSystemEntries(from))
        {
            string name = Path.GetFileName(path);
            if (name.StartsWith('.') || (top && name == "config.json")) continue;
            if (Directory.Exists(path))
            {
                Directory.CreateDirectory(Path.Combine(to, name));
                CopyPipelineFiles(path, Path.Combine(to, name), top: false);
                continue;
            }
            if (SkippedExtensions.Contains(Path.GetExtension(name), StringComparer.OrdinalIgnoreCase)) continue;
            byte[] bytes = File.ReadAllBytes(path);
            DurableFile.WriteNew(Path.Combine(to, name), s => s.Write(bytes));
        }
    }
}
