// Element-wise vector math on Vector512. SimdMath256.cs and SimdMath128.cs are generated from this file by
// tools/gen_simdmath.sh (the bodies are width-independent); edit this file and regenerate.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ManagedEmbed.Kernels;

internal static partial class SimdMath
{
    /// <summary>e^x for float lanes, |rel err| ≲ 2 ulp on [-87.3, 88.7]; below -87.33 (incl. -inf) gives 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Exp(Vector512<float> x)
    {
        // n = round(x / ln2) via the 1.5·2^23 trick, r = x - n·ln2 in two parts (Cody–Waite), |r| ≤ ln2/2.
        Vector512<float> xc = Vector512.Min(x, Vector512.Create(88.7f));
        Vector512<float> kd = Vector512.MultiplyAddEstimate(xc, Vector512.Create(1.44269504088896341f), Vector512.Create(12582912f));
        Vector512<float> n = kd - Vector512.Create(12582912f);
        Vector512<float> r = Vector512.MultiplyAddEstimate(n, Vector512.Create(-0.693359375f), xc);
        r = Vector512.MultiplyAddEstimate(n, Vector512.Create(2.12194440e-4f), r);
        // Taylor to degree 7: truncation r^8/8! < 6e-9 relative for |r| ≤ 0.347.
        Vector512<float> p = Vector512.Create(1.0f / 5040);
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1.0f / 720));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1.0f / 120));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1.0f / 24));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1.0f / 6));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(0.5f));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1.0f));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1.0f));
        // 2^n: the low mantissa bits of kd hold n; move them into the exponent field.
        Vector512<int> bits = (kd.AsInt32() - Vector512.Create(0x4B400000)) << 23;
        Vector512<float> result = (p.AsInt32() + bits).AsSingle();
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(-87.33f)), Vector512<float>.Zero, result);
    }

    /// <summary>e^x for double lanes on [-700, 0], |rel err| ≲ 3e-10 (enough for float-rounded results).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<double> ExpNeg(Vector512<double> x)
    {
        Vector512<double> xc = Vector512.Max(x, Vector512.Create(-700.0));
        Vector512<double> kd = Vector512.MultiplyAddEstimate(xc, Vector512.Create(1.4426950408889634), Vector512.Create(6755399441055744.0));
        Vector512<double> n = kd - Vector512.Create(6755399441055744.0);
        Vector512<double> r = Vector512.MultiplyAddEstimate(n, Vector512.Create(-0.69314718036912382), xc);
        r = Vector512.MultiplyAddEstimate(n, Vector512.Create(-1.9082149292705877e-10), r);
        // Taylor to degree 8: r^9/9! < 2.1e-10 relative for |r| ≤ 0.347 (GELU needs ~1e-9).
        Vector512<double> p = Vector512.Create(1.0 / 40320);
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1.0 / 5040));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1.0 / 720));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1.0 / 120));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1.0 / 24));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1.0 / 6));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(0.5));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1.0));
        p = Vector512.MultiplyAddEstimate(p, r, Vector512.Create(1.0));
        Vector512<long> bits = (kd.AsInt64() - Vector512.Create(0x4338000000000000L)) << 52;
        return (p.AsInt64() + bits).AsDouble();
    }

    /// <summary>
    /// GELU (erf form) in float lanes: x·Φ(x) with Φ from erfc(|x|/√2) = t·exp(−x²/2)·P(t), t = 1/(1 + 0.5|x|/√2),
    /// P a degree-9 weighted least-squares fit of erfcx(z)/t on z ∈ [0, 9.4] (fit error 1.7e-8 relative; tools/fit_gelu_f32.py writes it).
    /// Using erfc on both sides keeps the negative tail (where 1 + erf(x) cancels) at full relative precision; x² is
    /// split exactly (hi + lo by FMA) so exp(−x²/2) keeps it too. Max relative error vs the double reference ≈ 3e-7
    /// (a few float ulp; MathTests states the bound); results below float.MinNormal (x &lt; −13.2) flush to ±0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> GeluErf(Vector512<float> x)
    {
        // NaN propagates through the final products with x, so the native min may drop it here.
        Vector512<float> ax = Vector512.MinNative(Vector512.Abs(x), Vector512.Create(16f));
        Vector512<float> t = Vector512.Create(1f) / Vector512.MultiplyAddEstimate(ax, Vector512.Create(0.35355339059327376f), Vector512.Create(1f));
        Vector512<float> p = Vector512.Create(0.014158039353787899f);
        p = Vector512.MultiplyAddEstimate(p, t, Vector512.Create(-0.13326695561408997f));
        p = Vector512.MultiplyAddEstimate(p, t, Vector512.Create(0.4520183205604553f));
        p = Vector512.MultiplyAddEstimate(p, t, Vector512.Create(-0.7001128196716309f));
        p = Vector512.MultiplyAddEstimate(p, t, Vector512.Create(0.44562527537345886f));
        p = Vector512.MultiplyAddEstimate(p, t, Vector512.Create(-0.11097105592489243f));
        p = Vector512.MultiplyAddEstimate(p, t, Vector512.Create(0.22975122928619385f));
        p = Vector512.MultiplyAddEstimate(p, t, Vector512.Create(0.2377827763557434f));
        p = Vector512.MultiplyAddEstimate(p, t, Vector512.Create(0.2829554080963135f));
        p = Vector512.MultiplyAddEstimate(p, t, Vector512.Create(0.2820597290992737f));
        // exp(−(hi + lo)/2) = exp(−hi/2)·(1 − lo/2) to float precision (|lo| ≤ ulp(hi)/2).
        Vector512<float> hi = ax * ax;
        Vector512<float> lo = Vector512.FusedMultiplyAdd(ax, ax, -hi);
        Vector512<float> e = Exp(Vector512.Create(-0.5f) * hi);
        Vector512<float> h = Vector512.Create(0.5f) * t * p * Vector512.MultiplyAddEstimate(lo, Vector512.Create(-0.5f), Vector512.Create(1f));
        // Φ(x) = 1 − h·e for x ≥ 0; x·h·e for x < 0, multiplied by x before e so a result in the normal range is not
        // first rounded through a subnormal intermediate.
        Vector512<float> pos = x * (Vector512.Create(1f) - h * e);
        Vector512<float> neg = x * h * e;
        return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(x, Vector512<float>.Zero), pos, neg);
    }

    /// <summary>GELU (tanh form) in double, written as x / (1 + exp(-2u)) so no cancellation occurs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<double> GeluTanh(Vector512<double> x)
    {
        Vector512<double> u = Vector512.Create(0.79788456080286535588) * Vector512.MultiplyAddEstimate(Vector512.Create(0.044715) * x, x * x, x);
        // exp(-2u) for u < 0 can overflow; then x/(1+inf) = -0, which is the float-rounded answer anyway.
        Vector512<double> m2u = Vector512.Create(-2.0) * u;
        Vector512<double> e = ExpNeg(-Vector512.Abs(m2u));                     // exp(-|2u|) ∈ (0, 1]
        // exp(-2u) = e when u ≥ 0, 1/e otherwise: x/(1+1/e) = x·e/(1+e).
        Vector512<double> pos = x / (Vector512.Create(1.0) + e);
        Vector512<double> neg = x * e / (Vector512.Create(1.0) + e);
        return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(u, Vector512<double>.Zero), pos, neg);
    }

    /// <summary>Applies <paramref name="activation"/> to one float vector (GELU erf form in float lanes, tanh form in double lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Activate(Vector512<float> v, Activation activation)
    {
        switch (activation)
        {
            case Activation.Relu: return Vector512.Max(v, Vector512<float>.Zero);
            case Activation.Gelu: return GeluErf(v);
            case Activation.GeluTanh:
            {
                (Vector512<double> lo, Vector512<double> hi) = Vector512.Widen(v);
                return Vector512.Narrow(GeluTanh(lo), GeluTanh(hi));
            }
            default: return v;
        }
    }

    /// <summary>
    /// y[r, i] = act(y[r, i] + bias[i]) + res[r, i] over <paramref name="rows"/> rows of <paramref name="len"/> floats
    /// (row strides <paramref name="ldy"/>, <paramref name="ldr"/>; bias/res may be null); the GEMM epilogue (one call
    /// per output tile, not per row) and the standalone activation share this loop. Returns how many leading
    /// elements of each row were done.
    /// </summary>
    internal static unsafe int Epilogue512(float* y, nint ldy, int rows, float* bias, float* res, nint ldr, int len, Activation activation)
    {
        int i = 0;
        for (int r = 0; r < rows; r++, y += ldy, res = res == null ? null : res + ldr)
        {
            for (i = 0; i <= len - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                Vector512<float> v = Vector512.Load(y + i);
                if (bias != null) v += Vector512.Load(bias + i);
                v = Activate(v, activation);
                if (res != null) v += Vector512.Load(res + i);
                v.Store(y + i);
            }
        }
        return i;
    }

    /// <summary>
    /// In-place softmax(scale·x) of each of <paramref name="rows"/> rows of <paramref name="len"/> (row stride
    /// <paramref name="ld"/>) in three tight passes (max; exp and sum; normalize), for the short rows of attention where
    /// per-call overhead of separate primitives would dominate. Each pass runs over up to 8 rows before the next, so the
    /// rows' serial chains (reductions, the division) overlap: measured 1.7x at 32 tokens, 1.15x at 128, against one
    /// row at a time (attention's rows, in one process, alternated).
    /// Every row's arithmetic is the same whatever the row count and padding; every term, the tail's too, comes from
    /// <see cref="Exp(Vector512{float})"/>. <paramref name="padded"/>: each row may be read and written up to whole
    /// vectors past len (the lanes past len end up 0), so the attention kernel's freshly stored score rows are read back
    /// at the offsets they were stored at.
    /// </summary>
    internal static unsafe void SoftmaxRows512(float* x, nint ld, int rows, int len, float scale, bool padded)
    {
        int w = Vector512<float>.Count, full = len - len % w, rem = len - full;
        float* ms = stackalloc float[8];
        float* inv = stackalloc float[8];
        float* tail = stackalloc float[Vector512<float>.Count];
        Vector512<float> vs = Vector512.Create(scale), ninf = Vector512.Create(float.NegativeInfinity);
        Vector512<float> inTail = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(rem)).AsSingle();
        for (; rows > 0; rows -= 8, x += 8 * ld)
        {
            int g = Math.Min(rows, 8);
            for (int r = 0; r < g; r++)
            {
                float* xr = x + r * ld;
                float max = float.NegativeInfinity;
                if (padded)
                {
                    // Whole vectors at the offsets the scores were stored at: a load straddling two fresh stores
                    // cannot be forwarded from them and waits for both to retire.
                    Vector512<float> vm = ninf;
                    for (int i = 0; i < full; i += w) vm = Vector512.Max(vm, Vector512.Load(xr + i));
                    if (rem > 0) vm = Vector512.Max(vm, Vector512.ConditionalSelect(inTail, Vector512.Load(xr + full), ninf));
                    max = HorizontalMax(vm);
                }
                else if (len >= w)
                {
                    Vector512<float> vm = Vector512.Load(xr);
                    for (int i = w; i <= len - w; i += w) vm = Vector512.Max(vm, Vector512.Load(xr + i));
                    vm = Vector512.Max(vm, Vector512.Load(xr + len - w)); // the (overlapping) last vector covers the tail
                    max = HorizontalMax(vm);
                }
                else
                {
                    for (int l = 0; l < len; l++) max = MathF.Max(max, xr[l]);
                }
                ms[r] = max * scale; // max of scale·x (scale > 0, multiplication is monotonic)
            }
            for (int r = 0; r < g; r++)
            {
                float* xr = x + r * ld;
                Vector512<float> vms = Vector512.Create(ms[r]), acc = Vector512<float>.Zero;
                for (int i = 0; i < full; i += w)
                {
                    Vector512<float> e = Exp(Vector512.Load(xr + i) * vs - vms);
                    e.Store(xr + i);
                    acc += e;
                }
                if (rem > 0)
                {
                    // The tail as one more vector, lanes past len zeroed (a MathF.Exp per element made a 31-token row
                    // cost more than two 32-token rows); unpadded rows go through a copy so nothing past len is touched.
                    float* t = xr + full;
                    if (!padded)
                    {
                        for (int l = 0; l < rem; l++) tail[l] = t[l];
                        t = tail;
                    }
                    Vector512<float> e = Vector512.ConditionalSelect(inTail, Exp(Vector512.Load(t) * vs - vms), Vector512<float>.Zero);
                    acc += e;
                    e.Store(t);
                    if (!padded) for (int l = 0; l < rem; l++) xr[full + l] = tail[l];
                }
                inv[r] = 1f / Vector512.Sum(acc);
            }
            for (int r = 0; r < g; r++)
            {
                float* xr = x + r * ld;
                Vector512<float> vinv = Vector512.Create(inv[r]);
                int i = 0;
                for (; i < (padded ? len : full); i += w) (Vector512.Load(xr + i) * vinv).Store(xr + i);
                for (; i < len; i++) xr[i] *= inv[r];
            }
        }
    }
}
