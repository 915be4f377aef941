using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ManagedEmbed.Kernels;

/// <summary>
/// Linear layers over int8 weights (<see cref="Int8Matrix"/>) with dynamic per-row activation quantization: each
/// row of x is quantized symmetrically to s8 (<see cref="Int8Quantization"/>), the codes are multiplied exactly in
/// int32, and a float epilogue applies scale, bias, activation and residual with <see cref="Gemm.Linear(ReadOnlySpan{float}, int, PackedMatrix, ReadOnlySpan{float}, Span{float}, Activation, ReadOnlySpan{float}, KernelThreadPool?)"/>'s semantics.
/// </summary>
/// <remarks>
/// Integer paths, all equal to the plain int32 sum exactly:
/// AVX-VNNI (256-bit vpdpbusd: activation codes shifted by +128 to u8 times s8 weights, four products per int32
/// lane, no intermediate saturation; 128·Σw subtracted afterwards), AVX2 (codes sign-extended to s16, pairs
/// multiplied and summed by vpmaddwd: no saturation since |a·b + c·d| ≤ 2·127²), SSE4.1 (the same on 128-bit
/// vectors) and scalar. .NET 10 exposes no 512-bit VNNI (Avx512Vnni), so AVX-512 machines use the 256-bit form.
/// The float epilogue is y = act((float)acc · (sx[i] · sw[j]) + bias[j]) + res.
/// </remarks>
public static class Int8Gemm
{
    /// <summary>Largest K: 127² · K must stay below 2³¹ for the int32 accumulator.</summary>
    public const int MaxCols = 131_000;

    /// <summary>Register tile rows.</summary>
    internal const int MR = 4;
    /// <summary>Rows a chunk keeps in cache while the panels stream past them.</summary>
    internal const int RowBlock = 64;

    /// <summary>The integer path this process uses: "AVX-VNNI", "AVX2", "SSE4.1" or "scalar".</summary>
    public static string Path => UseVnni ? "AVX-VNNI" : Avx2.IsSupported ? "AVX2" : Sse41.IsSupported ? "SSE4.1" : "scalar";

