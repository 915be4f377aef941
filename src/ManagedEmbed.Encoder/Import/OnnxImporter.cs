using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Import;

/// <summary>Options of <see cref="OnnxImporter.Import(ReadOnlyMemory{byte}, string?, OnnxImportOptions?)"/>.</summary>
public sealed class OnnxImportOptions
{
    /// <summary>
    /// Whether <see cref="OnnxImportResult.Tensors"/> includes the <c>embeddings.position_ids</c> buffer (I64
    /// [1, max_position_embeddings]; the graph's own values when it has them, else 0, 1, 2, ...). Older Hugging Face
    /// checkpoints (e.g. all-MiniLM-L6-v2) carry it, newer ones (e.g. snowflake-arctic-embed-xs) do not; the encoder
    /// ignores it either way. Default false.
    /// </summary>
    public bool IncludePositionIds { get; init; }

    /// <summary>How error messages name the input (default "the ONNX model").</summary>
    public string SourceName { get; init; } = "the ONNX model";
}

/// <summary>What <see cref="OnnxImporter"/> recovered from an ONNX export.</summary>
public sealed class OnnxImportResult
{
    private readonly List<SafeTensorEntry> _weights;
    private readonly SafeTensorEntry _positionIds;

    internal OnnxImportResult(List<SafeTensorEntry> weights, SafeTensorEntry positionIds, bool includePositionIds, string configJson,
        BertConfig config, bool inferred, long opset, string producer, bool hasPooler, bool graphHasPositionIds)
    {
        _weights = weights; _positionIds = positionIds;
        Tensors = includePositionIds ? [.. weights, positionIds] : weights;
        ConfigJson = configJson; Config = config; ConfigInferred = inferred; Opset = opset; Producer = producer;
        HasPooler = hasPooler; GraphHasPositionIds = graphHasPositionIds;
    }

    /// <summary>
    /// The model's tensors under their Hugging Face names (no "bert." prefix), Linear weights as [out, in], ready for
    /// <see cref="SafeTensorsWriter.Write"/>. The data callbacks read from the ONNX bytes given to the importer, which
    /// must stay unchanged until the tensors are written.
    /// </summary>
    public IReadOnlyList<SafeTensorEntry> Tensors { get; }

    /// <summary>The config.json text: the one given (after checking every tensor against it) or one inferred from the graph.</summary>
    public string ConfigJson { get; }

    /// <summary><see cref="ConfigJson"/> parsed.</summary>
    public BertConfig Config { get; }

    /// <summary>True when no config was given and <see cref="ConfigJson"/> was inferred from the graph.</summary>
    public bool ConfigInferred { get; }

    /// <summary>The default-domain operator set version of the ONNX model.</summary>
    public long Opset { get; }

    /// <summary>producer_name and producer_version of the ONNX model (e.g. "pytorch 1.10").</summary>
    public string Producer { get; }

    /// <summary>Whether the export contains the BERT pooler (pooler.dense.*), which is then kept.</summary>
    public bool HasPooler { get; }

    /// <summary>Whether the graph holds an <c>embeddings.position_ids</c> initializer.</summary>
    public bool GraphHasPositionIds { get; }

    /// <summary>Writes <see cref="Tensors"/> as safetensors (metadata format=pt, the layout of the reference writer).</summary>
    public void WriteSafeTensors(Stream output) => Write(output, Tensors);

    /// <summary>Writes the weights as safetensors, with or without <c>embeddings.position_ids</c>, whatever the options said.</summary>
    public void WriteSafeTensors(Stream output, bool includePositionIds) =>
        Write(output, includePositionIds ? [.. _weights, _positionIds] : _weights);

    /// <summary>
    /// Writes <see cref="Tensors"/> as <see cref="WriteSafeTensors(Stream)"/> does, calling <paramref name="progress"/>
    /// with (tensor bytes written, tensor bytes in all) as each tensor starts and once at the end with (total, total).
    /// </summary>
    public void WriteSafeTensors(Stream output, Action<long, long>? progress)
    {
        if (progress is null) { WriteSafeTensors(output); return; }
        // The writer lays tensors out in FileOrder and calls each one's producer just before writing its bytes, so the
        // bytes before a tensor are the sum of the ones before it in that order.
        var ordered = SafeTensorsWriter.FileOrder(Tensors);
        long total = ordered.Sum(e => e.ByteLength), done = 0;
        var reporting = new List<SafeTensorEntry>(ordered.Count);
        foreach (var e in ordered)
        {
            long before = done;
            done += e.ByteLength;
            reporting.Add(e with
            {
                Data = () => { progress(before, total); return e.Data(); },
                Memory = e.Memory is { } m ? () => { progress(before, total); return m(); } : null,
            });
        }
        Write(output, reporting);
        progress(total, total);
    }

    private static void Write(Stream output, IEnumerable<SafeTensorEntry> entries) =>
        SafeTensorsWriter.Write(output, entries, new Dictionary<string, string> { ["format"] = "pt" });
}

