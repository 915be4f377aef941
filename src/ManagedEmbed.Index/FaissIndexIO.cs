using System.Buffers.Binary;
using System.Runtime.InteropServices;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Index;

/// <summary>
/// Reads and writes indexes in FAISS's binary format (little-endian, as faiss.write_index / faiss.read_index):
/// IndexFlatIP "IxFI", IndexFlatL2 "IxF2", IndexIVFFlat "IwFl" with its flat quantizer and "ilar"
/// (ArrayInvertedLists) lists, and IndexHNSWFlat "IHNf" (the HNSW graph, then its flat storage). Loading checks every field and every size against the bytes actually left, so a
/// truncated, corrupted or hostile file fails with a <see cref="ManagedEmbedException"/> before any large allocation.
/// </summary>
public static class FaissIndexIO
{
    // Two 64-bit fields FAISS writes after ntotal ("dummy", always 1 << 20).
    private const long HeaderDummy = 1L << 20;

    /// <summary>Writes <paramref name="index"/> to <paramref name="path"/> atomically and durably (<see cref="DurableFile.Write"/>).</summary>
    public static void Write(IVectorIndex index, string path)
    {
        ArgumentNullException.ThrowIfNull(index);
        RequireDirectory(path);
        DurableFile.Write(path, fs => Write(index, fs));
    }

