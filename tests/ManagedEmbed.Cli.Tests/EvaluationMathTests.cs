using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using ManagedEmbed.Evaluation;
using ManagedEmbed.Testing;
using ManagedEmbed.Text;

namespace ManagedEmbed.Cli.Tests;

/// <summary>Spearman/Pearson against values computed by hand, and the strict TSV readers.</summary>
public sealed class EvaluationMathTests
{
    [Fact]
    public void Pearson_HandComputed()
    {
        // mean x = 3, mean y = 4; Σdxdy = 6, Σdx² = 10, Σdy² = 6  →  r = 6/√60
        double r = Correlation.Pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]);
        Assert.Equal(6 / Math.Sqrt(60), r, 12);
        Assert.Equal(0.7745966692414834, r, 12);
    }

    [Fact]
    public void Spearman_WithTies_UsesAverageRanks()
    {
        // y ranks: 2→1, 4,4→2.5, 5,5→4.5;  Σdxdy = 7, Σdx² = 10, Σdy² = 9  →  ρ = 7/√90
        double rho = Correlation.Spearman([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]);
        Assert.Equal(7 / Math.Sqrt(90), rho, 12);
        // The no-ties shortcut 1 − 6Σd²/(n(n²−1)) would give 1 − 6·1.5/120 = 0.925: must not be used.
        Assert.NotEqual(0.925, rho, 3);
    }

    [Fact]
    public void AverageRanks_HandComputed()
    {
        Assert.Equal([1.0, 3, 3, 5, 3], Correlation.AverageRanks([10, 20, 20, 30, 20]));
        Assert.Equal([2.0, 1], Correlation.AverageRanks([0.5, -0.5]));
        Assert.Equal([1.5, 1.5], Correlation.AverageRanks([7, 7]));
    }

    [Fact]
    public void Spearman_MonotoneButNonLinear_IsOne_PearsonIsNot()
    {
        double[] x = [1, 2, 3, 4], y = [1, 8, 27, 64];
        Assert.Equal(1.0, Correlation.Spearman(x, y), 12);
        Assert.Equal(-1.0, Correlation.Spearman(x, [4, 3, 2, 1]), 12);
        // Pearson by hand: dx = -1.5,-.5,.5,1.5; dy = -24,-17,2,39; Σdxdy = 36+8.5+1+58.5 = 104; Σdx² = 5; Σdy² = 576+289+4+1521 = 2390
        Assert.Equal(104 / Math.Sqrt(5 * 2390.0), Correlation.Pearson(x, y), 12);
    }

    [Theory]
    [InlineData(new double[] { 1 }, new double[] { 2 }, "at least 2")]
    [InlineData(new double[] { 1, 2 }, new double[] { 1, 2, 3 }, "equal length")]
    [InlineData(new double[] { 1, 1, 1 }, new double[] { 1, 2, 3 }, "constant")]
    [InlineData(new double[] { 1, double.NaN }, new double[] { 1, 2 }, "finite")]
    public void BadInput_IsAnError(double[] x, double[] y, string message)
    {
        Assert.Contains(message, Assert.Throws<ManagedEmbedException>(() => Correlation.Pearson(x, y)).Message);
        Assert.Contains(message, Assert.Throws<ManagedEmbedException>(() => Correlation.Spearman(x, y)).Message);
    }

    [Property(MaxTest = 200)]
    public Property Spearman_IsInvariantUnderMonotoneMaps_AndBounded(int[] a, int[] b)
    {
        int n = Math.Min(a.Length, b.Length);
        double[] x = a.Take(n).Select(v => (double)(v % 50)).ToArray();
        double[] y = b.Take(n).Select(v => (double)(v % 50)).ToArray();
        bool defined = n >= 2 && x.Distinct().Count() > 1 && y.Distinct().Count() > 1;
        return Prop.When(defined, () =>
        {
            double rho = Correlation.Spearman(x, y);
            double mapped = Correlation.Spearman(x.Select(v => Math.Exp(v / 10)).ToArray(), y.Select(v => v * v * v).ToArray());
            double r = Correlation.Pearson(x, y);
            return Math.Abs(rho - mapped) < 1e-9 && Math.Abs(rho) <= 1 && Math.Abs(r) <= 1
                   && Math.Abs(Correlation.Spearman(y, x) - rho) < 1e-12;
        });
    }

    private static string Write(string content)
    {
        string path = Path.Combine(TestPaths.NewTempDir("membed-tsv"), "in.tsv");
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void Tsv_ParsesPairs_WithCrlfBomCommentsAndBlankLines()
    {
        string p = Write("\uFEFF# text1\ttext2\tlabel\r\ncheap hotel\taffordable accommodation\t1\r\n\r\ncat\tquantum physics\t0\n");
        var pairs = TextInput.ReadLabeledPairs(p);
        Assert.Equal(2, pairs.Count);
        Assert.Equal(new LabeledPair(2, "cheap hotel", "affordable accommodation", 1), pairs[0]);
        Assert.Equal(new LabeledPair(4, "cat", "quantum physics", 0), pairs[1]);
    }

    [Theory]
    [InlineData("a\tb\n", "line 1: expected 3 tab-separated fields (text1, text2, label), got 2")]
    [InlineData("a\tb\t1\na\tb\tc\td\n", "line 2: expected 3 tab-separated fields")]
    [InlineData("a\tb\t2\n", "line 1: label must be 0 or 1, got '2'")]
    [InlineData("text1\ttext2\tlabel\n", "label must be 0 or 1, got 'label' (comment a header line out with '#')")]
    [InlineData("# only a comment\n", "contains no pairs")]
    public void Tsv_PairErrors_NameTheLine(string content, string message)
    {
        string p = Write(content);
        var e = Assert.Throws<ManagedEmbedException>(() => TextInput.ReadLabeledPairs(p));
        Assert.Contains(message, e.Message);
        Assert.StartsWith(p, e.Message);
    }

    [Theory]
    [InlineData("a\tb\t4.5\nc\td\tx\n", "line 2: gold score must be a finite number, got 'x'")]
    [InlineData("a\tb\t4.5\nc\td\tNaN\n", "line 2: gold score must be a finite number")]
    [InlineData("a\tb\t4.5\n", "needs at least 2 scored pairs")]
    public void Tsv_StsErrors(string content, string message) =>
        Assert.Contains(message, Assert.Throws<ManagedEmbedException>(() => TextInput.ReadScoredPairs(Write(content))).Message);

    [Fact]
    public void Tsv_Sts_ParsesScores()
    {
        var s = TextInput.ReadScoredPairs(Write("a\tb\t4.5\nc\td\t0\ne\tf\t-1e-1\n"));
        Assert.Equal([4.5, 0, -0.1], s.Select(x => x.Gold));
    }

    [Fact]
    public void InvalidUtf8_IsAnError_NamingTheLine()
    {
        string path = Path.Combine(TestPaths.NewTempDir("membed-tsv"), "bad.txt");
        File.WriteAllBytes(path, [.. "ok\n"u8, 0x61, 0xC3, 0x28, 0x0A]);
        var e = Assert.Throws<ManagedEmbedException>(() => TextInput.ReadTexts(path));
        Assert.Contains("line 2: not valid UTF-8", e.Message);
    }

    [Fact]
    public void Texts_SkipBlankLines_AndRejectEmptyFiles()
    {
        var t = TextInput.ReadTexts(Write("first\n\n  \nsecond"));
        Assert.Equal([(1, "first"), (4, "second")], t.Select(l => (l.Number, l.Text)));
        Assert.Contains("contains no text", Assert.Throws<ManagedEmbedException>(() => TextInput.ReadTexts(Write("\n\n"))).Message);
        Assert.Contains("does not exist", Assert.Throws<ManagedEmbedException>(() => TextInput.ReadTexts("/nonexistent/x.txt")).Message);
    }
}
