namespace ManagedEmbed.Evaluation;

/// <summary>Pearson and Spearman correlation, as used by the STS-B protocol (cosine similarity vs gold scores).</summary>
public static class Correlation
{
    /// <summary>
    /// Pearson's r of <paramref name="x"/> and <paramref name="y"/>, computed in double with centred sums (two passes,
    /// so a large common offset does not cancel precision away).
    /// </summary>
    /// <exception cref="ManagedEmbedException">Fewer than two points, different lengths, a non-finite value, or a constant series (r undefined).</exception>
    public static double Pearson(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        Check(x, y);
        double mx = Mean(x), my = Mean(y);
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double dx = x[i] - mx, dy = y[i] - my;
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        if (sxx == 0) throw new ManagedEmbedException("correlation is undefined: the first series is constant");
        if (syy == 0) throw new ManagedEmbedException("correlation is undefined: the second series is constant");
        return Math.Clamp(sxy / Math.Sqrt(sxx * syy), -1.0, 1.0);
    }

    /// <summary>
    /// Spearman's ρ: Pearson's r of the ranks, where tied values share the average of the ranks they span
    /// (scipy.stats.spearmanr's default), so it is exact with ties, unlike the 1 − 6Σd²/(n(n²−1)) shortcut.
    /// </summary>
    /// <exception cref="ManagedEmbedException">As for <see cref="Pearson"/>.</exception>
    public static double Spearman(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        Check(x, y);
        return Pearson(AverageRanks(x), AverageRanks(y));
    }

    /// <summary>1-based ranks of <paramref name="values"/> in ascending order; ties get the mean of their ranks.</summary>
    public static double[] AverageRanks(ReadOnlySpan<double> values)
    {
        int n = values.Length;
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        var copy = values.ToArray();
        Array.Sort(order, (a, b) => copy[a] != copy[b] ? copy[a].CompareTo(copy[b]) : a.CompareTo(b));
        var ranks = new double[n];
        for (int start = 0; start < n;)
        {
            int end = start + 1;
            while (end < n && copy[order[end]] == copy[order[start]]) end++;
            double rank = (start + 1 + end) / 2.0; // mean of ranks start+1 .. end
            for (int j = start; j < end; j++) ranks[order[j]] = rank;
            start = end;
        }
        return ranks;
    }

    private static void Check(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        if (x.Length != y.Length) throw new ManagedEmbedException($"correlation needs series of equal length, got {x.Length} and {y.Length}");
        if (x.Length < 2) throw new ManagedEmbedException($"correlation needs at least 2 pairs, got {x.Length}");
        for (int i = 0; i < x.Length; i++)
            if (!double.IsFinite(x[i]) || !double.IsFinite(y[i]))
                throw new ManagedEmbedException($"correlation input {i} is not a finite number");
    }

    private static double Mean(ReadOnlySpan<double> v)
    {
        double s = 0;
        foreach (double d in v) s += d;
        return s / v.Length;
    }
}
