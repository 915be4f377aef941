namespace ManagedEmbed.Encoder.Pooling;

/// <summary>
/// Sentence-transformers pooling modes. When several are enabled their outputs are concatenated in the order
/// cls, max, mean, mean_sqrt_len (sentence-transformers' order).
/// </summary>
[Flags]
public enum PoolingMode
{
    /// <summary>No pooling (invalid on its own).</summary>
    None = 0,
    /// <summary>The first ([CLS]) token's hidden state.</summary>
    Cls = 1,
    /// <summary>Element-wise maximum over real tokens.</summary>
    Max = 2,
    /// <summary>Mean over real tokens.</summary>
    Mean = 4,
    /// <summary>Sum over real tokens divided by sqrt(token count).</summary>
    MeanSqrtLen = 8,
}

/// <summary>Names of pooling modes as the CLI spells them.</summary>
public static class PoolingModes
{
    /// <summary>The modes in concatenation order.</summary>
    public static readonly PoolingMode[] Order = [PoolingMode.Cls, PoolingMode.Max, PoolingMode.Mean, PoolingMode.MeanSqrtLen];

    /// <summary>"mean", "cls", "max" or "mean_sqrt_len".</summary>
    public static string Name(PoolingMode m) => m switch
    {
        PoolingMode.Cls => "cls",
        PoolingMode.Max => "max",
        PoolingMode.Mean => "mean",
        PoolingMode.MeanSqrtLen => "mean_sqrt_len",
        _ => string.Join("+", Order.Where(o => m.HasFlag(o)).Select(Name)),
    };

    /// <summary>Parses one mode name; an error listing the valid names otherwise.</summary>
    public static PoolingMode Parse(string s) => s switch
    {
        "cls" => PoolingMode.Cls,
        "max" => PoolingMode.Max,
        "mean" => PoolingMode.Mean,
        "mean_sqrt_len" => PoolingMode.MeanSqrtLen,
        _ => throw new ManagedEmbedException($"unknown pooling mode '{s}' (expected mean|cls|max|mean_sqrt_len)"),
    };

    /// <summary>Number of modes enabled.</summary>
    public static int Count(PoolingMode m) => Order.Count(o => m.HasFlag(o));
}
