using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace ManagedEmbed.Kernels.Tests;

/// <summary>
/// Int8 weights with dynamic activation quantization: the quantizer against its scalar reference and against the
/// rule's own invariants, the integer product against a plain int32 sum (exactly), the float epilogue against a
/// double reference computed from those sums. The CI re-runs these on every ISA level (AVX2, SSE4.1, scalar).
/// </summary>
public class Int8GemmTests
{
    private const double U = 1.0 / (1 << 24);

    /// <summary>Rows with zeros, exact ties (k + 0.5 code steps), large and tiny magnitudes, and occasionally NaN/∞.</summary>
    private static float[] Row(int seed, int n)
    {
        var r = new Random(seed);
        var a = Gen2.Floats(seed, n, (float)Math.Pow(10, r.Next(-6, 5)));
        int mode = seed % 7;
        if (mode == 0) Array.Clear(a);
        else if (mode == 1 && n > 1)
        {
            // Scale exactly 1 (max 127), the rest at exact half steps: round-half-to-even decides every code.
            a[0] = 127f;
            for (int i = 1; i < n; i++) a[i] = r.Next(-254, 255) / 2f;
        }
        else if (mode == 2 && n > 0) a[r.Next(n)] = r.Next(3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => float.NegativeInfinity };
        return a;
    }

    [Fact]
    public void IntegerPathIsTheOneTheRunNames()
    {
        // .ci/run names the int8 path each row must exercise (e.g. DOTNET_EnableAVXVNNI=0 → AVX2 on a VNNI machine),
        // so an ignored switch fails instead of silently re-testing the default path.
        string expected = System.Runtime.Intrinsics.X86.AvxVnni.IsSupported ? "AVX-VNNI"
            : System.Runtime.Intrinsics.X86.Avx2.IsSupported ? "AVX2"
            : System.Runtime.Intrinsics.X86.Sse41.IsSupported ? "SSE4.1" : "scalar";
        Assert.Equal(expected, Int8Gemm.Path);
        if (Environment.GetEnvironmentVariable("MEMBED_EXPECT_INT8_PATH") is { Length: > 0 } want) Assert.Equal(want, Int8Gemm.Path);
    }

    [Property(MaxTest = 400)]
    public Property QuantizeRowEqualsScalarReferenceAndKeepsItsInvariants() => Prop.ForAll(
        Arb.From(from n in Gen2.Size(0) from s in Gen.Choose(0, 1 << 20) select (n, s)),
        ((int n, int seed) t) =>
        {
            var x = Row(t.seed, t.n);
            var q = new sbyte[t.n];
            var qr = new sbyte[t.n];
            float s = Int8Quantization.QuantizeRow(x, q);
            float sr = Int8Quantization.QuantizeRowScalar(x, qr);
            Assert.Equal(sr, s);
            Assert.Equal(qr, q);
            bool finite = x.All(float.IsFinite);
            if (!finite) { Assert.True(float.IsNaN(s)); Assert.All(q, c => Assert.Equal(0, c)); return; }
            double max = x.Length == 0 ? 0 : x.Max(v => Math.Abs((double)v));
            if (max == 0) { Assert.Equal(0f, s); Assert.All(q, c => Assert.Equal(0, c)); return; }
            Assert.Equal((float)max / 127f, s);
            Assert.Equal(127, q.Max(c => Math.Abs((int)c)));
            for (int i = 0; i < x.Length; i++)
            {
                Assert.InRange(q[i], -127, 127);
                // Nearest code: |x − s·q| ≤ s/2 up to the division's rounding.
                Assert.True(Math.Abs(x[i] - (double)s * q[i]) <= s * (0.5 + 1e-5), $"x[{i}] = {x[i]}, code {q[i]}, scale {s}");
            }
        });

    [Fact]
    public void QuantizeRowRoundsHalfToEven()
    {
        float[] x = [127f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, -127f, 3.49f];
        var q = new sbyte[x.Length];
        Assert.Equal(1f, Int8Quantization.QuantizeRow(x, q));
        Assert.Equal(new sbyte[] { 127, 0, 2, 2, 0, -2, -2, 126, -127, 3 }, q);
    }

    private static sbyte[] Codes(int seed, int n)
    {
        var r = new Random(seed);
        var c = new sbyte[n];
        for (int i = 0; i < n; i++) c[i] = (sbyte)(r.Next(8) == 0 ? (r.Next(2) == 0 ? 127 : -127) : r.Next(-127, 128));
        return c;
    }

