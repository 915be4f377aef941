using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace ManagedEmbed.Kernels.Tests;

public class MathTests
{
    private const double U = 1.0 / (1 << 24);

    /// <summary>Relative error of a float result against a double reference; results in the denormal range compare absolutely.</summary>
    private static double RelErr(float got, double expect) =>
        Math.Abs(expect) < 1e-37 ? (Math.Abs(got - expect) < 1e-44 ? 0 : Math.Abs(got - expect) / 1e-37) : Math.Abs(got - expect) / Math.Abs(expect);

    [Fact]
    public void ReferenceErfAgreesWithKnownValues()
    {
        // Independent anchors (Abramowitz & Stegun table 7.1 / well-known constants) keep the test reference honest.
        Assert.True(Math.Abs(ReferenceMath.Erf(0.5) / 0.5204998778130465 - 1) < 1e-14);
        Assert.True(Math.Abs(ReferenceMath.Erf(1.0) / 0.8427007929497149 - 1) < 1e-14);
        Assert.True(Math.Abs(ReferenceMath.Erf(2.0) / 0.9953222650189527 - 1) < 1e-14);
        Assert.True(Math.Abs(ReferenceMath.Erfc(3.0) / 2.209049699858544e-05 - 1) < 1e-13);
        Assert.True(Math.Abs(ReferenceMath.Erfc(5.0) / 1.5374597944280349e-12 - 1) < 1e-13);
        Assert.True(Math.Abs(ReferenceMath.Erfc(10.0) / 2.088487583762545e-45 - 1) < 1e-13);
    }

    [Fact]
    public void SpecialFunctionsErfIsDoubleAccurate()
    {
        double worst = 0;
        for (double x = -8; x <= 8; x += 1e-3)
        {
            double e = ReferenceMath.Erf(x), g = SpecialFunctions.Erf(x);
            if (e != 0) worst = Math.Max(worst, Math.Abs(g - e) / Math.Abs(e));
        }
        Assert.True(worst < 1e-13, $"erf worst relative error {worst}");
        worst = 0;
        for (double x = -3; x <= 26; x += 1e-3)
        {
            double e = ReferenceMath.Erfc(x), g = SpecialFunctions.Erfc(x);
            worst = Math.Max(worst, Math.Abs(g - e) / e);
        }
        Assert.True(worst < 1e-12, $"erfc worst relative error {worst}"); // the reference itself is good to ~2e-13 near x = 2
        Assert.True(Math.Abs(SpecialFunctions.Erf(1e-10) / (1e-10 * 2 / Math.Sqrt(Math.PI)) - 1) < 1e-15);
    }

    /// <summary>
    /// The vector GELU (erf form) runs in float lanes: its max relative error vs the double reference, stated here,
    /// over a dense grid of [−20, 20] (step 2⁻¹²) and powers of two down to 2⁻⁴⁰ (a few float ulp; the scalar path,
    /// used for vector tails and without SIMD, stays the double-core reference at ≤ 1e-7).
    /// </summary>
    internal const double GeluErfVectorBound = 4e-7;

    private const double MinNormalFloat = 1.1754943508222875e-38;

    /// <summary>
    /// Error of the float-lane GELU: relative for normal results; a result whose reference is subnormal may flush
    /// toward zero (the vector exp stops at float.MinNormal), so it only has to be within MinNormal absolutely.
    /// </summary>
    private static double GeluVecErr(float got, double expect) =>
        Math.Abs(expect) < MinNormalFloat ? (Math.Abs(got - expect) <= MinNormalFloat ? 0 : double.PositiveInfinity) : Math.Abs(got - expect) / Math.Abs(expect);

    /// <summary>Dense grid over every float GELU input that does not round to 0 or to x.</summary>
    [Fact]
    public void VectorGeluErfIsFloatAccurateOnDenseGrid()
    {
        var xs = new List<float>();
        for (double x = -20; x <= 20; x += 1.0 / 4096) xs.Add((float)x);
        for (int e = -40; e <= 0; e++) { xs.Add(MathF.Pow(2, e)); xs.Add(-MathF.Pow(2, e)); }
        var v = xs.ToArray();
        Activations.Apply(v, Activation.Gelu);
        double worst = 0; float at = 0;
        for (int i = 0; i < v.Length; i++)
        {
            double err = GeluVecErr(v[i], ReferenceMath.GeluErf(xs[i]));
            if (err > worst) { worst = err; at = xs[i]; }
            Assert.True(RelErr(Activations.GeluErf(xs[i]), ReferenceMath.GeluErf(xs[i])) <= 1e-7, $"scalar GELU at {xs[i]}");
        }
        Assert.True(worst <= GeluErfVectorBound, $"GELU(erf) worst relative error {worst} at x = {at}");
    }

