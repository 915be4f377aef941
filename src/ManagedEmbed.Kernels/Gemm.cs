using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ManagedEmbed.Kernels;

/// <summary>Matrix products used by the encoder and by batched index search.</summary>
/// <remarks>
/// All products run on a register-tiled micro-kernel (8x48 on AVX-512, or 12x32 where 32-wide panels pad fewer columns,
/// as in products of 16-128 columns; 6x16 on AVX2, 6x8 on Vector128, 4x4 scalar)
/// over K-major weight panels, blocked over K (L1) and rows (L2). Overloads taking a <see cref="KernelThreadPool"/>
/// split rows and panels across its threads; the others run on the calling thread.
/// </remarks>
public static class Gemm
{
    /// <summary>
    /// y[m, n] = act(x[m, k] · Wᵀ + bias), with W packed as [n, k]. <paramref name="bias"/> may be empty.
    /// </summary>
    public static void Linear(ReadOnlySpan<float> x, int m, PackedMatrix w, ReadOnlySpan<float> bias, Span<float> y, Activation activation = Activation.None)
        => Linear(x, m, w, bias, y, activation, default, null);

    /// <summary>
    /// y[m, n] = act(x[m, k] · Wᵀ + bias) + residual, with bias, activation and residual fused into the GEMM epilogue
    /// (bias and residual added to the accumulators before a tile's one store; the activation applied to each output
    /// tile while it is in L1). <paramref name="bias"/> and <paramref name="residual"/> may be
    /// empty. <paramref name="residual"/> may be <paramref name="y"/> itself (y += x·Wᵀ + bias, activation must then
    /// be None); otherwise it must not overlap y. <paramref name="pool"/> null runs on the calling thread.
    /// A deferred matrix with an in-place row-major source is read from it while its panels do not exist yet (the
    /// caller neither waits for nor does the packing; the result is bit-identical), from the panels once they do:
    /// measured at steady state, the panels are about twice as fast even at one row (BENCHMARKS.md "Cold start:
    /// weights read in place").
    /// </summary>
    public static unsafe void Linear(ReadOnlySpan<float> x, int m, PackedMatrix w, ReadOnlySpan<float> bias, Span<float> y,
        Activation activation, ReadOnlySpan<float> residual, KernelThreadPool? pool)
    {
        ArgumentNullException.ThrowIfNull(w);
        int n = w.Rows, k = w.Cols;
        bool inPlace = CheckLinear(x, m, n, k, bias, y, activation, residual);
        if (m == 0) return;
        if (!w.IsPacked && w.RowAddresses is { } rows)
        {
            fixed (nint* pr = rows) LinearRows(x, m, (float**)pr, n, k, bias, y, activation, residual, inPlace, pool);
            return;
        }
        fixed (float* px = x)
        fixed (float* py = y)
        fixed (float* pb = bias)
        fixed (float* pr = residual)
        fixed (float* pw = w.Data)
        {
            var job = GemmJob.ForThisThread();
            job.Set(px, k, m, k, pw, w.PanelWidth * k, n, w.Panels, py, n,
                bias.IsEmpty ? null : pb, activation, inPlace || residual.IsEmpty ? null : pr, n, inPlace);
            job.Run(pool ?? KernelThreadPool.Serial);
        }
    }

