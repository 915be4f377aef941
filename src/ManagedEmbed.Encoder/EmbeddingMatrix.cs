namespace ManagedEmbed.Encoder;

/// <summary>Embeddings of n texts, contiguous row-major [Count, Dimension], in input order.</summary>
public sealed class EmbeddingMatrix
{
    /// <summary>Wraps <paramref name="data"/> (length count × dimension).</summary>
    public EmbeddingMatrix(int count, int dimension, float[] data)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimension);
        if (data.LongLength != (long)count * dimension) throw new ArgumentException("data length must equal count × dimension");
        Count = count; Dimension = dimension; Data = data;
    }

    /// <summary>Number of rows (texts).</summary>
    public int Count { get; }
    /// <summary>Width of each embedding.</summary>
    public int Dimension { get; }
    /// <summary>All rows, contiguous.</summary>
    public float[] Data { get; }

    /// <summary>Row <paramref name="i"/> (a view into <see cref="Data"/>).</summary>
    public Span<float> Row(int i)
    {
        if ((uint)i >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(i));
        return Data.AsSpan(i * Dimension, Dimension);
    }

    /// <summary>Row <paramref name="i"/> as a new array.</summary>
    public float[] RowArray(int i) => Row(i).ToArray();
}

/// <summary>Progress of a batch encode: texts done so far out of the total.</summary>
/// <param name="Completed">Texts encoded so far.</param>
/// <param name="Total">Texts in the call.</param>
/// <param name="Truncated">Texts of the call that were longer than max_seq_length tokens and were cut to it.</param>
public readonly record struct EncodeProgress(int Completed, int Total, int Truncated = 0);

/// <summary>Options of <see cref="SentenceEncoder.Load"/>.</summary>
public sealed class EncoderOptions
{
    /// <summary>Threads each forward pass is split across (default: the processor count).</summary>
    public int? Threads { get; init; }
    /// <summary>Overrides sentence_bert_config.json's max_seq_length (must not exceed max_position_embeddings).</summary>
    public int? MaxSeqLength { get; init; }
    /// <summary>
    /// Quantizes float Linear weights to int8 as they load (dynamic per-row activation quantization at run time; see
    /// <see cref="Models.Int8Checkpoint"/>). A directory written by `membed model quantize` is int8 without it.
    /// </summary>
    public bool Int8Weights { get; init; }
}
