using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace ManagedEmbed.Kernels;

/// <summary>
/// Kernels over quantized vectors: Hamming distance of bit-packed codes, the exact int8·int8 dot product, and the
/// float·int8 dot product used to rescore quantized candidates with a float query.
/// </summary>
/// <remarks>
/// Hamming and int8·int8 are exact integer results, so every path equals the scalar reference. float·int8 sums in
/// <see cref="Distance"/>'s canonical order (W lane sums, pairwise reduction, scalar tail), so it equals
/// <c>Distance.ReferenceScore(q, (float)x, false, Distance.LaneCount)</c> bit for bit.
/// </remarks>
public static class QuantizedDistance
{
    /// <summary>
    /// The SIMD path the Hamming kernel takes on this machine: Vector512 (AVX-512BW), Vector256 (AVX2), Vector128
    /// (SSSE3 or NEON) or scalar (64-bit popcount).
    /// </summary>
    public static string HammingPath { get; } =
        Vector512.IsHardwareAccelerated && Avx512BW.IsSupported ? "Vector512"
        : Vector256.IsHardwareAccelerated && Avx2.IsSupported ? "Vector256"
        : Vector128.IsHardwareAccelerated && (Ssse3.IsSupported || AdvSimd.IsSupported) ? "Vector128"
        : "scalar";

    private static readonly int HammingWidth = HammingPath switch { "Vector512" => 64, "Vector256" => 32, "Vector128" => 16, _ => 0 };

