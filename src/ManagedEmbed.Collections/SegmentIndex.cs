using ManagedEmbed.Index;

namespace ManagedEmbed.Collections;

/// <summary>
/// The search index over a segment's rows, stored as a FAISS-format file (label = row number). It is also where
/// the segment's vectors live on disk: a FAISS IndexFlat holds the raw rows, an IndexIVFFlat holds them in its
/// inverted lists. Switch rule: a segment of at least <see cref="CollectionOptions.IvfThreshold"/> rows gets
/// IVF-Flat with nlist = clamp(round(√n), 16, 65536) trained on up to 64·nlist rows, probing
/// <see cref="CollectionOptions.IvfNprobe"/> lists (0 = ⌈nlist/16⌉); smaller segments get a flat index. A collection
/// with <see cref="HnswSettings"/> gets an IndexHNSWFlat built with its M and construction ef, searched with its
/// search ef (at least k). Cosine collections store unit vectors and use the inner-product metric; l2 uses L2; ip uses inner product.
/// </summary>
internal delegate ReadOnlySpan<float> RowVector(int row);

internal sealed class SegmentIndex
{
    private readonly IVectorIndex _index;

    private SegmentIndex(IVectorIndex index, string kind)
    {
        _index = index;
        Kind = kind;
        // Rows are read in place through Reconstruct; an IVF file must label its rows exactly 0..n−1.
        if (index is IvfIndex ivf) ivf.MakeDirectMap();
    }

    /// <summary>The stored (for cosine: unit-normalized) vector of a segment row, read in place from the index.</summary>
    public ReadOnlySpan<float> Vector(int row) => _index.Reconstruct(row);

    public string Kind { get; }

    private static Metric MetricOf(DistanceSpace s) => s == DistanceSpace.L2 ? Metric.L2 : Metric.InnerProduct;

    /// <summary>
    /// The k best rows that <paramref name="accept"/> admits (null: all), best first; fewer when the probed IVF lists
    /// hold fewer. The filter runs inside the index scan (FAISS IDSelector), only on rows that would enter the top-k.
    /// </summary>
    public List<int> Search(float[] q, int k, Func<int, bool>? accept)
    {
        var selector = accept is null ? null : new IdSelectorPredicate(id => accept((int)id));
        // HNSW: the candidate list holds at least k (FAISS's ef = max(efSearch, k)).
        var p = _index is HnswIndex h ? new HnswSearchParameters { Selector = selector, EfSearch = Math.Max(h.EfSearch, k) }
            : selector is null ? null : new SearchParameters { Selector = selector };
        var labels = _index.Search(q, k, p).LabelsOf(0);
        var rows = new List<int>(labels.Length);
        foreach (long l in labels) if (l >= 0) rows.Add((int)l);
        return rows;
    }

    /// <summary>True when a search scans every row (flat, or IVF probing all lists), so its filtered answer is exact.</summary>
    public bool IsExhaustive => _index is FlatIndex || (_index is IvfIndex ivf && ivf.Nprobe >= ivf.NList);

    public static (string Kind, long Bytes, uint Crc, SegmentIndex? Index) Build(string path, int n, RowVector rows, DistanceSpace space, int dim,
        CollectionOptions opts, HnswSettings? hnsw)
    {
        IVectorIndex index;
        string kind;
        if (n == 0 || dim == 0)
        {
            // Nothing to index: an empty flat index of dimension 1 keeps the file format uniform.
            index = new FlatIndex(Math.Max(dim, 1), MetricOf(space));
            kind = "flat";
        }
        else if (hnsw is not null)
        {
            var h = new HnswIndex(dim, hnsw.M, MetricOf(space))
            {
                EfConstruction = hnsw.ConstructionEf, EfSearch = hnsw.SearchEf, Threads = Math.Max(1, Environment.ProcessorCount),
            };
            AddAll(h, n, rows, dim);
            index = h;
            kind = "hnsw";
        }
        else if (n >= opts.IvfThreshold)
        {
            int nlist = (int)Math.Clamp(Math.Round(Math.Sqrt(n)), 16, 65536);
            var ivf = new IvfIndex(dim, nlist, MetricOf(space)) { Threads = Math.Max(1, Environment.ProcessorCount) };
            int sample = (int)Math.Min(n, 64L * nlist);
            var train = new float[(long)sample * dim];
            // Evenly spaced deterministic sample (rows are in insertion order, which may be clustered in time).
            for (int i = 0; i < sample; i++) rows((int)((long)i * n / sample)).CopyTo(train.AsSpan(i * dim, dim));
            ivf.Train(train);
            AddAll(ivf, n, rows, dim);
            ivf.Nprobe = Math.Min(nlist, opts.IvfNprobe > 0 ? opts.IvfNprobe : (nlist + 15) / 16);
            index = ivf;
            kind = "ivf";
        }
        else
        {
            var flat = new FlatIndex(dim, MetricOf(space));
            AddAll(flat, n, rows, dim);
            index = flat;
            kind = "flat";
        }
        using (var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            FaissIndexIO.Write(index, fs);
            opts.FileOps.Fsync(fs);
        }
        uint crc = FileSys.FileCrc(path, out long bytes);
        return (kind, bytes, crc, n == 0 ? null : new SegmentIndex(index, kind));
    }

