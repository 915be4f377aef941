using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace ManagedEmbed.Kernels.Tests;

public class GemmTests
{
    private const double U = 1.0 / (1 << 24); // float32 unit roundoff

    /// <summary>
    /// Reference y = act(x·Wᵀ + b) + r in double, and the standard float32 dot-product bound for each element:
    /// |fl(Σ) − Σ| ≤ γ_(k+1)·(Σ|x·w| + |b|), γ_j = j·u/(1 − j·u). GELU is 1.13-Lipschitz and adds ≤ 2 ulp of its own.
    /// </summary>
    private static void CheckLinear(float[] x, int m, float[] w, int n, int k, float[] bias, float[] y, Activation act, float[]? res)
    {
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = bias.Length > 0 ? bias[j] : 0, abs = bias.Length > 0 ? Math.Abs(bias[j]) : 0;
                for (int p = 0; p < k; p++) { double t = (double)x[i * k + p] * w[j * k + p]; s += t; abs += Math.Abs(t); }
                double gamma = (k + 2) * U / (1 - (k + 2) * U);
                double expect = ReferenceMath.Act(s, act) + (res is null ? 0 : res[i * n + j]);
                double tol = 1.13 * gamma * abs + 4 * U * Math.Abs(expect) + 1e-30;
                double got = y[i * n + j];
                Assert.True(Math.Abs(got - expect) <= tol, $"y[{i},{j}] = {got}, expected {expect} ± {tol} (m={m} n={n} k={k} act={act})");
            }
    }

    [Property(MaxTest = 200)]
    public Property LinearMatchesReference() => Prop.ForAll(
        Shapes.Of(Gen2.Size(0).Select(v => v % 40), Gen2.Size(1), Gen2.Size(1)),
        ((int m, int n, int k, int seed) t) =>
        {
            var (m, n, k, seed) = t;
            var act = (Activation)(seed % 4);
            bool withBias = seed % 3 != 0, withRes = act == Activation.None ? seed % 5 == 0 : seed % 5 == 1;
            var x = Gen2.Floats(seed, m * k, 2); var wv = Gen2.Floats(seed + 1, n * k); var b = withBias ? Gen2.Floats(seed + 2, n) : [];
            var res = withRes ? Gen2.Floats(seed + 3, m * n) : null;
            var w = PackedMatrix.FromRowMajor(wv, n, k);
            var y = Enumerable.Repeat(float.NaN, m * n).ToArray();
            Gemm.Linear(x, m, w, b, y, act, res, null);
            CheckLinear(x, m, wv, n, k, b, y, act, res);
        });

    [Property(MaxTest = 60)]
    public Property ThreadedLinearIsBitwiseEqualToSerial() => Prop.ForAll(
        Shapes.Of(Gen.Choose(1, 300), Gen2.Size(1), Gen2.Size(1)),
        ((int m, int n, int k, int seed) t) =>
        {
            var (m, n, k, seed) = t;
            var act = (Activation)(seed % 4);
            var x = Gen2.Floats(seed, m * k); var w = PackedMatrix.FromRowMajor(Gen2.Floats(seed + 1, n * k), n, k);
            var b = Gen2.Floats(seed + 2, n);
            var y1 = new float[m * n]; var y2 = new float[m * n];
            Gemm.Linear(x, m, w, b, y1, act, default, null);
            Gemm.Linear(x, m, w, b, y2, act, default, Pools.Four);
            Assert.Equal(y1, y2);
        });

    /// <summary>
    /// Row counts that leave a partial row group (m = 6q + 1..5: the 4- and 2-row tiles, with and without zero-padded
    /// rows), at widths that are whole panels (stored straight into y) and not, with every epilogue (K-blocked partial groups: LinearAtModelShapesMatchesReference).
    /// </summary>
    [Property(MaxTest = 120)]
    public Property PartialRowGroupsMatchReference() => Prop.ForAll(
        Shapes.Of(Gen.Choose(0, 4).SelectMany(q => Gen.Choose(1, 5).Select(r => 6 * q + r)),
            Gen.Elements(8, 16, 32, 48, 5, 17, 40), Gen2.Size(1)),
        ((int m, int n, int k, int seed) t) =>
        {
            var (m, n, k, seed) = t;
            var act = (Activation)(seed % 4);
            var x = Gen2.Floats(seed, m * k, 2); var wv = Gen2.Floats(seed + 1, n * k); var b = seed % 2 == 0 ? Gen2.Floats(seed + 2, n) : [];
            var res = seed % 3 == 0 ? Gen2.Floats(seed + 3, m * n) : null;
            var y = Enumerable.Repeat(float.NaN, m * n).ToArray();
            Gemm.Linear(x, m, PackedMatrix.FromRowMajor(wv, n, k), b, y, act, res, null);
            CheckLinear(x, m, wv, n, k, b, y, act, res);
            // In place (y += x·Wᵀ + b): the partial tiles load their accumulators from y.
            var acc = Gen2.Floats(seed + 4, m * n);
            var y2 = (float[])acc.Clone();
            Gemm.Linear(x, m, PackedMatrix.FromRowMajor(wv, n, k), b, y2, Activation.None, y2, null);
            CheckLinear(x, m, wv, n, k, b, y2, Activation.None, acc);
        });

    /// <summary>
    /// Few rows (up to four row tiles) with K long enough to be cut into L1-sized slices per panel: slice tails, the
    /// accumulation across slices (from zero and onto an in-place y), partial tiles and every epilogue on the last slice.
    /// </summary>
    [Property(MaxTest = 120)]
    public Property FewRowsLongKMatchReference() => Prop.ForAll(
        Shapes.Of(Gen.Choose(1, 36), Gen.Elements(5, 16, 17, 48, 64, 100), Gen.Choose(60, 1700)),
        ((int m, int n, int k, int seed) t) =>
        {
            var (m, n, k, seed) = t;
            var act = (Activation)(seed % 4);
            var x = Gen2.Floats(seed, m * k, 2); var wv = Gen2.Floats(seed + 1, n * k); var b = seed % 2 == 0 ? Gen2.Floats(seed + 2, n) : [];
            var res = seed % 3 == 0 ? Gen2.Floats(seed + 3, m * n) : null;
            var y = Enumerable.Repeat(float.NaN, m * n).ToArray();
            Gemm.Linear(x, m, PackedMatrix.FromRowMajor(wv, n, k), b, y, act, res, seed % 5 == 0 ? Pools.Two : null);
            CheckLinear(x, m, wv, n, k, b, y, act, res);
            var acc = Gen2.Floats(seed + 4, m * n);
            var y2 = (float[])acc.Clone();
            Gemm.Linear(x, m, PackedMatrix.FromRowMajor(wv, n, k), b, y2, Activation.None, y2, null);
            CheckLinear(x, m, wv, n, k, b, y2, Activation.None, acc);
        });

    [Fact]
    public void LinearAtModelShapesMatchesReference()
    {
        // includes K > 2048 (K-blocked path, with a row tail) and m above one L2 row block
        foreach (var (m, n, k) in new[] { (16, 1152, 384), (67, 1536, 384), (33, 384, 1536), (300, 384, 384), (21, 100, 2500), (9, 50, 4100), (16, 48, 2100), (14, 40, 2100) })
        {
            var x = Gen2.Floats(m, m * k, 3); var wv = Gen2.Floats(n, n * k, 0.1f); var b = Gen2.Floats(k, n);
            var res = Gen2.Floats(7, m * n);
            var y = new float[m * n];
            Gemm.Linear(x, m, PackedMatrix.FromRowMajor(wv, n, k), b, y, Activation.Gelu, default, Pools.Four);
            CheckLinear(x, m, wv, n, k, b, y, Activation.Gelu, null);
            Gemm.Linear(x, m, PackedMatrix.FromRowMajor(wv, n, k), b, y, Activation.None, res, Pools.Four);
            CheckLinear(x, m, wv, n, k, b, y, Activation.None, res);
        }
    }

    [Property(MaxTest = 60)]
    public Property InPlaceResidualAddsToY() => Prop.ForAll(
        Shapes.Of(Gen2.Size(1).Select(v => v % 50 + 1), Gen2.Size(1), Gen2.Size(1)),
        ((int m, int n, int k, int seed) t) =>
        {
            var (m, n, k, seed) = t;
            var x = Gen2.Floats(seed, m * k); var wv = Gen2.Floats(seed + 1, n * k); var b = Gen2.Floats(seed + 2, n);
            var res = Gen2.Floats(seed + 3, m * n);
            var y = (float[])res.Clone();
            Gemm.Linear(x, m, PackedMatrix.FromRowMajor(wv, n, k), b, y, Activation.None, y, Pools.Two);
            CheckLinear(x, m, wv, n, k, b, y, Activation.None, res);
        });

    [Property(MaxTest = 150)]
    public Property MatMulTransBMatchesReference() => Prop.ForAll(
        Shapes.Of(Gen2.Size(0).Select(v => v % 45), Gen2.Size(0), Gen2.Size(0).Select(v => v % 130)),
        ((int m, int n, int k, int seed) t) =>
        {
            var (m, n, k, seed) = t;
            int lda = k + seed % 3, ldb = k + seed % 5, ldc = n + seed % 2;
            var a = Gen2.Floats(seed, Math.Max(0, m * lda)); var b = Gen2.Floats(seed + 1, Math.Max(0, n * ldb));
            var c = Enumerable.Repeat(-7f, Math.Max(0, m * ldc)).ToArray();
            Gemm.MatMulTransB(a, lda, b, ldb, c, ldc, m, n, k, seed % 2 == 0 ? null : Pools.Two);
            for (int i = 0; i < m; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    double s = 0, abs = 0;
                    for (int p = 0; p < k; p++) { double q = (double)a[i * lda + p] * b[j * ldb + p]; s += q; abs += Math.Abs(q); }
                    Assert.True(Math.Abs(c[i * ldc + j] - s) <= (k + 1) * U * abs * 1.01 + 1e-30, $"c[{i},{j}]");
                }
                for (int j = n; j < ldc; j++) Assert.Equal(-7f, c[i * ldc + j]); // padding between rows untouched
            }
        });

    /// <summary>
    /// MatMulTransB packs Bᵀ itself (8x8 AVX transposes plus scalar edges); MatMul packs an explicitly transposed
    /// copy row by row. Both feed the same kernels, so the products must be bitwise equal for every n, k tail.
    /// </summary>
    [Property(MaxTest = 200)]
    public Property MatMulTransBPacksLikeAnExplicitTranspose() => Prop.ForAll(
        Shapes.Of(Gen.Choose(3, 40), Gen2.Size(1), Gen2.Size(1).Select(v => v % 130 + 1)),
        ((int m, int n, int k, int seed) t) =>
        {
            var (m, n, k, seed) = t;
            int ldb = k + seed % 9;
            var a = Gen2.Floats(seed, m * k); var b = Gen2.Floats(seed + 1, n * ldb);
            var bt = new float[k * n];
            for (int j = 0; j < n; j++) for (int p = 0; p < k; p++) bt[p * n + j] = b[j * ldb + p];
            var c1 = new float[m * n]; var c2 = new float[m * n];
            Gemm.MatMulTransB(a, k, b, ldb, c1, n, m, n, k, null);
            Gemm.MatMul(a, k, bt, n, c2, n, m, n, k, null);
            Assert.Equal(c2, c1);
        });

    /// <summary>
    /// Attention-shaped products (n a multiple of 32, m ≥ 3 (fewer rows take dot products), so every 12/8/4-row tile of the 32-wide kernel and
    /// its partial row groups run): each output is a chain of fused multiply-adds over k in order from zero, so on the
    /// AVX-512 path it must equal that chain computed one scalar at a time, bit for bit; other paths are held to the
    /// error bound.
    /// </summary>
    [Property(MaxTest = 120)]
    public Property AttentionShapedProductsAreOrderedFmaChains() => Prop.ForAll(
        Shapes.Of(Gen.Choose(3, 40), Gen.Elements(32, 64, 96, 128, 160), Gen.Elements(16, 32, 33, 64, 128)),
        ((int m, int n, int k, int seed) t) =>
        {
            var (m, n, k, seed) = t;
            int lda = k + seed % 7, ldb = k + seed % 5, ldc = n + seed % 3;
            var a = Gen2.Floats(seed, m * lda); var b = Gen2.Floats(seed + 1, n * ldb);
            var c = new float[m * ldc];
            Gemm.MatMulTransB(a, lda, b, ldb, c, ldc, m, n, k, seed % 2 == 0 ? null : Pools.Two);
            bool fmaChain = KernelInfo.GemmPath == "Vector512";
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    float f = 0; double s = 0, abs = 0;
                    for (int p = 0; p < k; p++)
                    {
                        f = MathF.FusedMultiplyAdd(a[i * lda + p], b[j * ldb + p], f);
                        double q = (double)a[i * lda + p] * b[j * ldb + p]; s += q; abs += Math.Abs(q);
                    }
                    if (fmaChain) Assert.Equal(f, c[i * ldc + j]);
                    else Assert.True(Math.Abs(c[i * ldc + j] - s) <= (k + 1) * U * abs * 1.01 + 1e-30, $"c[{i},{j}]");
                }
        });

    [Property(MaxTest = 150)]
    public Property MatMulMatchesReference() => Prop.ForAll(
        Shapes.Of(Gen2.Size(0).Select(v => v % 45), Gen2.Size(0), Gen2.Size(0).Select(v => v % 130)),
        ((int m, int n, int k, int seed) t) =>
        {
            var (m, n, k, seed) = t;
            int lda = k + seed % 3, ldb = n + seed % 5, ldc = n + seed % 2;
            var a = Gen2.Floats(seed, m * lda); var b = Gen2.Floats(seed + 1, k * ldb);
            var c = new float[m * ldc];
            Gemm.MatMul(a, lda, b, ldb, c, ldc, m, n, k, seed % 2 == 0 ? null : Pools.Two);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0, abs = 0;
                    for (int p = 0; p < k; p++) { double q = (double)a[i * lda + p] * b[p * ldb + j]; s += q; abs += Math.Abs(q); }
                    Assert.True(Math.Abs(c[i * ldc + j] - s) <= (k + 1) * U * abs * 1.01 + 1e-30, $"c[{i},{j}]");
                }
        });

    /// <summary>
    /// W read in place (row-major, each K slice transposed into an L1 panel) gives bit for bit the packed product —
    /// every epilogue, in place, threaded, K-blocked (K > 2048) — and stays within the float32 dot-product bound of
    /// the double reference. Rows, widths and depths hit the 8-row transpose blocks' tails and the panel tails.
    /// </summary>
    [Property(MaxTest = 200)]
    public Property RowMajorLinearIsBitwiseEqualToPackedAndMatchesReference() => Prop.ForAll(
        Shapes.Of(Gen.Frequency((3, Gen.Choose(1, 20)), (1, Gen.Choose(21, 70)), (1, Gen.Constant(0))), Gen2.Size(1),
            Gen.Frequency((6, Gen2.Size(1)), (1, Gen.Choose(2040, 2600)))),
        ((int m, int n, int k, int seed) t) =>
        {
            var (m, n, k, seed) = t;
            var act = (Activation)(seed % 4);
            bool withBias = seed % 3 != 0, withRes = act == Activation.None ? seed % 5 == 0 : seed % 5 == 1;
            var x = Gen2.Floats(seed, m * k, 2); var wv = Gen2.Floats(seed + 1, n * k); var b = withBias ? Gen2.Floats(seed + 2, n) : [];
            var res = withRes ? Gen2.Floats(seed + 3, m * n) : null;
            var pool = seed % 7 == 0 ? Pools.Two : null;
            var packed = new float[m * n];
            Gemm.Linear(x, m, PackedMatrix.FromRowMajor(wv, n, k), b, packed, act, res, pool);
            var y = Enumerable.Repeat(float.NaN, m * n).ToArray();
            Gemm.LinearRowMajor(x, m, wv, n, b, y, act, res, pool);
            Assert.Equal(packed, y);
            CheckLinear(x, m, wv, n, k, b, y, act, res);
            // In place (y += x·Wᵀ + b): the accumulators start from y.
            var acc = Gen2.Floats(seed + 4, m * n);
            var yp = (float[])acc.Clone(); var yr = (float[])acc.Clone();
            Gemm.Linear(x, m, PackedMatrix.FromRowMajor(wv, n, k), b, yp, Activation.None, yp, pool);
            Gemm.LinearRowMajor(x, m, wv, n, b, yr, Activation.None, yr, pool);
            Assert.Equal(yp, yr);
            CheckLinear(x, m, wv, n, k, b, yr, Activation.None, acc);
        });

    [Fact]
    public void RowMajorLinearAtModelShapesIsBitwiseEqualToPacked()
    {
        foreach (var (m, n, k) in new[] { (1, 1152, 384), (4, 1536, 384), (16, 384, 1536), (17, 384, 384), (300, 384, 384), (9, 50, 4100) })
        {
            var x = Gen2.Floats(m, m * k, 3); var wv = Gen2.Floats(n, n * k, 0.1f); var b = Gen2.Floats(k, n);
            var expected = new float[m * n]; var y = new float[m * n];
            Gemm.Linear(x, m, PackedMatrix.FromRowMajor(wv, n, k), b, expected, Activation.Gelu, default, Pools.Four);
            Gemm.LinearRowMajor(x, m, wv, n, b, y, Activation.Gelu, default, Pools.Four);
            Assert.Equal(expected, y);
        }
    }

    /// <summary>
    /// A deferred matrix with an in-place source (two row blocks, as the fused query|key|value weight): products read
    /// the rows without packing while no panels exist, at every row count, then the panels once packed — all
    /// bit-identical to the eager matrix.
    /// </summary>
    [Fact]
    public unsafe void DeferredMatrixWithRowBlocksReadsRowsUntilPacked()
    {
        const int rows = 70, cols = 385, first = 30;
        var w = GC.AllocateArray<float>(rows * cols, pinned: true);
        Gen2.Floats(5, rows * cols).CopyTo(w, 0);
        fixed (float* pw = w)
        {
            int calls = 0;
            nint at = (nint)pw;
            var deferred = PackedMatrix.Deferred(rows, cols, dst => { Interlocked.Increment(ref calls); w.CopyTo(dst); },
                [(at, first), (at + first * cols * sizeof(float), rows - first)]);
            Assert.True(deferred.HasRowMajorSource);
            var eager = PackedMatrix.FromRowMajor(w, rows, cols);
            foreach (int m in new[] { 1, 5, 16, 17, 40 })
            {
                var x = Gen2.Floats(m, m * cols);
                var expected = new float[m * rows]; var y = new float[m * rows];
                Gemm.Linear(x, m, eager, default, expected);
                Gemm.Linear(x, m, deferred, default, y, Activation.None, default, Pools.Two);
                Assert.Equal(expected, y);
            }
            Assert.Equal(0, calls);
            Assert.False(deferred.IsPacked);
            deferred.EnsurePacked();
            Assert.Equal(1, calls);
            foreach (int m in new[] { 1, 17 })
            {
                var x = Gen2.Floats(m + 100, m * cols);
                var expected = new float[m * rows]; var y = new float[m * rows];
                Gemm.Linear(x, m, eager, default, expected);
                Gemm.Linear(x, m, deferred, default, y);
                Assert.Equal(expected, y);
            }
            // Row blocks must add up to the row count.
            Assert.Throws<ArgumentException>(() => PackedMatrix.Deferred(rows, cols, _ => { }, [(at, first)]));
            Assert.Throws<ArgumentException>(() => PackedMatrix.Deferred(rows, cols, _ => { }, [(at, rows), (at, 1)]));
            Assert.Throws<ArgumentException>(() => PackedMatrix.Deferred(rows, cols, _ => { }, [(0, rows)]));
        }
        GC.KeepAlive(w);
    }

    [Fact]
    public void PackedMatrixKeepsEveryElement()
    {
        var w = Gen2.Floats(1, 97 * 130);
        var pm = PackedMatrix.FromRowMajor(w, 97, 130);
        for (int r = 0; r < 97; r++)
            for (int c = 0; c < 130; c++) Assert.Equal(w[r * 130 + c], pm[r, c]);
        var blocks = PackedMatrix.FromRowBlocks(new ReadOnlyMemory<float>[] { w.AsMemory(0, 30 * 130), w.AsMemory(30 * 130) }, 130);
        Assert.Equal(97, blocks.Rows);
        for (int r = 0; r < 97; r++)
            for (int c = 0; c < 130; c++) Assert.Equal(w[r * 130 + c], blocks[r, c]);
    }

    [Fact]
    public void DeferredMatrixPacksOnceOnFirstUseAndEqualsEager()
    {
        var w = Gen2.Floats(3, 70 * 385);
        int calls = 0;
        var deferred = PackedMatrix.Deferred(70, 385, dst => { Interlocked.Increment(ref calls); w.CopyTo(dst); });
        Assert.False(deferred.IsPacked);
        Assert.Equal(0, calls);
        // Many threads reach it at once (a model's background packer and its forward passes): one of them packs.
        var x = Gen2.Floats(4, 5 * 385);
        var ys = new float[8][];
        Parallel.For(0, 8, i =>
        {
            ys[i] = new float[5 * 70];
            Gemm.Linear(x, 5, deferred, default, ys[i]);
        });
        Assert.Equal(1, calls);
        Assert.True(deferred.IsPacked);
        var eager = PackedMatrix.FromRowMajor(w, 70, 385);
        var expected = new float[5 * 70];
        Gemm.Linear(x, 5, eager, default, expected);
        foreach (var y in ys) Assert.Equal(expected, y);
        for (int r = 0; r < 70; r++)
            for (int c = 0; c < 385; c++) Assert.Equal(w[r * 385 + c], deferred[r, c]);
        deferred.EnsurePacked();
        Assert.Equal(1, calls);
    }

    [Fact]
    public void BadShapesAreRejected()
    {
        var w = PackedMatrix.FromRowMajor(new float[12], 3, 4);
        Assert.Throws<ArgumentException>(() => Gemm.Linear(new float[7], 2, w, default, new float[6]));
        Assert.Throws<ArgumentException>(() => Gemm.Linear(new float[8], 2, w, default, new float[5]));
        Assert.Throws<ArgumentException>(() => Gemm.Linear(new float[8], 2, w, new float[2], new float[6]));
        Assert.Throws<ArgumentException>(() => PackedMatrix.FromRowMajor(new float[11], 3, 4));
        var buf = new float[20];
        Assert.Throws<ArgumentException>(() => Gemm.Linear(buf.AsSpan(0, 8), 2, w, default, buf.AsSpan(4, 6)));
        var y = new float[6];
        Assert.Throws<ArgumentException>(() => Gemm.Linear(new float[8], 2, w, default, y, Activation.Gelu, y, null));
        Assert.Throws<ArgumentException>(() => Gemm.MatMulTransB(new float[8], 3, new float[12], 4, new float[6], 3, 2, 3, 4));
        Assert.Throws<ArgumentException>(() => Gemm.LinearRowMajor(new float[8], 2, new float[11], 3, default, new float[6], Activation.None, default, null));
        Assert.Throws<ArgumentException>(() => Gemm.LinearRowMajor(new float[7], 2, new float[12], 3, default, new float[6], Activation.None, default, null));
        Assert.Throws<ArgumentException>(() => Gemm.LinearRowMajor(new float[8], 2, new float[12], 3, new float[2], new float[6], Activation.None, default, null));
    }
}

internal static class Pools
{
    public static readonly KernelThreadPool Two = new(2);
    public static readonly KernelThreadPool Four = new(4);
}
