using System.Runtime.Intrinsics.X86;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace ManagedEmbed.Kernels.Tests;

public class AttentionTests
{
    /// <summary>Lengths 1..70 (every vector and 8-row block tail) and 128; head dims of the models plus ones with tails.</summary>
    private static readonly Arbitrary<(int Len, int D, int Seed)> Shapes = Arb.From(
        from len in Gen.Frequency((6, Gen.Choose(1, 70)), (1, Gen.Constant(128)))
        from d in Gen.Frequency((4, Gen.Elements(32, 64)), (1, Gen.Elements(1, 8, 16, 40, 48)))
        from seed in Gen.Choose(0, 1 << 20)
        select (len, d, seed));

    /// <summary>
    /// The multiply-add of the GEMM micro-kernel on this path: fused wherever the vector path has FMA, a rounded
    /// multiply then add on the portable path and on vector paths without FMA.
    /// </summary>
    private static readonly bool Fused = KernelInfo.GemmPath != "scalar" && Fma.IsSupported;

    private static float MulAdd(float a, float b, float acc) => Fused ? MathF.FusedMultiplyAdd(a, b, acc) : acc + a * b;

    /// <summary>
    /// Scalar reference: each score the chain over c = 0..d−1 from 0, the row softmax of Normalization.Softmax, each
    /// context element the chain over j = 0..len−1. <paramref name="bias"/> (when given) is added as scale·s + bias.
    /// </summary>
    private static float[] Reference(float[] qkv, int ld, int len, int d, float scale, float[]? bias)
    {
        int k0 = d, v0 = 2 * d;
        var p = new float[len * len];
        for (int i = 0; i < len; i++)
        {
            for (int j = 0; j < len; j++)
            {
                float acc = 0;
                for (int c = 0; c < d; c++) acc = MulAdd(qkv[i * ld + c], qkv[j * ld + k0 + c], acc);
                p[i * len + j] = bias is null ? acc : acc * scale + bias[i * len + j];
            }
            Normalization.Softmax(p.AsSpan(i * len, len), bias is null ? scale : 1f);
        }
        var ctx = new float[len * d];
        for (int i = 0; i < len; i++)
            for (int c = 0; c < d; c++)
            {
                float acc = 0;
                for (int j = 0; j < len; j++) acc = MulAdd(p[i * len + j], qkv[j * ld + v0 + c], acc);
                ctx[i * d + c] = acc;
            }
        return ctx;
    }

    /// <summary>Packed [len, 3·d + pad] Q | K | V rows, as one head of the encoder's fused projection (the pad varies the stride).</summary>
    private static (float[] Qkv, int Ld) Inputs(int len, int d, int seed)
    {
        int ld = 3 * d + seed % 5;
        return (Gen2.Floats(seed, len * ld, 3f), ld);
    }

    /// <summary>
    /// The fused kernel is bit-identical to the ordered chains (scores over head_dim, context over the sequence) and the
    /// row softmax, on every vector path and at every length tail; and, from 3 tokens, to the GEMM path the encoder
    /// used before it (MatMulTransB, Softmax, MatMul; below 3 rows MatMulTransB takes dot products instead).
    /// </summary>
    [Property(MaxTest = 300)]
    public Property ForwardIsTheOrderedChainsAndSoftmax() => Prop.ForAll(Shapes, t =>
    {
        var (len, d, seed) = t;
        var (qkv, ld) = Inputs(len, d, seed);
        float scale = 1f / MathF.Sqrt(d);
        int ldc = d + seed % 3;
        var ctx = new float[len * ldc];
        Attention.Forward(qkv, ld, qkv.AsSpan(d), ld, qkv.AsSpan(2 * d), ld, ctx, ldc, len, d, scale);
        var expect = Reference(qkv, ld, len, d, scale, null);
        for (int i = 0; i < len; i++)
            for (int c = 0; c < d; c++)
                Assert.True(expect[i * d + c].Equals(ctx[i * ldc + c]), $"ctx[{i},{c}] = {ctx[i * ldc + c]:R}, expected {expect[i * d + c]:R} (len={len} d={d})");

        if (len >= 3)
        {
            var scores = new float[len * len];
            var old = new float[len * ldc];
            Gemm.MatMulTransB(qkv, ld, qkv.AsSpan(d), ld, scores, len, len, len, d);
            for (int i = 0; i < len; i++) Normalization.Softmax(scores.AsSpan(i * len, len), scale);
            Gemm.MatMul(scores, len, qkv.AsSpan(2 * d), ld, old, ldc, len, d, len);
            Assert.Equal(old, ctx);
        }
    });