/// <summary>
/// Converts an ONNX export of a Hugging Face BERT encoder (torch.onnx.export of BertModel, as shipped by ONNX model
/// packages) back to the Hugging Face tensors and config.json, without running the graph.
/// <para>
/// Embeddings, LayerNorms and biases are initializers under their Hugging Face names. PyTorch's exporter stores each
/// Linear weight transposed ([in, out]) under an anonymous name (<c>onnx::MatMul_123</c>, <c>927</c>); it feeds a
/// MatMul whose output is added to the Linear's bias, so the weight is named after that bias and transposed back.
/// Every float tensor of the graph must end up with a known BERT name: anything else is an error, never dropped.
/// Without a config.json, the architecture is inferred: sizes from the tensor shapes, the number of heads from the
/// Reshape that splits the query/key/value projections into heads, layer_norm_eps from LayerNormalization's epsilon or
/// the constant added to the variance in the decomposed form (ReduceMean, Sub, Pow, ReduceMean, Add(eps), Sqrt, Div),
/// hidden_act from the operators between the intermediate and output projections (Erf: gelu; Tanh: gelu_new; Relu).
/// </para>
/// </summary>
public static partial class OnnxImporter
{
    /// <summary>Imports the serialized ONNX ModelProto <paramref name="onnx"/>.</summary>
    /// <param name="onnx">The .onnx file's bytes (kept referenced by the result's tensor callbacks).</param>
    /// <param name="configJson">The model's config.json text, or null to infer it from the graph.</param>
    /// <param name="options">Options; null for defaults.</param>
    /// <exception cref="ManagedEmbedException">The bytes are not a valid ONNX model, the graph is not a BERT encoder this
    /// importer understands, a tensor is unaccounted for, the config disagrees with the graph, or a fact needed to
    /// infer the config is missing; the message names what is wrong.</exception>
    public static OnnxImportResult Import(ReadOnlyMemory<byte> onnx, string? configJson, OnnxImportOptions? options = null)
    {
        options ??= new OnnxImportOptions();
        var model = OnnxModel.Parse(onnx);
        return new Importer(model, options).Run(configJson);
    }

    /// <summary>Reads <paramref name="onnx"/> to its end into memory, then imports it.</summary>
    public static OnnxImportResult Import(Stream onnx, string? configJson, OnnxImportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(onnx);
        byte[] bytes;
        if (onnx.CanSeek)
        {
            long left = onnx.Length - onnx.Position;
            if (left > Array.MaxLength) throw new ManagedEmbedException($"{(options ?? new()).SourceName} is larger than 2 GB; such ONNX files keep their weights as external data, which is not supported");
            bytes = new byte[left];
            onnx.ReadExactly(bytes);
        }
        else
        {
            var ms = new MemoryStream();
            onnx.CopyTo(ms);
            bytes = ms.ToArray();
        }
        return Import(bytes, configJson, options);
    }

    [GeneratedRegex(@"^(embeddings\.(word_embeddings|position_embeddings|token_type_embeddings)\.weight|embeddings\.LayerNorm\.(weight|bias)|encoder\.layer\.(\d+)\.(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense|attention\.output\.LayerNorm|output\.LayerNorm)\.(weight|bias)|pooler\.dense\.(weight|bias))$")]
    private static partial Regex BertName();

    private sealed class Importer(OnnxModel model, OnnxImportOptions options)
    {
        private const string WordEmbeddings = "embeddings.word_embeddings.weight";
        private readonly OnnxGraph _g = model.Graph!;
        private readonly Dictionary<string, OnnxTensor> _const = new(StringComparer.Ordinal);
        private readonly Dictionary<string, OnnxNode> _producer = new(StringComparer.Ordinal);
        private readonly Dictionary<string, List<OnnxNode>> _consumers = new(StringComparer.Ordinal);
        private string _prefix = "";
        private string Src => options.SourceName;

        /// <summary>A recovered tensor: the ONNX tensor, and whether it is stored transposed ([in, out]).</summary>
        private sealed record Found(OnnxTensor Tensor, bool Transposed, string How);

        private readonly Dictionary<string, Found> _named = new(StringComparer.Ordinal);

        public OnnxImportResult Run(string? configJson)
        {
            if (_g.SparseInitializers > 0) throw new ManagedEmbedException($"{Src} has sparse initializers, which are not supported");
            Index();
            FindPrefix();
            NameLinearWeights();
            NameRemaining();

            var inferred = Infer();
            BertConfig config;
            string json;
            bool wasInferred = configJson is null;
            if (configJson is null)
            {
                json = InferredJson(inferred);
                config = BertConfig.Parse(json, "inferred config.json");
            }
            else
            {
                config = BertConfig.Parse(configJson, "config.json");
                json = configJson;
                Compare(config, inferred);
            }
            var (weights, positionIds, hasPooler) = Assemble(config);
            return new OnnxImportResult(weights, positionIds, options.IncludePositionIds, json, config, wasInferred,
                model.DefaultOpset ?? 0, (model.ProducerName + " " + model.ProducerVersion).Trim(), hasPooler,
                _named.ContainsKey(BertTensorNames.PositionIds));
        }

