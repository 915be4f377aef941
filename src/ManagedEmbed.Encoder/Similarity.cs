namespace ManagedEmbed.Encoder;

/// <summary>Cosine similarity helpers.</summary>
public static class Similarity
{
    /// <summary>cos(a, b) = a·b / (|a| |b|), accumulated in double; 0 when either vector is zero.</summary>
    public static float Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"vectors have different lengths ({a.Length} and {b.Length})");
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        if (na == 0 || nb == 0) return 0f;
        return (float)(dot / (Math.Sqrt(na) * Math.Sqrt(nb)));
    }

    /// <summary>The [a.Count, b.Count] matrix of cosine similarities between the rows of <paramref name="a"/> and <paramref name="b"/>.</summary>
    public static float[,] CosineMatrix(EmbeddingMatrix a, EmbeddingMatrix b)
    {
        if (a.Dimension != b.Dimension) throw new ArgumentException($"matrices have different dimensions ({a.Dimension} and {b.Dimension})");
        var m = new float[a.Count, b.Count];
        for (int i = 0; i < a.Count; i++)
            for (int j = 0; j < b.Count; j++)
                m[i, j] = Cosine(a.Row(i), b.Row(j));
        return m;
    }

    /// <summary>The square matrix of cosine similarities between the rows of <paramref name="a"/>.</summary>
    public static float[,] CosineMatrix(EmbeddingMatrix a) => CosineMatrix(a, a);
}