    /// <summary>
    /// The unfused steps with a bias between them (MPNet's hook: scale·s + bias, then a plain softmax) give the
    /// reference bit for bit; Scores leaves the padding of a wider score stride alone.
    /// </summary>
    [Property(MaxTest = 200)]
    public Property StepsWithABiasAreTheOrderedChains() => Prop.ForAll(Shapes, t =>
    {
        var (len, d, seed) = t;
        var (qkv, ld) = Inputs(len, d, seed);
        float scale = 1f / MathF.Sqrt(d);
        var bias = Gen2.Floats(seed + 7, len * len, 2f);
        int lds = len + seed % 4;
        var scores = new float[len * lds];
        Array.Fill(scores, float.NaN);
        Attention.Scores(qkv, ld, qkv.AsSpan(d), ld, scores, lds, len, d);
        for (int i = 0; i < len; i++)
        {
            for (int j = 0; j < len; j++) scores[i * lds + j] = scores[i * lds + j] * scale + bias[i * len + j];
            for (int j = len; j < lds; j++) Assert.True(float.IsNaN(scores[i * lds + j]), "Scores wrote past len");
        }
        Attention.Softmax(scores, lds, len, len, 1f);
        var ctx = new float[len * d];
        Attention.Context(scores, lds, qkv.AsSpan(2 * d), ld, ctx, d, len, d);
        Assert.Equal(Reference(qkv, ld, len, d, scale, bias), ctx);
    });

    /// <summary>Softmax over several rows at once is row by row Normalization.Softmax (rows 1..20: the 8-row groups and their tails).</summary>
    [Property(MaxTest = 200)]
    public Property SoftmaxRowsAreRowByRow() => Prop.ForAll(
        Arb.From(from rows in Gen.Choose(1, 20) from len in Gen2.Size(1) from seed in Gen.Choose(0, 1 << 20) select (rows, len, seed)),
        t =>
        {
            var (rows, len, seed) = t;
            int lds = len + seed % 3;
            float scale = seed % 2 == 0 ? 1f : 0.125f;
            var x = Gen2.Floats(seed, rows * lds, 20f);
            var expect = (float[])x.Clone();
            for (int r = 0; r < rows; r++) Normalization.Softmax(expect.AsSpan(r * lds, len), scale);
            Attention.Softmax(x, lds, rows, len, scale);
            Assert.Equal(expect, x);
        });

    [Fact]
    public void RejectsBadArguments()
    {
        var a = new float[64];
        Assert.Throws<ArgumentOutOfRangeException>(() => Attention.Forward(a, 4, a, 4, a, 4, new float[64], 4, 4, 4, 0f));
        Assert.Throws<ArgumentException>(() => Attention.Forward(a, 3, a, 4, a, 4, new float[64], 4, 4, 4, 1f));
        Assert.Throws<ArgumentException>(() => Attention.Forward(a, 4, a, 4, a, 4, new float[8], 4, 4, 4, 1f));
        Assert.Throws<ArgumentException>(() => Attention.Scores(a, 4, a, 4, new float[15], 4, 4, 4));
        Assert.Throws<ArgumentException>(() => Attention.Context(a, 4, a, 4, new float[64], 3, 4, 4));
        Attention.Forward(a, 4, a, 4, a, 4, new float[64], 4, 0, 4, 1f); // empty sequence: nothing to do
    }
}