        private void Index()
        {
            foreach (var t in _g.Initializers)
                if (!_const.TryAdd(t.Name, t)) throw new ManagedEmbedException($"{Src}: two initializers are named '{t.Name}'");
            foreach (var n in _g.Nodes)
            {
                foreach (string o in n.Outputs)
                    if (o.Length > 0 && !_producer.TryAdd(o, n))
                        throw new ManagedEmbedException($"{Src}: value '{o}' is produced twice ({_producer[o].Describe()} and {n.Describe()})");
                foreach (string i in n.Inputs)
                {
                    if (i.Length == 0) continue;
                    if (!_consumers.TryGetValue(i, out var l)) _consumers[i] = l = new();
                    l.Add(n);
                }
                if (n.OpType == "Constant" && n.Domain is "" or "ai.onnx" && n.Outputs.Count == 1 && ConstantValue(n) is { } t)
                {
                    t.Name = n.Outputs[0];
                    if (!_const.TryAdd(t.Name, t)) throw new ManagedEmbedException($"{Src}: Constant {n.Describe()} redefines initializer '{t.Name}'");
                }
            }
        }

        private static OnnxTensor? ConstantValue(OnnxNode n)
        {
            foreach (var a in n.Attributes)
            {
                switch (a.Name)
                {
                    case "value" when a.T is not null: return a.T;
                    case "value_float": return new OnnxTensor { DataType = (int)OnnxDataType.Float, FloatData = [a.F], Offset = n.Offset };
                    case "value_floats": return new OnnxTensor { DataType = (int)OnnxDataType.Float, Dims = [a.Floats.Count], FloatData = a.Floats, Offset = n.Offset };
                    case "value_int": return new OnnxTensor { DataType = (int)OnnxDataType.Int64, Int64Data = [a.I], Offset = n.Offset };
                    case "value_ints": return new OnnxTensor { DataType = (int)OnnxDataType.Int64, Dims = [a.Ints.Count], Int64Data = a.Ints, Offset = n.Offset };
                }
            }
            return null;
        }

        private static bool IsWeight(OnnxTensor t) => t.IsFloat && t.ElementCount > 1;

        private IEnumerable<OnnxTensor> Weights() => _const.Values.Where(IsWeight);

        private void FindPrefix()
        {
            var word = Weights().Where(t => t.Name.EndsWith(WordEmbeddings, StringComparison.Ordinal)).ToList();
            if (word.Count == 0)
                throw new ManagedEmbedException($"{Src} has no tensor named '{WordEmbeddings}' (or 'bert.{WordEmbeddings}'): it is not an export of a Hugging Face BERT model with its parameter names");
            if (word.Count > 1)
                throw new ManagedEmbedException($"{Src} has several word-embedding tables ({string.Join(", ", word.Select(w => "'" + w.Name + "'"))})");
            _prefix = word[0].Name[..^WordEmbeddings.Length];
        }

        /// <summary>The Hugging Face name of a graph tensor name: the model prefix (e.g. "bert.") removed, or null without it.</summary>
        private string? Hf(string name) => name.StartsWith(_prefix, StringComparison.Ordinal) ? name[_prefix.Length..] : null;

        private void Assign(string hfName, Found f)
        {
            if (_named.TryGetValue(hfName, out var prev))
            {
                if (ReferenceEquals(prev.Tensor, f.Tensor) && prev.Transposed == f.Transposed) return;
                throw new ManagedEmbedException($"{Src}: both {prev.Tensor.Describe()} ({prev.How}) and {f.Tensor.Describe()} ({f.How}) map to '{hfName}'; the graph is not wired like a BERT encoder");
            }
            _named[hfName] = f;
        }