    private static int[] IntReference(sbyte[] x, int m, sbyte[] w, int n, int k)
    {
        var acc = new int[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                int s = 0;
                for (int p = 0; p < k; p++) s += x[i * k + p] * w[j * k + p];
                acc[i * n + j] = s;
            }
        return acc;
    }

    [Property(MaxTest = 200)]
    public Property IntegerProductEqualsInt32SumExactly() => Prop.ForAll(
        Shapes.Of(Gen2.Size(0).Select(v => v % 40), Gen2.Size(1), Gen2.Size(1)),
        ((int m, int n, int k, int seed) t) =>
        {
            var (m, n, k, seed) = t;
            var x = Codes(seed, m * k);
            var wc = Codes(seed + 1, n * k);
            var w = Int8Matrix.FromCodes(wc, Enumerable.Repeat(1f, n).ToArray(), n, k);
            var acc = Enumerable.Repeat(int.MinValue, m * n).ToArray();
            Int8Gemm.MultiplyCodes(x, m, w, acc, seed % 2 == 0 ? null : Pools.Four);
            Assert.Equal(IntReference(x, m, wc, n, k), acc);
        });

    [Theory]
    [InlineData(127, 127)]
    [InlineData(-127, 127)]
    [InlineData(-127, -127)]
    public void ExtremeCodesDoNotSaturate(int a, int b)
    {
        // Every pair at the extremes: vpmaddwd's pair sums are ±2·127², far from s16 or int32 limits.
        const int m = 5, n = 17, k = 8191;
        var x = Enumerable.Repeat((sbyte)a, m * k).ToArray();
        var w = Int8Matrix.FromCodes(Enumerable.Repeat((sbyte)b, n * k).ToArray(), Enumerable.Repeat(1f, n).ToArray(), n, k);
        var acc = new int[m * n];
        Int8Gemm.MultiplyCodes(x, m, w, acc);
        Assert.All(acc, v => Assert.Equal(a * b * k, v));
    }