    /// <summary>
    /// The same product as <see cref="Linear(ReadOnlySpan{float}, int, PackedMatrix, ReadOnlySpan{float}, Span{float}, Activation, ReadOnlySpan{float}, KernelThreadPool?)"/>
    /// over a packed copy of <paramref name="w"/>, but reading the row-major [n, k] weights <paramref name="w"/> in
    /// place: each K slice of a panel's rows is transposed into an L1 buffer and fed to the same micro-kernel, so the
    /// result is bit-identical to the packed product and no panel memory is allocated. Suits few rows (each weight is
    /// transposed once per row block).
    /// </summary>
    public static unsafe void LinearRowMajor(ReadOnlySpan<float> x, int m, ReadOnlySpan<float> w, int n, ReadOnlySpan<float> bias, Span<float> y,
        Activation activation, ReadOnlySpan<float> residual, KernelThreadPool? pool)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), "Matrix dimensions must be positive.");
        if (w.IsEmpty || w.Length % n != 0) throw new ArgumentException($"w must hold n rows of k > 0 values (n = {n}, {w.Length} values).");
        int k = w.Length / n;
        bool inPlace = CheckLinear(x, m, n, k, bias, y, activation, residual);
        if (m == 0) return;
        fixed (float* pw = w)
        {
            nint[] rows = Scratch.RowAddresses(n);
            for (int j = 0; j < n; j++) rows[j] = (nint)(pw + (long)j * k);
            fixed (nint* pr = rows) LinearRows(x, m, (float**)pr, n, k, bias, y, activation, residual, inPlace, pool);
        }
    }

    private static unsafe void LinearRows(ReadOnlySpan<float> x, int m, float** rows, int n, int k, ReadOnlySpan<float> bias, Span<float> y,
        Activation activation, ReadOnlySpan<float> residual, bool inPlace, KernelThreadPool? pool)
    {
        int nr = GemmKernels.NR;
        fixed (float* px = x)
        fixed (float* py = y)
        fixed (float* pb = bias)
        fixed (float* pr = residual)
        {
            var job = GemmJob.ForThisThread();
            job.Set(px, k, m, k, null, nr * k, n, (n + nr - 1) / nr, py, n,
                bias.IsEmpty ? null : pb, activation, inPlace || residual.IsEmpty ? null : pr, n, inPlace, rows: rows);
            job.Run(pool ?? KernelThreadPool.Serial);
        }
    }

    /// <summary>Validates a Linear call; returns true when the residual is y itself (in-place accumulation).</summary>
    internal static bool CheckLinear(ReadOnlySpan<float> x, int m, int n, int k, ReadOnlySpan<float> bias, Span<float> y,
        Activation activation, ReadOnlySpan<float> residual)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m));
        if (x.Length < (long)m * k) throw new ArgumentException("x is smaller than m*k.");
        if (y.Length < (long)m * n) throw new ArgumentException("y is smaller than m*n.");
        if (!bias.IsEmpty && bias.Length != n) throw new ArgumentException("bias length must equal the output width.");
        if (activation is < Activation.None or > Activation.Relu) throw new ArgumentOutOfRangeException(nameof(activation));
        if (m == 0) return false;
        var xs = x[..(m * k)];
        var ys = y[..(m * n)];
        if (xs.Overlaps(ys)) throw new ArgumentException("x and y must not overlap.");
        if (residual.IsEmpty) return false;
        if (residual.Length < (long)m * n) throw new ArgumentException("residual is smaller than m*n.");
        var rs = residual[..(m * n)];
        if (!rs.Overlaps(ys, out int offset)) return false;
        if (offset != 0) throw new ArgumentException("residual must be y itself or not overlap it.");
        if (activation != Activation.None) throw new ArgumentException("an in-place residual (residual == y) requires Activation.None.");
        return true;
    }

    /// <summary>C[m, n] = A[m, k] · B[n, k]ᵀ with explicit row strides (in elements) for A, B and C.</summary>
    public static void MatMulTransB(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, int m, int n, int k)
        => MatMulTransB(a, lda, b, ldb, c, ldc, m, n, k, null);

    /// <summary>C[m, n] = A[m, k] · B[n, k]ᵀ with explicit row strides, split across <paramref name="pool"/> (null = calling thread).</summary>
    public static unsafe void MatMulTransB(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, int m, int n, int k, KernelThreadPool? pool)
    {
        CheckStrided(a, lda, m, k, nameof(a));
        CheckStrided(b, ldb, n, k, nameof(b));
        CheckStrided(c, ldc, m, n, nameof(c));
        if (m == 0 || n == 0) return;
        if (k == 0) { for (int i = 0; i < m; i++) c.Slice(i * ldc, n).Clear(); return; }
        if (m < 3)
        {
            // A packed copy of B would cost as much as the product itself.
            for (int i = 0; i < m; i++)
            {
                var ai = a.Slice(i * lda, k);
                for (int j = 0; j < n; j++) c[i * ldc + j] = TensorPrimitives.Dot(ai, b.Slice(j * ldb, k));
            }
            return;
        }
        bool narrow = GemmKernels.UseNarrow(n);
        int nr = narrow ? GemmKernels.NarrowNR : GemmKernels.NR, panels = (n + nr - 1) / nr;
        float[] packed = Scratch.Packed(panels * nr * k);
        fixed (float* pb = b)
        fixed (float* pp = packed)
        {
            for (int p = 0; p < panels; p++)
            {
                int j0 = p * nr;
                PackTransposed(pb + (long)j0 * ldb, ldb, Math.Min(nr, n - j0), k, pp + (long)p * nr * k, nr);
            }
            RunPacked(a, lda, pp, panels, c, ldc, m, n, k, pool, narrow);
        }
    }

    /// <summary>C[m, n] = A[m, k] · B[k, n] (B not transposed) with explicit row strides, split across <paramref name="pool"/> (null = calling thread).</summary>
    public static unsafe void MatMul(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, int m, int n, int k, KernelThreadPool? pool = null)
    {
        CheckStrided(a, lda, m, k, nameof(a));
        CheckStrided(b, ldb, k, n, nameof(b));
        CheckStrided(c, ldc, m, n, nameof(c));
        if (m == 0 || n == 0) return;
        if (k == 0) { for (int i = 0; i < m; i++) c.Slice(i * ldc, n).Clear(); return; }
        bool narrow = GemmKernels.UseNarrow(n);
        int nr = narrow ? GemmKernels.NarrowNR : GemmKernels.NR, panels = (n + nr - 1) / nr;
        float[] packed = Scratch.Packed(panels * nr * k);
        fixed (float* pb = b)
        fixed (float* pp = packed)
        {
            for (int p = 0; p < panels; p++)
            {
                float* dst = pp + (long)p * nr * k;
                int j0 = p * nr, cnt = Math.Min(nr, n - j0);
                for (int q = 0; q < k; q++)
                {
                    new ReadOnlySpan<float>(pb + (long)q * ldb + j0, cnt).CopyTo(new Span<float>(dst + q * nr, cnt));
                    if (cnt < nr) new Span<float>(dst + q * nr + cnt, nr - cnt).Clear();
                }
            }
            RunPacked(a, lda, pp, panels, c, ldc, m, n, k, pool, narrow);
        }
    }

    /// <summary>
    /// One K-major panel of Bᵀ: dst[q·nr + j] = src[j·ld + q] for j &lt; <paramref name="rows"/>, q &lt; <paramref name="k"/>,
    /// and 0 for the padding columns rows ≤ j &lt; nr. Attention's Kᵀ panels are packed per (sequence, head), so the
    /// transpose runs on 8x8 AVX blocks where it can (measured: the scalar transpose was most of Q·Kᵀ at 16 tokens);
    /// block edges and machines without AVX take the scalar loop.
    /// </summary>
    internal static unsafe void PackTransposed(float* src, nint ld, int rows, int k, float* dst, int nr)
    {
        int j = 0;
        if (Avx.IsSupported)
        {
            for (; j + 8 <= rows; j += 8)
            {
                float* s0 = src + j * ld;
                int q = 0;
                for (; q + 8 <= k; q += 8)
                {
                    float* s = s0 + q;
                    GemmKernels.Transpose8x8(Avx.LoadVector256(s), Avx.LoadVector256(s + ld), Avx.LoadVector256(s + 2 * ld), Avx.LoadVector256(s + 3 * ld),
                        Avx.LoadVector256(s + 4 * ld), Avx.LoadVector256(s + 5 * ld), Avx.LoadVector256(s + 6 * ld), Avx.LoadVector256(s + 7 * ld),
                        dst + q * nr + j, nr);
                }
                for (; q < k; q++)
                    for (int jj = j; jj < j + 8; jj++) dst[q * nr + jj] = src[jj * ld + q];
            }
        }
        for (; j < rows; j++)
        {
            float* s = src + j * ld;
            for (int q = 0; q < k; q++) dst[q * nr + j] = s[q];
        }
        if (rows < nr)
            for (int q = 0; q < k; q++) new Span<float>(dst + q * nr + rows, nr - rows).Clear();
    }

    private static unsafe void RunPacked(ReadOnlySpan<float> a, int lda, float* packed, int panels, Span<float> c, int ldc, int m, int n, int k, KernelThreadPool? pool, bool narrow)
    {
        fixed (float* pa = a)
        fixed (float* pc = c)
        {
            var job = GemmJob.ForThisThread();
            job.Set(pa, lda, m, k, packed, (narrow ? GemmKernels.NarrowNR : GemmKernels.NR) * k, n, panels, pc, ldc, null, Activation.None, null, 0, false, narrow);
            job.Run(pool ?? KernelThreadPool.Serial);
        }
    }

    internal static void CheckStrided(ReadOnlySpan<float> s, int ld, int rows, int cols, string name)
    {
        if (rows < 0 || cols < 0) throw new ArgumentOutOfRangeException(name, "dimensions must be non-negative.");
        if (rows == 0 || cols == 0) return;
        if (ld < cols) throw new ArgumentException($"{name}: row stride {ld} is smaller than the row length {cols}.");
        if ((long)(rows - 1) * ld + cols > s.Length) throw new ArgumentException($"{name} is too small for {rows}x{cols} with stride {ld}.");
    }

    /// <summary>Per-thread reusable buffers (allocated once per thread, grown rarely; pinned).</summary>
    internal static class Scratch
    {
        [ThreadStatic] private static float[]? t_packed;
        [ThreadStatic] private static nint[]? t_rows;

        internal static nint[] RowAddresses(int size)
        {
            var r = t_rows;
            if (r is null || r.Length < size) t_rows = r = GC.AllocateArray<nint>(Math.Max(size, 256), pinned: true);
            return r;
        }

        internal static float[] Packed(int size)
        {
            var p = t_packed;
            if (p is null || p.Length < size) t_packed = p = GC.AllocateArray<float>(Math.Max(size, 4096), pinned: true);
            return p;
        }
    }
}

