using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Bert;

/// <summary>
/// BertAttention = BertSelfAttention + BertSelfOutput: multi-head self-attention over each sequence's own tokens,
/// then the output dense layer, the residual add and LayerNorm. Query, key and value weights are fused into one
/// packed [3·hidden, hidden] matrix so one GEMM projects all three.
/// </summary>
public sealed class BertSelfAttention
{
    private readonly PackedMatrix _qkv;
    private readonly float[] _qkvBias;
    private readonly PackedMatrix _outDense;
    private readonly float[] _outBias, _lnGamma, _lnBeta;
    private readonly int _hidden, _heads, _headDim;
    private readonly float _eps, _scale;

    internal BertSelfAttention(BertWeights w, BertConfig c, int layer)
    {
        string p = $"encoder.layer.{layer}.attention.";
        int h = c.HiddenSize;
        _qkvBias = new float[3 * h];
        string[] parts = ["query", "key", "value"];
        for (int i = 0; i < 3; i++) w.GetArray(p + $"self.{parts[i]}.bias").CopyTo(_qkvBias.AsSpan(i * h, h));
        _qkv = w.Pack(p + "self.query.weight", p + "self.key.weight", p + "self.value.weight");
        _outDense = w.Pack(p + "output.dense.weight");
        _outBias = w.GetArray(p + "output.dense.bias");
        _lnGamma = w.GetArray(p + "output.LayerNorm.weight");
        _lnBeta = w.GetArray(p + "output.LayerNorm.bias");
        _hidden = h;
        _heads = c.NumAttentionHeads;
        _headDim = c.HeadDim;
        _eps = c.LayerNormEps;
        // Scores are scaled by 1/sqrt(head_dim) before the softmax, as in Hugging Face.
        _scale = (float)(1.0 / Math.Sqrt(_headDim));
    }

    /// <summary>hidden ← LayerNorm(dense(attention(hidden)) + hidden), in place, on the calling thread.</summary>
    public void Forward(TokenBatch batch, BertWorkspace ws) => Forward(batch, ws, null);

    /// <summary>hidden ← LayerNorm(dense(attention(hidden)) + hidden), in place, split across <paramref name="pool"/>.</summary>
    public void Forward(TokenBatch batch, BertWorkspace ws, KernelThreadPool? pool)
    {
        int tokens = batch.TotalTokens, h = _hidden, ld = 3 * h;
        Span<float> hidden = ws.Hidden.AsSpan(0, tokens * h);
        Span<float> qkv = ws.Qkv.AsSpan(0, tokens * ld);

        // 1. Q | K | V for every token: [tokens, 3h].
        Gemm.Linear(hidden, tokens, _qkv, _qkvBias, qkv, Activation.None, default, pool);

        // 2. Per (sequence, head), in parallel: P = softmax(Q Kᵀ · scale) over the sequence's own tokens (the batch
        //    is packed without padding, so the cost follows each real length); context = P V.
        var work = ws.Attention;
        work.Set(batch, ws, _heads, _headDim, h, _scale);
        int chunks = batch.Count * _heads;
        (pool ?? KernelThreadPool.Serial).Run(work, chunks);
        work.Clear();

        // 3. next = (context·Wᵀ + b) + hidden, the residual added in the GEMM epilogue in Hugging Face's order (the
        //    dense output is complete before the residual joins it); then LayerNorm; next becomes the hidden states.
        Span<float> next = ws.Next.AsSpan(0, tokens * h);
        Gemm.Linear(ws.Context.AsSpan(0, tokens * h), tokens, _outDense, _outBias, next, Activation.None, hidden, pool);
        RowParallel.LayerNorm(ws.Next, tokens, _lnGamma, _lnBeta, _eps, ws, pool);
        ws.SwapHidden();
    }
}

/// <summary>Attention for one (sequence, head) per chunk; scores live in a per-thread buffer of maxLen² floats.</summary>
internal sealed class AttentionWork : KernelWork
{
    [ThreadStatic] private static float[]? t_scores;

    private TokenBatch? _batch;
    private float[] _qkv = [], _context = [];
    private int _heads, _d, _h;
    private float _scale;

    internal void Set(TokenBatch batch, BertWorkspace ws, int heads, int headDim, int hidden, float scale)
    {
        _batch = batch; _qkv = ws.Qkv; _context = ws.Context; _heads = heads; _d = headDim; _h = hidden; _scale = scale;
    }

    internal void Clear() { _batch = null; _qkv = _context = []; }

    public override void Execute(int chunk)
    {
        var batch = _batch!;
        int s = chunk / _heads, head = chunk % _heads;
        int offset = batch.Offsets[s], len = batch.Lengths[s], h = _h, d = _d, ld = 3 * h;
        var scoresBuf = t_scores;
        if (scoresBuf is null || scoresBuf.Length < len * len) t_scores = scoresBuf = new float[Math.Max(len * len, 64 * 64)];
        Span<float> scores = scoresBuf.AsSpan(0, len * len);
        int q = offset * ld + head * d, k = q + h, v = q + 2 * h;
        Gemm.MatMulTransB(_qkv.AsSpan(q), ld, _qkv.AsSpan(k), ld, scores, len, len, len, d);
        for (int i = 0; i < len; i++) Normalization.Softmax(scores.Slice(i * len, len), _scale);
        Gemm.MatMul(scores, len, _qkv.AsSpan(v), ld, _context.AsSpan(offset * h + head * d), h, len, d, len);
    }
}

/// <summary>Row-parallel LayerNorm (rows split in chunks across the pool).</summary>
internal sealed class RowParallel : KernelWork
{
    private float[] _x = [], _gamma = [], _beta = [];
    private int _rows, _rowsPerChunk, _width;
    private float _eps;

    internal static void LayerNorm(float[] x, int rows, float[] gamma, float[] beta, float eps, BertWorkspace ws, KernelThreadPool? pool)
    {
        int width = gamma.Length;
        if (pool is null || pool.Threads == 1 || rows < 16)
        {
            Normalization.LayerNorm(x.AsSpan(0, rows * width), gamma, beta, eps);
            return;
        }
        var w = ws.LayerNormWork;
        w._x = x; w._gamma = gamma; w._beta = beta; w._eps = eps; w._rows = rows; w._width = width;
        int chunks = Math.Min(rows / 8, 4 * pool.Threads);
        w._rowsPerChunk = (rows + chunks - 1) / chunks;
        pool.Run(w, (rows + w._rowsPerChunk - 1) / w._rowsPerChunk);
        w._x = w._gamma = w._beta = [];
    }

    public override void Execute(int chunk)
    {
        int r0 = chunk * _rowsPerChunk, r1 = Math.Min(_rows, r0 + _rowsPerChunk);
        Normalization.LayerNorm(_x.AsSpan(r0 * _width, (r1 - r0) * _width), _gamma, _beta, _eps);
    }
}
