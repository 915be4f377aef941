// ONNX Runtime on one fixed batch of token ids, as both runners use it (the peer benchmark and the cold start):
// CPU EP, ORT_ENABLE_ALL, sequential, 1 inter-op thread; every token real; token_type_ids only when the graph takes them.
using Microsoft.ML.OnnxRuntime;

sealed class OrtBatch : IDisposable
{
    private static readonly string[] OutputNames = ["last_hidden_state"];
    private readonly SessionOptions _options;
    private readonly InferenceSession _session;
    private readonly OrtValue[] _values;
    private readonly string[] _names;
    private readonly RunOptions _run = new();

    /// <summary>Creates the session (the costly part, timed by the cold start) and the inputs of a [b, t] batch.</summary>
    public OrtBatch(string onnxPath, int threads, long[] ids, int b, int t)
    {
        _options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            InterOpNumThreads = 1,
            IntraOpNumThreads = threads,
        };
        _session = new InferenceSession(onnxPath, _options);
        long[] shape = [b, t];
        var ids0 = OrtValue.CreateTensorValueFromMemory(ids, shape);
        var mask = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, b * t).ToArray(), shape);
        // BERT graphs take token_type_ids; DistilBERT and MPNet graphs have no token types.
        if (_session.InputMetadata.ContainsKey("token_type_ids"))
        {
            _values = [ids0, mask, OrtValue.CreateTensorValueFromMemory(new long[b * t], shape)];
            _names = ["input_ids", "attention_mask", "token_type_ids"];
        }
        else
        {
            _values = [ids0, mask];
            _names = ["input_ids", "attention_mask"];
        }
    }

    /// <summary>One forward pass; the caller disposes the outputs (last_hidden_state first).</summary>
    public IDisposableReadOnlyCollection<OrtValue> Run() => _session.Run(_run, _names, _values, OutputNames);

    public void Dispose()
    {
        foreach (var v in _values) v.Dispose();
        _run.Dispose();
        _session.Dispose();
        _options.Dispose();
    }
}