        /// <summary>Names the weights consumed by MatMul/Gemm after the bias they are added to.</summary>
        private void NameLinearWeights()
        {
            var assignedTo = new Dictionary<OnnxTensor, string>(ReferenceEqualityComparer.Instance);
            foreach (var n in _g.Nodes)
            {
                if (n.Domain is not ("" or "ai.onnx") || n.OpType is not ("MatMul" or "Gemm") || n.Inputs.Count < 2) continue;
                bool gemm = n.OpType == "Gemm";
                // Stored orientation: MatMul's B is [in, out]; Gemm's B is [in, out] unless transB=1.
                bool transposed = !gemm || (n.Attr("transB")?.I ?? 0) == 0;
                string b = n.Inputs[1];
                OnnxTensor? w = null;
                if (_const.TryGetValue(b, out var direct) && IsWeight(direct)) w = direct;
                else if (_producer.TryGetValue(b, out var tp) && tp.OpType == "Transpose" && tp.Inputs.Count == 1
                         && _const.TryGetValue(tp.Inputs[0], out var under) && IsWeight(under) && under.Dims.Length == 2
                         && (tp.Attr("perm") is null || tp.Attr("perm")!.Ints.SequenceEqual([1L, 0L])))
                {
                    w = under;
                    transposed = !transposed;
                }
                if (w is null) continue; // activation × activation (attention scores): no weight
                if (w.Dims.Length != 2)
                    throw new ManagedEmbedException($"{Src}: {n.Describe()} multiplies by weight {w.Describe()}, which is not a matrix");
                if (gemm)
                {
                    if ((n.Attr("transA")?.I ?? 0) != 0 || (n.Attr("alpha") is { } al && al.F != 1f) || (n.Attr("beta") is { } be && be.F != 1f))
                        throw new ManagedEmbedException($"{Src}: {n.Describe()} uses transA/alpha/beta, which a Linear layer export does not");
                }

                string? biasName = gemm ? (n.Inputs.Count > 2 ? n.Inputs[2] : null) : BiasAddedTo(n);
                string? fromBias = null;
                if (biasName is not null && Hf(biasName) is { } hb && hb.EndsWith(".bias", StringComparison.Ordinal))
                    fromBias = hb[..^".bias".Length] + ".weight";
                string? own = Hf(w.Name) is { } hw && BertName().IsMatch(hw) ? hw : null;
                if (own is not null && fromBias is not null && own != fromBias)
                    throw new ManagedEmbedException($"{Src}: weight {w.Describe()} is added to bias '{biasName}' in {n.Describe()}; the names disagree");
                string? name = fromBias ?? own;
                if (name is null)
                    throw new ManagedEmbedException($"{Src}: the weight {w.Describe()} of {n.Describe()} is not added to a named '.bias' tensor, so its Hugging Face name cannot be determined (the graph is not wired like a BERT Linear layer)");
                if (assignedTo.TryGetValue(w, out var other) && other != name)
                    throw new ManagedEmbedException($"{Src}: weight {w.Describe()} is used as both '{other}' and '{name}'");
                assignedTo[w] = name;
                Assign(name, new Found(w, transposed, $"{n.OpType} weight"));
            }
        }

        /// <summary>The constant added to a MatMul's output by its single Add consumer, or null.</summary>
        private string? BiasAddedTo(OnnxNode matmul)
        {
            if (matmul.Outputs.Count == 0 || !_consumers.TryGetValue(matmul.Outputs[0], out var users)) return null;
            string? found = null;
            foreach (var u in users)
            {
                if (u.OpType != "Add" || u.Inputs.Count != 2) continue;
                string other = u.Inputs[0] == matmul.Outputs[0] ? u.Inputs[1] : u.Inputs[0];
                if (_const.TryGetValue(other, out var t) && t.IsFloat)
                {
                    if (found is not null && found != other)
                        throw new ManagedEmbedException($"{Src}: the output of {matmul.Describe()} is added to two constants ('{found}' and '{other}')");
                    found = other;
                }
            }
            return found;
        }

        /// <summary>Every other float tensor must carry a BERT name; integer tensors (shapes, axes) are not weights.</summary>
        private void NameRemaining()
        {
            var used = new HashSet<OnnxTensor>(_named.Values.Select(f => f.Tensor), ReferenceEqualityComparer.Instance);
            var unknown = new List<OnnxTensor>();
            foreach (var t in _const.Values)
            {
                if (used.Contains(t)) continue;
                string? hf = Hf(t.Name);
                if (hf == BertTensorNames.PositionIds) { Assign(hf, new Found(t, false, "initializer")); continue; }
                if (!IsWeight(t)) continue;
                if (hf is not null && BertName().IsMatch(hf)) Assign(hf, new Found(t, false, "initializer"));
                else unknown.Add(t);
            }
            var stray = _named.Keys.Where(k => k != BertTensorNames.PositionIds && !BertName().IsMatch(k)).ToList();
            if (unknown.Count > 0 || stray.Count > 0)
            {
                var parts = unknown.Select(t => t.Describe()).Concat(stray.Select(s => $"'{_prefix}{s}'")).ToList();
                throw new ManagedEmbedException($"{Src}: {parts.Count} tensor(s) are not parameters of a BERT encoder this importer can name, and would be lost: {string.Join("; ", parts.Take(5))}{(parts.Count > 5 ? "; ..." : "")}");
            }
        }

        private int[] Shape(string hfName)
        {
            if (!_named.TryGetValue(hfName, out var f)) throw new ManagedEmbedException($"{Src} has no tensor '{_prefix}{hfName}'");
            var d = f.Tensor.Dims.Select(x => (int)x).ToArray();
            return f.Transposed ? [d[1], d[0]] : d;
        }

        private sealed record Inference(int Hidden, int Vocab, int MaxPos, int TypeVocab, int Layers, int Intermediate,
            int? Heads, string HeadsWhy, float? Eps, string EpsWhy, string? Act, string ActWhy);

