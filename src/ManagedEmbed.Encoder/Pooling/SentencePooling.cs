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
    /// <paramref name="output"/>. The first <paramref name="skip"/> tokens are left out of max/mean pooling (a prompt
    /// excluded by include_prompt false: sentence-transformers zeroes their attention mask for pooling only, so
    /// cls still takes token 0, and a pool with no token left gives 0 for mean and −1e9 for max, as there).
    /// </summary>
    public static void Pool(ReadOnlySpan<float> tokens, int length, int hidden, PoolingMode mode, Span<float> output, int skip = 0)
    {
        if (length <= 0) throw new ArgumentOutOfRangeException(nameof(length), "pooling needs at least one token");
        if (skip < 0) throw new ArgumentOutOfRangeException(nameof(skip), "skip must not be negative");
        int first = Math.Min(skip, length);
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
                    if (first == length) { dst.Fill(-1e9f); break; }
                    tokens.Slice(first * hidden, hidden).CopyTo(dst);
                    for (int t = first + 1; t < length; t++)
                    {
                        var row = tokens.Slice(t * hidden, hidden);
                        for (int i = 0; i < hidden; i++) if (row[i] > dst[i]) dst[i] = row[i];
                    }
                    break;
                case PoolingMode.Mean:
                case PoolingMode.MeanSqrtLen:
                {
                    // Sum in double, then one rounding: within an ulp of PyTorch's float sum / count.
                    int count = length - first;
                    double divisor = count == 0 ? 1e-9 : m == PoolingMode.Mean ? count : Math.Sqrt(count);
                    for (int i = 0; i < hidden; i++)
                    {
                        double sum = 0;
                        for (int t = first; t < length; t++) sum += tokens[t * hidden + i];
                        dst[i] = (float)(sum / divisor);
                    }
                    break;
                }
            }
        }
    }
}
