using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Models;

/// <summary>Where the position ids of a sequence start.</summary>
public enum PositionPolicy
{
    /// <summary>BERT / DistilBERT: token t gets position t.</summary>
    FromZero,
    /// <summary>
    /// RoBERTa / MPNet (create_position_ids_from_input_ids): real tokens count up from padding_idx + 1; a token equal
    /// to the padding id gets padding_idx itself and does not advance the count.
    /// </summary>
    AfterPadding,
}

/// <summary>
/// Embeddings: word + (token type 0, when the model has token types) + position, then LayerNorm (dropout is the
/// identity at inference). The word table stays in the file when F32 (see <see cref="EmbeddingRows"/>); the small
/// position and token-type tables are arrays.
/// </summary>
public sealed class EmbeddingsBlock
{
    private readonly EmbeddingRows _word;
    private readonly float[] _position;
    private readonly float[]? _tokenType;
    private readonly float[] _lnGamma, _lnBeta;
    private readonly float _eps;
    private readonly int _hidden, _vocab, _maxPositions, _paddingIdx, _typeVocab;
    private readonly PositionPolicy _policy;

    /// <summary>
    /// Requests word_embeddings, position_embeddings, token_type_embeddings (when <paramref name="typeVocabSize"/> &gt; 0)
    /// and LayerNorm from <paramref name="w"/>.
    /// </summary>
    public EmbeddingsBlock(WeightScope w, TransformerConfig c, int typeVocabSize, PositionPolicy policy, int paddingIdx = 0)
    {
        _hidden = c.HiddenSize;
        _vocab = c.VocabSize;
        _maxPositions = c.MaxPositionEmbeddings;
        _word = w.Rows("word_embeddings", c.VocabSize, c.HiddenSize);
        _position = w.Table("position_embeddings", c.MaxPositionEmbeddings, c.HiddenSize);
        if (typeVocabSize > 0) _tokenType = w.Table("token_type_embeddings", typeVocabSize, c.HiddenSize);
        _typeVocab = typeVocabSize;
        (_lnGamma, _lnBeta) = w.LayerNorm("LayerNorm", c.HiddenSize);
        _eps = c.LayerNormEps;
        _policy = policy;
        _paddingIdx = paddingIdx;
    }

    /// <summary>True when word-embedding rows are read from the file per token (F32 weights).</summary>
    public bool GathersWordRowsFromFile => _word.GathersFromFile;

    /// <summary>
    /// Writes the embedded, normalized tokens of <paramref name="batch"/> into <paramref name="hidden"/> [tokens, hidden];
    /// the batch's token types pick rows of the token-type table (a model without one accepts only type 0).
    /// </summary>
    public void Forward(TokenBatch batch, Span<float> hidden)
    {
        int h = _hidden;
        int[]? types = batch.TypeIds;
        for (int s = 0; s < batch.Count; s++)
        {
            int offset = batch.Offsets[s], length = batch.Lengths[s];
            int position = _policy == PositionPolicy.AfterPadding ? _paddingIdx : -1;
            for (int t = 0; t < length; t++)
            {
                int id = batch.Ids[offset + t];
                if ((uint)id >= (uint)_vocab) throw new ManagedEmbedException($"token id {id} is outside the vocabulary [0, {_vocab})");
                int pos = _policy == PositionPolicy.FromZero ? t : (id == _paddingIdx ? _paddingIdx : ++position);
                if (pos >= _maxPositions) throw new ManagedEmbedException($"sequence of {length} tokens exceeds max_position_embeddings {_maxPositions}");
                var row = hidden.Slice((offset + t) * h, h);
                // The word row lands in the output row itself: no scratch, nothing allocated.
                _word.CopyRow(id, row);
                ReadOnlySpan<float> p = _position.AsSpan(pos * h, h);
                if (_tokenType is not null)
                {
                    // Hugging Face's association: (inputs_embeds + token_type_embeddings) + position_embeddings.
                    int type = types is null ? 0 : types[offset + t];
                    if ((uint)type >= (uint)_typeVocab) throw new ManagedEmbedException($"token type {type} is outside type_vocab_size {_typeVocab}");
                    ReadOnlySpan<float> tt = _tokenType.AsSpan(type * h, h);
                    for (int i = 0; i < h; i++) row[i] = (row[i] + tt[i]) + p[i];
                }
                else
                {
                    if (types is not null && types[offset + t] != 0) throw new ManagedEmbedException($"token type {types[offset + t]} given to a model without token types");
                    for (int i = 0; i < h; i++) row[i] += p[i];
                }
            }
        }
        Normalization.LayerNorm(hidden[..(batch.TotalTokens * h)], _lnGamma, _lnBeta, _eps);
    }
}

