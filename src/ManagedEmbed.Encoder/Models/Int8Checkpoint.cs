using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Models;

/// <summary>
/// The int8 checkpoint format: every Linear weight <c>NAME.weight</c> [out, in] is stored as an I8 tensor of codes
/// with an F32 tensor <c>NAME.weight_scale</c> [out] (per-output-channel symmetric scales, see
/// <see cref="Int8Quantization"/>); embeddings, LayerNorm parameters and biases stay as they were. config.json marks
/// the directory with a <c>quantization_config</c> whose quant_method is <see cref="Method"/>, so loading needs no flag
/// and a float checkpoint is never mistaken for an int8 one (or the other way round).
/// </summary>
public static class Int8Checkpoint
{
    /// <summary>config.json quantization_config.quant_method of int8 checkpoints.</summary>
    public const string Method = "membed-int8";
    /// <summary>Suffix of a weight's scale tensor (NAME.weight → NAME.weight_scale).</summary>
    public const string ScaleSuffix = "_scale";
    /// <summary>One line describing the scheme (for <c>membed info</c>).</summary>
    public const string Description = "int8 weights (per-output-channel symmetric) with dynamic per-row int8 activation quantization";

    /// <summary>The accuracy measured on all-MiniLM-L6-v2 (BENCHMARKS.md, "int8 weights"), printed by <c>membed info</c>.</summary>
    public const string ExpectedAccuracy = "expected accuracy (all-MiniLM-L6-v2, 12k sentences): cosine to the float32 embeddings mean 0.997, min 0.98; top-10 search overlap 92%";

    /// <summary>
    /// Reads config.json's quantization_config: false when absent, true for <see cref="Method"/> with 8 bits; anything
    /// else is an error naming the key.
    /// </summary>
    internal static bool ParseDeclaration(JsonElement config, string path)
    {
        if (!config.TryGetProperty("quantization_config", out var q) || q.ValueKind == JsonValueKind.Null) return false;
        if (q.ValueKind != JsonValueKind.Object) throw new ManagedEmbedException($"'{path}': quantization_config must be an object");
        string? method = q.TryGetProperty("quant_method", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        if (method != Method)
            throw new ManagedEmbedException($"'{path}': quantization_config.quant_method {(method is null ? "is missing" : $"\"{method}\" is not supported")} (supported: {Method})");
        if (!q.TryGetProperty("bits", out var b) || b.ValueKind != JsonValueKind.Number || !b.TryGetInt32(out int bits) || bits != 8)
            throw new ManagedEmbedException($"'{path}': quantization_config.bits must be 8");
        return true;
    }

    /// <summary>Checks an int8 Linear weight against the plan and finds its scale tensor; returns the problem or null.</summary>
    internal static string? CheckLinear(IReadOnlyDictionary<string, SafeTensorInfo> byName, SafeTensorInfo info, TensorSpec spec, bool declared, out SafeTensorInfo? scale)
    {
        scale = null;
        if (!declared) return $"{info.Name} is I8 but config.json has no quantization_config ({Method})";
        if (info.DType != SafeTensorDType.I8) return $"{info.Name} has dtype {SafeTensorDTypes.Name(info.DType)}, but config.json declares int8 weights ({Method}): expected I8";
        string scaleName = info.Name + ScaleSuffix;
        if (!byName.TryGetValue(scaleName, out scale)) return $"{info.Name} is I8 without its scale tensor {scaleName}";
        if (scale.DType != SafeTensorDType.F32 || scale.Shape.Count != 1 || scale.Shape[0] != spec.Shape[0])
            return $"{scaleName} is {SafeTensorDTypes.Name(scale.DType)} {scale.ShapeText}, expected F32 [{spec.Shape[0]}]";
        return null;
    }