    internal static void RequireDirectory(string path)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        if (!Directory.Exists(dir)) throw new ManagedEmbedException($"cannot write {path}: directory {dir} does not exist");
    }

    /// <summary>Writes <paramref name="index"/> to a stream.</summary>
    public static void Write(IVectorIndex index, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(index);
        var w = new Writer(stream);
        switch (index)
        {
            case FlatIndex f: WriteFlat(w, f); break;
            case IvfIndex ivf: WriteIvf(w, ivf); break;
            case HnswIndex h: WriteHnsw(w, h); break;
            default: throw new ManagedEmbedException($"cannot write index type {index.GetType().Name} in FAISS format");
        }
        w.Flush();
    }

    /// <summary>Reads a FAISS index file (IndexFlatIP, IndexFlatL2, IndexIVFFlat or IndexHNSWFlat).</summary>
    public static IVectorIndex Read(string path)
    {
        if (!File.Exists(path)) throw new ManagedEmbedException($"index file not found: {path}");
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Read(fs, path);
    }

    /// <summary>Reads a FAISS index from a stream (read to its end; non-seekable streams are buffered as they arrive).</summary>
    public static IVectorIndex Read(Stream stream) => Read(stream, "stream");

    private static IVectorIndex Read(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek)
        {
            // Buffer what really arrives (never what a header claims), then parse with known length.
            var ms = new MemoryStream();
            stream.CopyTo(ms);
            ms.Position = 0;
            stream = ms;
        }
        var r = new Reader(stream, name);
        var index = ReadIndex(r, allowIvf: true);
        if (r.Remaining != 0) throw r.Error($"{r.Remaining} unexpected trailing bytes after the index");
        return index;
    }

    // ---------------- writing ----------------

    private static void WriteHeader(Writer w, IVectorIndex idx, bool trained)
    {
        w.I32(idx.Dimension);
        w.I64(idx.Count);
        w.I64(HeaderDummy);
        w.I64(HeaderDummy);
        w.U8(trained ? (byte)1 : (byte)0);
        w.I32((int)idx.Metric);
    }

    private static void WriteFlat(Writer w, FlatIndex f)
    {
        w.FourCC(f.Metric == Metric.InnerProduct ? "IxFI" : "IxF2");
        WriteHeader(w, f, trained: true);
        var v = f.Vectors;
        w.U64((ulong)v.Length);
        w.Floats(v);
    }

    private static void WriteIvf(Writer w, IvfIndex ivf)
    {
        w.FourCC("IwFl");
        WriteHeader(w, ivf, ivf.IsTrained);
        w.U64((ulong)ivf.NList);
        w.U64((ulong)ivf.Nprobe);
        WriteFlat(w, ivf.Quantizer);
        // Direct map: type 0 (none) and an empty id array.
        w.U8(0);
        w.U64(0);
        // ArrayInvertedLists.
        w.FourCC("ilar");
        w.U64((ulong)ivf.NList);
        w.U64((ulong)ivf.Dimension * sizeof(float));
        int nonEmpty = 0;
        for (int i = 0; i < ivf.NList; i++) if (ivf.ListSize(i) > 0) nonEmpty++;
        // FAISS's own choice: a dense size table when more than half the lists are used, else (list, size) pairs.
        if (nonEmpty > ivf.NList / 2)
        {
            w.FourCC("full");
            w.U64((ulong)ivf.NList);
            for (int i = 0; i < ivf.NList; i++) w.U64((ulong)ivf.ListSize(i));
        }
        else
        {
            w.FourCC("sprs");
            w.U64((ulong)nonEmpty * 2);
            for (int i = 0; i < ivf.NList; i++)
                if (ivf.ListSize(i) > 0) { w.U64((ulong)i); w.U64((ulong)ivf.ListSize(i)); }
        }
        for (int i = 0; i < ivf.NList; i++)
        {
            if (ivf.ListSize(i) == 0) continue;
            w.Floats(ivf.ListVectors(i));
            w.Longs(ivf.ListIds(i));
        }
    }

    // ---------------- reading ----------------

    private readonly record struct Header(int Dim, long NTotal, bool Trained, Metric Metric);

    private static Header ReadHeader(Reader r, string kind)
    {
        int d = r.I32("dimension");
        if (d < 1) throw r.Error($"{kind}: dimension {d} must be positive");
        long ntotal = r.I64("ntotal");
        if (ntotal < 0) throw r.Error($"{kind}: negative vector count {ntotal}");
        long d1 = r.I64("header"), d2 = r.I64("header");
        if (d1 != HeaderDummy || d2 != HeaderDummy) throw r.Error($"{kind}: corrupt header (reserved fields {d1}, {d2})");
        byte trained = r.U8("is_trained");
        if (trained > 1) throw r.Error($"{kind}: corrupt is_trained flag {trained}");
        int metric = r.I32("metric_type");
        if (metric is not (0 or 1)) throw r.Error($"{kind}: unsupported metric type {metric} (only inner product 0 and L2 1)");
        return new Header(d, ntotal, trained == 1, (Metric)metric);
    }

    private static IVectorIndex ReadIndex(Reader r, bool allowIvf)
    {
        string h = r.FourCC();
        switch (h)
        {
            case "IxFI":
            case "IxF2":
                return ReadFlatBody(r, h);
            case "IwFl" when allowIvf:
                return ReadIvfBody(r);
            case "IwFl":
                throw r.Error("an IVF index cannot be the quantizer of another IVF index");
            case "IHNf" when allowIvf:
                return ReadHnswBody(r);
            case "IHNf":
                throw r.Error("an HNSW index cannot be nested in another index");
            default:
                throw r.Error($"unsupported or corrupt index type '{Printable(h)}' (supported: IxFI, IxF2, IwFl, IHNf)");
        }
    }

    private static FlatIndex ReadFlatBody(Reader r, string h)
    {
        var hd = ReadHeader(r, h);
        var expected = h == "IxFI" ? Metric.InnerProduct : Metric.L2;
        if (hd.Metric != expected) throw r.Error($"{h}: metric type {(int)hd.Metric} contradicts the index type");
        if (!hd.Trained) throw r.Error($"{h}: a flat index must be marked trained");
        ulong size = r.U64("vector size");
        if ((ulong)hd.NTotal > ulong.MaxValue / (ulong)hd.Dim || size != (ulong)hd.NTotal * (ulong)hd.Dim)
            throw r.Error($"{h}: stored {size} floats, but the header claims {hd.NTotal} vectors of dimension {hd.Dim}");
        r.Ensure(size, sizeof(float), $"{h}: {hd.NTotal} vectors of dimension {hd.Dim}");
        if (size > (ulong)Array.MaxLength) throw r.Error($"{h}: {hd.NTotal} vectors of dimension {hd.Dim} are too many for one index");
        var data = new float[size];
        r.Floats(data);
        int bad = Validation.FirstNonFinite(data);
        if (bad >= 0) throw r.Error($"{h}: vector {bad / hd.Dim} holds a non-finite value");
        var f = new FlatIndex(hd.Dim, hd.Metric);
        f.AddUnchecked(data, (int)hd.NTotal);
        return f;
    }

    private static IvfIndex ReadIvfBody(Reader r)
    {
        var hd = ReadHeader(r, "IwFl");
        ulong nlist = r.U64("nlist");
        if (nlist < 1 || nlist > int.MaxValue) throw r.Error($"IwFl: invalid nlist {nlist}");
        ulong nprobe = r.U64("nprobe");
        // FAISS allows nprobe > nlist (it clamps at search time).
        if (nprobe < 1 || nprobe > int.MaxValue) throw r.Error($"IwFl: invalid nprobe {nprobe}");
        // A trained index stores one quantizer row per list: reject a huge nlist before allocating lists.
        if (hd.Trained) r.Ensure(nlist, (ulong)hd.Dim * sizeof(float), $"IwFl: {nlist} centroids");
        else if (nlist > 1 << 20) throw r.Error($"IwFl: nlist {nlist} is implausibly large for an untrained index");
        var q = ReadIndex(r, allowIvf: false) as FlatIndex ?? throw r.Error("IwFl: quantizer is not a flat index");
        if (q.Dimension != hd.Dim) throw r.Error($"IwFl: quantizer dimension {q.Dimension} differs from the index dimension {hd.Dim}");
        if (hd.Trained ? q.Count != (long)nlist : q.Count != 0)
            throw r.Error($"IwFl: quantizer holds {q.Count} centroids for nlist {nlist} (is_trained = {hd.Trained})");
        if (!hd.Trained && hd.NTotal != 0) throw r.Error("IwFl: an untrained index cannot hold vectors");

        byte dmType = r.U8("direct map type");
        ulong dmSize = r.U64("direct map size");
        if (dmType == 0 && dmSize != 0) throw r.Error($"IwFl: direct map of type none holds {dmSize} entries");
        if (dmType == 1 && dmSize != (ulong)hd.NTotal) throw r.Error($"IwFl: direct map holds {dmSize} entries for {hd.NTotal} vectors");
        if (dmType > 1) throw r.Error($"IwFl: unsupported direct map type {dmType}");
        r.Skip(dmSize, sizeof(long), "IwFl: direct map");

        string il = r.FourCC();
        if (il != "ilar") throw r.Error($"IwFl: unsupported inverted lists type '{Printable(il)}' (supported: ilar)");
        ulong ilNlist = r.U64("lists nlist");
        if (ilNlist != nlist) throw r.Error($"ilar: {ilNlist} lists for an index with nlist {nlist}");
        ulong codeSize = r.U64("code size");
        if (codeSize != (ulong)hd.Dim * sizeof(float)) throw r.Error($"ilar: code size {codeSize} is not {hd.Dim} floats");

        var sizes = new long[nlist];
        string lt = r.FourCC();
        if (lt == "full")
        {
            ulong n = r.U64("size table length");
            if (n != nlist) throw r.Error($"ilar: size table has {n} entries for {nlist} lists");
            r.Ensure(n, sizeof(ulong), "ilar: size table");
            for (ulong i = 0; i < n; i++) sizes[i] = ListSize(r, hd.NTotal);
        }
        else if (lt == "sprs")
        {
            ulong n = r.U64("size table length");
            if (n % 2 != 0 || n / 2 > nlist) throw r.Error($"ilar: invalid sparse size table length {n}");
            r.Ensure(n, sizeof(ulong), "ilar: size table");
            long prev = -1;
            for (ulong i = 0; i < n; i += 2)
            {
                ulong li = r.U64("list number");
                if (li >= nlist || (long)li <= prev) throw r.Error($"ilar: invalid or repeated list number {li}");
                prev = (long)li;
                sizes[li] = ListSize(r, hd.NTotal);
            }
        }
        else throw r.Error($"ilar: unknown size table type '{Printable(lt)}'");

        long total = 0;
        foreach (long s in sizes) { total += s; if (total > hd.NTotal) break; }
        if (total != hd.NTotal) throw r.Error($"ilar: lists hold {total} vectors, the header claims {hd.NTotal}");
        r.Ensure((ulong)total, codeSize + sizeof(long), $"ilar: {total} vectors");

        var ivf = new IvfIndex(hd.Dim, (int)nlist, hd.Metric, q.Metric) { Nprobe = (int)nprobe };
        if (hd.Trained) ivf.SetCentroids(q.Vectors);
        for (int i = 0; i < sizes.Length; i++)
        {
            long n = sizes[i];
            if (n == 0) continue;
            if (n * hd.Dim > Array.MaxLength) throw r.Error($"ilar: list {i} with {n} vectors is too large");
            var codes = new float[n * hd.Dim];
            var ids = new long[n];
            r.Floats(codes);
            r.Longs(ids);
            int bad = Validation.FirstNonFinite(codes);
            if (bad >= 0) throw r.Error($"ilar: list {i} holds a non-finite value");
            ivf.AppendRaw(i, codes, ids);
        }
        return ivf;
    }

    private static void WriteHnsw(Writer w, HnswIndex h)
    {
        if (h.DeletedCount > 0)
            throw new ManagedEmbedException($"the HNSW index has {h.DeletedCount} removed vectors and FAISS files cannot record removals; compact it first");
        var g = h.Graph;
        w.FourCC("IHNf");
        WriteHeader(w, h, trained: true);
        w.Vector<double>(g.Probas);
        w.Vector<int>(g.Cum);
        w.Vector(g.Levels.Span);
        w.Vector(g.Offsets.Span);
        w.Vector(g.Neighbors.Span);
        w.I32(h.EntryPoint);
        w.I32(h.MaxLevel);
        w.I32(h.EfConstruction);
        w.I32(h.EfSearch);
        w.I32(1); // upper_beam: FAISS's default and the only search mode implemented
        WriteFlat(w, h.Storage);
    }

    /// <summary>
    /// IndexHNSWFlat: header, HNSW struct (assign_probas, cum_nneighbor_per_level, levels, offsets, neighbors,
    /// entry_point, max_level, efConstruction, efSearch, upper_beam), then the flat storage. Every graph invariant a
    /// search relies on is checked, so a corrupt file fails here and never walks out of its arrays.
    /// </summary>
    private static HnswIndex ReadHnswBody(Reader r)
    {
        const string K = "IHNf";
        var hd = ReadHeader(r, K);
        if (hd.NTotal > int.MaxValue - 1) throw r.Error($"{K}: {hd.NTotal} vectors are too many");
        int n = (int)hd.NTotal;
        var probas = r.Vector<double>($"{K}: assign_probas", max: 64);
        if (probas.Length == 0) throw r.Error($"{K}: assign_probas is empty");
        foreach (double p in probas)
            if (!(p >= 0 && p <= 1)) throw r.Error($"{K}: level probability {p} is not in [0, 1]");
        var cum = r.Vector<int>($"{K}: cum_nneighbor_per_level", expected: probas.Length + 1);
        if (cum[0] != 0) throw r.Error($"{K}: cum_nneighbor_per_level starts at {cum[0]}, not 0");
        for (int i = 1; i < cum.Length; i++)
            if (cum[i] <= cum[i - 1] || cum[i] > 1 << 20) throw r.Error($"{K}: cum_nneighbor_per_level is not increasing or too large at level {i - 1}");
        var levels = r.Vector<int>($"{K}: levels", expected: n);
        for (int i = 0; i < n; i++)
            if (levels[i] < 1 || levels[i] >= cum.Length) throw r.Error($"{K}: node {i} has level {levels[i] - 1}, outside [0, {cum.Length - 2}]");
        var offsets = r.Vector<long>($"{K}: offsets", expected: (long)n + 1);
        if (offsets[0] != 0) throw r.Error($"{K}: offsets start at {offsets[0]}, not 0");
        for (int i = 0; i < n; i++)
            if (offsets[i + 1] - offsets[i] != cum[levels[i]]) throw r.Error($"{K}: node {i} has {offsets[i + 1] - offsets[i]} neighbour slots, its level needs {cum[levels[i]]}");
        var neighbors = r.Vector<int>($"{K}: neighbors", expected: offsets[n]);
        for (int i = 0; i < n; i++)
            for (int level = 0; level < levels[i]; level++)
                for (long j = offsets[i] + cum[level]; j < offsets[i] + cum[level + 1]; j++)
                {
                    int v = neighbors[j];
                    if (v < -1 || v >= n) throw r.Error($"{K}: node {i} links to {v}, outside [0, {n})");
                    // A search reads the lists of a neighbour at the same level: it must exist there.
                    if (v >= 0 && levels[v] <= level) throw r.Error($"{K}: node {i} links to node {v} at level {level}, above that node's level {levels[v] - 1}");
                }
        int entry = r.I32("entry_point"), maxLevel = r.I32("max_level");
        if (n == 0 ? entry != -1 || maxLevel != -1 : (uint)entry >= (uint)n || maxLevel != levels[entry] - 1)
            throw r.Error($"{K}: entry point {entry} at max level {maxLevel} does not match the graph");
        int efC = r.I32("efConstruction"), efS = r.I32("efSearch"), upperBeam = r.I32("upper_beam");
        if (efC < 1) throw r.Error($"{K}: efConstruction {efC} must be positive");
        if (efS < 1) throw r.Error($"{K}: efSearch {efS} must be positive");
        if (upperBeam != 1) throw r.Error($"{K}: upper_beam {upperBeam} is not supported (only 1, FAISS's default)");
        var storage = ReadIndex(r, allowIvf: false) as FlatIndex ?? throw r.Error($"{K}: storage is not a flat index");
        if (storage.Dimension != hd.Dim || storage.Metric != hd.Metric || storage.Count != n)
            throw r.Error($"{K}: storage ({storage.Count} vectors, dimension {storage.Dimension}) does not match the header ({n}, {hd.Dim}) or its metric");
        return HnswIndex.FromParts(storage, probas, cum, levels, offsets, neighbors, entry, maxLevel, efC, efS);
    }

    private static long ListSize(Reader r, long ntotal)
    {
        ulong s = r.U64("list size");
        if (s > (ulong)ntotal) throw r.Error($"ilar: list size {s} exceeds the {ntotal} vectors in the index");
        return (long)s;
    }

    private static string Printable(string s) =>
        string.Concat(s.Select(c => c is >= ' ' and <= '~' ? c.ToString() : $"\\x{(int)c:x2}"));

    // ---------------- little-endian primitives ----------------

    private sealed class Writer(Stream s)
    {
        private readonly Stream _s = s;
        private readonly byte[] _b = new byte[8];

        public void FourCC(string c) { for (int i = 0; i < 4; i++) _b[i] = (byte)c[i]; _s.Write(_b, 0, 4); }
        public void U8(byte v) => _s.WriteByte(v);
        public void I32(int v) { BinaryPrimitives.WriteInt32LittleEndian(_b, v); _s.Write(_b, 0, 4); }
        public void I64(long v) { BinaryPrimitives.WriteInt64LittleEndian(_b, v); _s.Write(_b, 0, 8); }
        public void U64(ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(_b, v); _s.Write(_b, 0, 8); }
        public void Floats(ReadOnlySpan<float> v) { CheckLE(); _s.Write(MemoryMarshal.AsBytes(v)); }
        public void Longs(ReadOnlySpan<long> v) { CheckLE(); _s.Write(MemoryMarshal.AsBytes(v)); }
        /// <summary>A FAISS std::vector: its length as u64, then the elements.</summary>
        public void Vector<T>(ReadOnlySpan<T> v) where T : unmanaged { CheckLE(); U64((ulong)v.Length); _s.Write(MemoryMarshal.AsBytes(v)); }
        public void Flush() => _s.Flush();
    }

    private static void CheckLE()
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("FAISS files are little-endian; big-endian hosts are not supported.");
    }

    private sealed class Reader(Stream s, string name)
    {
        private readonly Stream _s = s;
        private readonly byte[] _b = new byte[8];
        private readonly string _name = name;

        public long Remaining => _s.Length - _s.Position;

        public ManagedEmbedException Error(string msg) => new($"{_name}: invalid FAISS index: {msg}");

        private void Fill(int n, string what)
        {
            if (Remaining < n) throw Error($"file is truncated (reading {what})");
            _s.ReadExactly(_b, 0, n);
        }

        public string FourCC() { Fill(4, "a type tag"); return string.Create(4, _b, (sp, b) => { for (int i = 0; i < 4; i++) sp[i] = (char)b[i]; }); }
        public byte U8(string what) { Fill(1, what); return _b[0]; }
        public int I32(string what) { Fill(4, what); return BinaryPrimitives.ReadInt32LittleEndian(_b); }
        public long I64(string what) { Fill(8, what); return BinaryPrimitives.ReadInt64LittleEndian(_b); }
        public ulong U64(string what) { Fill(8, what); return BinaryPrimitives.ReadUInt64LittleEndian(_b); }

        /// <summary>Fails unless count items of itemSize bytes are left (overflow-safe).</summary>
        public void Ensure(ulong count, ulong itemSize, string what)
        {
            ulong left = (ulong)Remaining;
            if (itemSize != 0 && count > left / itemSize)
                throw Error($"file is truncated or corrupt: {what} need {(count > ulong.MaxValue / itemSize ? "more than 2^64" : (count * itemSize).ToString())} bytes, only {left} left");
        }

        public void Skip(ulong count, ulong itemSize, string what)
        {
            Ensure(count, itemSize, what);
            _s.Seek((long)(count * itemSize), SeekOrigin.Current);
        }

        public void Floats(Span<float> dst)
        {
            CheckLE();
            Ensure((ulong)dst.Length, sizeof(float), "vector data");
            _s.ReadExactly(MemoryMarshal.AsBytes(dst));
        }

        public void Longs(Span<long> dst)
        {
            CheckLE();
            Ensure((ulong)dst.Length, sizeof(long), "id data");
            _s.ReadExactly(MemoryMarshal.AsBytes(dst));
        }

        /// <summary>
        /// A FAISS std::vector (u64 length, then elements) whose length must be <paramref name="expected"/> when
        /// given, else at most <paramref name="max"/>; checked against the bytes left before allocating.
        /// </summary>
        public T[] Vector<T>(string what, long expected = -1, long max = long.MaxValue) where T : unmanaged
        {
            CheckLE();
            ulong n = U64(what + " length");
            if (expected >= 0 && n != (ulong)expected) throw Error($"{what} holds {n} entries, expected {expected}");
            if (n > (ulong)max) throw Error($"{what} holds {n} entries, more than the {max} allowed");
            Ensure(n, (ulong)System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), what);
            if (n > (ulong)Array.MaxLength) throw Error($"{what} with {n} entries is too large");
            var a = new T[n];
            _s.ReadExactly(MemoryMarshal.AsBytes(a.AsSpan()));
            return a;
        }
    }
}