    /// <summary>
    /// The negative tail, where 1 + erf(x) cancels and only the erfc form keeps precision: a grid of step 2⁻¹⁴ over
    /// [−13.2, −3] (results from 4e-3 down to the smallest normal floats) within the stated bound; below, results
    /// are subnormal or zero and must stay within float.MinNormal absolutely (the vector exp flushes below float.MinNormal).
    /// </summary>
    [Fact]
    public void VectorGeluErfKeepsTheNegativeTail()
    {
        var xs = new List<float>();
        for (double x = -3; x >= -13.2; x -= 1.0 / 16384) xs.Add((float)x);
        for (double x = -13.2; x >= -40; x -= 0.01) xs.Add((float)x);
        xs.Add(float.MinValue); xs.Add(-1e30f);
        var v = xs.ToArray();
        Activations.Apply(v, Activation.Gelu);
        double worst = 0; float at = 0;
        for (int i = 0; i < v.Length; i++)
        {
            double expect = ReferenceMath.GeluErf(xs[i]);
            Assert.True(v[i] <= 0, $"GELU({xs[i]}) = {v[i]} must not be positive");
            if (Math.Abs(expect) >= MinNormalFloat)
            {
                double err = Math.Abs(v[i] - expect) / Math.Abs(expect);
                if (err > worst) { worst = err; at = xs[i]; }
            }
            else Assert.True(Math.Abs(v[i] - expect) <= MinNormalFloat, $"GELU({xs[i]}) = {v[i]}, expected {expect}");
        }
        Assert.True(worst <= GeluErfVectorBound, $"GELU(erf) tail worst relative error {worst} at x = {at}");
    }

    [Fact]
    public void VectorGeluErfSpecialValues()
    {
        float[] x = [float.PositiveInfinity, float.NaN, 0f, -0f, 1e30f, float.MaxValue, 16f, 17f, 100f, 3f, -1f, 2f, -2f, 0.5f, -0.5f, 1f];
        var v = (float[])x.Clone();
        Activations.Apply(v, Activation.Gelu);
        Assert.Equal(float.PositiveInfinity, v[0]);
        Assert.True(float.IsNaN(v[1]));
        Assert.Equal(0f, v[2]);
        Assert.Equal(0f, v[3]);
        for (int i = 4; i < 9; i++) Assert.Equal(x[i], v[i]); // Φ(x) rounds to 1
        for (int i = 9; i < x.Length; i++) Assert.True(GeluVecErr(v[i], ReferenceMath.GeluErf(x[i])) <= GeluErfVectorBound, $"GELU({x[i]}) = {v[i]}");
    }

    [Fact]
    public void VectorGeluTanhIsFloatAccurateOnDenseGrid()
    {
        var xs = new List<float>();
        for (double x = -12; x <= 12; x += 1.0 / 4096) xs.Add((float)x);
        var v = xs.ToArray();
        Activations.Apply(v, Activation.GeluTanh);
        double worst = 0;
        for (int i = 0; i < v.Length; i++) worst = Math.Max(worst, RelErr(v[i], ReferenceMath.GeluTanh(xs[i])));
        Assert.True(worst <= 1e-7, $"GELU(tanh) worst relative error {worst}");
    }

    [Property(MaxTest = 100)]
    public Property ActivationsMatchScalarOnEveryLength() => Prop.ForAll(
        Arb.From(Gen2.Size(0)), Arb.From(Gen.Choose(0, 1 << 20)),
        (n, seed) =>
        {
            var act = (Activation)(seed % 4);
            var x = Gen2.Floats(seed, n, 8);
            var y = (float[])x.Clone();
            Activations.Apply(y, act);
            for (int i = 0; i < n; i++)
            {
                double e = ReferenceMath.Act(x[i], act);
                double err = act == Activation.Gelu ? GeluVecErr(y[i], e) : RelErr(y[i], e);
                Assert.True(err <= (act == Activation.Gelu ? GeluErfVectorBound : 1e-7), $"{act}({x[i]}) = {y[i]}, expected {e}");
            }
        });