    /// <summary>Number of differing bits between two equally long byte codes.</summary>
    public static int Hamming(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Codes must have the same length.");
        ref byte pa = ref MemoryMarshal.GetReference(a);
        ref byte pb = ref MemoryMarshal.GetReference(b);
        int n = a.Length, i = 0;
        long sum = 0;
        switch (HammingWidth)
        {
            case 64: sum = Hamming512(ref pa, ref pb, n, out i); break;
            case 32: sum = Hamming256(ref pa, ref pb, n, out i); break;
            case 16: sum = Hamming128(ref pa, ref pb, n, out i); break;
        }
        for (; i + 8 <= n; i += 8)
            sum += BitOperations.PopCount(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref pa, i)) ^ Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref pb, i)));
        for (; i < n; i++) sum += BitOperations.PopCount((uint)(Unsafe.Add(ref pa, i) ^ Unsafe.Add(ref pb, i)));
        return (int)sum;
    }

    /// <summary>distances[j] = Hamming(q, codes[j]) for the <c>distances.Length</c> codes of <c>q.Length</c> bytes stored back to back.</summary>
    public static void HammingRows(ReadOnlySpan<byte> q, ReadOnlySpan<byte> codes, Span<int> distances)
    {
        int w = q.Length;
        if (codes.Length < (long)distances.Length * w) throw new ArgumentException("codes holds fewer than distances.Length codes.");
        for (int j = 0; j < distances.Length; j++) distances[j] = Hamming(q, codes.Slice(j * w, w));
    }

    /// <summary>Scalar reference of <see cref="Hamming"/>: bit by bit. Slow; for tests.</summary>
    public static int ReferenceHamming(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Codes must have the same length.");
        int d = 0;
        for (int i = 0; i < a.Length; i++)
            for (int bit = 0; bit < 8; bit++)
                d += ((a[i] >> bit) ^ (b[i] >> bit)) & 1;
        return d;
    }

    /// <summary>The exact dot product of two int8 vectors (at most 131072 coordinates, so the int32 sum cannot overflow).</summary>
    public static int DotInt8(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Vectors must have the same length.");
        if (a.Length > MaxInt8Length) throw new ArgumentException($"int8 vectors are limited to {MaxInt8Length} coordinates.");
        ref sbyte pa = ref MemoryMarshal.GetReference(a);
        ref sbyte pb = ref MemoryMarshal.GetReference(b);
        int n = a.Length, i = 0, sum = 0;
        // Products of two int8 fit in int16 (|p| <= 16384); they are widened to int32 before any addition.
        if (Distance.LaneCount == 16)
        {
            var acc = Vector512<int>.Zero;
            for (; i + 64 <= n; i += 64)
            {
                var (a0, a1) = Vector512.Widen(Vector512.LoadUnsafe(ref Unsafe.Add(ref pa, i)));
                var (b0, b1) = Vector512.Widen(Vector512.LoadUnsafe(ref Unsafe.Add(ref pb, i)));
                var (p0, p1) = Vector512.Widen(a0 * b0);
                var (p2, p3) = Vector512.Widen(a1 * b1);
                acc += (p0 + p1) + (p2 + p3);
            }
            sum = Vector512.Sum(acc);
        }
        else if (Distance.LaneCount == 8)
        {
            var acc = Vector256<int>.Zero;
            for (; i + 32 <= n; i += 32)
            {
                var va = Vector256.LoadUnsafe(ref Unsafe.Add(ref pa, i));
                var vb = Vector256.LoadUnsafe(ref Unsafe.Add(ref pb, i));
                if (Avx2.IsSupported)
                {
                    // vpmaddwd: adjacent int16 products summed into int32, exact.
                    acc += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(va.GetLower()), Avx2.ConvertToVector256Int16(vb.GetLower()));
                    acc += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(va.GetUpper()), Avx2.ConvertToVector256Int16(vb.GetUpper()));
                }
                else
                {
                    var (a0, a1) = Vector256.Widen(va);
                    var (b0, b1) = Vector256.Widen(vb);
                    var (p0, p1) = Vector256.Widen(a0 * b0);
                    var (p2, p3) = Vector256.Widen(a1 * b1);
                    acc += (p0 + p1) + (p2 + p3);
                }
            }
            sum = Vector256.Sum(acc);
        }
        else if (Distance.LaneCount == 4)
        {
            var acc = Vector128<int>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                var (a0, a1) = Vector128.Widen(Vector128.LoadUnsafe(ref Unsafe.Add(ref pa, i)));
                var (b0, b1) = Vector128.Widen(Vector128.LoadUnsafe(ref Unsafe.Add(ref pb, i)));
                var (p0, p1) = Vector128.Widen(a0 * b0);
                var (p2, p3) = Vector128.Widen(a1 * b1);
                acc += (p0 + p1) + (p2 + p3);
            }
            sum = Vector128.Sum(acc);
        }
        for (; i < n; i++) sum += Unsafe.Add(ref pa, i) * Unsafe.Add(ref pb, i);
        return sum;
    }

    /// <summary>The longest int8 vector <see cref="DotInt8"/> accepts: 2^17 coordinates of |product| ≤ 2^14 stay within int32.</summary>
    public const int MaxInt8Length = 1 << 17;

    /// <summary>Scalar reference of <see cref="DotInt8"/>, accumulated in 64 bits. For tests.</summary>
    public static long ReferenceDotInt8(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
    {
        if (a.Length != b.Length) throw new ArgumentException("Vectors must have the same length.");
        long s = 0;
        for (int i = 0; i < a.Length; i++) s += (long)a[i] * b[i];
        return s;
    }

    /// <summary>
    /// The dot product of a float vector with an int8 vector (each int8 converted exactly to float), summed in
    /// <see cref="Distance"/>'s canonical order.
    /// </summary>
    public static float DotFloatInt8(ReadOnlySpan<float> q, ReadOnlySpan<sbyte> x)
    {
        if (q.Length != x.Length) throw new ArgumentException("Vectors must have the same length.");
        ref float pq = ref MemoryMarshal.GetReference(q);
        ref sbyte px = ref MemoryMarshal.GetReference(x);
        return Distance.LaneCount switch
        {
            16 => DotFI8<Vector512<float>, Distance.V512, L512>(ref pq, ref px, q.Length),
            8 => DotFI8<Vector256<float>, Distance.V256, L256>(ref pq, ref px, q.Length),
            4 => DotFI8<Vector128<float>, Distance.V128, L128>(ref pq, ref px, q.Length),
            _ => DotFI8<float, Distance.V1, L1>(ref pq, ref px, q.Length),
        };
    }

    private static float DotFI8<TV, TO, TL>(ref float q, ref sbyte x, int dim) where TO : struct, Distance.IOps<TV> where TL : struct, IInt8Load<TV>
    {
        int full = dim - dim % TO.Count;
        TV acc = TO.Zero;
        for (int i = 0; i < full; i += TO.Count)
            acc = TO.Fma(TO.Load(ref Unsafe.Add(ref q, i)), TL.Load(ref Unsafe.Add(ref x, i)), acc);
        float s = TO.HSum(acc);
        for (int i = full; i < dim; i++) s = MathF.FusedMultiplyAdd(Unsafe.Add(ref q, i), Unsafe.Add(ref x, i), s);
        return s;
    }

    // ---- Hamming bodies: XOR, per-byte popcount by nibble table lookup (pshufb), byte sums by psadbw ----

    private static long Hamming512(ref byte a, ref byte b, int n, out int i)
    {
        var table = Vector512.Create(NibbleCounts.AsSpan());
        var low = Vector512.Create((byte)0x0F);
        var acc = Vector512<ulong>.Zero;
        for (i = 0; i + 64 <= n; i += 64)
        {
            var x = Vector512.LoadUnsafe(ref Unsafe.Add(ref a, i)) ^ Vector512.LoadUnsafe(ref Unsafe.Add(ref b, i));
            var c = Avx512BW.Shuffle(table, x & low) + Avx512BW.Shuffle(table, Avx512BW.ShiftRightLogical(x.AsUInt16(), 4).AsByte() & low);
            acc += Avx512BW.SumAbsoluteDifferences(c, Vector512<byte>.Zero).AsUInt64();
        }
        return (long)Vector512.Sum(acc);
    }

    private static long Hamming256(ref byte a, ref byte b, int n, out int i)
    {
        var table = Vector256.Create(NibbleCounts.AsSpan());
        var low = Vector256.Create((byte)0x0F);
        var acc = Vector256<ulong>.Zero;
        for (i = 0; i + 32 <= n; i += 32)
        {
            var x = Vector256.LoadUnsafe(ref Unsafe.Add(ref a, i)) ^ Vector256.LoadUnsafe(ref Unsafe.Add(ref b, i));
            var c = Avx2.Shuffle(table, x & low) + Avx2.Shuffle(table, Avx2.ShiftRightLogical(x.AsUInt16(), 4).AsByte() & low);
            acc += Avx2.SumAbsoluteDifferences(c, Vector256<byte>.Zero).AsUInt64();
        }
        return (long)Vector256.Sum(acc);
    }

    private static long Hamming128(ref byte a, ref byte b, int n, out int i)
    {
        var acc = Vector128<ulong>.Zero;
        if (AdvSimd.IsSupported)
        {
            for (i = 0; i + 16 <= n; i += 16)
            {
                var x = Vector128.LoadUnsafe(ref Unsafe.Add(ref a, i)) ^ Vector128.LoadUnsafe(ref Unsafe.Add(ref b, i));
                acc += Vector128.CreateScalar((ulong)AdvSimd.Arm64.AddAcross(AdvSimd.PopCount(x)).ToScalar());
            }
            return (long)Vector128.Sum(acc);
        }
        var table = Vector128.Create(NibbleCounts.AsSpan(0, 16));
        var low = Vector128.Create((byte)0x0F);
        for (i = 0; i + 16 <= n; i += 16)
        {
            var x = Vector128.LoadUnsafe(ref Unsafe.Add(ref a, i)) ^ Vector128.LoadUnsafe(ref Unsafe.Add(ref b, i));
            var c = Ssse3.Shuffle(table, x & low) + Ssse3.Shuffle(table, Sse2.ShiftRightLogical(x.AsUInt16(), 4).AsByte() & low);
            acc += Sse2.SumAbsoluteDifferences(c, Vector128<byte>.Zero).AsUInt64();
        }
        return (long)Vector128.Sum(acc);
    }

    // Bit counts of 0..15, repeated per 128-bit lane (pshufb looks up within each lane).
    private static readonly byte[] NibbleCounts = [.. Enumerable.Repeat(new byte[] { 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4 }, 4).SelectMany(t => t)];

    // ---- int8 → float loads, W coordinates at a time ----

    private interface IInt8Load<TV> { static abstract TV Load(ref sbyte p); }

    private struct L512 : IInt8Load<Vector512<float>>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Load(ref sbyte p)
        {
            var (lo, hi) = Vector128.Widen(Vector128.LoadUnsafe(ref p));
            var (i0, i1) = Vector256.Widen(Vector256.Create(lo, hi));
            return Vector512.ConvertToSingle(Vector512.Create(i0, i1));
        }
    }

    private struct L256 : IInt8Load<Vector256<float>>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load(ref sbyte p)
        {
            if (Avx2.IsSupported)
                return Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Vector128.CreateScalar(Unsafe.ReadUnaligned<long>(ref Unsafe.As<sbyte, byte>(ref p))).AsSByte()));
            var (i0, i1) = Vector128.Widen(Vector128.WidenLower(Vector128.CreateScalar(Unsafe.ReadUnaligned<long>(ref Unsafe.As<sbyte, byte>(ref p))).AsSByte()));
            return Vector256.ConvertToSingle(Vector256.Create(i0, i1));
        }
    }

    private struct L128 : IInt8Load<Vector128<float>>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Load(ref sbyte p)
        {
            var b = Vector128.CreateScalar(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref p))).AsSByte();
            return Vector128.ConvertToSingle(Vector128.WidenLower(Vector128.WidenLower(b)));
        }
    }

    private struct L1 : IInt8Load<float>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(ref sbyte p) => p;
    }
}