        private Inference Infer()
        {
            var word = Shape(WordEmbeddings);
            if (word.Length != 2) throw new ManagedEmbedException($"{Src}: '{_prefix}{WordEmbeddings}' is not a matrix");
            int hidden = word[1];
            int Rows(string n)
            {
                var s = Shape(n);
                if (s.Length != 2 || s[1] != hidden) throw new ManagedEmbedException($"{Src}: '{_prefix}{n}' has shape [{string.Join(", ", s)}], expected [rows, {hidden}]");
                return s[0];
            }
            int maxPos = Rows("embeddings.position_embeddings.weight");
            int typeVocab = Rows("embeddings.token_type_embeddings.weight");
            var layerIdx = new SortedSet<int>();
            foreach (var m in _named.Keys.Select(k => BertName().Match(k)).Where(m => m.Success && m.Groups[4].Success))
            {
                if (!int.TryParse(m.Groups[4].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int li))
                    throw new ManagedEmbedException($"{Src}: tensor '{_prefix}{m.Value}' has an invalid layer number");
                layerIdx.Add(li);
            }
            if (layerIdx.Count == 0) throw new ManagedEmbedException($"{Src} has no encoder layers (no '{_prefix}encoder.layer.N.*' tensors)");
            int layers = layerIdx.Max + 1;
            if (layerIdx.Count != layers)
                throw new ManagedEmbedException($"{Src}: the encoder layers are not numbered 0..{layers - 1} (missing layer {Enumerable.Range(0, layers).First(i => !layerIdx.Contains(i))})");
            var ib = Shape("encoder.layer.0.intermediate.dense.bias");
            if (ib.Length != 1) throw new ManagedEmbedException($"{Src}: '{_prefix}encoder.layer.0.intermediate.dense.bias' is not a vector");
            int intermediate = ib[0];
            var (heads, headsWhy) = InferHeads(hidden, layers);
            var (eps, epsWhy) = InferEps(layers);
            var (act, actWhy) = InferActivation(layers);
            return new Inference(hidden, word[0], maxPos, typeVocab, layers, intermediate, heads, headsWhy, eps, epsWhy, act, actWhy);
        }

        private OnnxNode? BiasAdd(string hfBias)
        {
            if (!_consumers.TryGetValue(_prefix + hfBias, out var users)) return null;
            return users.FirstOrDefault(u => u.OpType == "Add") ?? users.FirstOrDefault(u => u.OpType == "Gemm");
        }

        /// <summary>Integer constants at the end of a shape value: a constant, or a Concat whose trailing inputs are constants.</summary>
        private List<long> TrailingInts(string name)
        {
            if (ConstInts(name) is { } c) return [.. c];
            var r = new List<long>();
            if (_producer.TryGetValue(name, out var n) && n.OpType == "Concat")
            {
                for (int i = n.Inputs.Count - 1; i >= 0; i--)
                {
                    if (ConstInts(n.Inputs[i]) is not { } part) break;
                    r.InsertRange(0, part);
                }
            }
            return r;
        }

        private long[]? ConstInts(string name)
        {
            if (_const.TryGetValue(name, out var t)) return t.Ints();
            // Unsqueeze/Cast/Identity of a constant keep its values.
            if (_producer.TryGetValue(name, out var n) && n.OpType is "Unsqueeze" or "Cast" or "Identity" && n.Inputs.Count >= 1
                && _const.TryGetValue(n.Inputs[0], out var c)) return c.Ints();
            return null;
        }

        private (int?, string) InferHeads(int hidden, int layers)
        {
            var seen = new SortedSet<int>();
            for (int l = 0; l < layers; l++)
            {
                foreach (string p in new[] { "query", "key", "value" })
                {
                    var add = BiasAdd($"encoder.layer.{l}.attention.self.{p}.bias");
                    if (add is null || add.Outputs.Count == 0 || !_consumers.TryGetValue(add.Outputs[0], out var users)) continue;
                    foreach (var r in users.Where(u => u.OpType == "Reshape" && u.Inputs.Count == 2))
                    {
                        // Splitting heads: [batch, seq, heads, head_dim] (heads may be -1 when head_dim is given).
                        var tail = TrailingInts(r.Inputs[1]);
                        if (tail.Count < 2) continue;
                        long h = tail[^2], d = tail[^1];
                        if (h == -1 && d > 0 && hidden % d == 0) h = hidden / d;
                        if (h <= 0 || d <= 0 || h * d != hidden)
                            throw new ManagedEmbedException($"{Src}: {r.Describe()} splits the {p} projection of layer {l} into [{h}, {d}], which does not multiply to hidden_size {hidden}");
                        seen.Add((int)h);
                    }
                }
            }
            if (seen.Count > 1) throw new ManagedEmbedException($"{Src}: layers split attention into different numbers of heads ({string.Join(", ", seen)})");
            if (seen.Count == 1) return (seen.Min, "");
            // Fallback: the attention scores are divided by sqrt(head_dim) (or multiplied by its inverse) before Softmax.
            foreach (var sm in _g.Nodes.Where(n => n.OpType == "Softmax" && n.Inputs.Count > 0))
            {
                if (!_producer.TryGetValue(sm.Inputs[0], out var add)) continue;
                foreach (string i in add.OpType == "Add" ? add.Inputs : [sm.Inputs[0]])
                {
                    if (!_producer.TryGetValue(i, out var s) || s.OpType is not ("Div" or "Mul") || s.Inputs.Count != 2) continue;
                    if (!_const.TryGetValue(s.Inputs[1], out var c) || c.Scalar() is not { } v || v <= 0) continue;
                    double d = s.OpType == "Div" ? v * v : 1 / (v * v);
                    long rd = (long)Math.Round(d);
                    if (rd > 0 && Math.Abs(d - rd) < 1e-3 * rd && hidden % rd == 0) return ((int)(hidden / rd), "");
                }
            }
            return (null, "no Reshape of the query/key/value projections into [batch, seq, heads, head_dim] with constant heads, and no constant attention scale");
        }

