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

/// <summary>sentence-transformers' similarity functions (similarity_fn_name); higher is more similar for each.</summary>
public enum SimilarityFunction
{
    /// <summary>cos(a, b).</summary>
    Cosine,
    /// <summary>a · b.</summary>
    Dot,
    /// <summary>−‖a − b‖₂ (sentence-transformers' euclidean_sim).</summary>
    Euclidean,
    /// <summary>−‖a − b‖₁ (sentence-transformers' manhattan_sim).</summary>
    Manhattan,
}

/// <summary>Names and evaluation of <see cref="SimilarityFunction"/>.</summary>
public static class SimilarityFunctions
{
    /// <summary>"cosine", "dot", "euclidean" or "manhattan" (sentence-transformers' names; "dot_product" is also accepted).</summary>
    public static SimilarityFunction? Parse(string name) => name switch
    {
        "cosine" => SimilarityFunction.Cosine,
        "dot" or "dot_product" => SimilarityFunction.Dot,
        "euclidean" => SimilarityFunction.Euclidean,
        "manhattan" => SimilarityFunction.Manhattan,
        _ => null,
    };

    /// <summary>The name sentence-transformers writes in similarity_fn_name.</summary>
    public static string Name(SimilarityFunction f) => f switch
    {
        SimilarityFunction.Cosine => "cosine",
        SimilarityFunction.Dot => "dot",
        SimilarityFunction.Euclidean => "euclidean",
        _ => "manhattan",
    };

    /// <summary>The similarity of two vectors under <paramref name="f"/>, accumulated in double.</summary>
    public static float Compute(SimilarityFunction f, ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"vectors have different lengths ({a.Length} and {b.Length})");
        if (f == SimilarityFunction.Cosine) return Similarity.Cosine(a, b);
        double acc = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = f == SimilarityFunction.Dot ? (double)a[i] * b[i] : (double)a[i] - b[i];
            acc += f switch { SimilarityFunction.Dot => d, SimilarityFunction.Euclidean => d * d, _ => Math.Abs(d) };
        }
        return (float)(f switch { SimilarityFunction.Dot => acc, SimilarityFunction.Euclidean => -Math.Sqrt(acc), _ => -acc });
    }

    /// <summary>The [a.Count, b.Count] matrix of similarities (sentence-transformers' <c>model.similarity(a, b)</c>).</summary>
    public static float[,] Matrix(SimilarityFunction f, EmbeddingMatrix a, EmbeddingMatrix b)
    {
        if (a.Dimension != b.Dimension) throw new ArgumentException($"matrices have different dimensions ({a.Dimension} and {b.Dimension})");
        var m = new float[a.Count, b.Count];
        for (int i = 0; i < a.Count; i++)
            for (int j = 0; j < b.Count; j++)
                m[i, j] = Compute(f, a.Row(i), b.Row(j));
        return m;
    }
}