    /// <summary>True when the vpdpbusd path (and its 4-code weight layout) is used.</summary>
    internal static bool UseVnni
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => AvxVnni.IsSupported;
    }

    /// <summary>Bytes of one prepared activation row of <paramref name="kp"/> codes (u8 for VNNI, s16 pairs otherwise).</summary>
    internal static int RowBytes(int kp) => UseVnni ? kp : 2 * kp;

    /// <summary>Writes one row of s8 codes in the form the integer kernels read; the padding past k is zero.</summary>
    internal static unsafe void PrepareRow(sbyte* q, int k, byte* dst, int kp)
    {
        int i = 0;
        if (UseVnni)
        {
            // s8 → u8 + 128: flipping the sign bit.
            var flip = Vector256.Create((byte)0x80);
            for (; i <= k - 32; i += 32) (Vector256.Load((byte*)q + i) ^ flip).Store(dst + i);
            for (; i < k; i++) dst[i] = (byte)(q[i] + 128);
            for (; i < kp; i++) dst[i] = 0;
            return;
        }
        short* d = (short*)dst;
        if (Vector256.IsHardwareAccelerated)
            for (; i <= k - 16; i += 16)
                Vector256.WidenLower(Vector256.Create(Vector128.Load(q + i), Vector128<sbyte>.Zero)).Store(d + i);
        for (; i < k; i++) d[i] = q[i];
        for (; i < kp; i++) d[i] = 0;
    }

    /// <summary>
    /// y[m, n] = act(x[m, k] · Wᵀ + bias) + residual with W int8 and x quantized per row on the fly. Arguments as in
    /// <see cref="Gemm.Linear(ReadOnlySpan{float}, int, PackedMatrix, ReadOnlySpan{float}, Span{float}, Activation, ReadOnlySpan{float}, KernelThreadPool?)"/>
    /// (residual may be y itself with Activation.None).
    /// </summary>
    public static unsafe void Linear(ReadOnlySpan<float> x, int m, Int8Matrix w, ReadOnlySpan<float> bias, Span<float> y,
        Activation activation = Activation.None, ReadOnlySpan<float> residual = default, KernelThreadPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        int n = w.Rows, k = w.Cols;
        if (k > MaxCols) throw new ArgumentException($"K = {k} exceeds {MaxCols} (int32 accumulator bound).");
        // The float GEMM's checks (sizes, overlaps, an in-place residual only with Activation.None).
        Gemm.CheckLinear(x, m, n, k, bias, y, activation, residual);
        if (m == 0) return;
        var xs = x[..(m * k)];
        var ys = y[..(m * n)];
        int kp = w.PaddedCols, rowBytes = RowBytes(kp);
        Scratch.Get(m * rowBytes, m, out byte* codes, out float* scales);
        fixed (float* px = xs)
        fixed (float* py = ys)
        fixed (float* pb = bias)
        fixed (float* pr = residual)
        {
            var quantize = QuantizeWork.ForThisThread();
            quantize.Set(px, k, kp, codes, rowBytes, scales, m);
            quantize.Run(pool ?? KernelThreadPool.Serial);
            var job = Int8GemmJob.ForThisThread();
            job.Set(codes, rowBytes, m, w, scales, py, n, bias.IsEmpty ? null : pb, activation, residual.IsEmpty ? null : pr, null);
            job.Run(pool ?? KernelThreadPool.Serial);
        }
    }

    /// <summary>
    /// The integer part alone: acc[m, n] = xq[m, k] · codesᵀ in int32, exactly (for tests of every ISA path against
    /// a plain int32 sum). <paramref name="xq"/> holds codes in [−127, 127].
    /// </summary>
    public static unsafe void MultiplyCodes(ReadOnlySpan<sbyte> xq, int m, Int8Matrix w, Span<int> acc, KernelThreadPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        int n = w.Rows, k = w.Cols, kp = w.PaddedCols;
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m));
        if (xq.Length < (long)m * k) throw new ArgumentException("xq is smaller than m*k.");
        if (acc.Length < (long)m * n) throw new ArgumentException("acc is smaller than m*n.");
        if (m == 0) return;
        int rowBytes = RowBytes(kp);
        var a = GC.AllocateArray<byte>(m * rowBytes, pinned: true);
        fixed (sbyte* px = xq)
        fixed (byte* pa = a)
        fixed (int* pacc = acc)
        {
            for (int i = 0; i < m; i++) PrepareRow(px + (long)i * k, k, pa + (long)i * rowBytes, kp);
            var job = Int8GemmJob.ForThisThread();
            job.Set(pa, rowBytes, m, w, null, null, n, null, Activation.None, null, pacc);
            job.Run(pool ?? KernelThreadPool.Serial);
        }
    }

    /// <summary>Per-thread activation buffers (pinned, grown rarely).</summary>
    private static unsafe class Scratch
    {
        [ThreadStatic] private static byte[]? t_codes;
        [ThreadStatic] private static float[]? t_scales;

        internal static void Get(int codes, int rows, out byte* pc, out float* ps)
        {
            if (t_codes is null || t_codes.Length < codes) t_codes = GC.AllocateArray<byte>(Math.Max(codes, 8192), pinned: true);
            if (t_scales is null || t_scales.Length < rows) t_scales = GC.AllocateArray<float>(Math.Max(rows, 256), pinned: true);
            // Pinned object heap: the addresses are stable without fixed.
            pc = (byte*)Unsafe.AsPointer(ref t_codes[0]);
            ps = (float*)Unsafe.AsPointer(ref t_scales[0]);
        }

        /// <summary>The calling thread's s8 staging row (pinned).</summary>
        [ThreadStatic] private static sbyte[]? t_staging;

        internal static sbyte* Staging(int cols)
        {
            if (t_staging is null || t_staging.Length < cols) t_staging = GC.AllocateArray<sbyte>(Math.Max(cols, 4096), pinned: true);
            return (sbyte*)Unsafe.AsPointer(ref t_staging[0]);
        }
    }

    /// <summary>Dynamic quantization of the activation rows, split in row chunks across the pool when there are many.</summary>
    private sealed unsafe class QuantizeWork : KernelWork
    {
        [ThreadStatic] private static QuantizeWork? t_work;
        private float* _x, _scales;
        private byte* _codes;
        private int _k, _kp, _rowBytes, _m, _rowsPerChunk;

        internal static QuantizeWork ForThisThread() => t_work ??= new QuantizeWork();

        internal void Set(float* x, int k, int kp, byte* codes, int rowBytes, float* scales, int m)
        {
            _x = x; _k = k; _kp = kp; _codes = codes; _rowBytes = rowBytes; _scales = scales; _m = m;
        }

        internal void Run(KernelThreadPool pool)
        {
            // At least ~64K elements per chunk, so small products stay on the calling thread.
            int chunks = (int)Math.Clamp((long)_m * _k / (1 << 16), 1, 4L * pool.Threads);
            chunks = Math.Min(chunks, _m);
            _rowsPerChunk = (_m + chunks - 1) / chunks;
            chunks = (_m + _rowsPerChunk - 1) / _rowsPerChunk;
            try
            {
                if (chunks == 1) Execute(0);
                else pool.Run(this, chunks);
            }
            finally { _x = _scales = null; _codes = null; }
        }

        public override void Execute(int chunk)
        {
            int r0 = chunk * _rowsPerChunk, r1 = Math.Min(_m, r0 + _rowsPerChunk);
            sbyte* staging = Scratch.Staging(_k);
            for (int i = r0; i < r1; i++)
            {
                _scales[i] = Int8Quantization.QuantizeRow(_x + (long)i * _k, _k, staging);
                PrepareRow(staging, _k, _codes + (long)i * _rowBytes, _kp);
            }
        }
    }
}

