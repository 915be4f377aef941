using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Models;

/// <summary>What a parameter is, which decides how the synthetic generator initializes it.</summary>
public enum TensorKind
{
    /// <summary>An embedding table (also MPNet's relative-attention-bias table).</summary>
    Embedding,
    /// <summary>A Linear weight [out, in].</summary>
    LinearWeight,
    /// <summary>A Linear bias.</summary>
    LinearBias,
    /// <summary>A LayerNorm gamma.</summary>
    LayerNormWeight,
    /// <summary>A LayerNorm beta.</summary>
    LayerNormBias,
    /// <summary>An I64 index buffer such as embeddings.position_ids (not a weight; optional).</summary>
    PositionIds,
}

/// <summary>One parameter a model requests: its Hugging Face name (without a model prefix), shape and kind.</summary>
/// <param name="Name">Full name, e.g. encoder.layer.3.attention.self.query.weight.</param>
/// <param name="Shape">Shape implied by config.json.</param>
/// <param name="Kind">What the parameter is.</param>
/// <param name="Optional">True for tensors real checkpoints carry but the forward pass does not use (pooler, position_ids).</param>
public sealed record TensorSpec(string Name, int[] Shape, TensorKind Kind, bool Optional = false);

/// <summary>
/// The one place weight names are spelled. Modules ask a scope for their parameters
/// (<c>w.Scope("encoder.layer.3.attention").Linear("self.query", h, h)</c>); every request is recorded with its shape
/// and kind. A model is built twice from the same constructors: first against a <em>plan</em> source (no file; it
/// records the requests and hands back placeholders), which yields the required-tensor list used both to validate a
/// checkpoint and to synthesize one; then against the file, which reads the values.
/// </summary>
public sealed class WeightScope
{
    private readonly WeightSource _source;
    private readonly string _prefix;

    internal WeightScope(WeightSource source, string prefix) { _source = source; _prefix = prefix; }

    /// <summary>A nested scope: names requested from it are prefixed with <paramref name="name"/> and a dot.</summary>
    public WeightScope Scope(string name) => new(_source, Join(name) + ".");

    /// <summary>True while the model is only being described (values are placeholders).</summary>
    public bool IsPlan => _source.File is null;

    private string Join(string name) => _prefix + name;

    /// <summary>
    /// A Linear layer <paramref name="name"/>.weight [outF, inF] and its bias: float32 weights packed for the GEMM, or
    /// int8 weights (an I8 tensor with its F32 per-row scales <c>NAME.weight_scale</c>, see <see cref="Int8Checkpoint"/>).
    /// </summary>
    public (LinearWeights Weight, float[] Bias) Linear(string name, int outF, int inF)
    {
        string w = Join(name) + ".weight", b = Join(name) + ".bias";
        _source.Request(w, [outF, inF], TensorKind.LinearWeight);
        _source.Request(b, [outF], TensorKind.LinearBias);
        return (_source.Pack([w]), _source.Array(b, outF));
    }

    /// <summary>
    /// Several Linear layers with the same input, stacked into one weight (e.g. query | key | value, so one
    /// GEMM projects all three), with their biases concatenated in the same order.
    /// </summary>
    public (LinearWeights Weight, float[] Bias) FusedLinear(string[] names, int outEach, int inF)
    {
        var weights = new string[names.Length];
        var bias = new float[names.Length * outEach];
        for (int i = 0; i < names.Length; i++)
        {
            weights[i] = Join(names[i]) + ".weight";
            _source.Request(weights[i], [outEach, inF], TensorKind.LinearWeight);
            string b = Join(names[i]) + ".bias";
            _source.Request(b, [outEach], TensorKind.LinearBias);
            _source.Array(b, outEach).CopyTo(bias.AsSpan(i * outEach, outEach));
        }
        return (_source.Pack(weights), bias);
    }

    /// <summary>A LayerNorm <paramref name="name"/> (weight = gamma, bias = beta) of <paramref name="width"/>.</summary>
    public (float[] Gamma, float[] Beta) LayerNorm(string name, int width)
    {
        string g = Join(name) + ".weight", b = Join(name) + ".bias";
        _source.Request(g, [width], TensorKind.LayerNormWeight);
        _source.Request(b, [width], TensorKind.LayerNormBias);
        return (_source.Array(g, width), _source.Array(b, width));
    }

    /// <summary>A small embedding table <paramref name="name"/>.weight [rows, cols], read into an array.</summary>
    public float[] Table(string name, int rows, int cols)
    {
        string n = Join(name) + ".weight";
        _source.Request(n, [rows, cols], TensorKind.Embedding);
        return _source.Array(n, (long)rows * cols);
    }

