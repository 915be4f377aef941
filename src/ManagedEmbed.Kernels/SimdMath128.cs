// Generated from SimdMath512.cs by tools/gen_simdmath.sh; edit the template and regenerate.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ManagedEmbed.Kernels;

internal static partial class SimdMath
{
    /// <summary>e^x for float lanes, |rel err| ≲ 2 ulp on [-87.3, 88.7]; below -87.33 (incl. -inf) gives 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> Exp(Vector128<float> x)
    {
        // n = round(x / ln2) via the 1.5·2^23 trick, r = x - n·ln2 in two parts (Cody–Waite), |r| ≤ ln2/2.
        Vector128<float> xc = Vector128.Min(x, Vector128.Create(88.7f));
        Vector128<float> kd = Vector128.MultiplyAddEstimate(xc, Vector128.Create(1.44269504088896341f), Vector128.Create(12582912f));
        Vector128<float> n = kd - Vector128.Create(12582912f);
        Vector128<float> r = Vector128.MultiplyAddEstimate(n, Vector128.Create(-0.693359375f), xc);
        r = Vector128.MultiplyAddEstimate(n, Vector128.Create(2.12194440e-4f), r);
        // Taylor to degree 7: truncation r^8/8! < 6e-9 relative for |r| ≤ 0.347.
        Vector128<float> p = Vector128.Create(1.0f / 5040);
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0f / 720));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0f / 120));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0f / 24));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0f / 6));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(0.5f));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0f));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0f));
        // 2^n: the low mantissa bits of kd hold n; move them into the exponent field.
        Vector128<int> bits = (kd.AsInt32() - Vector128.Create(0x4B400000)) << 23;
        Vector128<float> result = (p.AsInt32() + bits).AsSingle();
        return Vector128.ConditionalSelect(Vector128.LessThan(x, Vector128.Create(-87.33f)), Vector128<float>.Zero, result);
    }

    /// <summary>e^x for double lanes on [-700, 0], |rel err| ≲ 1e-14 (enough for float-rounded results).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<double> ExpNeg(Vector128<double> x)
    {
        Vector128<double> xc = Vector128.Max(x, Vector128.Create(-700.0));
        Vector128<double> kd = Vector128.MultiplyAddEstimate(xc, Vector128.Create(1.4426950408889634), Vector128.Create(6755399441055744.0));
        Vector128<double> n = kd - Vector128.Create(6755399441055744.0);
        Vector128<double> r = Vector128.MultiplyAddEstimate(n, Vector128.Create(-0.69314718036912382), xc);
        r = Vector128.MultiplyAddEstimate(n, Vector128.Create(-1.9082149292705877e-10), r);
        // Taylor to degree 10: r^11/11! < 2.2e-13 for |r| ≤ 0.347.
        Vector128<double> p = Vector128.Create(1.0 / 3628800);
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0 / 362880));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0 / 40320));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0 / 5040));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0 / 720));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0 / 120));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0 / 24));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0 / 6));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(0.5));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0));
        p = Vector128.MultiplyAddEstimate(p, r, Vector128.Create(1.0));
        Vector128<long> bits = (kd.AsInt64() - Vector128.Create(0x4338000000000000L)) << 52;
        return (p.AsInt64() + bits).AsDouble();
    }

    /// <summary>
    /// GELU (erf form) in double: x·Φ(x) with Φ from erfc(|x|/√2) = exp(-z²)·P(t), t = 1/(1+0.3z), P a degree-11
    /// least-squares fit of erfcx on z ∈ [0, 13] (rel err 3e-10). Using erfc on both sides keeps the negative tail
    /// (where 1+erf(x) cancels) accurate to the float result's last bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<double> GeluErf(Vector128<double> x)
    {
        Vector128<double> z = Vector128.Min(Vector128.Abs(x) * Vector128.Create(0.70710678118654752), Vector128.Create(13.0));
        Vector128<double> t = Vector128.Create(1.0) / Vector128.MultiplyAddEstimate(z, Vector128.Create(0.3), Vector128.Create(1.0));
        Vector128<double> u = Vector128.MultiplyAddEstimate(t, Vector128.Create(2.5128205128205128), Vector128.Create(-1.5128205128205128));
        Vector128<double> p = Vector128.Create(2.318822191499539e-06);
        p = Vector128.MultiplyAddEstimate(p, u, Vector128.Create(3.585075735949924e-06));
        p = Vector128.MultiplyAddEstimate(p, u, Vector128.Create(-3.74706303686048e-05));
        p = Vector128.MultiplyAddEstimate(p, u, Vector128.Create(-0.00014453278233678843));
        p = Vector128.MultiplyAddEstimate(p, u, Vector128.Create(0.00021887739044721799));
        p = Vector128.MultiplyAddEstimate(p, u, Vector128.Create(0.003750900104546134));
        p = Vector128.MultiplyAddEstimate(p, u, Vector128.Create(0.017708061715245083));
        p = Vector128.MultiplyAddEstimate(p, u, Vector128.Create(0.05442164674987667));
        p = Vector128.MultiplyAddEstimate(p, u, Vector128.Create(0.12544038709805055));
        p = Vector128.MultiplyAddEstimate(p, u, Vector128.Create(0.22832209648690702));
        p = Vector128.MultiplyAddEstimate(p, u, Vector128.Create(0.33503186470319285));
        p = Vector128.MultiplyAddEstimate(p, u, Vector128.Create(0.23528226531555532));
        Vector128<double> halfErfc = Vector128.Create(0.5) * ExpNeg(-(z * z)) * p;
        Vector128<double> phi = Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(x, Vector128<double>.Zero),
            Vector128.Create(1.0) - halfErfc, halfErfc);
        return x * phi;
    }

    /// <summary>GELU (tanh form) in double, written as x / (1 + exp(-2u)) so no cancellation occurs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<double> GeluTanh(Vector128<double> x)
    {
        Vector128<double> u = Vector128.Create(0.79788456080286535588) * Vector128.MultiplyAddEstimate(Vector128.Create(0.044715) * x, x * x, x);
        // exp(-2u) for u < 0 can overflow; then x/(1+inf) = -0, which is the float-rounded answer anyway.
        Vector128<double> m2u = Vector128.Create(-2.0) * u;
        Vector128<double> e = ExpNeg(-Vector128.Abs(m2u));                     // exp(-|2u|) ∈ (0, 1]
        // exp(-2u) = e when u ≥ 0, 1/e otherwise: x/(1+1/e) = x·e/(1+e).
        Vector128<double> pos = x / (Vector128.Create(1.0) + e);
        Vector128<double> neg = x * e / (Vector128.Create(1.0) + e);
        return Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(u, Vector128<double>.Zero), pos, neg);
    }

    /// <summary>Applies <paramref name="activation"/> to one float vector (GELU computed in double lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> Activate(Vector128<float> v, Activation activation)
    {
        switch (activation)
        {
            case Activation.Relu: return Vector128.Max(v, Vector128<float>.Zero);
            case Activation.Gelu:
            {
                (Vector128<double> lo, Vector128<double> hi) = Vector128.Widen(v);
                return Vector128.Narrow(GeluErf(lo), GeluErf(hi));
            }
            case Activation.GeluTanh:
            {
                (Vector128<double> lo, Vector128<double> hi) = Vector128.Widen(v);
                return Vector128.Narrow(GeluTanh(lo), GeluTanh(hi));
            }
            default: return v;
        }
    }

    /// <summary>
    /// y[i] = act(y[i] + bias[i]) + res[i] over <paramref name="len"/> floats (bias/res may be null);
    /// the GEMM epilogue and the standalone activation share this loop.
    /// </summary>
    internal static unsafe int Epilogue128(float* y, float* bias, float* res, int len, Activation activation)
    {
        int i = 0;
        for (; i <= len - Vector128<float>.Count; i += Vector128<float>.Count)
        {
            Vector128<float> v = Vector128.Load(y + i);
            if (bias != null) v += Vector128.Load(bias + i);
            v = Activate(v, activation);
            if (res != null) v += Vector128.Load(res + i);
            v.Store(y + i);
        }
        return i;
    }

    /// <summary>Stores e^(x[i] - max) into x and returns their sum (vector part; returns the count done).</summary>
    internal static unsafe int ExpSub128(float* x, int len, float max, ref float sum)
    {
        int i = 0;
        Vector128<float> acc = Vector128<float>.Zero, m = Vector128.Create(max);
        for (; i <= len - Vector128<float>.Count; i += Vector128<float>.Count)
        {
            Vector128<float> e = Exp(Vector128.Load(x + i) - m);
            e.Store(x + i);
            acc += e;
        }
        sum += Vector128.Sum(acc);
        return i;
    }
}