/// <summary>
/// An additive attention bias per head, applied between QKᵀ and the softmax (MPNet's relative position bias). The
/// hook receives the raw scores of one (sequence, head) and must leave scale·score + bias in place.
/// </summary>
public interface IAttentionBias
{
    /// <summary>scores[i·len + j] ← scale·scores[i·len + j] + bias(head, i, j) for a sequence of <paramref name="len"/> tokens.</summary>
    void Apply(Span<float> scores, int len, int head, float scale);
}

/// <summary>Names of an attention block's parameters inside its scope.</summary>
/// <param name="Query">Query projection.</param>
/// <param name="Key">Key projection.</param>
/// <param name="Value">Value projection.</param>
/// <param name="Output">Output projection.</param>
/// <param name="LayerNorm">The post-residual LayerNorm.</param>
public sealed record AttentionNames(string Query, string Key, string Value, string Output, string LayerNorm);

/// <summary>
/// Post-norm multi-head self-attention: LayerNorm(Wₒ·attention(x) + bₒ + x). Query, key and value weights are fused
/// into one [3·hidden, hidden] weight (float or int8, see <see cref="LinearWeights"/>) so one GEMM projects all three. Attention of each (sequence, head) runs
/// over the sequence's own tokens only, with an optional additive bias per head between QKᵀ and the softmax.
/// </summary>
public sealed class SelfAttentionBlock
{
    private readonly LinearWeights _qkv, _outDense;
    private readonly float[] _qkvBias, _outBias, _lnGamma, _lnBeta;
    private readonly int _hidden, _heads, _headDim;
    private readonly float _eps, _scale;

    /// <summary>Requests the block's parameters from <paramref name="w"/> under <paramref name="names"/>.</summary>
    public SelfAttentionBlock(WeightScope w, TransformerConfig c, AttentionNames names)
    {
        int h = c.HiddenSize;
        (_qkv, _qkvBias) = w.FusedLinear([names.Query, names.Key, names.Value], h, h);
        (_outDense, _outBias) = w.Linear(names.Output, h, h);
        (_lnGamma, _lnBeta) = w.LayerNorm(names.LayerNorm, h);
        _hidden = h;
        _heads = c.NumAttentionHeads;
        _headDim = c.HeadDim;
        _eps = c.LayerNormEps;
        // Scores are scaled by 1/sqrt(head_dim) before the softmax, as in Hugging Face.
        _scale = (float)(1.0 / Math.Sqrt(_headDim));
    }

    /// <summary>
    /// Tokens per group of whole sequences that runs the block from Q | K | V to LayerNorm before the next group, on
    /// one thread (a longer sequence is a group of its own): the group's Q | K | V (0.6 MB for MiniLM) and context are
    /// still in L2 when attention and the output projection read them, and those buffers are one group's, not the
    /// batch's. Measured on the split pass (one thread per group of 512 tokens), real MiniLM, in-process A/B: 1.0-1.4%
    /// faster than the whole batch kernel by kernel; 64 and 256 level with 128. With several threads on one batch the
    /// batch stays one group (a group per kernel split would add joins).
    /// </summary>
    public const int GroupTokens = 128;

    /// <summary>hidden ← LayerNorm(dense(attention(hidden)) + hidden), in place, split across <paramref name="pool"/> (null = calling thread).</summary>
    public void Forward(TokenBatch batch, EncoderWorkspace ws, KernelThreadPool? pool, IAttentionBias? bias = null)
    {
        int h = _hidden, ld = 3 * h;
        Span<float> hidden = ws.Hidden.AsSpan(0, batch.TotalTokens * h);
        int groupTokens = pool is null || pool.Threads == 1 ? GroupTokens : int.MaxValue;
        var work = ws.Attention;
        for (int s0 = 0; s0 < batch.Count;)
        {
            int s1 = s0, rows = 0;
            while (s1 < batch.Count && (rows == 0 || rows + batch.Lengths[s1] <= groupTokens)) rows += batch.Lengths[s1++];
            int r0 = batch.Offsets[s0];
            ws.EnsureAttention(rows, h);
            Span<float> x = hidden.Slice(r0 * h, rows * h), context = ws.Context.AsSpan(0, rows * h);

            // 1. Q | K | V for the group's tokens: [rows, 3h].
            _qkv.Forward(x, rows, _qkvBias, ws.Qkv.AsSpan(0, rows * ld), Activation.None, default, pool);

            // 2. Per (sequence, head), in parallel: P = softmax(Q Kᵀ · scale [+ bias]) over the sequence's own tokens
            //    (the batch is packed without padding, so the cost follows each real length); context = P V.
            work.Set(batch, s0, r0, ws, _heads, _headDim, h, _scale, bias);
            (pool ?? KernelThreadPool.Serial).Run(work, (s1 - s0) * _heads);

            // 3. next = (context·Wᵀ + b) + hidden, the residual added in the GEMM epilogue in Hugging Face's order (the
            //    dense output is complete before the residual joins it); then LayerNorm.
            _outDense.Forward(context, rows, _outBias, ws.Next.AsSpan(r0 * h, rows * h), Activation.None, x, pool);
            RowParallel.LayerNorm(ws.Next, r0, rows, _lnGamma, _lnBeta, _eps, ws, pool);
            s0 = s1;
        }
        work.Clear();
        // next becomes the hidden states.
        ws.SwapHidden();
    }
}