/// <summary>One int8 GEMM call: chunk grid over row blocks x panel ranges, integer tile kernels, float epilogue.</summary>
internal sealed unsafe class Int8GemmJob : KernelWork
{
    private const int NR = Int8Matrix.PanelWidth, MR = Int8Gemm.MR;
    [ThreadStatic] private static Int8GemmJob? t_job;
    [ThreadStatic] private static float[]? t_tile;

    private byte* _a;
    private float* _sx, _y, _bias, _res;
    private int* _acc;
    private Int8Matrix? _w;
    private int _rowBytes, _m, _n;
    private Activation _act;
    private int _rowsPerChunk, _panelsPerChunk, _panelChunks;

    internal static Int8GemmJob ForThisThread() => t_job ??= new Int8GemmJob();

    internal void Set(byte* a, int rowBytes, int m, Int8Matrix w, float* sx, float* y, int n, float* bias, Activation act, float* res, int* acc)
    {
        _a = a; _rowBytes = rowBytes; _m = m; _w = w; _sx = sx; _y = y; _n = n; _bias = bias; _act = act; _res = res; _acc = acc;
    }

    internal void Run(KernelThreadPool pool)
    {
        var grid = ChunkGrid.Plan(_m, MR, Int8Gemm.RowBlock, _w!.Panels, (long)_m * _n * _w.PaddedCols, pool.Threads);
        _rowsPerChunk = grid.RowsPerChunk;
        _panelsPerChunk = grid.PanelsPerChunk;
        _panelChunks = grid.PanelChunks;
        int chunks = grid.Chunks;
        try
        {
            if (chunks == 1) Execute(0);
            else pool.Run(this, chunks);
        }
        finally
        {
            _a = null; _sx = _y = _bias = _res = null; _acc = null; _w = null;
        }
    }

    public override void Execute(int chunk)
    {
        int ri = chunk / _panelChunks, pj = chunk % _panelChunks;
        int r0 = ri * _rowsPerChunk, r1 = Math.Min(_m, r0 + _rowsPerChunk);
        int p0 = pj * _panelsPerChunk, p1 = Math.Min(_w!.Panels, p0 + _panelsPerChunk);
        float[] tileArr = t_tile ??= GC.AllocateArray<float>(2 * MR * NR, pinned: true);
        fixed (float* tile = tileArr)
        fixed (sbyte* wdata = _w.Data)
        fixed (int* colSums = _w.ColumnSums)
        {
            int* acc = (int*)(tile + MR * NR);
            int kp = _w.PaddedCols, kpairs = kp / 2, rowBytes = _rowBytes;
            bool quads = _w.Group == 4;
            for (int rb = r0; rb < r1; rb += Int8Gemm.RowBlock)
            {
                int re = Math.Min(r1, rb + Int8Gemm.RowBlock);
                for (int p = p0; p < p1; p++)
                {
                    sbyte* b = wdata + (long)p * NR * kp;
                    int j0 = p * NR, ncols = Math.Min(NR, _n - j0);
                    for (int i = rb; i < re; i += MR)
                    {
                        int rows = Math.Min(MR, re - i);
                        byte* a = _a + (long)i * rowBytes;
                        if (quads) TileVnni(a, rowBytes, rows, b, kp / 4, colSums + j0, acc);
                        else if (Avx2.IsSupported) TileAvx2((short*)a, kp, rows, b, kpairs, acc);
                        else if (Sse41.IsSupported) TileSse41((short*)a, kp, rows, b, kpairs, acc);
                        else TileScalar((short*)a, kp, rows, b, kpairs, acc);
                        if (_acc != null)
                        {
                            for (int r = 0; r < rows; r++)
                                new ReadOnlySpan<int>(acc + r * NR, ncols).CopyTo(new Span<int>(_acc + (long)(i + r) * _n + j0, ncols));
                        }
                        else Epilogue(acc, tile, i, rows, j0, ncols);
                    }
                }
            }
        }
    }