    [Property(MaxTest = 150)]
    public Property LayerNormMatchesDoubleReference() => Prop.ForAll(
        Arb.From(Gen2.Size(1)), Arb.From(Gen.Choose(1, 5)), Arb.From(Gen.Choose(0, 1 << 20)),
        (d, rows, seed) =>
        {
            var x = Gen2.Floats(seed, d * rows, 3);
            float offset = (seed % 7) - 3;
            for (int i = 0; i < x.Length; i++) x[i] += offset;
            var g = Gen2.Floats(seed + 1, d, 2); var b = Gen2.Floats(seed + 2, d);
            var y = (float[])x.Clone();
            const float eps = 1e-12f;
            Normalization.LayerNorm(y, g, b, eps);
            for (int r = 0; r < rows; r++)
            {
                double mean = 0; for (int i = 0; i < d; i++) mean += x[r * d + i]; mean /= d;
                double var = 0; for (int i = 0; i < d; i++) var += (x[r * d + i] - mean) * (x[r * d + i] - mean); var /= d;
                double std = Math.Sqrt(var + eps);
                for (int i = 0; i < d; i++)
                {
                    double xh = (x[r * d + i] - mean) / std, e = xh * g[i] + b[i];
                    // float sums over d terms: mean and variance each carry ≤ γ_d relative error, and centering adds
                    // d·u·|mean|/std absolute error to x̂; two more roundings for the affine step.
                    double tol = ((d + 4) * U * (1 + Math.Abs(xh)) * (1 + Math.Abs(mean) / std)) * Math.Abs(g[i]) + 2 * U * (Math.Abs(e) + Math.Abs(b[i]));
                    if (std < 1e-3) tol = 1e-3; // d = 1 or constant rows: x − mean is 0 up to rounding
                    Assert.True(Math.Abs(y[r * d + i] - e) <= tol, $"d={d} row {r} [{i}]: {y[r * d + i]} vs {e} ± {tol}");
                }
            }
        });

    [Property(MaxTest = 200)]
    public Property SoftmaxMatchesDoubleReference() => Prop.ForAll(
        Arb.From(Gen2.Size(1)), Arb.From(Gen.Choose(0, 1 << 20)),
        (n, seed) =>
        {
            var x = Gen2.Floats(seed, n, 30);
            if (seed % 4 == 0 && n > 1) x[seed % n] = float.NegativeInfinity; // masked position
            if (seed % 8 == 1) for (int i = 0; i < n; i++) x[i] = x[i] * 5 - 100; // far from 0, some terms underflow
            var y = (float[])x.Clone();
            Normalization.Softmax(y);
            double max = x.Max(), sum = 0;
            foreach (var v in x) sum += Math.Exp(v - max);
            double total = 0;
            for (int i = 0; i < n; i++)
            {
                double e = Math.Exp(x[i] - max) / sum;
                total += y[i];
                if (float.IsNegativeInfinity(x[i])) { Assert.Equal(0f, y[i]); continue; }
                // exp(x − max) has ≤ 2 ulp of its own plus the rounding of x − max (relative |x − max|·u), the sum
                // ≤ n·u relative; results below the float normal range may flush to zero.
                double tol = ((n + 6) * U + Math.Abs(x[i] - max) * U) * e + 1.2e-38;
                Assert.True(Math.Abs(y[i] - e) <= tol, $"n={n} [{i}]: {y[i]} vs {e} ± {tol}");
            }
            Assert.True(Math.Abs(total - 1) <= (2 * n + 6) * U, $"sum {total}");
        });

    [Fact]
    public void SoftmaxOfEmptyIsNoOp()
    {
        // An empty slice in the middle of data: nothing around it may change (no NaN from 0/0, no stray writes).
        float[] data = [1f, 2f, 3f];
        Normalization.Softmax(data.AsSpan(1, 0));
        Normalization.Softmax(data.AsSpan(3, 0), 0.5f);
        Assert.Equal([1f, 2f, 3f], data);
        // The same call on one element gives exactly 1, so the empty case is not just "nothing ran at all".
        Normalization.Softmax(data.AsSpan(1, 1));
        Assert.Equal([1f, 1f, 3f], data);
    }
}

public class ScaledSoftmaxTests
{
    [FsCheck.Xunit.Property(MaxTest = 100)]
    public FsCheck.Property ScaledSoftmaxEqualsSoftmaxOfScaledRow() => FsCheck.Fluent.Prop.ForAll(
        FsCheck.Fluent.Arb.From(Gen2.Size(1)), FsCheck.Fluent.Arb.From(FsCheck.Fluent.Gen.Choose(0, 1 << 20)),
        (n, seed) =>
        {
            var x = Gen2.Floats(seed, n, 20);
            float scale = 1f / MathF.Sqrt(1 + seed % 64);
            var a = (float[])x.Clone();
            Normalization.Softmax(a, scale);
            var b = x.Select(v => v * scale).ToArray();
            Normalization.Softmax(b);
            Assert.Equal(b, a); // same float operations in the same order
        });
}