    private static void AddAll(IVectorIndex index, int n, RowVector rows, int dim)
    {
        const int Chunk = 4096;
        var buf = new float[Chunk * dim];
        for (int start = 0; start < n; start += Chunk)
        {
            int m = Math.Min(Chunk, n - start);
            for (int i = 0; i < m; i++) rows(start + i).CopyTo(buf.AsSpan(i * dim, dim));
            index.Add(buf.AsSpan(0, m * dim));
        }
    }

    /// <summary>Verifies the file against the manifest (size, CRC-32C, count, dimension, metric) and loads it.</summary>
    public static SegmentIndex? Load(string dir, SegmentInfo s, DistanceSpace space, int dim, HnswSettings? hnsw)
    {
        string path = Path.Combine(dir, s.Index);
        // One handle for checksum and parse: a compaction in another process may unlink the file meanwhile (a missing
        // file surfaces as FileNotFoundException, which read-only opens retry from the new manifest).
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 20);
        var buf = new byte[1 << 20];
        uint crc = 0;
        long bytes = 0;
        int n;
        while ((n = fs.Read(buf, 0, buf.Length)) > 0) { crc = Crc32C.Append(crc, buf.AsSpan(0, n)); bytes += n; }
        if (bytes != s.IndexBytes) throw new ManagedEmbedException($"segment file {path} has {bytes} bytes, manifest says {s.IndexBytes} (truncated or damaged); refusing to open");
        if (crc != s.IndexCrc) throw new ManagedEmbedException($"segment file {path} fails its checksum (damaged); refusing to open");
        IVectorIndex index;
        fs.Position = 0;
        try { index = FaissIndexIO.Read(fs); }
        catch (ManagedEmbedException e) { throw new ManagedEmbedException($"segment index {path} cannot be read ({e.Message}); refusing to open"); }
        if (index.Count != s.Count || (s.Count > 0 && index.Dimension != dim) || index.Metric != MetricOf(space))
            throw new ManagedEmbedException($"segment index {path} disagrees with the manifest (count/dimension/metric); refusing to open");
        if (index is not FlatIndex and not IvfIndex and not HnswIndex) throw new ManagedEmbedException($"segment index {path} has an unsupported index type");
        if (s.Count == 0) return null;
        if (index is HnswIndex h && hnsw is not null) h.EfSearch = hnsw.SearchEf;
        try { return new SegmentIndex(index, index switch { IvfIndex => "ivf", HnswIndex => "hnsw", _ => "flat" }); }
        catch (ManagedEmbedException e) { throw new ManagedEmbedException($"segment index {path}: {e.Message}; refusing to open", e); }
    }

    /// <summary>Sets the number of probed lists (IVF only; no effect on flat).</summary>
    public void SetNprobe(int nprobe) { if (_index is IvfIndex ivf) ivf.Nprobe = Math.Min(ivf.NList, nprobe); }

    /// <summary>Sets the HNSW search ef (HNSW only; no effect on flat or IVF).</summary>
    public void SetSearchEf(int ef) { if (_index is HnswIndex h) h.EfSearch = ef; }
}