/// <summary>Names of a feed-forward block's parameters inside its scope.</summary>
/// <param name="In">First projection (hidden → intermediate).</param>
/// <param name="Out">Second projection (intermediate → hidden).</param>
/// <param name="LayerNorm">The post-residual LayerNorm.</param>
public sealed record FeedForwardNames(string In, string Out, string LayerNorm);

/// <summary>
/// Post-norm feed-forward: LayerNorm(W₂·act(W₁x + b₁) + b₂ + x). The activation (gelu erf form, gelu tanh form,
/// relu) runs in the first GEMM's epilogue, the residual in the second's.
/// </summary>
public sealed class FeedForwardBlock
{
    private readonly LinearWeights _in, _out;
    private readonly float[] _inBias, _outBias, _lnGamma, _lnBeta;
    private readonly Activation _activation;
    private readonly int _hidden, _ff;
    private readonly float _eps;

    /// <summary>Requests the block's parameters from <paramref name="w"/> under <paramref name="names"/>.</summary>
    public FeedForwardBlock(WeightScope w, TransformerConfig c, FeedForwardNames names)
    {
        _hidden = c.HiddenSize;
        _ff = c.IntermediateSize;
        (_in, _inBias) = w.Linear(names.In, _ff, _hidden);
        (_out, _outBias) = w.Linear(names.Out, _hidden, _ff);
        (_lnGamma, _lnBeta) = w.LayerNorm(names.LayerNorm, _hidden);
        _activation = c.Activation;
        _eps = c.LayerNormEps;
    }

    /// <summary>hidden ← LayerNorm(FFN(hidden) + hidden), in place, split across <paramref name="pool"/> (null = calling thread).</summary>
    public void Forward(TokenBatch batch, EncoderWorkspace ws, KernelThreadPool? pool)
    {
        int tokens = batch.TotalTokens, h = _hidden;
        Span<float> hidden = ws.Hidden.AsSpan(0, tokens * h);
        Span<float> next = ws.Next.AsSpan(0, tokens * h);
        // Rows go through both GEMMs in blocks of FeedForwardRows, so the [rows, intermediate] activations stay small
        // (cache-resident, and a bounded workspace however large the batch).
        for (int r0 = 0; r0 < tokens; r0 += EncoderWorkspace.FeedForwardRows)
        {
            int rows = Math.Min(EncoderWorkspace.FeedForwardRows, tokens - r0);
            Span<float> block = hidden.Slice(r0 * h, rows * h);
            Span<float> intermediate = ws.Intermediate.AsSpan(0, rows * _ff);
            _in.Forward(block, rows, _inBias, intermediate, _activation, default, pool);
            // The residual joins in the GEMM epilogue after the dense output is complete, Hugging Face's rounding
            // order (an in-place residual would accumulate the product onto it and measured 10x the parity error).
            _out.Forward(intermediate, rows, _outBias, next.Slice(r0 * h, rows * h), Activation.None, block, pool);
        }
        RowParallel.LayerNorm(ws.Next, 0, tokens, _lnGamma, _lnBeta, _eps, ws, pool);
        ws.SwapHidden();
    }
}

/// <summary>One post-norm transformer layer: self-attention block, then feed-forward block.</summary>
public sealed class TransformerLayer
{
    /// <summary>The attention block.</summary>
    public SelfAttentionBlock Attention { get; }
    /// <summary>The feed-forward block.</summary>
    public FeedForwardBlock FeedForward { get; }

    /// <summary>Composes a layer from its two blocks.</summary>
    public TransformerLayer(SelfAttentionBlock attention, FeedForwardBlock feedForward)
    {
        Attention = attention;
        FeedForward = feedForward;
    }

