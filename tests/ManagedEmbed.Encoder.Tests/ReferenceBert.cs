using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Pooling;
using ManagedEmbed.Encoder.SafeTensors;

namespace ManagedEmbed.Encoder.Tests;

/// <summary>
/// A deliberately naive, independent BERT + sentence-transformers pooling in double precision, written straight from
/// the Hugging Face modules: a padded [batch, maxLen] layout with an additive key-padding mask (finfo(float32).min),
/// separate Q/K/V projections, division by sqrt(head_dim), erf/tanh GELU from their textbook definitions, and
/// pooling through the attention mask. It shares nothing with the production forward pass but the safetensors reader.
/// </summary>
internal sealed class ReferenceBert
{
    private readonly BertConfig _c;
    private readonly Dictionary<string, double[]> _w = new();
    private readonly SentenceModelConfig _cfg;

    public ReferenceBert(string modelDir)
    {
        _cfg = SentenceModelConfig.Load(modelDir);
        _c = (BertConfig)_cfg.Transformer;
        using var f = SafeTensorsFile.Open(Path.Combine(modelDir, "model.safetensors"));
        foreach (var t in f.Tensors)
            if (t.DType == SafeTensorDType.F32)
                _w[t.Name.StartsWith("bert.", StringComparison.Ordinal) ? t.Name[5..] : t.Name] = f.ReadFloat(t).Span.ToArray().Select(x => (double)x).ToArray();
    }

    /// <summary>Returns (pooled, normalized) for each sequence, computed as one padded batch.</summary>
    public (double[][] Pooled, double[][] Normalized) Encode(IReadOnlyList<int[]> seqs)
    {
        int b = seqs.Count, T = seqs.Max(s => s.Length), H = _c.HiddenSize, nh = _c.NumAttentionHeads, d = H / nh;
        var x = new double[b, T, H];
        for (int s = 0; s < b; s++)
            for (int t = 0; t < T; t++)
            {
                int id = t < seqs[s].Length ? seqs[s][t] : 0; // pad id 0, processed like HF does
                for (int i = 0; i < H; i++)
                    x[s, t, i] = W("embeddings.word_embeddings.weight")[id * H + i] + W("embeddings.token_type_embeddings.weight")[i]
                                 + W("embeddings.position_embeddings.weight")[t * H + i];
            }
        LayerNorm(x, "embeddings.LayerNorm");
        double maskValue = float.MinValue;
        for (int l = 0; l < _c.NumHiddenLayers; l++)
        {
            string p = $"encoder.layer.{l}.";
            var q = Linear(x, p + "attention.self.query");
            var k = Linear(x, p + "attention.self.key");
            var v = Linear(x, p + "attention.self.value");
            var ctx = new double[b, T, H];
            for (int s = 0; s < b; s++)
                for (int h = 0; h < nh; h++)
                    for (int i = 0; i < T; i++)
                    {
                        var scores = new double[T];
                        for (int j = 0; j < T; j++)
                        {
                            double dot = 0;
                            for (int e = 0; e < d; e++) dot += q[s, i, h * d + e] * k[s, j, h * d + e];
                            scores[j] = dot / Math.Sqrt(d) + (j < seqs[s].Length ? 0 : maskValue);
                        }
                        double max = scores.Max(), sum = 0;
                        for (int j = 0; j < T; j++) { scores[j] = Math.Exp(scores[j] - max); sum += scores[j]; }
                        for (int e = 0; e < d; e++)
                        {
                            double acc = 0;
                            for (int j = 0; j < T; j++) acc += scores[j] / sum * v[s, j, h * d + e];
                            ctx[s, i, h * d + e] = acc;
                        }
                    }
            var attn = Linear(ctx, p + "attention.output.dense");
            Add(attn, x);
            LayerNorm(attn, p + "attention.output.LayerNorm");
            x = attn;
            var inter = Linear(x, p + "intermediate.dense");
            Apply(inter, _c.HiddenAct);
            var o = Linear(inter, p + "output.dense");
            Add(o, x);
            LayerNorm(o, p + "output.LayerNorm");
            x = o;
        }
        var pooled = new double[b][];
        var normalized = new double[b][];
        for (int s = 0; s < b; s++)
        {
            var parts = new List<double>();
            int len = seqs[s].Length;
            if (_cfg.Pooling.HasFlag(PoolingMode.Cls)) for (int i = 0; i < H; i++) parts.Add(x[s, 0, i]);
            if (_cfg.Pooling.HasFlag(PoolingMode.Max))
                for (int i = 0; i < H; i++)
                {
                    double m = double.NegativeInfinity;
                    for (int t = 0; t < T; t++) m = Math.Max(m, t < len ? x[s, t, i] : -1e9);
                    parts.Add(m);
                }
            if (_cfg.Pooling.HasFlag(PoolingMode.Mean))
                for (int i = 0; i < H; i++) { double sum = 0; for (int t = 0; t < T; t++) sum += (t < len ? 1 : 0) * x[s, t, i]; parts.Add(sum / len); }
            if (_cfg.Pooling.HasFlag(PoolingMode.MeanSqrtLen))
                for (int i = 0; i < H; i++) { double sum = 0; for (int t = 0; t < T; t++) sum += (t < len ? 1 : 0) * x[s, t, i]; parts.Add(sum / Math.Sqrt(len)); }
            pooled[s] = parts.ToArray();
            double norm = Math.Sqrt(pooled[s].Sum(z => z * z));
            normalized[s] = pooled[s].Select(z => z / Math.Max(norm, 1e-12)).ToArray();
        }
        return (pooled, normalized);
    }

