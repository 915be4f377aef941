using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Kernels;

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

    /// <summary>Tensors per encoder layer, and outside the layers (the embeddings).</summary>
    private const int TensorsPerLayer = 16, EmbeddingTensors = 5;

    /// <summary>
    /// Checks that <paramref name="file"/> holds every parameter of <paramref name="config"/> with the right shape,
    /// and nothing else besides the position_ids buffer and the pooler: a tensor the forward pass would not use
    /// (say layers 3-5 under a config saying 3 layers) means config and weights disagree.
    /// </summary>
    public static BertWeights Resolve(SafeTensorsFile file, BertConfig config)
    {
        // Check the layer count against the file before listing the expected tensors: a config claiming 1e9 layers
        // used to build a 16e9-entry list (150 MB/s) before any comparison.
        long needed = EmbeddingTensors + (long)TensorsPerLayer * config.NumHiddenLayers;
        if (config.NumHiddenLayers < 1 || needed > file.Tensors.Count)
            throw new ManagedEmbedException($"'{file.Path}' does not match config.json: num_hidden_layers = {config.NumHiddenLayers} needs {needed} tensors, the file holds {file.Tensors.Count}");
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
        var used = new HashSet<string>(resolved.Values.Select(i => i.Name), StringComparer.Ordinal);
        var ignorable = new HashSet<string>(StringComparer.Ordinal) { BertTensorNames.PositionIds };
        foreach (var spec in BertTensorNames.Pooler(config)) ignorable.Add(spec.Name);
        var unused = file.Tensors.Select(t => t.Name)
            .Where(n => !used.Contains(n) && !ignorable.Contains(n.StartsWith("bert.", StringComparison.Ordinal) ? n[5..] : n))
            .ToList();
        if (unused.Count > 0)
            throw new ManagedEmbedException($"'{file.Path}' does not match config.json (num_hidden_layers = {config.NumHiddenLayers}): {unused.Count} tensor(s) would be ignored: {Shorten(unused)}");
        return new BertWeights(file, resolved);
    }

    private static string Shorten(List<string> items) =>
        items.Count <= 12 ? string.Join(", ", items) : string.Join(", ", items.Take(12)) + $", ... ({items.Count - 12} more)";

    /// <summary>A resolved parameter as float32 (zero-copy when stored as F32).</summary>
    public FloatTensor Get(string name) => _file.ReadFloat(_resolved[name]);

    /// <summary>The header entry of a resolved parameter.</summary>
    public SafeTensorInfo Info(string name) => _resolved[name];

    private float[] _packBuffer = [];

    /// <summary>
    /// Packs the named [rows_i, cols] weights, stacked vertically, into one GEMM panel matrix. The values are read
    /// from the file into one reused staging buffer (not through the mapping), so only the packed copy stays resident.
    /// </summary>
    public PackedMatrix Pack(params string[] names)
    {
        if (names.Length == 0) throw new ArgumentException("at least one tensor name is required", nameof(names));
        int cols = 0;
        long rows = 0;
        foreach (var name in names)
        {
            var info = _resolved[name];
            if (info.Shape.Count != 2) throw new ManagedEmbedException($"'{_file.Path}': tensor '{info.Name}' is {info.ShapeText}, expected a matrix");
            if (cols == 0) cols = info.Shape[1];
            else if (info.Shape[1] != cols) throw new ManagedEmbedException($"'{_file.Path}': tensor '{info.Name}' is {info.ShapeText}, expected {cols} columns");
            rows += info.Shape[0];
        }
        long total = rows * cols;
        if (total > Array.MaxLength) throw new ManagedEmbedException($"'{_file.Path}': {string.Join(", ", names)} are too large to pack");
        if (_packBuffer.Length < total) _packBuffer = new float[total];
        long at = 0;
        foreach (var name in names)
        {
            var info = _resolved[name];
            int n = checked((int)info.ElementCount);
            _file.ReadFloatInto(info, _packBuffer.AsSpan((int)at, n));
            at += n;
        }
        return PackedMatrix.FromRowMajor(_packBuffer.AsSpan(0, (int)total), (int)rows, cols);
    }

    /// <summary>Drops the staging buffer used by <see cref="Pack"/> once loading is done.</summary>
    public void ReleasePackBuffer() => _packBuffer = [];

    /// <summary>A resolved parameter copied into a new array (read from the file, not through the mapping).</summary>
    public float[] GetArray(string name) => _file.ReadFloatArray(_resolved[name]);
}
