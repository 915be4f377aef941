using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ManagedEmbed.Kernels;

/// <summary>
/// Similarity kernels for vector search: inner product and squared L2 distance of one query against many rows,
/// and of a block of queries against a block of rows (register-tiled: 4 x 4 with 32 vector registers, 3 x 4 / 2 x 4 with 16).
/// </summary>
/// <remarks>
/// Every kernel computes each (query, row) score in one canonical order, so a score does not depend on which
/// kernel, tile position or thread produced it (this is what makes IVF with nprobe = nlist equal the flat index
/// bit for bit). The order, for a lane count W (<see cref="LaneCount"/>): W running lane sums over the first
/// <c>dim - dim % W</c> coordinates, each step a fused multiply-add; a fixed pairwise reduction of the W lanes
/// (halves first); then the remaining <c>dim % W</c> coordinates added one by one with scalar fused multiply-adds.
/// For L2 the step is <c>acc = fma(q - x, q - x, acc)</c>. <see cref="ReferenceScore"/> spells this out in scalar code.
/// </remarks>
public static class Distance
{
    /// <summary>The lane count W the kernels use on this machine: 16 (AVX-512), 8 (AVX2), 4 (SSE/NEON) or 1.</summary>
    public static int LaneCount { get; } =
        Vector512.IsHardwareAccelerated ? 16 : Vector256.IsHardwareAccelerated ? 8 : Vector128.IsHardwareAccelerated ? 4 : 1;

    /// <summary>Score of one pair: inner product, or squared L2 distance when <paramref name="l2"/>.</summary>
    public static float Score(ReadOnlySpan<float> q, ReadOnlySpan<float> x, bool l2)
    {
        if (q.Length != x.Length) throw new ArgumentException("Vectors must have the same length.");
        ref float pq = ref MemoryMarshal.GetReference(q);
        ref float px = ref MemoryMarshal.GetReference(x);
        return LaneCount switch
        {
            16 => l2 ? Pair<Vector512<float>, V512, True>(ref pq, ref px, q.Length) : Pair<Vector512<float>, V512, False>(ref pq, ref px, q.Length),
            8 => l2 ? Pair<Vector256<float>, V256, True>(ref pq, ref px, q.Length) : Pair<Vector256<float>, V256, False>(ref pq, ref px, q.Length),
            4 => l2 ? Pair<Vector128<float>, V128, True>(ref pq, ref px, q.Length) : Pair<Vector128<float>, V128, False>(ref pq, ref px, q.Length),
            _ => l2 ? Pair<float, V1, True>(ref pq, ref px, q.Length) : Pair<float, V1, False>(ref pq, ref px, q.Length),
        };
    }

    /// <summary>
    /// scores[j] = score(q, rows[j]) for the <c>scores.Length</c> rows stored row-major with length <c>q.Length</c>.
    /// One pass over <paramref name="rows"/>, four rows at a time.
    /// </summary>
    public static void ScoreRows(ReadOnlySpan<float> q, ReadOnlySpan<float> rows, Span<float> scores, bool l2)
    {
        int dim = q.Length, n = scores.Length;
        if (dim == 0) { scores.Clear(); return; }
        if (rows.Length < (long)n * dim) throw new ArgumentException("rows holds fewer than scores.Length rows.");
        ref float pq = ref MemoryMarshal.GetReference(q);
        ref float px = ref MemoryMarshal.GetReference(rows);
        ref float ps = ref MemoryMarshal.GetReference(scores);
        switch (LaneCount)
        {
            case 16: if (l2) Rows<Vector512<float>, V512, True>(ref pq, ref px, ref ps, n, dim); else Rows<Vector512<float>, V512, False>(ref pq, ref px, ref ps, n, dim); break;
            case 8: if (l2) Rows<Vector256<float>, V256, True>(ref pq, ref px, ref ps, n, dim); else Rows<Vector256<float>, V256, False>(ref pq, ref px, ref ps, n, dim); break;
            case 4: if (l2) Rows<Vector128<float>, V128, True>(ref pq, ref px, ref ps, n, dim); else Rows<Vector128<float>, V128, False>(ref pq, ref px, ref ps, n, dim); break;
            default: if (l2) Rows<float, V1, True>(ref pq, ref px, ref ps, n, dim); else Rows<float, V1, False>(ref pq, ref px, ref ps, n, dim); break;
        }
    }

