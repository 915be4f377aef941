using System.Text;
using FsCheck.Xunit;

namespace ManagedEmbed.Collections.Tests;

public class Crc32CTests
{
    [Fact]
    public void KnownVectors()
    {
        // RFC 3720 / iSCSI check value and test vectors.
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0xE3069283u, Crc32C.ComputeScalar(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0x8A9136AAu, Crc32C.Compute(new byte[32]));
        Assert.Equal(0x62A8AB43u, Crc32C.Compute(Enumerable.Repeat((byte)0xFF, 32).ToArray()));
        Assert.Equal(0x46DD794Eu, Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()));
        Assert.Equal(0u, Crc32C.Compute([]));
    }

    public static IEnumerable<object[]> Lengths() =>
        Enumerable.Range(0, 71).Concat([127, 128, 129, 383, 384, 385, 1000, 4097]).Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Lengths))]
    public void AcceleratedMatchesScalarAtEveryTail(int n)
    {
        var r = new Random(n);
        var b = new byte[n];
        r.NextBytes(b);
        Assert.Equal(Crc32C.ComputeScalar(b), Crc32C.Compute(b));
    }

    [Property(MaxTest = 300)]
    public bool AppendEqualsConcatenation(byte[] a, byte[] b)
    {
        a ??= []; b ??= [];
        return Crc32C.Append(Crc32C.Compute(a), b) == Crc32C.ComputeScalar([.. a, .. b]);
    }

    [Property(MaxTest = 300)]
    public bool DetectsEverySingleBitFlip(byte[] a, int pos, byte bit)
    {
        if (a is null || a.Length == 0) return true;
        var c = (byte[])a.Clone();
        c[(int)((uint)pos % (uint)c.Length)] ^= (byte)(1 << (bit % 8));
        return Crc32C.Compute(a) != Crc32C.Compute(c);
    }
}
