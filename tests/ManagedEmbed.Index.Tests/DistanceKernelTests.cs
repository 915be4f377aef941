using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Index.Tests;

public class DistanceKernelTests
{
    private static int Len(byte sel) => TestData.TailLengths[sel % TestData.TailLengths.Length];

    [Property(MaxTest = 300)]
    public bool Score_equals_scalar_reference_bit_for_bit(int seed, byte lenSel, bool l2)
    {
        int d = Len(lenSel);
        var q = TestData.Random(seed, 1, d);
        var x = TestData.Random(seed + 1, 1, d);
        float s = Distance.Score(q, x, l2);
        return BitConverter.SingleToInt32Bits(s) == BitConverter.SingleToInt32Bits(Distance.ReferenceScore(q, x, l2, Distance.LaneCount));
    }

    [Property(MaxTest = 200)]
    public bool Reference_is_close_to_double_precision(int seed, byte lenSel, bool l2, byte lanesSel)
    {
        int d = Len(lenSel);
        int lanes = new[] { 1, 2, 4, 8, 16 }[lanesSel % 5];
        var q = TestData.Random(seed, 1, d);
        var x = TestData.Random(seed + 7, 1, d);
        double exact = 0, mag = 0;
        for (int i = 0; i < d; i++)
        {
            double t = l2 ? (double)(q[i] - x[i]) * (q[i] - x[i]) : (double)q[i] * x[i];
            exact += t; mag += Math.Abs(t);
        }
        return Math.Abs(Distance.ReferenceScore(q, x, l2, lanes) - exact) <= 1e-5 * (mag + 1);
    }

    [Property(MaxTest = 150)]
    public bool ScoreRows_equals_Score(int seed, byte lenSel, byte nSel, bool l2)
    {
        int d = Len(lenSel), n = nSel % 37;
        var q = TestData.Random(seed, 1, d);
        var rows = TestData.Random(seed + 1, n, d);
        var s = new float[n];
        Distance.ScoreRows(q, rows, s, l2);
        for (int j = 0; j < n; j++)
            if (BitConverter.SingleToInt32Bits(s[j]) != BitConverter.SingleToInt32Bits(Distance.Score(q, rows.AsSpan(j * d, d), l2))) return false;
        return true;
    }

    [Property(MaxTest = 150)]
    public bool ScoreBlock_equals_Score(int seed, byte lenSel, byte mSel, byte nSel, bool l2)
    {
        int d = Len(lenSel), m = mSel % 11, n = nSel % 13;
        var q = TestData.Random(seed, m, d);
        var rows = TestData.Random(seed + 1, n, d);
        var s = new float[m * n];
        Distance.ScoreBlock(q, m, rows, n, d, s, l2);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                if (BitConverter.SingleToInt32Bits(s[i * n + j]) != BitConverter.SingleToInt32Bits(Distance.Score(q.AsSpan(i * d, d), rows.AsSpan(j * d, d), l2))) return false;
        return true;
    }

    [Property(MaxTest = 60)]
    public bool ScoreBlock_equals_Score_on_whole_vector_dims(int seed, byte dSel, byte mSel, byte nSel, bool l2)
    {
        // Dims without a tail take the AVX-512 transposed-reduction epilogue.
        int d = 16 * (1 + dSel % 25), m = 4 + mSel % 9, n = 4 + nSel % 9;
        var q = TestData.Random(seed, m, d);
        var rows = TestData.Random(seed + 1, n, d);
        var s = new float[m * n];
        Distance.ScoreBlock(q, m, rows, n, d, s, l2);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                if (BitConverter.SingleToInt32Bits(s[i * n + j]) != BitConverter.SingleToInt32Bits(Distance.ReferenceScore(q.AsSpan(i * d, d), rows.AsSpan(j * d, d), l2, Distance.LaneCount))) return false;
        return true;
    }

    [Fact]
    public void Lane_count_follows_the_instruction_set_switches()
    {
        // Proves the DOTNET_EnableAVX512=0 / DOTNET_EnableAVX2=0 test runs really exercise the narrower paths.
        // Note: .NET 10 ignores DOTNET_EnableAVX512F; DOTNET_EnableAVX512=0 is the switch that turns AVX-512 off.
        // Every branch asserts (the last ones on machines without AVX-512 and without a switch).
        int expected =
            Environment.GetEnvironmentVariable("DOTNET_EnableAVX2") == "0" ? 4
            : Environment.GetEnvironmentVariable("DOTNET_EnableAVX512") == "0" ? 8
            : System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? 16
            : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? 8
            : System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated ? 4 : 1;
        Assert.Equal(expected, Distance.LaneCount);
        // Independently of the switches: an AVX2 machine never falls back below 8 lanes unless AVX2 is switched off.
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported) Assert.True(Distance.LaneCount >= 8, $"AVX2 available but {Distance.LaneCount} lanes");
    }

    [Fact]
    public void Kernels_reject_mismatched_shapes()
    {
        Assert.Throws<ArgumentException>(() => Distance.Score(new float[3], new float[4], false));
        Assert.Throws<ArgumentException>(() => Distance.ScoreRows(new float[4], new float[7], new float[2], false));
        Assert.Throws<ArgumentException>(() => Distance.ScoreBlock(new float[8], 2, new float[8], 3, 4, new float[6], false));
    }

    [Property(MaxTest = 200)]
    public bool TopKHeap_keeps_the_k_best_sorted_with_lower_id_on_ties(int seed, byte nSel, byte kSel)
    {
        int n = nSel % 120, k = 1 + kSel % 20;
        var rng = new Random(seed);
        // Few distinct values so ties are frequent.
        var scores = Enumerable.Range(0, n).Select(_ => (float)rng.Next(-5, 6)).ToArray();
        var ids = Enumerable.Range(0, n).Select(_ => (long)rng.Next(0, 1000)).Distinct().ToArray();
        n = ids.Length;
        var heap = new TopKHeap(k);
        // Mix the two entry points: contiguous ids via PushRange and explicit ids.
        heap.PushRange(scores.AsSpan(0, n), ids, 1f);
        var keys = new float[k]; var got = new long[k];
        int real = heap.Drain(keys, got);
        var expected = Enumerable.Range(0, n).Select(i => (s: scores[i], id: ids[i]))
            .OrderByDescending(t => t.s).ThenBy(t => t.id).Take(k).ToArray();
        if (real != expected.Length) return false;
        for (int j = 0; j < k; j++)
        {
            if (j < real) { if (keys[j] != expected[j].s || got[j] != expected[j].id) return false; }
            else if (got[j] != -1) return false;
        }
        return true;
    }

    [Property(MaxTest = 200)]
    public bool TopKHeap_PushRange_contiguous_matches_sorting(int seed, byte nSel, byte kSel, bool negate)
    {
        int n = nSel % 100, k = 1 + kSel % 16;
        var rng = new Random(seed);
        var scores = Enumerable.Range(0, n).Select(_ => (float)rng.Next(-4, 5) / 2).ToArray();
        float sign = negate ? -1f : 1f;
        var heap = new TopKHeap(k);
        heap.PushRange(scores, 100, sign);
        var keys = new float[k]; var got = new long[k];
        int real = heap.Drain(keys, got);
        var expected = Enumerable.Range(0, n).Select(i => (s: sign * scores[i], id: 100L + i))
            .OrderByDescending(t => t.s).ThenBy(t => t.id).Take(k).ToArray();
        return real == expected.Length && expected.Select((e, j) => keys[j] == e.s && got[j] == e.id).All(b => b);
    }
}