    /// <summary>
    /// A large embedding table (the word embeddings): F32 rows stay in the file and are gathered per token with a
    /// positional read; other dtypes are converted once into memory.
    /// </summary>
    public EmbeddingRows Rows(string name, int rows, int cols)
    {
        string n = Join(name) + ".weight";
        _source.Request(n, [rows, cols], TensorKind.Embedding);
        return _source.Rows(n, cols);
    }

    /// <summary>A tensor real checkpoints carry that the forward pass does not use (pooler, position_ids): accepted, never required.</summary>
    public void Optional(string name, int[] shape, TensorKind kind) => _source.Request(Join(name), shape, kind, optional: true);
}

/// <summary>Rows of an embedding table, gathered from the file (F32) or from a converted in-memory copy.</summary>
public sealed class EmbeddingRows
{
    private readonly SafeTensorsFile? _file;
    private readonly SafeTensorInfo? _info;
    private readonly float[]? _converted;
    private readonly int _cols;

    internal EmbeddingRows(SafeTensorsFile? file, SafeTensorInfo? info, float[]? converted, int cols)
    {
        _file = file; _info = info; _converted = converted; _cols = cols;
    }

    /// <summary>True when rows are read from the file per token (F32 weights) rather than held in memory.</summary>
    public bool GathersFromFile => _converted is null;

    /// <summary>Copies row <paramref name="row"/> into <paramref name="destination"/> (no allocation).</summary>
    public void CopyRow(int row, Span<float> destination)
    {
        if (_converted is not null) _converted.AsSpan(row * _cols, _cols).CopyTo(destination);
        else _file!.ReadRowF32(_info!, row, destination);
    }
}

/// <summary>
/// Where a <see cref="WeightScope"/>'s requests go: a plan (records them, returns placeholders) or a checkpoint
/// whose names were resolved and validated against the plan (see <see cref="ModelWeights"/>).
/// </summary>
internal sealed class WeightSource
{
    private static readonly LinearWeights Placeholder = new(PackedMatrix.FromRowMajor(new float[1], 1, 1));
    private readonly Dictionary<string, SafeTensorInfo>? _resolved;

    public SafeTensorsFile? File { get; }
    public List<TensorSpec> Specs { get; } = new();

    /// <summary>True when float Linear weights are quantized to int8 as they load (the scheme of <see cref="Int8Checkpoint"/>).</summary>
    public bool QuantizeAtLoad { get; }

    public WeightSource(SafeTensorsFile? file = null, Dictionary<string, SafeTensorInfo>? resolved = null, bool quantizeAtLoad = false)
    {
        File = file;
        _resolved = resolved;
        QuantizeAtLoad = quantizeAtLoad;
    }

    public void Request(string name, int[] shape, TensorKind kind, bool optional = false) => Specs.Add(new TensorSpec(name, shape, kind, optional));

    private SafeTensorInfo Info(string name) => _resolved![name];

    public float[] Array(string name, long length) => File is null ? new float[length] : File.ReadFloatArray(Info(name));

    public EmbeddingRows Rows(string name, int cols)
    {
        if (File is null) return new EmbeddingRows(null, null, [], cols);
        var info = Info(name);
        return SafeTensorsFile.CanReadRowsDirectly(info)
            ? new EmbeddingRows(File, info, null, cols)
            : new EmbeddingRows(null, null, File.ReadFloatArray(info), cols);
    }

    /// <summary>Every matrix <see cref="Pack"/> handed out, in request order (bottom layer first).</summary>
    public List<PackedMatrix> Matrices { get; } = new();

    /// <summary>
    /// The named [rows_i, cols] weights, stacked vertically, as one GEMM panel matrix, packed on first use (see
    /// <see cref="PackedMatrix.Deferred(int, int, PackedMatrix.RowMajorSource)"/>): loading costs nothing per matrix.
    /// F32 weights also keep their rows in the file's memory map, which every product before the panels exist reads
    /// in place; the panels are packed by the model's background packer once the second pass or a large batch wants
    /// them. Other dtypes are packed by the packer or by the first forward pass that reaches them. Packing reads the
    /// file into the packer's staging buffer (not through the mapping).
    /// </summary>
    public LinearWeights Pack(string[] names)
    {
        if (File is null) return Placeholder;
        var file = File;
        var infos = names.Select(Info).ToArray();
        // A truncated file is refused at load, not later on the packer thread.
        foreach (var info in infos) file.EnsureComplete(info);
        if (infos[0].DType == SafeTensorDType.I8)
        {
            // Int8 weights are small (a quarter of float32) and are checked as they load: built eagerly.
            var parts = new Int8Matrix[infos.Length];
            for (int i = 0; i < infos.Length; i++)
            {
                if (infos[i].DType != SafeTensorDType.I8)
                    throw new ManagedEmbedException($"'{file.Path}': {string.Join(", ", infos.Select(t => t.Name))} mix int8 and float weights in one fused layer");
                parts[i] = Int8Checkpoint.ReadMatrix(file, infos[i], Info(names[i] + Int8Checkpoint.ScaleSuffix));
            }
            return new LinearWeights(parts.Length == 1 ? parts[0] : Int8Matrix.Stack(parts));
        }
        int cols = infos[0].Shape[1];
        long rows = 0;
        foreach (var info in infos) rows += info.Shape[0];
        if (rows * cols > System.Array.MaxLength) throw new ManagedEmbedException($"'{file.Path}': {string.Join(", ", names)} are too large to pack");
        PackedMatrix.RowMajorSource read = destination =>
        {
            int at = 0;
            foreach (var info in infos)
            {
                int n = checked((int)info.ElementCount);
                file.ReadFloatInto(info, destination.Slice(at, n));
                at += n;
            }
        };
        if (QuantizeAtLoad)
        {
            var values = new float[rows * cols];
            read(values);
            return new LinearWeights(Int8Matrix.Quantize(values, (int)rows, cols));
        }
        var blocks = new (nint Address, int Rows)[infos.Length];
        for (int i = 0; i < infos.Length; i++) blocks[i] = (file.MappedF32(infos[i]), infos[i].Shape[0]);
        var matrix = blocks.All(b => b.Address != 0)
            ? PackedMatrix.Deferred((int)rows, cols, read, blocks)
            : PackedMatrix.Deferred((int)rows, cols, read);
        Matrices.Add(matrix);
        return new LinearWeights(matrix);
    }
}