    /// <summary>Rows past the matrix reuse the last real row (computed and discarded), so the tile has no branches.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static short* Row(short* a, int kp, int rows, int r) => a + (long)Math.Min(r, rows - 1) * kp;

    private static void TileVnni(byte* a, int lda, int rows, sbyte* b, int kquads, int* colSums, int* acc)
    {
        byte* a0 = a, a1 = a + (long)Math.Min(1, rows - 1) * lda, a2 = a + (long)Math.Min(2, rows - 1) * lda, a3 = a + (long)Math.Min(3, rows - 1) * lda;
        Vector256<int> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        for (int q = 0; q < kquads; q++)
        {
            var w0 = Vector256.Load(b);
            var w1 = Vector256.Load(b + 32);
            b += 4 * NR;
            var x = Vector256.Create(*(int*)(a0 + 4 * q)).AsByte();
            c00 = AvxVnni.MultiplyWideningAndAdd(c00, x, w0);
            c01 = AvxVnni.MultiplyWideningAndAdd(c01, x, w1);
            x = Vector256.Create(*(int*)(a1 + 4 * q)).AsByte();
            c10 = AvxVnni.MultiplyWideningAndAdd(c10, x, w0);
            c11 = AvxVnni.MultiplyWideningAndAdd(c11, x, w1);
            x = Vector256.Create(*(int*)(a2 + 4 * q)).AsByte();
            c20 = AvxVnni.MultiplyWideningAndAdd(c20, x, w0);
            c21 = AvxVnni.MultiplyWideningAndAdd(c21, x, w1);
            x = Vector256.Create(*(int*)(a3 + 4 * q)).AsByte();
            c30 = AvxVnni.MultiplyWideningAndAdd(c30, x, w0);
            c31 = AvxVnni.MultiplyWideningAndAdd(c31, x, w1);
        }
        // Σ (x + 128)·w = Σ x·w + 128·Σ w.
        var s0 = Vector256.Load(colSums) << 7;
        var s1 = Vector256.Load(colSums + 8) << 7;
        (c00 - s0).Store(acc); (c01 - s1).Store(acc + 8);
        (c10 - s0).Store(acc + NR); (c11 - s1).Store(acc + NR + 8);
        (c20 - s0).Store(acc + 2 * NR); (c21 - s1).Store(acc + 2 * NR + 8);
        (c30 - s0).Store(acc + 3 * NR); (c31 - s1).Store(acc + 3 * NR + 8);
    }

    private static void TileAvx2(short* a, int kp, int rows, sbyte* b, int kpairs, int* acc)
    {
        short* a0 = Row(a, kp, rows, 0), a1 = Row(a, kp, rows, 1), a2 = Row(a, kp, rows, 2), a3 = Row(a, kp, rows, 3);
        Vector256<int> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        for (int p = 0; p < kpairs; p++)
        {
            var w0 = Avx2.ConvertToVector256Int16(b);
            var w1 = Avx2.ConvertToVector256Int16(b + 16);
            b += 2 * NR;
            var x = Vector256.Create(*(int*)(a0 + 2 * p)).AsInt16();
            c00 = Avx2.Add(c00, Avx2.MultiplyAddAdjacent(w0, x));
            c01 = Avx2.Add(c01, Avx2.MultiplyAddAdjacent(w1, x));
            x = Vector256.Create(*(int*)(a1 + 2 * p)).AsInt16();
            c10 = Avx2.Add(c10, Avx2.MultiplyAddAdjacent(w0, x));
            c11 = Avx2.Add(c11, Avx2.MultiplyAddAdjacent(w1, x));
            x = Vector256.Create(*(int*)(a2 + 2 * p)).AsInt16();
            c20 = Avx2.Add(c20, Avx2.MultiplyAddAdjacent(w0, x));
            c21 = Avx2.Add(c21, Avx2.MultiplyAddAdjacent(w1, x));
            x = Vector256.Create(*(int*)(a3 + 2 * p)).AsInt16();
            c30 = Avx2.Add(c30, Avx2.MultiplyAddAdjacent(w0, x));
            c31 = Avx2.Add(c31, Avx2.MultiplyAddAdjacent(w1, x));
        }
        c00.Store(acc); c01.Store(acc + 8);
        c10.Store(acc + NR); c11.Store(acc + NR + 8);
        c20.Store(acc + 2 * NR); c21.Store(acc + 2 * NR + 8);
        c30.Store(acc + 3 * NR); c31.Store(acc + 3 * NR + 8);
    }

