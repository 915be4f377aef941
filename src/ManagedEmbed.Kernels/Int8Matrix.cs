using System.Runtime.CompilerServices;

namespace ManagedEmbed.Kernels;

/// <summary>
/// A weight matrix W [Rows, Cols] (PyTorch Linear layout) held as symmetric int8 codes with one float scale per output
/// channel (row): W[j, p] ≈ Scales[j] · code[j, p], codes in [−127, 127] (see <see cref="Int8Quantization"/>).
/// </summary>
/// <remarks>
/// Layout for <see cref="Int8Gemm"/>: ⌈Rows / 16⌉ panels of 16 output channels; inside a panel, for every group of G
/// consecutive input indices, the 16 channels' G codes are adjacent: [c0(Gp..Gp+G−1), c1(Gp..), …] (16·G bytes).
/// G = 4 with AVX-VNNI (vpdpbusd multiplies 4 u8·s8 pairs into each int32 lane), else G = 2 (the AVX2 kernel
/// sign-extends to s16 and vpmaddwd multiplies pairs; SSE4.1 and scalar read the same layout). The last panel and
/// the columns past a multiple of G are zero-padded. With G = 4 each channel's code sum is kept too (the activation
/// codes enter vpdpbusd shifted by +128 to be unsigned; 128·Σw is subtracted back, exactly). The array is pinned
/// so kernels address it without per-call pinning.
/// </remarks>
public sealed class Int8Matrix
{
    /// <summary>Output channels per panel.</summary>
    internal const int PanelWidth = 16;

    private readonly float[] _scales;

    /// <summary>Number of rows of W (output features).</summary>
    public int Rows { get; }
    /// <summary>Number of columns of W (input features).</summary>
    public int Cols { get; }
    /// <summary>Per-output-channel scales (length <see cref="Rows"/>).</summary>
    public ReadOnlySpan<float> Scales => _scales;
    /// <summary>Columns rounded up to a whole number of pairs.</summary>
    internal int PaddedCols { get; }
    /// <summary>Number of panels.</summary>
    internal int Panels { get; }
    /// <summary>The packed codes.</summary>
    internal sbyte[] Data { get; }
    /// <summary>Scales padded with zeros to a whole number of panels.</summary>
    internal float[] PaddedScales { get; }
    /// <summary>Codes per channel group: 4 (AVX-VNNI layout) or 2.</summary>
    internal int Group { get; }
    /// <summary>Σ_p code[j, p] per channel, padded to whole panels (VNNI layout only; else empty).</summary>
    internal int[] ColumnSums { get; }

    private Int8Matrix(int rows, int cols, float[] scales)
    {
        if (rows <= 0 || cols <= 0) throw new ArgumentOutOfRangeException(nameof(rows), "Matrix dimensions must be positive.");
        Rows = rows; Cols = cols;
        Group = Int8Gemm.UseVnni ? 4 : 2;
        PaddedCols = (cols + Group - 1) / Group * Group;
        Panels = (rows + PanelWidth - 1) / PanelWidth;
        Data = GC.AllocateArray<sbyte>(checked(Panels * PanelWidth * PaddedCols), pinned: true);
        _scales = scales;
        // Pinned: the epilogue addresses the scales by pointer.
        PaddedScales = GC.AllocateArray<float>(Panels * PanelWidth, pinned: true);
        scales.AsSpan().CopyTo(PaddedScales);
        ColumnSums = Group == 4 ? new int[Panels * PanelWidth] : [];
    }

    /// <summary>Offset of code [row, col] in <see cref="Data"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long Offset(int row, int col) =>
        (long)(row / PanelWidth) * PanelWidth * PaddedCols + (long)(col / Group) * Group * PanelWidth + (row % PanelWidth) * Group + col % Group;