    /// <summary>
    /// scores[i * n + j] = score(queries[i], rows[j]) for m queries and n rows of length <paramref name="dim"/>, both row-major.
    /// Register-tiled (4 x 4 on AVX-512, 3 x 4 for inner products and 2 x 4 for L2 on AVX2); each score keeps the canonical order.
    /// </summary>
    public static void ScoreBlock(ReadOnlySpan<float> queries, int m, ReadOnlySpan<float> rows, int n, int dim, Span<float> scores, bool l2)
    {
        if (m < 0 || n < 0 || dim < 0) throw new ArgumentOutOfRangeException(nameof(m), "Sizes must be non-negative.");
        if (queries.Length < (long)m * dim || rows.Length < (long)n * dim || scores.Length < (long)m * n)
            throw new ArgumentException("A span is smaller than its stated shape.");
        if (m == 0 || n == 0) return;
        if (dim == 0) { scores[..(m * n)].Clear(); return; }
        ref float pq = ref MemoryMarshal.GetReference(queries);
        ref float px = ref MemoryMarshal.GetReference(rows);
        ref float ps = ref MemoryMarshal.GetReference(scores);
        switch (LaneCount)
        {
            case 16: if (l2) Block<Vector512<float>, V512, True>(ref pq, m, ref px, n, dim, ref ps); else Block<Vector512<float>, V512, False>(ref pq, m, ref px, n, dim, ref ps); break;
            case 8: if (l2) Block<Vector256<float>, V256, True>(ref pq, m, ref px, n, dim, ref ps); else Block<Vector256<float>, V256, False>(ref pq, m, ref px, n, dim, ref ps); break;
            case 4: if (l2) Block<Vector128<float>, V128, True>(ref pq, m, ref px, n, dim, ref ps); else Block<Vector128<float>, V128, False>(ref pq, m, ref px, n, dim, ref ps); break;
            default: if (l2) Block<float, V1, True>(ref pq, m, ref px, n, dim, ref ps); else Block<float, V1, False>(ref pq, m, ref px, n, dim, ref ps); break;
        }
    }

    /// <summary>
    /// Scalar reference of the canonical order for lane count <paramref name="lanes"/> (see the class remarks).
    /// Slow; for tests.
    /// </summary>
    public static float ReferenceScore(ReadOnlySpan<float> q, ReadOnlySpan<float> x, bool l2, int lanes)
    {
        if (q.Length != x.Length) throw new ArgumentException("Vectors must have the same length.");
        if (lanes is not (1 or 2 or 4 or 8 or 16)) throw new ArgumentOutOfRangeException(nameof(lanes));
        int full = q.Length - q.Length % lanes;
        Span<float> acc = stackalloc float[lanes];
        acc.Clear();
        for (int i = 0; i < full; i += lanes)
            for (int l = 0; l < lanes; l++)
            {
                float a = q[i + l], b = x[i + l];
                acc[l] = l2 ? MathF.FusedMultiplyAdd(a - b, a - b, acc[l]) : MathF.FusedMultiplyAdd(a, b, acc[l]);
            }
        // Pairwise reduction, halves first: lane l += lane l + w/2, until one lane is left.
        for (int w = lanes; w > 1; w /= 2)
            for (int l = 0; l < w / 2; l++) acc[l] += acc[l + w / 2];
        float s = acc[0];
        for (int i = full; i < q.Length; i++)
        {
            float a = q[i], b = x[i];
            s = l2 ? MathF.FusedMultiplyAdd(a - b, a - b, s) : MathF.FusedMultiplyAdd(a, b, s);
        }
        return s;
    }