/// <summary>
/// How a GEMM call is cut into chunks for the pool (float and int8 GEMMs alike): a grid of row chunks × panel chunks,
/// chunk c covering row chunk c / PanelChunks and panel chunk c % PanelChunks.
/// </summary>
internal readonly record struct ChunkGrid(int RowsPerChunk, int PanelsPerChunk, int PanelChunks, int Chunks)
{
    /// <summary>
    /// The grid for <paramref name="m"/> rows in register tiles of <paramref name="mr"/>, row blocks of
    /// <paramref name="rowBlock"/> rows, <paramref name="panels"/> weight panels and <paramref name="work"/>
    /// multiply-adds on <paramref name="threads"/> threads.
    /// </summary>
    internal static ChunkGrid Plan(int m, int mr, int rowBlock, int panels, long work, int threads)
    {
        int rowTiles = (m + mr - 1) / mr;
        int rowChunks = 1, panelChunks = 1;
        if (threads > 1)
        {
            // A few chunks per thread for dynamic balance, but each at least ~256K multiply-adds so the claim and
            // wake-up cost stays negligible. Row chunks hold at least a row block (a chunk streams its panels once per
            // row block, so thinner row chunks would multiply weight traffic); when rows are few, split the panels
            // instead, so each thread streams only its share of the weights.
            // 8 chunks per thread: with dynamic claiming the tail imbalance is at most one chunk, ~1/16 of a GEMM
            // at 2 threads (and a descheduled thread costs the same bound).
            int target = (int)Math.Clamp(work / (1 << 18), 1, 8 * threads);
            rowChunks = Math.Clamp((m + rowBlock - 1) / rowBlock, 1, Math.Min(target, rowTiles));
            panelChunks = Math.Clamp(target / rowChunks, 1, panels);
        }
        int tilesPerChunk = (rowTiles + rowChunks - 1) / rowChunks;
        rowChunks = (rowTiles + tilesPerChunk - 1) / tilesPerChunk;
        int panelsPerChunk = (panels + panelChunks - 1) / panelChunks;
        panelChunks = (panels + panelsPerChunk - 1) / panelsPerChunk;
        return new ChunkGrid(tilesPerChunk * mr, panelsPerChunk, panelChunks, rowChunks * panelChunks);
    }
}

