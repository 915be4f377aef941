using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.SafeTensors;

namespace ManagedEmbed.Encoder.Bert;

/// <summary>
/// Resolves the Hugging Face parameters of a BertModel in a safetensors file ("bert." prefix accepted) and checks
/// every shape against config.json. All problems are collected and reported in one error.
/// </summary>
public sealed class BertWeights
{
    private readonly SafeTensorsFile _file;
    private readonly Dictionary<string, SafeTensorInfo> _resolved;

    private BertWeights(SafeTensorsFile file, Dictionary<string, SafeTensorInfo> resolved) { _file = file; _resolved = resolved; }

    /// <summary>The underlying file.</summary>
    public SafeTensorsFile File => _file;

    /// <summary>Checks that <paramref name="file"/> holds every parameter of <paramref name="config"/> with the right shape.</summary>
    public static BertWeights Resolve(SafeTensorsFile file, BertConfig config)
    {
        var missing = new List<string>();
        var wrong = new List<string>();
        var resolved = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
        foreach (var spec in BertTensorNames.Required(config))
        {
            if (!file.TryGet(spec.Name, out var info)) { missing.Add(spec.Name); continue; }
            if (!info.Shape.SequenceEqual(spec.Shape))
            {
                wrong.Add($"{info.Name} is {info.ShapeText}, config.json implies {SafeTensorInfo.FormatShape(spec.Shape)}");
                continue;
            }
            if (info.DType is not (SafeTensorDType.F32 or SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.F64))
            {
                wrong.Add($"{info.Name} has dtype {SafeTensorDTypes.Name(info.DType)}, expected F32, F16 or BF16");
                continue;
            }
            resolved[spec.Name] = info;
        }
        if (missing.Count > 0 || wrong.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"{missing.Count} missing tensor(s): {Shorten(missing)}");
            if (wrong.Count > 0) parts.Add($"{wrong.Count} tensor(s) with the wrong shape or type: {Shorten(wrong)}");
            throw new ManagedEmbedException($"'{file.Path}' does not match config.json: {string.Join("; ", parts)}");
        }
        return new BertWeights(file, resolved);
    }

    private static string Shorten(List<string> items) =>
        items.Count <= 12 ? string.Join(", ", items) : string.Join(", ", items.Take(12)) + $", ... ({items.Count - 12} more)";

    /// <summary>A resolved parameter as float32 (zero-copy when stored as F32).</summary>
    public FloatTensor Get(string name) => _file.ReadFloat(_resolved[name]);

    /// <summary>A resolved parameter copied into a new array.</summary>
    public float[] GetArray(string name) => Get(name).Span.ToArray();
}