    // ---- generic kernel bodies, specialised by the JIT per vector type (TV/TO) and metric (TL) ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV Step<TV, TO, TL>(TV q, TV x, TV acc) where TO : struct, IOps<TV> where TL : struct, IFlag
    {
        if (TL.Value) { TV d = TO.Sub(q, x); return TO.Fma(d, d, acc); }
        return TO.Fma(q, x, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Tail<TL>(ref float q, ref float x, int from, int dim, float s) where TL : struct, IFlag
    {
        for (int i = from; i < dim; i++)
        {
            float a = Unsafe.Add(ref q, i), b = Unsafe.Add(ref x, i);
            s = TL.Value ? MathF.FusedMultiplyAdd(a - b, a - b, s) : MathF.FusedMultiplyAdd(a, b, s);
        }
        return s;
    }

    private static float Pair<TV, TO, TL>(ref float q, ref float x, int dim) where TO : struct, IOps<TV> where TL : struct, IFlag
    {
        int full = dim - dim % TO.Count;
        TV acc = TO.Zero;
        for (int i = 0; i < full; i += TO.Count)
            acc = Step<TV, TO, TL>(TO.Load(ref Unsafe.Add(ref q, i)), TO.Load(ref Unsafe.Add(ref x, i)), acc);
        return Tail<TL>(ref q, ref x, full, dim, TO.HSum(acc));
    }

    private static void Rows<TV, TO, TL>(ref float q, ref float x, ref float s, int n, int dim) where TO : struct, IOps<TV> where TL : struct, IFlag
    {
        int full = dim - dim % TO.Count;
        int j = 0;
        // Four rows per pass: the query chunk is loaded once for four independent FMA chains (hides FMA latency).
        for (; j + 4 <= n; j += 4)
        {
            ref float x0 = ref Unsafe.Add(ref x, (nint)j * dim);
            ref float x1 = ref Unsafe.Add(ref x0, dim);
            ref float x2 = ref Unsafe.Add(ref x1, dim);
            ref float x3 = ref Unsafe.Add(ref x2, dim);
            TV a0 = TO.Zero, a1 = TO.Zero, a2 = TO.Zero, a3 = TO.Zero;
            for (int i = 0; i < full; i += TO.Count)
            {
                TV qv = TO.Load(ref Unsafe.Add(ref q, i));
                a0 = Step<TV, TO, TL>(qv, TO.Load(ref Unsafe.Add(ref x0, i)), a0);
                a1 = Step<TV, TO, TL>(qv, TO.Load(ref Unsafe.Add(ref x1, i)), a1);
                a2 = Step<TV, TO, TL>(qv, TO.Load(ref Unsafe.Add(ref x2, i)), a2);
                a3 = Step<TV, TO, TL>(qv, TO.Load(ref Unsafe.Add(ref x3, i)), a3);
            }
            Unsafe.Add(ref s, j) = Tail<TL>(ref q, ref x0, full, dim, TO.HSum(a0));
            Unsafe.Add(ref s, j + 1) = Tail<TL>(ref q, ref x1, full, dim, TO.HSum(a1));
            Unsafe.Add(ref s, j + 2) = Tail<TL>(ref q, ref x2, full, dim, TO.HSum(a2));
            Unsafe.Add(ref s, j + 3) = Tail<TL>(ref q, ref x3, full, dim, TO.HSum(a3));
        }
        for (; j < n; j++) Unsafe.Add(ref s, j) = Pair<TV, TO, TL>(ref q, ref Unsafe.Add(ref x, (nint)j * dim), dim);
    }

    private static void Block<TV, TO, TL>(ref float q, int m, ref float x, int n, int dim, ref float s) where TO : struct, IOps<TV> where TL : struct, IFlag
    {
        // x64 with 8 lanes (AVX2) has 16 vector registers: a 4 x 4 tile (16 accumulators) spills there, so it uses
        // 3 x 4 tiles for inner products (12 accumulators + 3 query chunks + 1 row chunk) and 2 x 4 for L2 (which needs a
        // difference register). Measured on Zen 1 at d = 384: 17.2 vs 13.7 GFMA/s (IP), 9.1 vs 7.9 (L2).
        // AVX-512 (32 registers) keeps 4 x 4.
        int mr = TO.Count == 8 ? (TL.Value ? 2 : 3) : 4;
        int mFull = m - m % mr, n4 = n - n % 4;
        for (int i = 0; i < mFull; i += mr)
        {
            ref float q0 = ref Unsafe.Add(ref q, (nint)i * dim);
            ref float s0 = ref Unsafe.Add(ref s, (nint)i * n);
            for (int j = 0; j < n4; j += 4)
            {
                ref float xj = ref Unsafe.Add(ref x, (nint)j * dim);
                ref float sj = ref Unsafe.Add(ref s0, j);
                if (mr == 4) Tile4x4<TV, TO, TL>(ref q0, ref xj, dim, ref sj, n);
                else if (mr == 3) Tile3x4<TV, TO, TL>(ref q0, ref xj, dim, ref sj, n);
                else Tile2x4<TV, TO, TL>(ref q0, ref xj, dim, ref sj, n);
            }
            for (int j = n4; j < n; j++)
                for (int r = 0; r < mr; r++)
                    Unsafe.Add(ref s0, (nint)r * n + j) = Pair<TV, TO, TL>(ref Unsafe.Add(ref q0, (nint)r * dim), ref Unsafe.Add(ref x, (nint)j * dim), dim);
        }
        for (int i = mFull; i < m; i++)
            Rows<TV, TO, TL>(ref Unsafe.Add(ref q, (nint)i * dim), ref x, ref Unsafe.Add(ref s, (nint)i * n), n, dim);
    }

    /// <summary>3 queries x 4 rows; the query chunks stay in registers and each row chunk is loaded once per step.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile3x4<TV, TO, TL>(ref float q0, ref float x0, int dim, ref float s, int ldS) where TO : struct, IOps<TV> where TL : struct, IFlag
    {
        ref float q1 = ref Unsafe.Add(ref q0, dim);
        ref float q2 = ref Unsafe.Add(ref q1, dim);
        ref float x1 = ref Unsafe.Add(ref x0, dim);
        ref float x2 = ref Unsafe.Add(ref x1, dim);
        ref float x3 = ref Unsafe.Add(ref x2, dim);
        TV c00 = TO.Zero, c01 = TO.Zero, c02 = TO.Zero, c03 = TO.Zero;
        TV c10 = TO.Zero, c11 = TO.Zero, c12 = TO.Zero, c13 = TO.Zero;
        TV c20 = TO.Zero, c21 = TO.Zero, c22 = TO.Zero, c23 = TO.Zero;
        int full = dim - dim % TO.Count;
        for (int i = 0; i < full; i += TO.Count)
        {
            TV a0 = TO.Load(ref Unsafe.Add(ref q0, i)), a1 = TO.Load(ref Unsafe.Add(ref q1, i)), a2 = TO.Load(ref Unsafe.Add(ref q2, i));
            TV b = TO.Load(ref Unsafe.Add(ref x0, i));
            c00 = Step<TV, TO, TL>(a0, b, c00); c10 = Step<TV, TO, TL>(a1, b, c10); c20 = Step<TV, TO, TL>(a2, b, c20);
            b = TO.Load(ref Unsafe.Add(ref x1, i));
            c01 = Step<TV, TO, TL>(a0, b, c01); c11 = Step<TV, TO, TL>(a1, b, c11); c21 = Step<TV, TO, TL>(a2, b, c21);
            b = TO.Load(ref Unsafe.Add(ref x2, i));
            c02 = Step<TV, TO, TL>(a0, b, c02); c12 = Step<TV, TO, TL>(a1, b, c12); c22 = Step<TV, TO, TL>(a2, b, c22);
            b = TO.Load(ref Unsafe.Add(ref x3, i));
            c03 = Step<TV, TO, TL>(a0, b, c03); c13 = Step<TV, TO, TL>(a1, b, c13); c23 = Step<TV, TO, TL>(a2, b, c23);
        }
        ref float s1 = ref Unsafe.Add(ref s, ldS);
        ref float s2 = ref Unsafe.Add(ref s1, ldS);
        s = Tail<TL>(ref q0, ref x0, full, dim, TO.HSum(c00)); Unsafe.Add(ref s, 1) = Tail<TL>(ref q0, ref x1, full, dim, TO.HSum(c01));
        Unsafe.Add(ref s, 2) = Tail<TL>(ref q0, ref x2, full, dim, TO.HSum(c02)); Unsafe.Add(ref s, 3) = Tail<TL>(ref q0, ref x3, full, dim, TO.HSum(c03));
        s1 = Tail<TL>(ref q1, ref x0, full, dim, TO.HSum(c10)); Unsafe.Add(ref s1, 1) = Tail<TL>(ref q1, ref x1, full, dim, TO.HSum(c11));
        Unsafe.Add(ref s1, 2) = Tail<TL>(ref q1, ref x2, full, dim, TO.HSum(c12)); Unsafe.Add(ref s1, 3) = Tail<TL>(ref q1, ref x3, full, dim, TO.HSum(c13));
        s2 = Tail<TL>(ref q2, ref x0, full, dim, TO.HSum(c20)); Unsafe.Add(ref s2, 1) = Tail<TL>(ref q2, ref x1, full, dim, TO.HSum(c21));
        Unsafe.Add(ref s2, 2) = Tail<TL>(ref q2, ref x2, full, dim, TO.HSum(c22)); Unsafe.Add(ref s2, 3) = Tail<TL>(ref q2, ref x3, full, dim, TO.HSum(c23));
    }

    /// <summary>2 queries x 4 rows (the L2 tile on 16-register machines: each step also needs a difference register).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile2x4<TV, TO, TL>(ref float q0, ref float x0, int dim, ref float s, int ldS) where TO : struct, IOps<TV> where TL : struct, IFlag
    {
        ref float q1 = ref Unsafe.Add(ref q0, dim);
        ref float x1 = ref Unsafe.Add(ref x0, dim);
        ref float x2 = ref Unsafe.Add(ref x1, dim);
        ref float x3 = ref Unsafe.Add(ref x2, dim);
        TV c00 = TO.Zero, c01 = TO.Zero, c02 = TO.Zero, c03 = TO.Zero;
        TV c10 = TO.Zero, c11 = TO.Zero, c12 = TO.Zero, c13 = TO.Zero;
        int full = dim - dim % TO.Count;
        for (int i = 0; i < full; i += TO.Count)
        {
            TV a0 = TO.Load(ref Unsafe.Add(ref q0, i)), a1 = TO.Load(ref Unsafe.Add(ref q1, i));
            TV b = TO.Load(ref Unsafe.Add(ref x0, i));
            c00 = Step<TV, TO, TL>(a0, b, c00); c10 = Step<TV, TO, TL>(a1, b, c10);
            b = TO.Load(ref Unsafe.Add(ref x1, i));
            c01 = Step<TV, TO, TL>(a0, b, c01); c11 = Step<TV, TO, TL>(a1, b, c11);
            b = TO.Load(ref Unsafe.Add(ref x2, i));
            c02 = Step<TV, TO, TL>(a0, b, c02); c12 = Step<TV, TO, TL>(a1, b, c12);
            b = TO.Load(ref Unsafe.Add(ref x3, i));
            c03 = Step<TV, TO, TL>(a0, b, c03); c13 = Step<TV, TO, TL>(a1, b, c13);
        }
        ref float s1 = ref Unsafe.Add(ref s, ldS);
        s = Tail<TL>(ref q0, ref x0, full, dim, TO.HSum(c00)); Unsafe.Add(ref s, 1) = Tail<TL>(ref q0, ref x1, full, dim, TO.HSum(c01));
        Unsafe.Add(ref s, 2) = Tail<TL>(ref q0, ref x2, full, dim, TO.HSum(c02)); Unsafe.Add(ref s, 3) = Tail<TL>(ref q0, ref x3, full, dim, TO.HSum(c03));
        s1 = Tail<TL>(ref q1, ref x0, full, dim, TO.HSum(c10)); Unsafe.Add(ref s1, 1) = Tail<TL>(ref q1, ref x1, full, dim, TO.HSum(c11));
        Unsafe.Add(ref s1, 2) = Tail<TL>(ref q1, ref x2, full, dim, TO.HSum(c12)); Unsafe.Add(ref s1, 3) = Tail<TL>(ref q1, ref x3, full, dim, TO.HSum(c13));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x4<TV, TO, TL>(ref float q0, ref float x0, int dim, ref float s, int ldS) where TO : struct, IOps<TV> where TL : struct, IFlag
    {
        // 16 accumulators + 4 query + 4 row chunks = 24 vector registers (of 32 with AVX-512):
        // each step does 8 loads for 16 FMAs, so the kernel is FMA-bound rather than load-bound.
        ref float q1 = ref Unsafe.Add(ref q0, dim);
        ref float q2 = ref Unsafe.Add(ref q1, dim);
        ref float q3 = ref Unsafe.Add(ref q2, dim);
        ref float x1 = ref Unsafe.Add(ref x0, dim);
        ref float x2 = ref Unsafe.Add(ref x1, dim);
        ref float x3 = ref Unsafe.Add(ref x2, dim);
        TV c00 = TO.Zero, c01 = TO.Zero, c02 = TO.Zero, c03 = TO.Zero;
        TV c10 = TO.Zero, c11 = TO.Zero, c12 = TO.Zero, c13 = TO.Zero;
        TV c20 = TO.Zero, c21 = TO.Zero, c22 = TO.Zero, c23 = TO.Zero;
        TV c30 = TO.Zero, c31 = TO.Zero, c32 = TO.Zero, c33 = TO.Zero;
        int full = dim - dim % TO.Count;
        for (int i = 0; i < full; i += TO.Count)
        {
            TV b0 = TO.Load(ref Unsafe.Add(ref x0, i)), b1 = TO.Load(ref Unsafe.Add(ref x1, i));
            TV b2 = TO.Load(ref Unsafe.Add(ref x2, i)), b3 = TO.Load(ref Unsafe.Add(ref x3, i));
            TV a = TO.Load(ref Unsafe.Add(ref q0, i));
            c00 = Step<TV, TO, TL>(a, b0, c00); c01 = Step<TV, TO, TL>(a, b1, c01); c02 = Step<TV, TO, TL>(a, b2, c02); c03 = Step<TV, TO, TL>(a, b3, c03);
            a = TO.Load(ref Unsafe.Add(ref q1, i));
            c10 = Step<TV, TO, TL>(a, b0, c10); c11 = Step<TV, TO, TL>(a, b1, c11); c12 = Step<TV, TO, TL>(a, b2, c12); c13 = Step<TV, TO, TL>(a, b3, c13);
            a = TO.Load(ref Unsafe.Add(ref q2, i));
            c20 = Step<TV, TO, TL>(a, b0, c20); c21 = Step<TV, TO, TL>(a, b1, c21); c22 = Step<TV, TO, TL>(a, b2, c22); c23 = Step<TV, TO, TL>(a, b3, c23);
            a = TO.Load(ref Unsafe.Add(ref q3, i));
            c30 = Step<TV, TO, TL>(a, b0, c30); c31 = Step<TV, TO, TL>(a, b1, c31); c32 = Step<TV, TO, TL>(a, b2, c32); c33 = Step<TV, TO, TL>(a, b3, c33);
        }
        if (typeof(TV) == typeof(Vector512<float>) && Avx512F.IsSupported && full == dim)
        {
            // All 16 lane sums at once (45 shuffles/adds instead of 16 separate reductions), same adds as HSum.
            var t = Transpose4x4Sums(
                Unsafe.As<TV, Vector512<float>>(ref c00), Unsafe.As<TV, Vector512<float>>(ref c01), Unsafe.As<TV, Vector512<float>>(ref c02), Unsafe.As<TV, Vector512<float>>(ref c03),
                Unsafe.As<TV, Vector512<float>>(ref c10), Unsafe.As<TV, Vector512<float>>(ref c11), Unsafe.As<TV, Vector512<float>>(ref c12), Unsafe.As<TV, Vector512<float>>(ref c13),
                Unsafe.As<TV, Vector512<float>>(ref c20), Unsafe.As<TV, Vector512<float>>(ref c21), Unsafe.As<TV, Vector512<float>>(ref c22), Unsafe.As<TV, Vector512<float>>(ref c23),
                Unsafe.As<TV, Vector512<float>>(ref c30), Unsafe.As<TV, Vector512<float>>(ref c31), Unsafe.As<TV, Vector512<float>>(ref c32), Unsafe.As<TV, Vector512<float>>(ref c33));
            // t[4j + i] = score(query i, row j).
            for (int i = 0; i < 4; i++)
            {
                ref float si = ref Unsafe.Add(ref s, (nint)i * ldS);
                si = t.GetElement(i); Unsafe.Add(ref si, 1) = t.GetElement(4 + i);
                Unsafe.Add(ref si, 2) = t.GetElement(8 + i); Unsafe.Add(ref si, 3) = t.GetElement(12 + i);
            }
            return;
        }
        ref float s1 = ref Unsafe.Add(ref s, ldS);
        ref float s2 = ref Unsafe.Add(ref s1, ldS);
        ref float s3 = ref Unsafe.Add(ref s2, ldS);
        s = Tail<TL>(ref q0, ref x0, full, dim, TO.HSum(c00)); Unsafe.Add(ref s, 1) = Tail<TL>(ref q0, ref x1, full, dim, TO.HSum(c01));
        Unsafe.Add(ref s, 2) = Tail<TL>(ref q0, ref x2, full, dim, TO.HSum(c02)); Unsafe.Add(ref s, 3) = Tail<TL>(ref q0, ref x3, full, dim, TO.HSum(c03));
        s1 = Tail<TL>(ref q1, ref x0, full, dim, TO.HSum(c10)); Unsafe.Add(ref s1, 1) = Tail<TL>(ref q1, ref x1, full, dim, TO.HSum(c11));
        Unsafe.Add(ref s1, 2) = Tail<TL>(ref q1, ref x2, full, dim, TO.HSum(c12)); Unsafe.Add(ref s1, 3) = Tail<TL>(ref q1, ref x3, full, dim, TO.HSum(c13));
        s2 = Tail<TL>(ref q2, ref x0, full, dim, TO.HSum(c20)); Unsafe.Add(ref s2, 1) = Tail<TL>(ref q2, ref x1, full, dim, TO.HSum(c21));
        Unsafe.Add(ref s2, 2) = Tail<TL>(ref q2, ref x2, full, dim, TO.HSum(c22)); Unsafe.Add(ref s2, 3) = Tail<TL>(ref q2, ref x3, full, dim, TO.HSum(c23));
        s3 = Tail<TL>(ref q3, ref x0, full, dim, TO.HSum(c30)); Unsafe.Add(ref s3, 1) = Tail<TL>(ref q3, ref x1, full, dim, TO.HSum(c31));
        Unsafe.Add(ref s3, 2) = Tail<TL>(ref q3, ref x2, full, dim, TO.HSum(c32)); Unsafe.Add(ref s3, 3) = Tail<TL>(ref q3, ref x3, full, dim, TO.HSum(c33));
    }

    /// <summary>
    /// Reduces 16 accumulators c[i][j] to one vector r with r[4j + i] = HSum(c[i][j]), performing for every pair exactly
    /// the additions of <see cref="V512.HSum"/> in the same order: halves (lane l += l + 8), then quarters (l += l + 4),
    /// then (l += l + 2), then (l += l + 1); each level pairs up two vectors with 128-bit or 32-bit shuffles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Transpose4x4Sums(
        Vector512<float> c00, Vector512<float> c01, Vector512<float> c02, Vector512<float> c03,
        Vector512<float> c10, Vector512<float> c11, Vector512<float> c12, Vector512<float> c13,
        Vector512<float> c20, Vector512<float> c21, Vector512<float> c22, Vector512<float> c23,
        Vector512<float> c30, Vector512<float> c31, Vector512<float> c32, Vector512<float> c33)
    {
        // Level 1: [A.q0, A.q1, B.q0, B.q1] + [A.q2, A.q3, B.q2, B.q3] (q = 128-bit quarter).
        static Vector512<float> L1(Vector512<float> a, Vector512<float> b) => Avx512F.Shuffle4x128(a, b, 0x44) + Avx512F.Shuffle4x128(a, b, 0xEE);
        // Level 2: quarter j of the result = level-2 sums of the j-th of the four vectors held by p and q.
        static Vector512<float> L2(Vector512<float> p, Vector512<float> q) => Avx512F.Shuffle4x128(p, q, 0x88) + Avx512F.Shuffle4x128(p, q, 0xDD);
        // Level 3: within each quarter [r0 + r2, r1 + r3, t0 + t2, t1 + t3].
        static Vector512<float> L3(Vector512<float> r, Vector512<float> t) => Avx512F.Shuffle(r, t, 0x44) + Avx512F.Shuffle(r, t, 0xEE);
        // Level 4: within each quarter [u0 + u1, u2 + u3, v0 + v1, v2 + v3].
        static Vector512<float> L4(Vector512<float> u, Vector512<float> v) => Avx512F.Shuffle(u, v, 0x88) + Avx512F.Shuffle(u, v, 0xDD);
        var r0 = L2(L1(c00, c01), L1(c02, c03));
        var r1 = L2(L1(c10, c11), L1(c12, c13));
        var r2 = L2(L1(c20, c21), L1(c22, c23));
        var r3 = L2(L1(c30, c31), L1(c32, c33));
        return L4(L3(r0, r1), L3(r2, r3));
    }

    // ---- vector-width abstraction: the JIT specialises generic code over these structs, so calls inline away ----

    internal interface IFlag { static abstract bool Value { get; } }
    internal struct True : IFlag { public static bool Value => true; }
    internal struct False : IFlag { public static bool Value => false; }

    internal interface IOps<TV>
    {
        static abstract int Count { get; }
        static abstract TV Zero { get; }
        static abstract TV Load(ref float p);
        static abstract TV Sub(TV a, TV b);
        static abstract TV Fma(TV a, TV b, TV c);
        /// <summary>Pairwise lane sum, halves first (must match <see cref="ReferenceScore"/>).</summary>
        static abstract float HSum(TV v);
    }

    internal struct V512 : IOps<Vector512<float>>
    {
        public static int Count => 16;
        public static Vector512<float> Zero => Vector512<float>.Zero;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(ref float p) => Vector512.LoadUnsafe(ref p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Sub(Vector512<float> a, Vector512<float> b) => a - b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float HSum(Vector512<float> v) => V256.HSum(v.GetLower() + v.GetUpper());
    }

    internal struct V256 : IOps<Vector256<float>>
    {
        public static int Count => 8;
        public static Vector256<float> Zero => Vector256<float>.Zero;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(ref float p) => Vector256.LoadUnsafe(ref p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Sub(Vector256<float> a, Vector256<float> b) => a - b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float HSum(Vector256<float> v) => V128.HSum(v.GetLower() + v.GetUpper());
    }

    internal struct V128 : IOps<Vector128<float>>
    {
        public static int Count => 4;
        public static Vector128<float> Zero => Vector128<float>.Zero;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Load(ref float p) => Vector128.LoadUnsafe(ref p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Sub(Vector128<float> a, Vector128<float> b) => a - b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector128<float> Fma(Vector128<float> a, Vector128<float> b, Vector128<float> c) => Vector128.FusedMultiplyAdd(a, b, c);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float HSum(Vector128<float> v)
        {
            // lanes (0+2, 1+3), then their sum: the halves-first order of ReferenceScore.
            float a = v.GetElement(0) + v.GetElement(2), b = v.GetElement(1) + v.GetElement(3);
            return a + b;
        }
    }

    internal struct V1 : IOps<float>
    {
        public static int Count => 1;
        public static float Zero => 0f;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Load(ref float p) => p;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sub(float a, float b) => a - b;
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Fma(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float HSum(float v) => v;
    }
}
