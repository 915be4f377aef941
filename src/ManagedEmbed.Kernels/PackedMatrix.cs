namespace ManagedEmbed.Kernels;

/// <summary>
/// A weight matrix W of shape [Rows, Cols] (PyTorch Linear layout: out_features x in_features),
/// re-laid out once at load time into the panel format the GEMM kernel consumes.
/// </summary>
/// <remarks>
/// Layout: W is cut into ⌈Rows / NR⌉ panels of NR output features (NR = the micro-kernel's tile width, 48 with
/// AVX-512). Each panel is stored K-major: for every input index p, the NR weights W[j0..j0+NR, p] are contiguous,
/// so the kernel's inner loop streams one panel linearly. The last panel is zero-padded. The array is pinned
/// (pinned object heap) so kernels and worker threads address it without per-call pinning.
/// A matrix made by <see cref="Deferred(int, int, RowMajorSource)"/> is packed on first use (or by <see cref="EnsurePacked"/>, e.g. from a
/// background thread), so a model loads without paying for the panels of layers it has not reached yet.
/// A deferred matrix may also name its row-major F32 rows at fixed addresses (a memory-mapped weights file): products
/// before the panels exist then read those rows in place (see <see cref="Gemm.LinearRowMajor"/>), bit-identical to
/// the packed product, instead of packing.
/// </remarks>
public sealed class PackedMatrix
{
    /// <summary>Writes the [rows, cols] row-major values of a deferred matrix into the destination span.</summary>
    /// <param name="destination">rows·cols floats, row-major.</param>
    public delegate void RowMajorSource(Span<float> destination);

    // Deferred packing is serialized process-wide: one staging buffer serves every matrix, and a model's packer
    // thread and its forward pass never pack the same matrix twice.
    private static readonly Lock s_gate = new();
    private static float[]? s_staging;
    private RowMajorSource? _source;
    private volatile float[]? _data;
    // Address of every row of W in its row-major source (pinned, so jobs index it through a pointer); null when the
    // matrix has no directly readable source.
    private nint[]? _rowAddress;

    /// <summary>Number of rows of W (output features).</summary>
    public int Rows { get; }
    /// <summary>Number of columns of W (input features).</summary>
    public int Cols { get; }
    /// <summary>Panel width NR (output features per panel).</summary>
    internal int PanelWidth { get; }
    /// <summary>Number of panels, ⌈Rows / PanelWidth⌉.</summary>
    internal int Panels { get; }

    /// <summary>The panels; packs a deferred matrix first.</summary>
    internal float[] Data => _data ?? Materialize();

    /// <summary>True once the panels exist (always for an eagerly packed matrix).</summary>
    public bool IsPacked => _data is not null;

    private PackedMatrix(int rows, int cols, int nr, bool allocate = true)
    {
        Rows = rows; Cols = cols; PanelWidth = nr;
        Panels = (rows + nr - 1) / nr;
        if (allocate) _data = NewPanels();
    }

    private float[] NewPanels() => GC.AllocateArray<float>(checked(Panels * PanelWidth * Cols), pinned: true);

    /// <summary>
    /// A [rows, cols] matrix packed on first use from the row-major values <paramref name="source"/> writes (into a
    /// staging buffer shared by all deferred matrices). Safe to use from several threads: exactly one packs, the others wait.
    /// </summary>
    public static PackedMatrix Deferred(int rows, int cols, RowMajorSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (rows <= 0 || cols <= 0) throw new ArgumentOutOfRangeException(nameof(rows), "Matrix dimensions must be positive.");
        _ = checked(rows * cols);
        return new PackedMatrix(rows, cols, GemmKernels.NR, allocate: false) { _source = source };
    }

    /// <summary>
    /// A deferred matrix (see <see cref="Deferred(int, int, RowMajorSource)"/>) whose rows can also be read in place:
    /// <paramref name="rowBlocks"/> are the addresses of its row-major F32 blocks stacked vertically (their row counts
    /// summing to <paramref name="rows"/>), which the caller keeps mapped and unchanged for the matrix's lifetime.
    /// </summary>
    public static PackedMatrix Deferred(int rows, int cols, RowMajorSource source, ReadOnlySpan<(nint Address, int Rows)> rowBlocks)
    {
        var pm = Deferred(rows, cols, source);
        var addr = GC.AllocateArray<nint>(rows, pinned: true);
        int r = 0;
        foreach (var (address, count) in rowBlocks)
        {
            if (address == 0 || count <= 0 || count > rows - r) throw new ArgumentException("Row blocks must be non-null and add up to the row count.", nameof(rowBlocks));
            for (int i = 0; i < count; i++) addr[r++] = address + (nint)i * cols * sizeof(float);
        }
        if (r != rows) throw new ArgumentException("Row blocks must be non-null and add up to the row count.", nameof(rowBlocks));
        pm._rowAddress = addr;
        return pm;
    }

