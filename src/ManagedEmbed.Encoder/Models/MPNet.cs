using System.Text.Json;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.SafeTensors;

namespace ManagedEmbed.Encoder.Models;

/// <summary>
/// MPNet's config.json: BERT's dimension keys (hidden_size, num_attention_heads, …; layer_norm_eps default 1e-5)
/// plus relative_attention_num_buckets (default 32). No token types.
/// </summary>
public sealed class MPNetConfig : TransformerConfig
{
    /// <summary>MPNetEmbeddings hard-codes padding_idx 1 (the &lt;pad&gt; id), whatever pad_token_id says.</summary>
    public const int PaddingIdx = 1;

    /// <inheritdoc />
    public override string ModelType => "mpnet";
    /// <summary>Rows of encoder.relative_attention_bias (relative_attention_num_buckets).</summary>
    public required int RelativeAttentionNumBuckets { get; init; }
    /// <summary>Real tokens take positions padding_idx + 1 onward.</summary>
    public override int PositionOffset => PaddingIdx + 1;

    internal static MPNetConfig FromObject(JsonElement o, string path)
    {
        string act = JsonFile.GetString(o, "hidden_act", path) ?? "gelu";
        var c = new MPNetConfig
        {
            HiddenSize = JsonFile.RequireInt(o, "hidden_size", path),
            NumAttentionHeads = JsonFile.RequireInt(o, "num_attention_heads", path),
            NumHiddenLayers = JsonFile.RequireInt(o, "num_hidden_layers", path),
            IntermediateSize = JsonFile.RequireInt(o, "intermediate_size", path),
            VocabSize = JsonFile.RequireInt(o, "vocab_size", path),
            MaxPositionEmbeddings = JsonFile.RequireInt(o, "max_position_embeddings", path),
            LayerNormEps = (float)JsonFile.GetDouble(o, "layer_norm_eps", path, 1e-5),
            HiddenAct = act,
            Activation = ParseActivation(act, "hidden_act", path),
            InitializerRange = JsonFile.GetDouble(o, "initializer_range", path, 0.02),
            RelativeAttentionNumBuckets = JsonFile.GetInt(o, "relative_attention_num_buckets", path, 32),
        };
        c.ValidateCommon(path, "hidden_size", "num_attention_heads");
        // The encoder buckets with 32 whatever the table size (HF calls compute_position_bias with its default).
        if (c.RelativeAttentionNumBuckets < MPNetModel.Buckets)
            throw new ManagedEmbedException($"'{path}': relative_attention_num_buckets {c.RelativeAttentionNumBuckets} is below the {MPNetModel.Buckets} buckets MPNet's encoder uses");
        return c;
    }
}

/// <summary>
/// Hugging Face MPNetModel without the pooler: embeddings (word + RoBERTa-style positions from padding_idx + 1, no
/// token types), then post-norm layers encoder.layer.N.attention.attn.{q,k,v,o}, attention.LayerNorm,
/// intermediate.dense, output.dense, output.LayerNorm; every layer adds the same relative position bias
/// (encoder.relative_attention_bias [buckets, heads], T5 bidirectional buckets of key − query over arange(seq))
/// after the 1/√d scaling.
/// </summary>
public sealed class MPNetModel : EncoderModel
{
    /// <summary>Buckets of the relative-position function (HF's compute_position_bias default).</summary>
    public const int Buckets = 32;
    /// <summary>Distances from here on share the last log-spaced bucket.</summary>
    public const int MaxDistance = 128;

    private readonly RelativePositionBias _bias;

    internal MPNetModel(SafeTensorsFile? file, WeightScope w, MPNetConfig c)
        : base(file, c, new EmbeddingsBlock(w.Scope("embeddings"), c, 0, PositionPolicy.AfterPadding, MPNetConfig.PaddingIdx), BuildLayers(w, c))
    {
        var table = w.Scope("encoder").Table("relative_attention_bias", c.RelativeAttentionNumBuckets, c.NumAttentionHeads);
        _bias = new RelativePositionBias(table, c.NumAttentionHeads, c.MaxSequenceLength);
        w.Optional("embeddings.position_ids", [1, c.MaxPositionEmbeddings], TensorKind.PositionIds);
        w.Scope("pooler").Optional("dense.weight", [c.HiddenSize, c.HiddenSize], TensorKind.LinearWeight);
        w.Scope("pooler").Optional("dense.bias", [c.HiddenSize], TensorKind.LinearBias);
    }

    /// <inheritdoc />
    protected override IAttentionBias? AttentionBias => _bias;

    private static readonly AttentionNames AttentionNames = new("attn.q", "attn.k", "attn.v", "attn.o", "LayerNorm");
    private static readonly FeedForwardNames FeedForwardNames = new("intermediate.dense", "output.dense", "output.LayerNorm");

    private static TransformerLayer[] BuildLayers(WeightScope w, MPNetConfig c)
    {
        var layers = new TransformerLayer[c.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            var l = w.Scope($"encoder.layer.{i}");
            layers[i] = new TransformerLayer(new SelfAttentionBlock(l.Scope("attention"), c, AttentionNames), new FeedForwardBlock(l, c, FeedForwardNames));
        }
        return layers;
    }

    /// <summary>
    /// HF's relative_position_bucket for relative_position = key − query (bidirectional T5 buckets): half the buckets
    /// per direction (n = query − key; key after query → upper half), exact below 8, then
    /// 8 + ⌊log(n/8) / log(128/8) · 8⌋ capped at 15 — computed in float32 like the PyTorch tensor expression, because
    /// n = 16, 32, 64, 128 sit exactly on bucket boundaries.
    /// </summary>
    public static int RelativePositionBucket(int relativePosition)
    {
        const int half = Buckets / 2, maxExact = half / 2;
        int n = -relativePosition;
        int ret = n < 0 ? half : 0;
        n = Math.Abs(n);
        if (n < maxExact) return ret + n;
        // torch: log(n.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact), in float32.
        float large = MathF.Log(n / (float)maxExact) / (float)Math.Log(MaxDistance / (double)maxExact) * (half - maxExact);
        return ret + Math.Min(maxExact + (int)large, half - 1);
    }

    /// <summary>
    /// The bias of every (head, key − query) distance, expanded once at load from the [buckets, heads] table, so the
    /// per-(sequence, head) hook is one add per score and allocates nothing.
    /// </summary>
    private sealed class RelativePositionBias : IAttentionBias
    {
        private readonly float[] _byDistance; // [heads, 2·maxLen − 1], index = head·width + (j − i) + maxLen − 1
        private readonly int _maxLen, _width;

        public RelativePositionBias(float[] table, int heads, int maxLen)
        {
            _maxLen = maxLen;
            _width = 2 * maxLen - 1;
            _byDistance = new float[heads * _width];
            for (int delta = -(maxLen - 1); delta <= maxLen - 1; delta++)
            {
                int bucket = RelativePositionBucket(delta);
                for (int head = 0; head < heads; head++) _byDistance[head * _width + delta + maxLen - 1] = table[bucket * heads + head];
            }
        }

        public void Apply(Span<float> scores, int len, int head, float scale)
        {
            ReadOnlySpan<float> byDistance = _byDistance.AsSpan(head * _width, _width);
            for (int i = 0; i < len; i++)
            {
                // Row i needs distances j − i for j in [0, len): a contiguous window of the per-head table.
                ReadOnlySpan<float> bias = byDistance.Slice(_maxLen - 1 - i, len);
                Span<float> row = scores.Slice(i * len, len);
                for (int j = 0; j < len; j++) row[j] = row[j] * scale + bias[j];
            }
        }
    }
}
