using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ManagedEmbed.Kernels;

/// <summary>The SIMD paths the kernels chose for this process (fixed at startup from the hardware and DOTNET_Enable* settings).</summary>
public static class KernelInfo
{
    /// <summary>Widest vector the GEMM micro-kernel uses: "Vector512", "Vector256", "Vector128" or "scalar".</summary>
    public static string GemmPath => GemmKernels.Isa switch { 3 => "Vector512", 2 => "Vector256", 1 => "Vector128", _ => "scalar" };

    /// <summary>Micro-kernel tile, rows x columns of accumulators (e.g. "8x48").</summary>
    public static string GemmTile => $"{GemmKernels.MR}x{GemmKernels.NR}";

    /// <summary>One line describing the active SIMD paths, for `membed info` and benchmark headers.</summary>
    public static string Describe() =>
        $"gemm={GemmPath} tile={GemmTile} fma={(Fma.IsSupported || Avx512F.IsSupported ? "yes" : "no")} " +
        $"Vector512={Vector512.IsHardwareAccelerated} Vector256={Vector256.IsHardwareAccelerated} " +
        $"Vector128={Vector128.IsHardwareAccelerated} avx512f={Avx512F.IsSupported} avx2={Avx2.IsSupported} int8={Int8Gemm.Path}";
}

internal static partial class GemmKernels
{
    // Properties over JIT/AOT intrinsics rather than static readonly fields: both the JIT and the AOT compiler (for a
    // fixed instruction set) fold them to constants, with no static-base or class-initialization check in loops.