/// <summary>
/// One GEMM call's parameters and its chunk grid (row ranges x panel ranges). One reusable instance per calling thread,
/// so a call allocates nothing; pointers are pinned by the caller for the duration of the call.
/// </summary>
internal sealed unsafe class GemmJob : KernelWork
{
    [ThreadStatic] private static GemmJob? t_job;
    [ThreadStatic] private static float[]? t_tiles;

    private float* _a, _b, _c, _bias, _res;
    // Non-null: W is read in place from these row addresses (row-major [n, k]) instead of the panels _b.
    private float** _rows;
    private nint _lda, _ldc, _ldr, _panelStride;
    private int _m, _k, _n, _panels;
    private Activation _act;
    private bool _inPlace, _narrow;
    private int _mr, _nr;
    private int _rowsPerChunk, _panelsPerChunk, _panelChunks;

    internal static GemmJob ForThisThread() => t_job ??= new GemmJob();

    internal void Set(float* a, nint lda, int m, int k, float* b, nint panelStride, int n, int panels, float* c, nint ldc,
        float* bias, Activation act, float* res, nint ldr, bool inPlace, bool narrow = false, float** rows = null)
    {
        _rows = rows;
        _narrow = narrow;
        _mr = narrow ? GemmKernels.NarrowMR : GemmKernels.MR;
        _nr = narrow ? GemmKernels.NarrowNR : GemmKernels.NR;
        _a = a; _lda = lda; _m = m; _k = k; _b = b; _panelStride = panelStride; _n = n; _panels = panels;
        _c = c; _ldc = ldc; _bias = bias; _act = act; _res = res; _ldr = ldr; _inPlace = inPlace;
    }