    /// <summary>
    /// Reference built from the description: codes of x per row and of W per row by the scalar quantizer, int32
    /// sums, then act(acc·(sx·sw) + b) + r in double; the kernel rounds the conversion, the scale product and the
    /// product (3u), the bias add (1u) and the activation as the float GEMM does.
    /// </summary>
    [Property(MaxTest = 200)]
    public Property LinearEqualsFloatEpilogueOfTheIntegerSums() => Prop.ForAll(
        Shapes.Of(Gen2.Size(0).Select(v => v % 40), Gen2.Size(1), Gen2.Size(1)),
        ((int m, int n, int k, int seed) t) =>
        {
            var (m, n, k, seed) = t;
            var act = (Activation)(seed % 4);
            bool withBias = seed % 3 != 0, withRes = act == Activation.None ? seed % 5 == 0 : seed % 5 == 1;
            var x = Gen2.Floats(seed, m * k, 3);
            if (m > 1 && seed % 4 == 0) Array.Clear(x, k, k); // a zero row
            var wv = Gen2.Floats(seed + 1, n * k, 0.2f);
            var b = withBias ? Gen2.Floats(seed + 2, n) : [];
            var res = withRes ? Gen2.Floats(seed + 3, m * n) : null;
            var w = Int8Matrix.Quantize(wv, n, k);
            var y = Enumerable.Repeat(float.NaN, m * n).ToArray();
            Int8Gemm.Linear(x, m, w, b, y, act, res, seed % 2 == 0 ? null : Pools.Four);

            var xq = new sbyte[m * k]; var sx = new float[m];
            for (int i = 0; i < m; i++) sx[i] = Int8Quantization.QuantizeRowScalar(x.AsSpan(i * k, k), xq.AsSpan(i * k, k));
            var wq = new sbyte[n * k]; var sw = new float[n];
            for (int j = 0; j < n; j++) sw[j] = Int8Quantization.QuantizeRowScalar(wv.AsSpan(j * k, k), wq.AsSpan(j * k, k));
            Assert.Equal(sw, w.Scales.ToArray());
            var acc = IntReference(xq, m, wq, n, k);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double prod = (double)acc[i * n + j] * sx[i] * sw[j];
                    double bj = withBias ? b[j] : 0;
                    double expect = ReferenceMath.Act(prod + bj, act) + (res is null ? 0 : res[i * n + j]);
                    double tol = 1.13 * (4 * U * Math.Abs(prod) + 2 * U * (Math.Abs(prod) + Math.Abs(bj))) + 4 * U * Math.Abs(expect) + 1e-30;
                    Assert.True(Math.Abs(y[i * n + j] - expect) <= tol, $"y[{i},{j}] = {y[i * n + j]}, expected {expect} ± {tol} (m={m} n={n} k={k} act={act})");
                }
        });

    [Property(MaxTest = 60)]
    public Property InPlaceResidualEqualsSeparateResidual() => Prop.ForAll(
        Shapes.Of(Gen.Choose(1, 70), Gen2.Size(1), Gen2.Size(1)),
        ((int m, int n, int k, int seed) t) =>
        {
            var (m, n, k, seed) = t;
            var x = Gen2.Floats(seed, m * k);
            var w = Int8Matrix.Quantize(Gen2.Floats(seed + 1, n * k), n, k);
            var b = Gen2.Floats(seed + 2, n);
            var res = Gen2.Floats(seed + 3, m * n);
            var separate = new float[m * n];
            Int8Gemm.Linear(x, m, w, b, separate, Activation.None, res, null);
            var inPlace = (float[])res.Clone();
            Int8Gemm.Linear(x, m, w, b, inPlace, Activation.None, inPlace, Pools.Two);
            Assert.Equal(separate, inPlace);
        });

    [Property(MaxTest = 20)]
    public Property ThreadedLinearIsBitwiseEqualToSerial() => Prop.ForAll(
        Shapes.Of(Gen.Choose(150, 700), Gen2.Size(1), Gen.Elements(383, 384, 385, 1536)),
        ((int m, int n, int k, int seed) t) =>
        {
            // Large enough that the activation quantization is split across the pool too.
            var (m, n, k, seed) = t;
            var x = Gen2.Floats(seed, m * k);
            var w = Int8Matrix.Quantize(Gen2.Floats(seed + 1, n * k), n, k);
            var b = Gen2.Floats(seed + 2, n);
            var y1 = new float[m * n]; var y2 = new float[m * n];
            Int8Gemm.Linear(x, m, w, b, y1, Activation.Gelu, default, null);
            Int8Gemm.Linear(x, m, w, b, y2, Activation.Gelu, default, Pools.Four);
            Assert.Equal(y1, y2);
        });

    [Fact]
    public void QuantizedProductIsCloseToTheFloatProduct()
    {
        // Not a rounding-exact check: the whole scheme's error on a realistic shape stays at the 1% level.
        const int m = 16, n = 96, k = 384;
        var x = Gen2.Floats(1, m * k); var wv = Gen2.Floats(2, n * k, 0.1f);
        var y = new float[m * n]; var yf = new float[m * n];
        Int8Gemm.Linear(x, m, Int8Matrix.Quantize(wv, n, k), default, y);
        Gemm.Linear(x, m, PackedMatrix.FromRowMajor(wv, n, k), default, yf);
        double err = 0, norm = 0;
        for (int i = 0; i < y.Length; i++) { err += (y[i] - yf[i]) * (double)(y[i] - yf[i]); norm += yf[i] * (double)yf[i]; }
        Assert.True(Math.Sqrt(err / norm) < 0.01, $"relative error {Math.Sqrt(err / norm)}");
    }

    [Fact]
    public void MatrixKeepsCodesAndScalesAndStacks()
    {
        var a = Codes(3, 5 * 7); var b = Codes(4, 20 * 7);
        var ma = Int8Matrix.FromCodes(a, [1, 2, 3, 4, 5], 5, 7);
        var mb = Int8Matrix.FromCodes(b, Enumerable.Range(0, 20).Select(i => (float)i).ToArray(), 20, 7);
        var s = Int8Matrix.Stack([ma, mb]);
        Assert.Equal(25, s.Rows);
        var all = new sbyte[25 * 7];
        s.CopyCodes(all);
        Assert.Equal(a.Concat(b).ToArray(), all);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5 }.Concat(Enumerable.Range(0, 20).Select(i => (float)i)).ToArray(), s.Scales.ToArray());
    }

    [Fact]
    public void MalformedCodesOrScalesAreRefused()
    {
        var codes = new sbyte[6];
        codes[4] = sbyte.MinValue;
        Assert.Contains("-128", Assert.Throws<ArgumentException>(() => Int8Matrix.FromCodes(codes, [1, 1], 2, 3)).Message);
        Assert.Throws<ArgumentException>(() => Int8Matrix.FromCodes(new sbyte[6], [1, float.NaN], 2, 3));
        Assert.Throws<ArgumentException>(() => Int8Matrix.FromCodes(new sbyte[6], [1, -1], 2, 3));
        Assert.Throws<ArgumentException>(() => Int8Matrix.FromCodes(new sbyte[6], [1], 2, 3));
    }
}