        private (float?, string) InferEps(int layers)
        {
            var names = new List<string> { "embeddings.LayerNorm.weight" };
            for (int l = 0; l < layers; l++) { names.Add($"encoder.layer.{l}.attention.output.LayerNorm.weight"); names.Add($"encoder.layer.{l}.output.LayerNorm.weight"); }
            var found = new Dictionary<string, float>();
            foreach (string name in names)
            {
                if (!_consumers.TryGetValue(_prefix + name, out var users)) continue;
                foreach (var u in users)
                {
                    if (u.OpType == "LayerNormalization")
                    {
                        found[name] = u.Attr("epsilon")?.F ?? 1e-5f; // the operator's default
                        break;
                    }
                    if (u.OpType == "Mul" && u.Inputs.Count == 2 && DecomposedEps(u.Inputs[0] == _prefix + name ? u.Inputs[1] : u.Inputs[0]) is { } e)
                    {
                        found[name] = e;
                        break;
                    }
                }
            }
            if (found.Count == 0) return (null, "no LayerNormalization node and no decomposed LayerNorm (…, Add(eps), Sqrt, Div, Mul(weight)) uses the LayerNorm weights");
            var distinct = found.Values.Distinct().ToList();
            if (distinct.Count > 1)
                throw new ManagedEmbedException($"{Src}: the LayerNorms use different epsilons ({string.Join(", ", found.Select(kv => $"{kv.Key}: {kv.Value.ToString("R", CultureInfo.InvariantCulture)}"))}); config.json has one layer_norm_eps");
            if (found.Count < names.Count)
                return (null, $"the epsilon of {string.Join(", ", names.Where(n => !found.ContainsKey(n)).Take(3))} could not be read from the graph");
            return (distinct[0], "");
        }

        /// <summary>Walks back from the normalized value to the Sqrt of (variance + eps) and returns eps.</summary>
        private float? DecomposedEps(string value)
        {
            var queue = new Queue<string>([value]);
            var seen = new HashSet<string>();
            while (queue.Count > 0 && seen.Count < 16)
            {
                string v = queue.Dequeue();
                if (!seen.Add(v) || !_producer.TryGetValue(v, out var n)) continue;
                if (n.OpType == "Sqrt" && n.Inputs.Count == 1 && _producer.TryGetValue(n.Inputs[0], out var add) && add.OpType == "Add" && add.Inputs.Count == 2)
                {
                    foreach (string i in add.Inputs)
                        if (_const.TryGetValue(i, out var c) && c.Scalar() is { } eps) return (float)eps;
                    return null;
                }
                if (n.OpType is "Div" or "Mul" or "Reciprocal" or "Cast") foreach (string i in n.Inputs) queue.Enqueue(i);
            }
            return null;
        }

        private (string?, string) InferActivation(int layers)
        {
            string? result = null;
            for (int l = 0; l < layers; l++)
            {
                string inter = $"encoder.layer.{l}.intermediate.dense.bias";
                var add = BiasAdd(inter);
                var outMatMul = _g.Nodes.FirstOrDefault(n => n.OpType is "MatMul" or "Gemm" && n.Inputs.Count >= 2
                    && _named.TryGetValue($"encoder.layer.{l}.output.dense.weight", out var f) && WeightInput(n) == f.Tensor);
                if (add is null || add.Outputs.Count == 0 || outMatMul is null) return (null, $"cannot find the intermediate and output projections of layer {l} in the graph");
                string pre = add.Outputs[0];
                var ops = new List<OnnxNode>();
                var queue = new Queue<string>([outMatMul.Inputs[0]]);
                var seen = new HashSet<string>();
                bool reached = false;
                while (queue.Count > 0)
                {
                    string v = queue.Dequeue();
                    if (v == pre) { reached = true; continue; }
                    if (!seen.Add(v) || _const.ContainsKey(v) || !_producer.TryGetValue(v, out var n)) continue;
                    if (seen.Count > 64) return (null, $"the activation of layer {l} is not a small subgraph");
                    ops.Add(n);
                    foreach (string i in n.Inputs) queue.Enqueue(i);
                }
                if (!reached) return (null, $"the output projection of layer {l} does not consume the intermediate projection");
                string act;
                var types = ops.Select(o => o.OpType).ToHashSet();
                if (ops.Count == 0) throw new ManagedEmbedException($"{Src}: layer {l} has no activation between its intermediate and output projections");
                if (types.Contains("Gelu")) act = ops.First(o => o.OpType == "Gelu").Attr("approximate")?.S is { } s && Encoding.UTF8.GetString(s) == "tanh" ? "gelu_new" : "gelu";
                else if (types.Contains("FastGelu")) act = "gelu_new";
                else if (types.Contains("Erf") || types.Contains("BiasGelu")) act = "gelu";
                else if (types.Contains("Tanh")) act = "gelu_new";
                else if (types.Contains("Relu")) act = "relu";
                else throw new ManagedEmbedException($"{Src}: the activation of layer {l} ({string.Join(", ", ops.Select(o => o.OpType).Reverse())}) is none of gelu (Erf), gelu_new (Tanh), relu");
                if (result is not null && result != act)
                    throw new ManagedEmbedException($"{Src}: layers use different activations ({result}, {act})");
                result = act;
            }
            return (result, "");
        }