    /// <summary>An int8 weight from its I8 codes and F32 scales; a code of −128 or a bad scale is an error naming the tensor.</summary>
    internal static Int8Matrix ReadMatrix(SafeTensorsFile file, SafeTensorInfo codes, SafeTensorInfo scales)
    {
        file.EnsureComplete(scales);
        var bytes = file.GetBytes(codes);
        var s = file.ReadFloatArray(scales);
        try { return Int8Matrix.FromCodes(MemoryMarshal.Cast<byte, sbyte>(bytes), s, codes.Shape[0], codes.Shape[1]); }
        catch (ArgumentException e) { throw new ManagedEmbedException($"'{file.Path}': tensor {codes.Name}: {e.Message}"); }
    }

    /// <summary>
    /// The tensors of an int8 copy of a float checkpoint: every Linear weight the architecture of
    /// <paramref name="config"/> uses becomes I8 codes plus F32 scales; every other tensor is copied unchanged.
    /// <paramref name="quantized"/> receives the number of weights quantized.
    /// </summary>
    public static List<SafeTensorEntry> QuantizedEntries(SafeTensorsFile file, TransformerConfig config, out int quantized)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(config);
        if (config.Int8Weights) throw new ManagedEmbedException($"'{file.Path}' already has int8 weights (config.json quantization_config {Method})");
        var arch = EncoderRegistry.Architecture(config);
        var plan = EncoderRegistry.Describe(config);
        var resolved = ModelWeights.Resolve(file, plan, new TransformerConfigSummary(arch.LayersKey, config.NumHiddenLayers));
        var linear = new HashSet<string>(plan.Where(s => s.Kind == TensorKind.LinearWeight && !s.Optional).Select(s => resolved[s.Name].Name), StringComparer.Ordinal);
        var entries = new List<SafeTensorEntry>();
        quantized = 0;
        foreach (var info in file.Tensors)
        {
            var t = info;
            if (!linear.Contains(t.Name))
            {
                entries.Add(new SafeTensorEntry(t.Name, t.DType, t.Shape.ToArray(), () => file.GetBytes(t).ToArray()));
                continue;
            }
            int rows = t.Shape[0], cols = t.Shape[1];
            // Codes and scales come from one quantization of the tensor; whichever entry the writer asks for first runs it.
            (byte[] Codes, float[] Scales)? done = null;
            (byte[] Codes, float[] Scales) Run()
            {
                if (done is { } d) return d;
                var codes = new byte[rows * cols];
                var scales = new float[rows];
                Int8Quantization.QuantizeRows(file.ReadFloatArray(t), rows, cols, MemoryMarshal.Cast<byte, sbyte>(codes.AsSpan()), scales);
                done = (codes, scales);
                return done.Value;
            }
            entries.Add(new SafeTensorEntry(t.Name, SafeTensorDType.I8, [rows, cols], () => Run().Codes));
            entries.Add(new SafeTensorEntry(t.Name + ScaleSuffix, SafeTensorDType.F32, [rows], () => SafeTensorsWriter.ToBytes(Run().Scales)));
            quantized++;
        }
        return entries;
    }

    /// <summary>config.json text with a quantization_config describing the int8 scheme added (other keys kept as they are).</summary>
    public static string MarkConfig(string configJson, string source, int quantizedTensors)
    {
        using var doc = JsonFile.Parse(configJson, source);
        var root = JsonFile.RequireObject(doc, source);
        var buf = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buf, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            foreach (var p in root.EnumerateObject())
                if (p.Name != "quantization_config") p.WriteTo(w);
            w.WriteStartObject("quantization_config");
            w.WriteString("quant_method", Method);
            w.WriteNumber("bits", 8);
            w.WriteString("weights", "symmetric int8 per output channel: scale = max|w|/127 (float32), code = round_half_even(w/scale) in [-127, 127]");
            w.WriteString("activations", "dynamic symmetric int8 per row (token): scale = max|x|/127, int32 accumulation, float epilogue");
            w.WriteString("modules", "every Linear weight (I8 NAME.weight with F32 NAME.weight_scale); embeddings, LayerNorm and biases float32");
            w.WriteNumber("quantized_tensors", quantizedTensors);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buf.WrittenSpan) + "\n";
    }
}