    /// <summary>Quantizes a row-major float matrix per output channel (each row with <see cref="Int8Quantization.QuantizeRow(ReadOnlySpan{float}, Span{sbyte})"/>).</summary>
    public static Int8Matrix Quantize(ReadOnlySpan<float> w, int rows, int cols)
    {
        if (rows <= 0 || cols <= 0) throw new ArgumentOutOfRangeException(nameof(rows), "Matrix dimensions must be positive.");
        if (w.Length != (long)rows * cols) throw new ArgumentException($"Expected {rows}x{cols} values, got {w.Length}.");
        var codes = new sbyte[rows * cols];
        var scales = new float[rows];
        Int8Quantization.QuantizeRows(w, rows, cols, codes, scales);
        return FromCodes(codes, scales, rows, cols);
    }

    /// <summary>
    /// A matrix from row-major codes [rows, cols] and per-row scales (e.g. read from a quantized checkpoint). Codes
    /// must lie in [−127, 127] and scales be finite and non-negative; anything else is refused (ArgumentException
    /// naming the first bad value).
    /// </summary>
    public static Int8Matrix FromCodes(ReadOnlySpan<sbyte> codes, ReadOnlySpan<float> scales, int rows, int cols)
    {
        if (rows <= 0 || cols <= 0) throw new ArgumentOutOfRangeException(nameof(rows), "Matrix dimensions must be positive.");
        if (codes.Length != (long)rows * cols) throw new ArgumentException($"Expected {rows}x{cols} codes, got {codes.Length}.");
        if (scales.Length != rows) throw new ArgumentException($"Expected {rows} scales, got {scales.Length}.");
        for (int j = 0; j < rows; j++)
            if (!float.IsFinite(scales[j]) || scales[j] < 0f) throw new ArgumentException($"scale of row {j} is {scales[j]}, not a finite non-negative number");
        int bad = codes.IndexOf(sbyte.MinValue);
        if (bad >= 0) throw new ArgumentException($"code at row {bad / cols}, column {bad % cols} is -128 (codes must lie in [-127, 127])");
        var m = new Int8Matrix(rows, cols, scales.ToArray());
        for (int j = 0; j < rows; j++)
        {
            var src = codes.Slice(j * cols, cols);
            int sum = 0;
            for (int p = 0; p < cols; p++)
            {
                m.Data[m.Offset(j, p)] = src[p];
                sum += src[p];
            }
            if (m.ColumnSums.Length > 0) m.ColumnSums[j] = sum;
        }
        return m;
    }

    /// <summary>Stacks matrices with the same column count vertically (e.g. query | key | value), codes and scales unchanged.</summary>
    public static Int8Matrix Stack(ReadOnlySpan<Int8Matrix> parts)
    {
        if (parts.IsEmpty) throw new ArgumentException("At least one matrix is required.", nameof(parts));
        int cols = parts[0].Cols;
        long rows = 0;
        foreach (var p in parts)
        {
            if (p.Cols != cols) throw new ArgumentException("Stacked matrices must have the same column count.");
            rows += p.Rows;
        }
        var codes = new sbyte[checked((int)rows * cols)];
        var scales = new float[rows];
        int r0 = 0;
        foreach (var p in parts)
        {
            p.CopyCodes(codes.AsSpan(r0 * cols, p.Rows * cols));
            p.Scales.CopyTo(scales.AsSpan(r0));
            r0 += p.Rows;
        }
        return FromCodes(codes, scales, (int)rows, cols);
    }

    /// <summary>Code of W[row, col] (tests and diagnostics; not a fast path).</summary>
    public sbyte this[int row, int col]
    {
        get
        {
            if ((uint)row >= (uint)Rows || (uint)col >= (uint)Cols) throw new ArgumentOutOfRangeException(nameof(row));
            return Data[Offset(row, col)];
        }
    }

    /// <summary>Writes the row-major codes [Rows, Cols] into <paramref name="destination"/>.</summary>
    public void CopyCodes(Span<sbyte> destination)
    {
        if (destination.Length < (long)Rows * Cols) throw new ArgumentException("destination is smaller than Rows*Cols.");
        for (int j = 0; j < Rows; j++)
            for (int p = 0; p < Cols; p++) destination[j * Cols + p] = this[j, p];
    }
}