    internal void Run(KernelThreadPool pool)
    {
        var grid = ChunkGrid.Plan(_m, _mr, GemmKernels.RowBlock(_k, _mr), _panels, (long)_m * _n * _k, pool.Threads);
        _rowsPerChunk = grid.RowsPerChunk;
        _panelsPerChunk = grid.PanelsPerChunk;
        _panelChunks = grid.PanelChunks;
        int chunks = grid.Chunks;
        if (chunks == 1) Execute(0);
        else pool.Run(this, chunks);
        _a = _b = _c = _bias = _res = null;
        _rows = null;
    }

    public override void Execute(int chunk)
    {
        int ri = chunk / _panelChunks, pj = chunk % _panelChunks;
        int r0 = ri * _rowsPerChunk, r1 = Math.Min(_m, r0 + _rowsPerChunk);
        int p0 = pj * _panelsPerChunk, p1 = Math.Min(_panels, p0 + _panelsPerChunk);
        Compute(r0, r1, p0, p1);
    }

    private void Compute(int r0, int r1, int p0, int p1)
    {
        int mr = _mr, nr = _nr;
        int kcMax = GemmKernels.KBlock(_k), mcMax = GemmKernels.RowBlock(_k, mr);
        int tileSize = mr * nr, tailASize = mr * kcMax;
        // Reading W in place: every K slice of a panel is transposed into an L1-sized panel buffer before the
        // micro-kernel reads it, so slices are L1-sized at every row count.
        int sliceRows = Math.Min(mcMax, GemmKernels.SmallMTiles * mr);
        int panelSize = _rows == null ? 0 : nr * Math.Min(kcMax, GemmKernels.KSliceMax(nr));
        int need = tileSize + tailASize + panelSize;
        float[] scratch = t_tiles is { } t && t.Length >= need ? t : (t_tiles = GC.AllocateArray<float>(need, pinned: true));
        fixed (float* sp = scratch)
        {
            float* tile = sp, tailA = sp + tileSize, slicePanel = tailA + tailASize;
            for (int pc = 0; pc < _k; pc += kcMax)
            {
                int kc = Math.Min(kcMax, _k - pc);
                bool accumulate = pc > 0 || _inPlace, last = pc + kc == _k;
                for (int ic = r0; ic < r1; ic += mcMax)
                {
                    int ie = Math.Min(r1, ic + mcMax);
                    int fullEnd = ic + (ie - ic) / mr * mr;
                    if (fullEnd < ie && RowsOfPartialTile(ie - fullEnd) != ie - fullEnd)
                    {
                        // Rows past the end are zero in a small copy of the last partial row group.
                        int rows = ie - fullEnd;
                        for (int r = 0; r < mr; r++)
                        {
                            float* dst = tailA + r * kc;
                            if (r < rows) Buffer.MemoryCopy(_a + (fullEnd + r) * _lda + pc, dst, kc * 4L, kc * 4L);
                            else new Span<float>(dst, kc).Clear();
                        }
                    }
                    // Few rows: each panel is reused by only a few row tiles, so it is cut into K slices that stay in
                    // L1 across them (a whole 16-wide panel at K = 768-3072 is 48-192 KiB and would be re-read from
                    // L2 by every row tile). Panels still stream in order, slices of one panel back to back.
                    int ks = GemmKernels.KSlice(kc, _rows == null ? ie - ic : Math.Min(ie - ic, sliceRows), nr, mr);
                    float* bEnd = _b + (long)_panels * _panelStride;
                    // Software prefetch of the weights that follow each slice, so they stream in from memory while the
                    // row tiles compute. In a small row block (few row tiles, sliced panels) the first two row tiles
                    // prefetch, tile t the slice (or panel) t + 1 ahead, so requests go out during both tiles of a
                    // 16-row block, and non-temporally (prefetchnta): the slices are used from L1 by those few tiles
                    // and never again. Measured at 16 rows, one thread, AVX-512, interleaved: each step 5-15% faster
                    // than the one before it (one tile prefetching one slice ahead into every level, which was itself
                    // 12-14% faster than none on AVX2); 2-10% at 32 rows, level at 8 and 256. Large blocks keep one
                    // prefetching tile and prefetcht0 (their panels are reused from L2 by many tiles). Nothing past
                    // the last panel: a small product would only fetch unrelated memory.
                    bool smallBlock = ie - ic <= GemmKernels.SmallMTiles * mr;
                    int prefetchers = smallBlock ? 2 : 1;
                    for (int p = p0; p < p1; p++)
                    {
                        float* bpanel = _b + p * _panelStride + pc * nr;
                        int j0 = p * nr, ncols = Math.Min(nr, _n - j0);
                        for (int ps = 0; ps < kc; ps += ks)
                        {
                            int kcs = Math.Min(ks, kc - ps);
                            bool acc = accumulate || ps > 0, lastSlice = last && ps + kcs == kc;
                            float* bp = bpanel + ps * nr;
                            if (_rows != null)
                            {
                                GemmKernels.TransposeSlice(_rows + j0, ncols, nr, pc + ps, kcs, slicePanel);
                                bp = slicePanel;
                            }
                            long slice = (long)kcs * nr;
                            for (int ir = ic; ir < ie; ir += mr)
                            {
                                int mrows = Math.Min(mr, ie - ir), tileIndex = (ir - ic) / mr;
                                float* cp = _c + ir * _ldc + j0;
                                float* ar = _a + ir * _lda + pc + ps;
                                float* pf = tileIndex < prefetchers && _rows == null ? bp + (1 + tileIndex) * slice : bp;
                                if (pf + slice > bEnd) pf = bp;
                                if (lastSlice && _res != null && Sse.IsSupported)
                                {
                                    // The epilogue's residual rows, fetched while the tile computes (they come from
                                    // a megabytes-large activation array: the epilogue otherwise waits on them).
                                    // Measured with the C-tile prefetch in the kernels: 2-4% per GEMM with a residual.
                                    float* rp = _res + ir * _ldr + j0;
                                    for (int r = 0; r < mrows; r++, rp += _ldr)
                                        for (int q = 0; q < ncols; q += 16) Sse.Prefetch0(rp + q);
                                }
                                // Bias and residual join a tile stored straight into C inside the micro-kernel (the
                                // activation, when there is one, comes between them: the kernel then adds the bias
                                // only, and Epilogue applies the activation and the residual).
                                float* kBias = lastSlice && _bias != null ? _bias + j0 : null;
                                float* kRes = lastSlice && _res != null && _act == Activation.None ? _res + ir * _ldr + j0 : null;
                                bool fused;
                                if (mrows == mr && ncols == nr)
                                {
                                    TileRows(mr, ar, _lda, bp, cp, _ldc, kcs, acc, pf, smallBlock, kBias, kRes);
                                    fused = true;
                                }
                                else
                                {
                                    // A partial row group runs on a shorter tile where there is one (kr rows); rows it
                                    // covers beyond the matrix come from the zero-padded copy tailA.
                                    int kr = RowsOfPartialTile(mrows);
                                    float* ap = mrows == kr ? ar : tailA + ps;
                                    nint lda = mrows == kr ? _lda : kc;
                                    fused = mrows == kr && ncols == nr;
                                    if (fused)
                                        TileRows(kr, ap, lda, bp, cp, _ldc, kcs, acc, pf, smallBlock, kBias, kRes);
                                    else
                                    {
                                        // Compute through a scratch tile, copy the valid part back.
                                        if (acc)
                                        {
                                            for (int r = 0; r < mrows; r++)
                                                new ReadOnlySpan<float>(cp + r * _ldc, ncols).CopyTo(new Span<float>(tile + r * nr, ncols));
                                        }
                                        TileRows(kr, ap, lda, bp, tile, nr, kcs, acc, pf, smallBlock, null, null);
                                        for (int r = 0; r < mrows; r++)
                                            new ReadOnlySpan<float>(tile + r * nr, ncols).CopyTo(new Span<float>(cp + r * _ldc, ncols));
                                    }
                                }
                                if (lastSlice && (fused ? _act != Activation.None : _bias != null || _res != null || _act != Activation.None))
                                    Epilogue(ir, mrows, j0, ncols, withBias: !fused);
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>Rows of the tile that computes a partial row group of <paramref name="rows"/> rows (see <see cref="GemmKernels.PartialRows"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int RowsOfPartialTile(int rows) => _narrow ? GemmKernels.NarrowPartialRows(rows) : GemmKernels.PartialRows(rows);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void TileRows(int rows, float* a, nint lda, float* b, float* c, nint ldc, int kc, bool accumulate, float* pf, bool nta, float* bias, float* res)
    {
        if (_narrow) GemmKernels.NarrowTileRows(rows, a, lda, b, c, ldc, kc, accumulate, pf, nta, bias, res, _ldr);
        else GemmKernels.TileRows(rows, a, lda, b, c, ldc, kc, accumulate, pf, nta, bias, res, _ldr);
    }

    /// <summary>
    /// act(y + bias) + res over a stored tile; <paramref name="withBias"/> false when the micro-kernel has added the
    /// bias already (then it added no residual either: the activation comes first).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Epilogue(int row0, int rows, int j0, int ncols, bool withBias)
    {
        float* bias = _bias == null || !withBias ? null : _bias + j0;
        // The whole tile in one call (a tile row is only NR wide), then the scalar tails of its rows.
        int done = SimdMath.Epilogue(_c + row0 * _ldc + j0, _ldc, rows, bias, _res == null ? null : _res + row0 * _ldr + j0, _ldr, ncols, _act);
        if (done == ncols) return;
        for (int r = row0; r < row0 + rows; r++)
        {
            float* y = _c + r * _ldc + j0;
            float* res = _res == null ? null : _res + r * _ldr + j0;
            for (int j = done; j < ncols; j++)
            {
                float v = y[j] + (bias == null ? 0f : bias[j]);
                v = Activations.ApplyScalar(v, _act);
                y[j] = res == null ? v : v + res[j];
            }
        }
    }
}