/// <summary>
/// Matches a checkpoint against a model's plan: each requested name is looked up exactly, then under the
/// architecture's prefixes (a model saved with its task head keeps the base model under "bert.", "distilbert.",
/// "mpnet." or "roberta."). Shapes and dtypes are checked, and a tensor the forward pass would not use is an
/// error (config and weights disagree). All problems are reported in one error.
/// </summary>
public static class ModelWeights
{
    /// <summary>Base-model prefixes tried after the exact name.</summary>
    public static readonly IReadOnlyList<string> Prefixes = ["bert.", "distilbert.", "mpnet.", "roberta."];

    /// <summary>Resolves every planned tensor in <paramref name="file"/>; returns plan name → header entry.</summary>
    internal static Dictionary<string, SafeTensorInfo> Resolve(SafeTensorsFile file, IReadOnlyList<TensorSpec> plan, TransformerConfigSummary summary, bool int8Declared = false)
    {
        int required = plan.Count(s => !s.Optional);
        // Compare counts before matching names: a config claiming far more layers than the file holds is refused
        // with the count, not a list of thousands of missing names.
        if (required > file.Tensors.Count)
            throw new ManagedEmbedException($"'{file.Path}' does not match config.json: {summary.LayersKey} = {summary.Layers} needs {required} tensors, the file holds {file.Tensors.Count}");
        var byName = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
        foreach (var t in file.Tensors) byName[t.Name] = t;
        var missing = new List<string>();
        var wrong = new List<string>();
        var resolved = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var spec in plan)
        {
            SafeTensorInfo? info = null;
            if (!byName.TryGetValue(spec.Name, out info))
                foreach (string p in Prefixes)
                    if (byName.TryGetValue(p + spec.Name, out info)) break;
            if (info is null)
            {
                if (!spec.Optional) missing.Add(spec.Name);
                continue;
            }
            used.Add(info.Name);
            if (spec.Optional) continue; // present and unused: its shape does not matter
            if (!info.Shape.SequenceEqual(spec.Shape))
            {
                wrong.Add($"{info.Name} is {info.ShapeText}, config.json implies {SafeTensorInfo.FormatShape(spec.Shape)}");
                continue;
            }
            if (spec.Kind == TensorKind.LinearWeight && (int8Declared || info.DType == SafeTensorDType.I8))
            {
                // Int8 checkpoints: every Linear weight is I8 with its F32 scales, and config.json says so.
                if (Int8Checkpoint.CheckLinear(byName, info, spec, int8Declared, out var scale) is { } problem) wrong.Add(problem);
                else
                {
                    used.Add(scale!.Name);
                    resolved[spec.Name] = info;
                    resolved[spec.Name + Int8Checkpoint.ScaleSuffix] = scale;
                }
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
        var unused = file.Tensors.Select(t => t.Name).Where(n => !used.Contains(n)).ToList();
        if (unused.Count > 0)
            throw new ManagedEmbedException($"'{file.Path}' does not match config.json ({summary.LayersKey} = {summary.Layers}): {unused.Count} tensor(s) would be ignored: {Shorten(unused)}");
        return resolved;
    }

    private static string Shorten(List<string> items) =>
        items.Count <= 12 ? string.Join(", ", items) : string.Join(", ", items.Take(12)) + $", ... ({items.Count - 12} more)";
}

/// <summary>How an architecture names its layer count in error messages.</summary>
internal readonly record struct TransformerConfigSummary(string LayersKey, int Layers);
