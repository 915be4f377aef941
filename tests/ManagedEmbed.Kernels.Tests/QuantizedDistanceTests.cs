using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace ManagedEmbed.Kernels.Tests;

public class QuantizedDistanceTests
{
    private static byte[] Bytes(int seed, int n)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static sbyte[] Int8(int seed, int n) => [.. Bytes(seed, n).Select(v => unchecked((sbyte)v))];

    // Sizes past 3 × 64 bytes so every vector body (64/32/16), the 8-byte popcount step and the byte tail all run.
    private static Gen<int> CodeSize() => Gen.Elements([.. Gen2.TailSizes, 191, 192, 193, 200, 255, 256, 257]);

    [Property(MaxTest = 300)]
    public Property Hamming_equals_bitwise_reference() => Prop.ForAll(Arb.From(
        from n in CodeSize() from s in Gen.Choose(0, 1 << 20) select (n, s)), t =>
        {
            var a = Bytes(t.s, t.n);
            var b = Bytes(t.s + 1, t.n);
            return QuantizedDistance.Hamming(a, b) == QuantizedDistance.ReferenceHamming(a, b);
        });

    [Fact]
    public void Hamming_hand_computed_values()
    {
        Assert.Equal(0, QuantizedDistance.Hamming([], []));
        Assert.Equal(8, QuantizedDistance.Hamming([0x00], [0xFF]));
        Assert.Equal(4, QuantizedDistance.Hamming([0b1010_0000], [0b0000_0101]));
        // All-ones against all-zeros over 100 bytes: 800 bits, through the vector body and every tail.
        Assert.Equal(800, QuantizedDistance.Hamming(new byte[100], Enumerable.Repeat((byte)0xFF, 100).ToArray()));
        // One differing bit in the very last byte of a 97-byte code (tail after 64 + 32 or 6 × 16 or 12 × 8 bytes).
        var x = new byte[97]; var y = new byte[97]; y[96] = 0x80;
        Assert.Equal(1, QuantizedDistance.Hamming(x, y));
    }

    [Property(MaxTest = 100)]
    public Property HammingRows_equals_Hamming() => Prop.ForAll(Arb.From(
        from w in CodeSize() from n in Gen.Choose(0, 9) from s in Gen.Choose(0, 1 << 20) select (w, n, s)), t =>
        {
            var q = Bytes(t.s, t.w);
            var codes = Bytes(t.s + 1, t.w * t.n);
            var d = new int[t.n];
            QuantizedDistance.HammingRows(q, codes, d);
            for (int j = 0; j < t.n; j++)
                if (d[j] != QuantizedDistance.ReferenceHamming(q, codes.AsSpan(j * t.w, t.w))) return false;
            return true;
        });

    [Property(MaxTest = 300)]
    public Property DotInt8_equals_wide_reference() => Prop.ForAll(Arb.From(
        from n in CodeSize() from s in Gen.Choose(0, 1 << 20) select (n, s)), t =>
        {
            var a = Int8(t.s, t.n);
            var b = Int8(t.s + 1, t.n);
            return QuantizedDistance.DotInt8(a, b) == QuantizedDistance.ReferenceDotInt8(a, b);
        });

    [Fact]
    public void DotInt8_extremes_do_not_overflow()
    {
        // 4096 × (−128)·(−128) = 67108864 and 4096 × (−128)·127 = −66584576: int16 sums would have wrapped.
        var m = Enumerable.Repeat((sbyte)-128, 4096).ToArray();
        var p = Enumerable.Repeat((sbyte)127, 4096).ToArray();
        Assert.Equal(67108864, QuantizedDistance.DotInt8(m, m));
        Assert.Equal(-66584576, QuantizedDistance.DotInt8(m, p));
        Assert.Equal(67108864L, QuantizedDistance.ReferenceDotInt8(m, m));
    }

    [Property(MaxTest = 300)]
    public Property DotFloatInt8_equals_canonical_float_reference_bit_for_bit() => Prop.ForAll(Arb.From(
        from n in CodeSize() from s in Gen.Choose(0, 1 << 20) select (n, s)), t =>
        {
            var q = Gen2.Floats(t.s, t.n);
            var x = Int8(t.s + 1, t.n);
            float got = QuantizedDistance.DotFloatInt8(q, x);
            float want = Distance.ReferenceScore(q, [.. x.Select(v => (float)v)], false, Distance.LaneCount);
            return BitConverter.SingleToInt32Bits(got) == BitConverter.SingleToInt32Bits(want);
        });

    [Property(MaxTest = 200)]
    public Property DotFloatInt8_is_close_to_double_precision() => Prop.ForAll(Arb.From(
        from n in CodeSize() from s in Gen.Choose(0, 1 << 20) select (n, s)), t =>
        {
            var q = Gen2.Floats(t.s, t.n);
            var x = Int8(t.s + 1, t.n);
            double exact = 0, mag = 0;
            for (int i = 0; i < t.n; i++) { exact += (double)q[i] * x[i]; mag += Math.Abs((double)q[i] * x[i]); }
            return Math.Abs(QuantizedDistance.DotFloatInt8(q, x) - exact) <= 1e-5 * (mag + 1);
        });

    [Fact]
    public void Mismatched_lengths_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => QuantizedDistance.Hamming(new byte[3], new byte[4]));
        Assert.Throws<ArgumentException>(() => QuantizedDistance.DotInt8(new sbyte[3], new sbyte[4]));
        Assert.Throws<ArgumentException>(() => QuantizedDistance.DotFloatInt8(new float[3], new sbyte[4]));
    }

    [Fact]
    public void Hamming_path_is_the_one_the_isa_row_names()
    {
        string expected = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Avx512BW.IsSupported ? "Vector512"
            : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "Vector256"
            : System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated ? "Vector128" : "scalar";
        Assert.Equal(expected, QuantizedDistance.HammingPath);
        // The ISA rows (.ci/run, tests/run-kernel-isa-matrix.sh) name the path each run must exercise.
        if (Environment.GetEnvironmentVariable("MEMBED_EXPECT_GEMM_PATH") is { Length: > 0 } want) Assert.Equal(want, QuantizedDistance.HammingPath);
    }
}