    /// <summary>3 = Vector512 (needs AVX-512F for FMA on zmm), 2 = Vector256, 1 = Vector128, 0 = scalar.</summary>
    internal static int Isa
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? 3 :
            Vector256.IsHardwareAccelerated ? 2 :
            Vector128.IsHardwareAccelerated ? 1 : 0;
    }

    /// <summary>Rows of the register tile.</summary>
    internal static int MR
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Isa switch { 3 => 8, 2 => 6, 1 => 6, _ => 4 };
    }

    /// <summary>Columns of the register tile = packed panel width.</summary>
    internal static int NR
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Isa switch { 3 => 48, 2 => 16, 1 => 8, _ => 4 };
    }

    /// <summary>K block used only for very long K (see <see cref="KBlock"/>).</summary>
    internal const int KC = 512;

    /// <summary>
    /// K handled per pass of the micro-kernel. Up to 2048 (the MiniLM/BERT widths) the whole K runs in one pass, so
    /// each output tile is written once, from registers, with its epilogue; the panel (K x NR) streams from L2 and is
    /// reused by every row tile of the row block. Measured: blocking K at 128 for L1 cost 20-25% at m = 8192 because
    /// the partial C blocks and B slices did not fit L2 together. Longer K is blocked at KC.
    /// </summary>
    internal static int KBlock(int k) => k <= 2048 ? k : KC;

    /// <summary>
    /// Rows per L2 block: about 384 KB of A (rows x K-block floats) stays in L2 while all panels of a chunk stream
    /// past it (248 rows at K = 384, 56 at K = 1536), a multiple of MR.
    /// </summary>
    internal static int RowBlock(int k, int mr) => Math.Clamp(96 * 1024 / KBlock(Math.Max(k, 1)) / mr * mr, mr, 256 / mr * mr);

    /// <summary>Row blocks of at most this many row tiles use L1-sized K slices (see <see cref="KSlice"/>).</summary>
    internal const int SmallMTiles = 4;

    /// <summary>L1 bytes a K slice of one panel plus the matching slice of the block's A rows may fill.</summary>
    internal const int SliceBudget = 16 * 1024;

    /// <summary>
    /// K per pass over one panel for a row block of <paramref name="rows"/> rows: the whole K-block when the panel is
    /// reused by many row tiles (large M, measured best on the AVX-512 machine); for at most <see cref="SmallMTiles"/>
    /// row tiles, a slice of the panel small enough that it and the rows' A slice stay in L1 while every row tile
    /// reads them (a multiple of 16, at least 64). Measured at 1 x 16 tokens on one AVX2 core (per-op profile,
    /// thread CPU time): level at K = 384-1536, 2-4% faster for the K = 3072 FFN down projection of MPNet; the weight
    /// stream from memory, not L1 reuse, bounds these shapes (see the prefetch in the micro-kernels).
    /// </summary>
    internal static int KSlice(int kc, int rows, int nr, int mr)
    {
        if (rows > SmallMTiles * mr) return kc;
        int ks = Math.Max(64, SliceBudget / ((nr + rows) * sizeof(float)) / 16 * 16);
        // Balanced slices: no short tail slice.
        int slices = (kc + ks - 1) / ks;
        return (kc + slices - 1) / slices;
    }

    /// <summary>Upper bound of <see cref="KSlice"/> for sliced row blocks of panel width <paramref name="nr"/> (at one row).</summary>
    internal static int KSliceMax(int nr) => Math.Max(64, SliceBudget / ((nr + 1) * sizeof(float)) / 16 * 16);

    /// <summary>
    /// Writes columns [<paramref name="col0"/>, col0 + <paramref name="kc"/>) of the rows <paramref name="rows"/>[0 ..
    /// <paramref name="count"/>) of a row-major W as one K-major panel slice of width <paramref name="nr"/>:
    /// dst[q·nr + j] = rows[j][col0 + q], with lanes j ≥ count zero (the packed layout of
    /// <see cref="PackedMatrix"/>, so the micro-kernels read it unchanged). 8 x 8 blocks are transposed in AVX registers.
    /// </summary>
    internal static unsafe void TransposeSlice(float** rows, int count, int nr, int col0, int kc, float* dst)
    {
        int j = 0;
        if (Avx.IsSupported && nr % 8 == 0)
        {
            int kc8 = kc & ~7;
            for (; j + 8 <= count; j += 8)
            {
                float* r0 = rows[j] + col0, r1 = rows[j + 1] + col0, r2 = rows[j + 2] + col0, r3 = rows[j + 3] + col0;
                float* r4 = rows[j + 4] + col0, r5 = rows[j + 5] + col0, r6 = rows[j + 6] + col0, r7 = rows[j + 7] + col0;
                for (int q = 0; q < kc8; q += 8)
                {
                    Transpose8x8(Avx.LoadVector256(r0 + q), Avx.LoadVector256(r1 + q), Avx.LoadVector256(r2 + q), Avx.LoadVector256(r3 + q),
                        Avx.LoadVector256(r4 + q), Avx.LoadVector256(r5 + q), Avx.LoadVector256(r6 + q), Avx.LoadVector256(r7 + q),
                        dst + q * nr + j, nr);
                }
                for (int q = kc8; q < kc; q++)
                {
                    float* d = dst + q * nr + j;
                    d[0] = r0[q]; d[1] = r1[q]; d[2] = r2[q]; d[3] = r3[q]; d[4] = r4[q]; d[5] = r5[q]; d[6] = r6[q]; d[7] = r7[q];
                }
            }
        }
        for (; j < count; j++)
        {
            float* r = rows[j] + col0;
            for (int q = 0; q < kc; q++) dst[q * nr + j] = r[q];
        }
        if (count < nr)
            for (int q = 0; q < kc; q++) new Span<float>(dst + q * nr + count, nr - count).Clear();
    }

    /// <summary>Stores the transpose of the 8 x 8 block with rows r0..r7: column q goes to d + q·ld.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Transpose8x8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, float* d, nint ld)
    {
        // Interleave pairs of rows, then pairs of pairs, then swap 128-bit halves (the standard 24-shuffle transpose).
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(t0, t2, 0x44); var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44); var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44); var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44); var s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(d + 0 * ld, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(d + 1 * ld, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(d + 2 * ld, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(d + 3 * ld, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(d + 4 * ld, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(d + 5 * ld, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(d + 6 * ld, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(d + 7 * ld, Avx.Permute2x128(s3, s7, 0x31));
    }

    /// <summary>
    /// Runs the selected micro-kernel on one full MR x NR tile: C (+)= A·B, then (acc + bias) + res on the way to the
    /// store when <paramref name="bias"/> (NR values) or <paramref name="res"/> (MR rows of NR, stride
    /// <paramref name="ldr"/>) is non-null.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Tile(float* a, nint lda, float* b, float* c, nint ldc, int kc, bool accumulate, float* pf, bool nta,
        float* bias, float* res, nint ldr)
    {
        switch (Isa)
        {
            case 3: Kernel512(a, lda, b, c, ldc, kc, accumulate, pf, nta, bias, res, ldr); break;
            case 2: Kernel256(a, lda, b, c, ldc, kc, accumulate, pf, nta, bias, res, ldr); break;
            case 1: Kernel128(a, lda, b, c, ldc, kc, accumulate, pf, nta, bias, res, ldr); break;
            default: KernelScalar(a, lda, b, c, ldc, kc, accumulate, bias, res, ldr); break; // no prefetch on the portable path
        }
    }

    /// <summary>
    /// Rows of the tile that computes a partial row group of <paramref name="rows"/> (&lt; MR) rows: 2 or 4 on the
    /// Vector256/Vector128 paths (their 6-row tile would multiply up to 5 rows of zero padding, a third of the work
    /// at 16 tokens), MR elsewhere.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int PartialRows(int rows) => Isa is 1 or 2 ? (rows <= 2 ? 2 : rows <= 4 ? 4 : MR) : MR;

    /// <summary>Runs the micro-kernel of <paramref name="rows"/> rows (MR, or a value from <see cref="PartialRows"/>), with <see cref="Tile"/>'s bias and residual.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void TileRows(int rows, float* a, nint lda, float* b, float* c, nint ldc, int kc, bool accumulate, float* pf, bool nta,
        float* bias, float* res, nint ldr)
    {
        if (rows == MR) Tile(a, lda, b, c, ldc, kc, accumulate, pf, nta, bias, res, ldr);
        else if (Isa == 2)
        {
            if (rows == 4) Kernel256x4(a, lda, b, c, ldc, kc, accumulate, pf, nta, bias, res, ldr);
            else Kernel256x2(a, lda, b, c, ldc, kc, accumulate, pf, nta, bias, res, ldr);
        }
        else
        {
            if (rows == 4) Kernel128x4(a, lda, b, c, ldc, kc, accumulate, pf, nta, bias, res, ldr);
            else Kernel128x2(a, lda, b, c, ldc, kc, accumulate, pf, nta, bias, res, ldr);
        }
    }

    /// <summary>Narrow tile for products with at most 32 output columns (AVX-512 only): 12 x 32.</summary>
    internal const int NarrowMR = 12, NarrowNR = 32;

    /// <summary>
    /// True when a product of <paramref name="n"/> output columns uses the 12x32 kernel instead of 8x48 panels (AVX-512
    /// only): at n ≤ 32, and wherever 32-wide panels pad fewer columns than 48-wide ones (n = 16, 64 or 128: 8x48
    /// panels would multiply 16-32 columns of zeros and compute the last panel through a scratch tile). Serves
    /// <see cref="Gemm.MatMul"/> and <see cref="Gemm.MatMulTransB(ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, Span{float}, int, int, int, int)"/>;
    /// the encoder's attention has its own kernel (<see cref="Attention"/>).
    /// </summary>
    internal static bool UseNarrow(int n) => Isa == 3 && (n <= NarrowNR || Padding(n, NarrowNR) < Padding(n, NR));

    private static int Padding(int n, int nr) => (n + nr - 1) / nr * nr - n;

    /// <summary>Rows of the narrow tile that computes a partial row group of <paramref name="rows"/> (&lt; 12) rows: 4, 8 or 12.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int NarrowPartialRows(int rows) => rows <= 4 ? 4 : rows <= 8 ? 8 : NarrowMR;

    /// <summary>Runs the narrow (32-column) micro-kernel of <paramref name="rows"/> rows (12, or a value from <see cref="NarrowPartialRows"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void NarrowTileRows(int rows, float* a, nint lda, float* b, float* c, nint ldc, int kc, bool accumulate, float* pf, bool nta,
        float* bias, float* res, nint ldr)
    {
        if (rows == NarrowMR) Kernel512x32(a, lda, b, c, ldc, kc, accumulate, pf, nta, bias, res, ldr);
        else if (rows == 8) Kernel512x32r8(a, lda, b, c, ldc, kc, accumulate, pf, nta, bias, res, ldr);
        else Kernel512x32r4(a, lda, b, c, ldc, kc, accumulate, pf, nta, bias, res, ldr);
    }

    /// <summary>Portable MR x NR tile (MR = NR = 4) for hardware without vector acceleration.</summary>
    internal static unsafe void KernelScalar(float* a, nint lda, float* b, float* c, nint ldc, int kc, bool accumulate, float* bias, float* res, nint ldr)
    {
        const int mr = 4, nr = 4;
        float* acc = stackalloc float[mr * nr];
        for (int r = 0; r < mr; r++)
            for (int j = 0; j < nr; j++) acc[r * nr + j] = accumulate ? c[r * ldc + j] : 0f;
        for (int p = 0; p < kc; p++)
        {
            float* bp = b + p * nr;
            for (int r = 0; r < mr; r++)
            {
                float x = a[r * lda + p];
                for (int j = 0; j < nr; j++) acc[r * nr + j] += x * bp[j];
            }
        }
        for (int r = 0; r < mr; r++)
            for (int j = 0; j < nr; j++)
            {
                float v = acc[r * nr + j];
                if (bias != null) v += bias[j];
                if (res != null) v += res[r * ldr + j];
                c[r * ldc + j] = v;
            }
    }
}
