namespace ManagedEmbed.Encoder.Models;

/// <summary>
/// Scratch buffers for one forward pass of any encoder architecture, grown to the largest batch seen and reused, so
/// steady-state calls do not allocate. One workspace serves one call at a time; concurrent calls each take their own.
/// </summary>
public sealed class EncoderWorkspace
{
    /// <summary>Hidden states [tokens, hidden]; after a forward pass, the last hidden state.</summary>
    public float[] Hidden = [];
    /// <summary>Fused query/key/value projections of one group of sequences [group tokens, 3·hidden] (the attention block runs groups of whole sequences).</summary>
    public float[] Qkv = [];
    /// <summary>Attention context of one group of sequences [group tokens, hidden].</summary>
    public float[] Context = [];
    /// <summary>Receives a block's output (dense + bias + residual) before it becomes <see cref="Hidden"/> by <see cref="SwapHidden"/> [tokens, hidden].</summary>
    public float[] Next = [];
    /// <summary>Rows per feed-forward block (see <see cref="FeedForwardBlock"/>).</summary>
    public const int FeedForwardRows = 256;
    /// <summary>Feed-forward intermediate activations of one block of rows [min(tokens, FeedForwardRows), intermediate].</summary>
    public float[] Intermediate = [];
    internal readonly AttentionWork Attention = new();
    internal readonly SequenceSplit Split = new();
    internal readonly RowParallel LayerNormWork = new();

    /// <summary>Makes the per-token buffers large enough for <paramref name="tokens"/> rows (<see cref="Qkv"/> and <see cref="Context"/> grow per attention group, in the forward pass).</summary>
    public void Ensure(int tokens, int hidden, int intermediate)
    {
        Grow(ref Hidden, (long)tokens * hidden);
        Grow(ref Next, (long)tokens * hidden);
        Grow(ref Intermediate, (long)Math.Min(tokens, FeedForwardRows) * intermediate);
    }

    /// <summary>Makes <see cref="Qkv"/> and <see cref="Context"/> large enough for a group of <paramref name="rows"/> tokens (grown to the largest group seen).</summary>
    internal void EnsureAttention(int rows, int hidden)
    {
        Grow(ref Qkv, (long)rows * 3 * hidden);
        Grow(ref Context, (long)rows * hidden);
    }

    /// <summary>Makes <see cref="Hidden"/> large enough for <paramref name="tokens"/> rows (a pass split into groups of sequences writes only it).</summary>
    internal void EnsureHidden(int tokens, int hidden) => Grow(ref Hidden, (long)tokens * hidden);

    /// <summary>Makes <see cref="Next"/> the hidden states (and recycles the old ones as the next <see cref="Next"/>).</summary>
    public void SwapHidden() => (Hidden, Next) = (Next, Hidden);

    private static void Grow(ref float[] a, long n)
    {
        if (a.Length < n) a = new float[checked((int)n)];
    }
}
