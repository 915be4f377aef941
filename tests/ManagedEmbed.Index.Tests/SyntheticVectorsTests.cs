using ManagedEmbed.Testing;

namespace ManagedEmbed.Index.Tests;

/// <summary>
/// The clustered data of <c>membed data synth</c> against tests/fixtures/synth/*.fvecs, written by
/// tools/gen_synth_vectors.py from the specification in <see cref="SyntheticVectors"/> (not from this code).
/// </summary>
public class SyntheticVectorsTests
{
    /// <summary>The fixture's fvecs bytes and the arguments that produced them (tools/gen_synth_vectors.py DATASETS).</summary>
    public static TheoryData<string, int, int, int, long, long, double> Sets => new()
    {
        { "clustered-n40-d12-c3-s7.fvecs", 40, 12, 3, 7, 42, 2.0 },
        { "clustered-n6-d5-c2-sneg3-cs9-spread0.5.fvecs", 6, 5, 2, -3, 9, 0.5 },
    };

    [Theory]
    [MemberData(nameof(Sets))]
    public void EqualsTheIndependentReferenceBitForBit(string file, int n, int dim, int clusters, long seed, long centerSeed, double spread)
    {
        byte[] expected = File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "synth", file));
        float[] x = SyntheticVectors.Clustered(n, dim, clusters, seed, centerSeed, spread);
        Assert.Equal(n * dim, x.Length);
        Assert.Equal(n * (4 + 4 * dim), expected.Length);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(dim, BitConverter.ToInt32(expected, i * (4 + 4 * dim)));
            for (int j = 0; j < dim; j++)
                Assert.Equal(BitConverter.ToUInt32(expected, i * (4 + 4 * dim) + 4 + 4 * j), BitConverter.SingleToUInt32Bits(x[i * dim + j]));
        }
    }

    [Fact]
    public void RowsAreUnitVectorsNearTheirCentres()
    {
        // Spread 0: every row is exactly one of the unit centres.
        float[] x = SyntheticVectors.Clustered(50, 16, 4, 1, spread: 0);
        var distinct = new HashSet<string>();
        for (int i = 0; i < 50; i++)
        {
            var row = x.AsSpan(i * 16, 16);
            double s = 0;
            foreach (float v in row) s += (double)v * v;
            Assert.InRange(s, 1 - 1e-6, 1 + 1e-6);
            distinct.Add(string.Join(',', row.ToArray()));
        }
        Assert.Equal(4, distinct.Count);
    }
}