    private static void TileSse41(short* a, int kp, int rows, sbyte* b0, int kpairs, int* acc)
    {
        for (int r = 0; r < rows; r++)
        {
            short* ar = a + (long)r * kp;
            sbyte* b = b0;
            Vector128<int> c0 = default, c1 = default, c2 = default, c3 = default;
            for (int p = 0; p < kpairs; p++)
            {
                var x = Vector128.Create(*(int*)(ar + 2 * p)).AsInt16();
                c0 = Sse2.Add(c0, Sse2.MultiplyAddAdjacent(Sse41.ConvertToVector128Int16(b), x));
                c1 = Sse2.Add(c1, Sse2.MultiplyAddAdjacent(Sse41.ConvertToVector128Int16(b + 8), x));
                c2 = Sse2.Add(c2, Sse2.MultiplyAddAdjacent(Sse41.ConvertToVector128Int16(b + 16), x));
                c3 = Sse2.Add(c3, Sse2.MultiplyAddAdjacent(Sse41.ConvertToVector128Int16(b + 24), x));
                b += 2 * NR;
            }
            int* o = acc + r * NR;
            c0.Store(o); c1.Store(o + 4); c2.Store(o + 8); c3.Store(o + 12);
        }
    }

    private static void TileScalar(short* a, int kp, int rows, sbyte* b0, int kpairs, int* acc)
    {
        for (int r = 0; r < rows; r++)
        {
            short* ar = a + (long)r * kp;
            int* o = acc + r * NR;
            for (int j = 0; j < NR; j++) o[j] = 0;
            sbyte* b = b0;
            for (int p = 0; p < kpairs; p++)
            {
                int x0 = ar[2 * p], x1 = ar[2 * p + 1];
                for (int j = 0; j < NR; j++) o[j] += b[2 * j] * x0 + b[2 * j + 1] * x1;
                b += 2 * NR;
            }
        }
    }

    /// <summary>y rows [i, i+rows) x columns [j0, j0+ncols) = act((float)acc·(sx·sw) + bias) + res, through the float tile.</summary>
    private void Epilogue(int* acc, float* tile, int i, int rows, int j0, int ncols)
    {
        float* sw = (float*)Unsafe.AsPointer(ref _w!.PaddedScales[0]) + j0;
        for (int r = 0; r < rows; r++)
        {
            float sx = _sx[i + r];
            int* ar = acc + r * NR;
            float* t = tile + r * NR;
            int j = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var s = Vector256.Create(sx);
                for (; j < NR; j += 8)
                    (Vector256.ConvertToSingle(Vector256.Load(ar + j)) * (s * Vector256.Load(sw + j))).Store(t + j);
            }
            else if (Vector128.IsHardwareAccelerated)
            {
                var s = Vector128.Create(sx);
                for (; j < NR; j += 4)
                    (Vector128.ConvertToSingle(Vector128.Load(ar + j)) * (s * Vector128.Load(sw + j))).Store(t + j);
            }
            for (; j < NR; j++) t[j] = ar[j] * (sx * sw[j]);
        }
        float* bias = _bias == null ? null : _bias + j0;
        float* res = _res == null ? null : _res + (long)i * _n + j0;
        int done = _bias != null || _res != null || _act != Activation.None ? SimdMath.Epilogue(tile, NR, rows, bias, res, _n, ncols, _act) : ncols;
        for (int r = 0; r < rows; r++)
        {
            float* t = tile + r * NR;
            float* rr = res == null ? null : res + (long)r * _n;
            for (int j = done; j < ncols; j++)
            {
                float v = t[j] + (bias == null ? 0f : bias[j]);
                v = Activations.ApplyScalar(v, _act);
                t[j] = rr == null ? v : v + rr[j];
            }
            new ReadOnlySpan<float>(t, ncols).CopyTo(new Span<float>(_y + (long)(i + r) * _n + j0, ncols));
        }
    }
}