        private OnnxTensor? WeightInput(OnnxNode n)
        {
            string b = n.Inputs[1];
            if (_const.TryGetValue(b, out var t)) return t;
            if (_producer.TryGetValue(b, out var tp) && tp.OpType == "Transpose" && tp.Inputs.Count == 1 && _const.TryGetValue(tp.Inputs[0], out var u)) return u;
            return null;
        }

        private string InferredJson(Inference i)
        {
            ManagedEmbedException Need(string what, string why) =>
                new ConfigNeededException($"{Src}: cannot infer {what} from the graph ({why}); pass the model's config.json");
            int heads = i.Heads ?? throw Need("num_attention_heads", i.HeadsWhy);
            float eps = i.Eps ?? throw Need("layer_norm_eps", i.EpsWhy);
            string act = i.Act ?? throw Need("hidden_act", i.ActWhy);
            var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
            {
                w.WriteStartObject();
                w.WriteStartArray("architectures"); w.WriteStringValue("BertModel"); w.WriteEndArray();
                w.WriteNumber("attention_probs_dropout_prob", 0.1);
                w.WriteString("hidden_act", act);
                w.WriteNumber("hidden_dropout_prob", 0.1);
                w.WriteNumber("hidden_size", i.Hidden);
                w.WriteNumber("initializer_range", 0.02);
                w.WriteNumber("intermediate_size", i.Intermediate);
                // The shortest decimal of the float32 epsilon, so 1e-12 stays 1e-12 rather than 9.999999960041972e-13.
                w.WriteNumber("layer_norm_eps", double.Parse(eps.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture));
                w.WriteNumber("max_position_embeddings", i.MaxPos);
                w.WriteString("model_type", "bert");
                w.WriteNumber("num_attention_heads", heads);
                w.WriteNumber("num_hidden_layers", i.Layers);
                w.WriteNumber("pad_token_id", 0);
                w.WriteString("position_embedding_type", "absolute");
                w.WriteNumber("type_vocab_size", i.TypeVocab);
                w.WriteNumber("vocab_size", i.Vocab);
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
        }

        /// <summary>A given config must agree with what the graph computes, where the graph says.</summary>
        private void Compare(BertConfig c, Inference i)
        {
            void Check(string key, object configValue, object graphValue)
            {
                if (!Equals(configValue, graphValue))
                    throw new ManagedEmbedException($"{Src}: config.json says {key} = {Fmt(configValue)} but the graph has {Fmt(graphValue)}");
            }
            static string Fmt(object o) => o is float f ? f.ToString("R", CultureInfo.InvariantCulture) : Convert.ToString(o, CultureInfo.InvariantCulture) ?? "";
            Check("hidden_size", c.HiddenSize, i.Hidden);
            Check("vocab_size", c.VocabSize, i.Vocab);
            Check("max_position_embeddings", c.MaxPositionEmbeddings, i.MaxPos);
            Check("type_vocab_size", c.TypeVocabSize, i.TypeVocab);
            Check("num_hidden_layers", c.NumHiddenLayers, i.Layers);
            Check("intermediate_size", c.IntermediateSize, i.Intermediate);
            if (i.Heads is { } h) Check("num_attention_heads", c.NumAttentionHeads, h);
            if (i.Eps is { } e) Check("layer_norm_eps", c.LayerNormEps, e);
            if (i.Act is { } a)
            {
                var graphAct = a switch { "gelu" => Activation.Gelu, "gelu_new" => Activation.GeluTanh, _ => Activation.Relu };
                if (graphAct != c.Activation) throw new ManagedEmbedException($"{Src}: config.json says hidden_act = {c.HiddenAct} but the graph computes {a}");
            }
        }

        private (List<SafeTensorEntry>, SafeTensorEntry, bool) Assemble(BertConfig c)
        {
            var specs = BertTensorNames.Required(c);
            var pooler = BertTensorNames.Pooler(c);
            bool hasPooler = pooler.Any(p => _named.ContainsKey(p.Name));
            if (hasPooler) specs.AddRange(pooler);
            var expected = specs.Select(s => s.Name).ToHashSet();
            var extra = _named.Keys.Where(k => k != BertTensorNames.PositionIds && !expected.Contains(k)).ToList();
            if (extra.Count > 0)
                throw new ManagedEmbedException($"{Src}: tensor(s) {string.Join(", ", extra.Take(5).Select(e => "'" + _prefix + e + "'"))} are not part of a BERT model with this config (num_hidden_layers {c.NumHiddenLayers})");
            var entries = new List<SafeTensorEntry>();
            var scratch = new Scratch();
            foreach (var s in specs)
            {
                if (!_named.TryGetValue(s.Name, out var f))
                    throw new ManagedEmbedException($"{Src} has no tensor '{_prefix}{s.Name}'{(s.Kind == TensorKind.LinearWeight ? " (no MatMul weight is added to its bias)" : "")}");
                var shape = Shape(s.Name);
                if (!shape.SequenceEqual(s.Shape))
                    throw new ManagedEmbedException($"{Src}: tensor '{_prefix}{s.Name}' ({f.How} {f.Tensor.Describe()}) has shape [{string.Join(", ", shape)}] but config.json implies [{string.Join(", ", s.Shape)}]");
                var dtype = f.Tensor.Type switch
                {
                    OnnxDataType.Float => SafeTensorDType.F32,
                    OnnxDataType.Float16 => SafeTensorDType.F16,
                    OnnxDataType.BFloat16 => SafeTensorDType.BF16,
                    _ => throw new ManagedEmbedException($"{Src}: tensor '{_prefix}{s.Name}' has data type {f.Tensor.Type}; supported: FLOAT, FLOAT16, BFLOAT16"),
                };
                // Validate the byte count (and refuse external data) now, not while writing.
                try { _ = f.Tensor.Bytes(); }
                catch (ManagedEmbedException e) { throw new ManagedEmbedException($"{Src}: {e.Message}", e); }
                var found = f;
                // Data copies (public contract); Memory, which the writer uses, hands out the ONNX bytes in place or
                // a transposition in one scratch buffer reused across tensors, so converting costs about the size
                // of the ONNX file in memory, not twice that.
                entries.Add(new SafeTensorEntry(s.Name, dtype, shape, () => found.Transposed ? Transpose(found.Tensor, null).ToArray() : found.Tensor.Bytes().ToArray())
                {
                    Memory = () => found.Transposed ? Transpose(found.Tensor, scratch) : found.Tensor.Bytes(),
                });
            }

            int n = c.MaxPositionEmbeddings;
            SafeTensorEntry pos;
            if (_named.TryGetValue(BertTensorNames.PositionIds, out var p))
            {
                if (p.Tensor.Type != OnnxDataType.Int64 || !p.Tensor.Dims.SequenceEqual([1L, n]))
                    throw new ManagedEmbedException($"{Src}: {p.Tensor.Describe()} is not INT64 [1, {n}]");
                var t = p.Tensor;
                _ = t.Bytes();
                pos = new SafeTensorEntry(BertTensorNames.PositionIds, SafeTensorDType.I64, [1, n], () => t.Bytes().ToArray());
            }
            else
            {
                pos = new SafeTensorEntry(BertTensorNames.PositionIds, SafeTensorDType.I64, [1, n], () =>
                {
                    var ids = new long[n];
                    for (int i = 0; i < n; i++) ids[i] = i;
                    return SafeTensorsWriter.ToBytes(ids);
                });
            }
            return (entries, pos, hasPooler);
        }

        private sealed class Scratch { public byte[] Buffer = []; }

        /// <summary>[rows, cols] → [cols, rows], element by element (4- or 2-byte elements), in cache-friendly blocks;
        /// into <paramref name="scratch"/>'s buffer (grown as needed) or a new array.</summary>
        private static ReadOnlyMemory<byte> Transpose(OnnxTensor t, Scratch? scratch)
        {
            int rows = (int)t.Dims[0], cols = (int)t.Dims[1];
            var src = t.Bytes().Span;
            int size = OnnxTensor.ElementSize(t.Type);
            byte[] buf;
            if (scratch is null) buf = new byte[src.Length];
            else
            {
                if (scratch.Buffer.Length < src.Length) scratch.Buffer = new byte[src.Length];
                buf = scratch.Buffer;
            }
            var dst = buf.AsSpan(0, src.Length);
            if (size == 4) Transpose(MemoryMarshal.Cast<byte, uint>(src), MemoryMarshal.Cast<byte, uint>(dst), rows, cols);
            else Transpose(MemoryMarshal.Cast<byte, ushort>(src), MemoryMarshal.Cast<byte, ushort>(dst), rows, cols);
            return buf.AsMemory(0, src.Length);
        }

        private static void Transpose<T>(ReadOnlySpan<T> src, Span<T> dst, int rows, int cols)
        {
            const int B = 32;
            for (int i0 = 0; i0 < rows; i0 += B)
                for (int j0 = 0; j0 < cols; j0 += B)
                {
                    int i1 = Math.Min(rows, i0 + B), j1 = Math.Min(cols, j0 + B);
                    for (int i = i0; i < i1; i++)
                        for (int j = j0; j < j1; j++)
                            dst[j * rows + i] = src[i * cols + j];
                }
        }
    }
}

/// <summary>The ONNX graph does not determine the architecture: the importer needs the model's config.json.</summary>
public sealed class ConfigNeededException(string message) : ManagedEmbedException(message);