    /// <summary>True when the rows of W can be read in place (the matrix was made with row blocks).</summary>
    public bool HasRowMajorSource => _rowAddress is not null;

    /// <summary>The per-row addresses of the in-place source, or null.</summary>
    internal nint[]? RowAddresses => _rowAddress;

    /// <summary>Packs a deferred matrix now if no thread has yet (no-op otherwise).</summary>
    public void EnsurePacked() => _ = Data;

    private float[] Materialize()
    {
        lock (s_gate)
        {
            if (_data is { } done) return done;
            int total = Rows * Cols;
            var staging = s_staging;
            if (staging is null || staging.Length < total) s_staging = staging = new float[total];
            _source!(staging.AsSpan(0, total));
            var data = NewPanels();
            Pack(staging.AsSpan(0, total), data, 0, Rows);
            _source = null;
            _data = data;
            return data;
        }
    }

    /// <summary>Drops the staging buffer of deferred packing (once a model is fully packed).</summary>
    public static void ReleaseStaging()
    {
        lock (s_gate) s_staging = null;
    }

    /// <summary>Packs a row-major [rows, cols] matrix.</summary>
    public static PackedMatrix FromRowMajor(ReadOnlySpan<float> w, int rows, int cols)
    {
        if (rows <= 0 || cols <= 0) throw new ArgumentOutOfRangeException(nameof(rows), "Matrix dimensions must be positive.");
        if (w.Length != (long)rows * cols) throw new ArgumentException($"Expected {rows}x{cols} values, got {w.Length}.");
        var pm = new PackedMatrix(rows, cols, GemmKernels.NR);
        pm.Pack(w, pm._data!, 0, rows);
        return pm;
    }

    /// <summary>
    /// Packs several row-major blocks with the same column count, stacked vertically, as one matrix (for example
    /// the query, key and value projections as one [3·hidden, hidden] weight), without an intermediate copy.
    /// </summary>
    public static PackedMatrix FromRowBlocks(ReadOnlySpan<ReadOnlyMemory<float>> blocks, int cols)
    {
        if (cols <= 0) throw new ArgumentOutOfRangeException(nameof(cols), "Matrix dimensions must be positive.");
        if (blocks.IsEmpty) throw new ArgumentException("At least one block is required.", nameof(blocks));
        long rows = 0;
        foreach (var b in blocks)
        {
            if (b.Length == 0 || b.Length % cols != 0) throw new ArgumentException($"Block of {b.Length} values is not a whole number of {cols}-wide rows.");
            rows += b.Length / cols;
        }
        if (rows > int.MaxValue) throw new ArgumentException("Too many rows.");
        var pm = new PackedMatrix((int)rows, cols, GemmKernels.NR);
        int r0 = 0;
        foreach (var b in blocks)
        {
            int r = b.Length / cols;
            pm.Pack(b.Span, pm._data!, r0, r);
            r0 += r;
        }
        return pm;
    }

    /// <summary>Element W[row, col] (for tests and diagnostics; not a fast path).</summary>
    public float this[int row, int col]
    {
        get
        {
            if ((uint)row >= (uint)Rows || (uint)col >= (uint)Cols) throw new ArgumentOutOfRangeException(nameof(row));
            int nr = PanelWidth;
            return Data[(long)(row / nr) * nr * Cols + (long)col * nr + row % nr];
        }
    }

    private void Pack(ReadOnlySpan<float> w, float[] data, int rowStart, int count)
    {
        int nr = PanelWidth, k = Cols;
        for (int r = 0; r < count; r++)
        {
            int row = rowStart + r;
            var src = w.Slice(r * k, k);
            Span<float> panel = data.AsSpan((row / nr) * nr * k);
            int lane = row % nr;
            for (int p = 0; p < k; p++) panel[p * nr + lane] = src[p];
        }
    }
}
