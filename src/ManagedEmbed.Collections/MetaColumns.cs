namespace ManagedEmbed.Collections;

/// <summary>
/// Column-wise copy of the metadata, one dense array per key indexed by row (absent = <see cref="MetadataKind.Null"/>),
/// so a where clause scans contiguous memory instead of chasing pointers through every record. At most
/// <see cref="MaxColumns"/> keys get a column; a filter on any other key falls back to per-record evaluation.
/// Mutated only under the collection's write lock.
/// </summary>
internal sealed class MetaColumns
{
    public const int MaxColumns = 64;
    private readonly Dictionary<string, MetadataValue[]> _cols = new(StringComparer.Ordinal);
    private int _capacity;

    /// <summary>True while every key of every row has a column (then a missing column means "no row has it").</summary>
    public bool Complete { get; private set; } = true;

    /// <summary>Records row <paramref name="row"/>'s metadata (rows are set in increasing order).</summary>
    public void Set(int row, MetaMap? m)
    {
        EnsureCapacity(row + 1);
        if (m is null) return;
        foreach (var (k, v) in m)
        {
            if (!_cols.TryGetValue(k, out var col))
            {
                if (_cols.Count >= MaxColumns) { Complete = false; continue; }
                col = new MetadataValue[_capacity];
                _cols[k] = col;
            }
            col[row] = v;
        }
    }

    private void EnsureCapacity(int n)
    {
        if (n <= _capacity) return;
        int cap = (int)Math.Min(Array.MaxLength, Math.Max(n, Math.Max(1024L, _capacity * 2L)));
        foreach (var key in _cols.Keys.ToList())
        {
            var a = _cols[key];
            Array.Resize(ref a, cap);
            _cols[key] = a;
        }
        _capacity = cap;
    }

    /// <summary>
    /// The column of <paramref name="key"/>. False when the answer is unknown (the key may exist without a column);
    /// true with a null column when no row has the key.
    /// </summary>
    public bool TryGetColumn(string key, out MetadataValue[]? column)
    {
        if (_cols.TryGetValue(key, out var c)) { column = c; return true; }
        column = null;
        return Complete;
    }
}