    private double[] W(string name) => _w[name];

    private double[,,] Linear(double[,,] x, string prefix)
    {
        var w = W(prefix + ".weight");
        var bias = W(prefix + ".bias");
        int b = x.GetLength(0), T = x.GetLength(1), inF = x.GetLength(2), outF = bias.Length;
        var y = new double[b, T, outF];
        for (int s = 0; s < b; s++)
            for (int t = 0; t < T; t++)
                for (int o = 0; o < outF; o++)
                {
                    double acc = bias[o];
                    for (int i = 0; i < inF; i++) acc += x[s, t, i] * w[o * inF + i];
                    y[s, t, o] = acc;
                }
        return y;
    }

    private void LayerNorm(double[,,] x, string prefix)
    {
        var g = W(prefix + ".weight");
        var beta = W(prefix + ".bias");
        int b = x.GetLength(0), T = x.GetLength(1), H = x.GetLength(2);
        for (int s = 0; s < b; s++)
            for (int t = 0; t < T; t++)
            {
                double mean = 0, var = 0;
                for (int i = 0; i < H; i++) mean += x[s, t, i];
                mean /= H;
                for (int i = 0; i < H; i++) var += (x[s, t, i] - mean) * (x[s, t, i] - mean);
                var /= H;
                for (int i = 0; i < H; i++) x[s, t, i] = (x[s, t, i] - mean) / Math.Sqrt(var + _c.LayerNormEps) * g[i] + beta[i];
            }
    }

    private static void Add(double[,,] y, double[,,] x)
    {
        for (int s = 0; s < y.GetLength(0); s++)
            for (int t = 0; t < y.GetLength(1); t++)
                for (int i = 0; i < y.GetLength(2); i++) y[s, t, i] += x[s, t, i];
    }

    private static void Apply(double[,,] x, string act)
    {
        for (int s = 0; s < x.GetLength(0); s++)
            for (int t = 0; t < x.GetLength(1); t++)
                for (int i = 0; i < x.GetLength(2); i++)
                {
                    double z = x[s, t, i];
                    x[s, t, i] = act switch
                    {
                        "gelu" => 0.5 * z * (1 + Erf(z / Math.Sqrt(2))),
                        "gelu_new" or "gelu_pytorch_tanh" => 0.5 * z * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (z + 0.044715 * z * z * z))),
                        "relu" => Math.Max(0, z),
                        _ => throw new InvalidOperationException(act),
                    };
                }
    }

    /// <summary>erf by its Maclaurin series (|z| small) or continued fraction of erfc — independent of the production Erf.</summary>
    private static double Erf(double z)
    {
        if (Math.Abs(z) < 3)
        {
            double sum = 0, term = z;
            for (int n = 0; n < 200; n++)
            {
                sum += term / (2 * n + 1);
                term *= -z * z / (n + 1);
                if (Math.Abs(term) < 1e-18) break;
            }
            return 2 / Math.Sqrt(Math.PI) * sum;
        }
        // erfc(z) = exp(-z²)/(z√π) · 1/(1 + 1/(2z²)/(1 + 2/(2z²)/(1 + ...))) via Lentz-free backward evaluation.
        double az = Math.Abs(z), f = 0;
        for (int n = 60; n >= 1; n--) f = n / 2.0 / (az + f);
        double erfc = Math.Exp(-az * az) / Math.Sqrt(Math.PI) / (az + f);
        return z > 0 ? 1 - erfc : erfc - 1;
    }
}
