namespace ManagedEmbed.Kernels;

/// <summary>
/// A weight matrix W of shape [Rows, Cols] (PyTorch Linear layout: out_features x in_features),
/// re-laid out once at load time into the panel format the GEMM kernel consumes.
/// </summary>
public sealed class PackedMatrix
{
    /// <summary>Number of rows of W (output features).</summary>
    public int Rows { get; }
    /// <summary>Number of columns of W (input features).</summary>
    public int Cols { get; }
    internal readonly float[] Data;

    private PackedMatrix(int rows, int cols, float[] data) { Rows = rows; Cols = cols; Data = data; }

    /// <summary>Packs a row-major [rows, cols] matrix.</summary>
    public static PackedMatrix FromRowMajor(ReadOnlySpan<float> w, int rows, int cols)
    {
        if (rows <= 0 || cols <= 0) throw new ArgumentOutOfRangeException(nameof(rows), "Matrix dimensions must be positive.");
        if (w.Length != (long)rows * cols) throw new ArgumentException($"Expected {rows}x{cols} values, got {w.Length}.");
        return new PackedMatrix(rows, cols, w.ToArray());
    }
}
