namespace ManagedEmbed.Encoder.Pooling;

/// <summary>
/// Sentence-transformers Pooling over each sequence's real tokens. Output width = hidden × number of modes, the modes
/// concatenated in the order cls, max, mean, mean_sqrt_len.
/// </summary>
public static class SentencePooling
{
    /// <summary>Output width for <paramref name="mode"/> over hidden states of width <paramref name="hidden"/>.</summary>
    public static int OutputDimension(PoolingMode mode, int hidden) => hidden * PoolingModes.Count(mode);

    /// <summary>
    /// Pools the <paramref name="length"/> rows of <paramref name="tokens"/> (row-major [length, hidden]) into
    /// <paramref name="output"/>.
    /// </summary>
    public static void Pool(ReadOnlySpan<float> tokens, int length, int hidden, PoolingMode mode, Span<float> output)
    {
        if (length <= 0) throw new ArgumentOutOfRangeException(nameof(length), "pooling needs at least one token");
        if (tokens.Length < length * hidden) throw new ArgumentException("tokens is smaller than length × hidden");
        if (output.Length != OutputDimension(mode, hidden)) throw new ArgumentException("output width does not match the pooling modes");
        int o = 0;
        foreach (var m in PoolingModes.Order)
        {
            if (!mode.HasFlag(m)) continue;
            var dst = output.Slice(o, hidden);
            o += hidden;
            switch (m)
            {
                case PoolingMode.Cls:
                    tokens[..hidden].CopyTo(dst);
                    break;
                case PoolingMode.Max:
                    tokens[..hidden].CopyTo(dst);
                    for (int t = 1; t < length; t++)
                    {
                        var row = tokens.Slice(t * hidden, hidden);
                        for (int i = 0; i < hidden; i++) if (row[i] > dst[i]) dst[i] = row[i];
                    }
                    break;
                case PoolingMode.Mean:
                case PoolingMode.MeanSqrtLen:
                {
                    // Sum in double, then one rounding: within an ulp of PyTorch's float sum / count.
                    double divisor = m == PoolingMode.Mean ? length : Math.Sqrt(length);
                    for (int i = 0; i < hidden; i++)
                    {
                        double sum = 0;
                        for (int t = 0; t < length; t++) sum += tokens[t * hidden + i];
                        dst[i] = (float)(sum / divisor);
                    }
                    break;
                }
            }
        }
    }
}
