using System.Buffers.Binary;
using System.Text.Json;

namespace ManagedEmbed.Encoder.Tests;

/// <summary>
/// A deliberately naive, independent BERT + sentence-transformers pooling in double precision, written straight from
/// the Hugging Face modules: a padded [batch, maxLen] layout with an additive key-padding mask (finfo(float32).min),
/// separate Q/K/V projections, division by sqrt(head_dim), erf/tanh GELU from their textbook definitions, and
/// pooling through the attention mask. It shares nothing with the production code: it reads config.json,
/// modules.json, the pooling config and model.safetensors itself (System.Text.Json and the safetensors layout: an
/// 8-byte little-endian header length, a JSON header of name → dtype/shape/data_offsets, then the raw data), so a
/// parsing bug in production cannot cancel out here.
/// </summary>
internal sealed class ReferenceBert
{
    private readonly Dictionary<string, double[]> _w = new();
    private readonly int _hidden, _heads, _layers;
    private readonly double _eps;
    private readonly string _act;
    private readonly bool _cls, _mean, _max, _meanSqrt;

    public ReferenceBert(string modelDir)
    {
        using (var cfg = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(modelDir, "config.json"))))
        {
            var c = cfg.RootElement;
            _hidden = c.GetProperty("hidden_size").GetInt32();
            _heads = c.GetProperty("num_attention_heads").GetInt32();
            _layers = c.GetProperty("num_hidden_layers").GetInt32();
            _act = c.TryGetProperty("hidden_act", out var a) ? a.GetString()! : "gelu";
            _eps = c.TryGetProperty("layer_norm_eps", out var e) ? e.GetDouble() : 1e-12;
        }
        string poolingDir = "1_Pooling";
        string modules = Path.Combine(modelDir, "modules.json");
        if (File.Exists(modules))
        {
            using var m = JsonDocument.Parse(File.ReadAllBytes(modules));
            foreach (var mod in m.RootElement.EnumerateArray())
                if (mod.GetProperty("type").GetString()!.EndsWith(".Pooling", StringComparison.Ordinal)) poolingDir = mod.GetProperty("path").GetString()!;
        }
        string poolingConfig = Path.Combine(modelDir, poolingDir, "config.json");
        if (File.Exists(poolingConfig))
        {
            using var p = JsonDocument.Parse(File.ReadAllBytes(poolingConfig));
            bool Flag(string name) => p.RootElement.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;
            (_cls, _mean, _max, _meanSqrt) = (Flag("pooling_mode_cls_token"), Flag("pooling_mode_mean_tokens"), Flag("pooling_mode_max_tokens"), Flag("pooling_mode_mean_sqrt_len_tokens"));
        }
        else _mean = true; // sentence-transformers' default for a plain transformer directory

        byte[] st = File.ReadAllBytes(Path.Combine(modelDir, "model.safetensors"));
        int headerLength = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(st));
        using var header = JsonDocument.Parse(st.AsMemory(8, headerLength));
        foreach (var t in header.RootElement.EnumerateObject())
        {
            if (t.Name == "__metadata__" || t.Value.GetProperty("dtype").GetString() != "F32") continue;
            var off = t.Value.GetProperty("data_offsets");
            int begin = 8 + headerLength + checked((int)off[0].GetInt64()), end = 8 + headerLength + checked((int)off[1].GetInt64());
            var w = new double[(end - begin) / 4];
            for (int i = 0; i < w.Length; i++) w[i] = BinaryPrimitives.ReadSingleLittleEndian(st.AsSpan(begin + 4 * i));
            _w[t.Name.StartsWith("bert.", StringComparison.Ordinal) ? t.Name[5..] : t.Name] = w;
        }
    }

    /// <summary>Returns (pooled, normalized) for each sequence, computed as one padded batch.</summary>
    public (double[][] Pooled, double[][] Normalized) Encode(IReadOnlyList<int[]> seqs)
    {
        int b = seqs.Count, T = seqs.Max(s => s.Length), H = _hidden, nh = _heads, d = H / nh;
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
        for (int l = 0; l < _layers; l++)
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
            Apply(inter, _act);
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
            if (_cls) for (int i = 0; i < H; i++) parts.Add(x[s, 0, i]);
            if (_max)
                for (int i = 0; i < H; i++)
                {
                    double m = double.NegativeInfinity;
                    for (int t = 0; t < T; t++) m = Math.Max(m, t < len ? x[s, t, i] : -1e9);
                    parts.Add(m);
                }
            if (_mean)
                for (int i = 0; i < H; i++) { double sum = 0; for (int t = 0; t < T; t++) sum += (t < len ? 1 : 0) * x[s, t, i]; parts.Add(sum / len); }
            if (_meanSqrt)
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
                for (int i = 0; i < H; i++) x[s, t, i] = (x[s, t, i] - mean) / Math.Sqrt(var + _eps) * g[i] + beta[i];
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
