namespace ManagedEmbed.Encoder.Models;

/// <summary>
/// A batch of token-id sequences packed end to end: sequence s occupies rows
/// [Offsets[s], Offsets[s] + Lengths[s]) of every activation matrix. There is no padding at all, so attention over a
/// sequence sees exactly its real tokens — the same result as Hugging Face's key-padding mask, whose masked scores get
/// exp(min - max) = 0 weight — and every cost is proportional to real tokens.
/// </summary>
public sealed class TokenBatch
{
    /// <summary>All ids, concatenated.</summary>
    public int[] Ids { get; }
    /// <summary>First row of each sequence.</summary>
    public int[] Offsets { get; }
    /// <summary>Length of each sequence.</summary>
    public int[] Lengths { get; }
    /// <summary>Number of sequences.</summary>
    public int Count => Lengths.Length;
    /// <summary>Total number of tokens (rows).</summary>
    public int TotalTokens { get; }
    /// <summary>Longest sequence.</summary>
    public int MaxLength { get; }
    /// <summary>
    /// Token type (segment) of every id, aligned with <see cref="Ids"/>, for sequence-pair inputs; null means type 0
    /// everywhere (single sentences).
    /// </summary>
    public int[]? TypeIds { get; }

    /// <summary>Packs <paramref name="sequences"/> (each non-empty), all of token type 0.</summary>
    public TokenBatch(IReadOnlyList<int[]> sequences) : this(sequences, null) { }

    /// <summary>
    /// Packs <paramref name="sequences"/> (each non-empty) with the token type of each id in
    /// <paramref name="typeIds"/> (same lengths), or type 0 everywhere when it is null.
    /// </summary>
    public TokenBatch(IReadOnlyList<int[]> sequences, IReadOnlyList<int[]>? typeIds)
    {
        if (typeIds is not null && typeIds.Count != sequences.Count)
            throw new ArgumentException($"{typeIds.Count} token-type lists for {sequences.Count} sequences", nameof(typeIds));
        Offsets = new int[sequences.Count];
        Lengths = new int[sequences.Count];
        int total = 0, max = 0;
        for (int s = 0; s < sequences.Count; s++)
        {
            Offsets[s] = total;
            Lengths[s] = sequences[s].Length;
            total = checked(total + sequences[s].Length);
            max = Math.Max(max, sequences[s].Length);
        }
        Ids = new int[total];
        for (int s = 0; s < sequences.Count; s++) sequences[s].CopyTo(Ids, Offsets[s]);
        if (typeIds is not null)
        {
            TypeIds = new int[total];
            for (int s = 0; s < sequences.Count; s++)
            {
                if (typeIds[s].Length != sequences[s].Length)
                    throw new ArgumentException($"sequence {s} has {sequences[s].Length} ids but {typeIds[s].Length} token types", nameof(typeIds));
                typeIds[s].CopyTo(TypeIds, Offsets[s]);
            }
        }
        TotalTokens = total;
        MaxLength = max;
    }

    private TokenBatch(int[] ids, int[] offsets, int[] lengths, int[]? typeIds, int total, int max)
    {
        Ids = ids; Offsets = offsets; Lengths = lengths; TypeIds = typeIds; TotalTokens = total; MaxLength = max;
    }

    /// <summary>Sequences [<paramref name="first"/>, first + <paramref name="count"/>) as a batch of their own (rows renumbered from 0).</summary>
    internal TokenBatch Range(int first, int count)
    {
        int row0 = Offsets[first], rows = first + count < Count ? Offsets[first + count] - row0 : TotalTokens - row0;
        var offsets = new int[count];
        var lengths = Lengths.AsSpan(first, count).ToArray();
        int max = 0;
        for (int s = 0; s < count; s++) { offsets[s] = Offsets[first + s] - row0; max = Math.Max(max, lengths[s]); }
        return new TokenBatch(Ids.AsSpan(row0, rows).ToArray(), offsets, lengths, TypeIds?.AsSpan(row0, rows).ToArray(), rows, max);
    }
}