    /// <summary>Transforms the hidden states in place.</summary>
    public void Forward(TokenBatch batch, EncoderWorkspace ws, KernelThreadPool? pool, IAttentionBias? bias = null)
    {
        Attention.Forward(batch, ws, pool, bias);
        FeedForward.Forward(batch, ws, pool);
    }
}

/// <summary>
/// Attention for one (sequence, head) per chunk, by <see cref="Attention"/> (fused, scores in L1); with a bias hook the
/// scores live in a per-thread buffer of maxLen² floats.
/// </summary>
internal sealed class AttentionWork : KernelWork
{
    [ThreadStatic] private static float[]? t_scores;

    private TokenBatch? _batch;
    private float[] _qkv = [], _context = [];
    private int _heads, _d, _h, _firstSeq, _firstRow;
    private float _scale;
    private IAttentionBias? _bias;

    /// <summary>Chunks cover the sequences from <paramref name="firstSeq"/> on, whose rows in ws.Qkv and ws.Context start at row 0 (token <paramref name="firstRow"/> of the batch).</summary>
    internal void Set(TokenBatch batch, int firstSeq, int firstRow, EncoderWorkspace ws, int heads, int headDim, int hidden, float scale, IAttentionBias? bias)
    {
        _batch = batch; _firstSeq = firstSeq; _firstRow = firstRow; _qkv = ws.Qkv; _context = ws.Context; _heads = heads; _d = headDim; _h = hidden; _scale = scale; _bias = bias;
    }

    internal void Clear() { _batch = null; _qkv = _context = []; _bias = null; }

    public override void Execute(int chunk)
    {
        var batch = _batch!;
        int s = _firstSeq + chunk / _heads, head = chunk % _heads;
        int row = batch.Offsets[s] - _firstRow, len = batch.Lengths[s], h = _h, d = _d, ld = 3 * h;
        int q = row * ld + head * d, k = q + h, v = q + 2 * h;
        Span<float> context = _context.AsSpan(row * h + head * d);
        if (_bias is null)
        {
            Attention.Forward(_qkv.AsSpan(q), ld, _qkv.AsSpan(k), ld, _qkv.AsSpan(v), ld, context, h, len, d, _scale);
            return;
        }
        // The hook sees the whole score matrix: scores become scale·QKᵀ + bias, then a plain softmax (HF adds the bias
        // after the scaling).
        var scoresBuf = t_scores;
        if (scoresBuf is null || scoresBuf.Length < len * len) t_scores = scoresBuf = new float[Math.Max(len * len, 64 * 64)];
        Span<float> scores = scoresBuf.AsSpan(0, len * len);
        Attention.Scores(_qkv.AsSpan(q), ld, _qkv.AsSpan(k), ld, scores, len, len, d);
        _bias.Apply(scores, len, head, _scale);
        Attention.Softmax(scores, len, len, len, 1f);
        Attention.Context(scores, len, _qkv.AsSpan(v), ld, context, h, len, d);
    }
}

/// <summary>Row-parallel LayerNorm (rows split in chunks across the pool).</summary>
internal sealed class RowParallel : KernelWork
{
    private float[] _x = [], _gamma = [], _beta = [];
    private int _row0, _rows, _rowsPerChunk, _width;
    private float _eps;

    /// <summary>LayerNorm of rows [<paramref name="row0"/>, row0 + <paramref name="rows"/>) of <paramref name="x"/>, in place.</summary>
    internal static void LayerNorm(float[] x, int row0, int rows, float[] gamma, float[] beta, float eps, EncoderWorkspace ws, KernelThreadPool? pool)
    {
        int width = gamma.Length;
        if (pool is null || pool.Threads == 1 || rows < 16)
        {
            Normalization.LayerNorm(x.AsSpan(row0 * width, rows * width), gamma, beta, eps);
            return;
        }
        var w = ws.LayerNormWork;
        w._x = x; w._gamma = gamma; w._beta = beta; w._eps = eps; w._row0 = row0; w._rows = rows; w._width = width;
        int chunks = Math.Min(rows / 8, 4 * pool.Threads);
        w._rowsPerChunk = (rows + chunks - 1) / chunks;
        pool.Run(w, (rows + w._rowsPerChunk - 1) / w._rowsPerChunk);
        w._x = w._gamma = w._beta = [];
    }

    public override void Execute(int chunk)
    {
        int r0 = chunk * _rowsPerChunk, r1 = Math.Min(_rows, r0 + _rowsPerChunk);
        Normalization.LayerNorm(_x.AsSpan((_row0 + r0) * _width, (r1 - r0) * _width), _gamma, _beta, _eps);
    }
}
