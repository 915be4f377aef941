using System.Buffers.Binary;
using FsCheck.Xunit;
using ManagedEmbed.Index;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Index.Tests;

public class FaissIoTests
{
    private static IVectorIndex MakeIvf(Metric metric, int n = 120, int nlist = 6, int d = 5)
    {
        var ivf = new IvfIndex(d, nlist, metric) { Nprobe = 3 };
        var x = TestData.Random(9, n, d);
        ivf.Train(x, 3);
        ivf.Add(x);
        return ivf;
    }

    private static IVectorIndex MakeFlat(Metric metric, int n = 30, int d = 5)
    {
        var f = new FlatIndex(d, metric);
        f.Add(TestData.Random(4, n, d));
        return f;
    }

    private static byte[] Bytes(IVectorIndex idx)
    {
        var ms = new MemoryStream();
        FaissIndexIO.Write(idx, ms);
        return ms.ToArray();
    }

    public static TheoryData<string> Kinds => new() { "flat-ip", "flat-l2", "ivf-ip", "ivf-l2", "ivf-sparse", "ivf-untrained" };

    private static IVectorIndex Make(string kind) => kind switch
    {
        "flat-ip" => MakeFlat(Metric.InnerProduct),
        "flat-l2" => MakeFlat(Metric.L2),
        "ivf-ip" => MakeIvf(Metric.InnerProduct),
        "ivf-l2" => MakeIvf(Metric.L2),
        "ivf-sparse" => Sparse(),
        _ => new IvfIndex(4, 3, Metric.L2),
    };

    // Few used lists: FAISS's "sprs" size table.
    private static IVectorIndex Sparse()
    {
        var ivf = new IvfIndex(3, 8, Metric.InnerProduct) { Nprobe = 20 };
        ivf.Train(TestData.Random(2, 400, 3), 1);
        ivf.Add(TestData.Random(3, 2, 3));
        return ivf;
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Round_trip_preserves_search_results(string kind)
    {
        var idx = Make(kind);
        string dir = TestPaths.NewTempDir();
        string path = Path.Combine(dir, "x.index");
        FaissIndexIO.Write(idx, path);
        Assert.Empty(TempFiles.LeftIn(dir));
        var back = FaissIndexIO.Read(path);
        Assert.Equal(idx.GetType(), back.GetType());
        Assert.Equal(idx.Dimension, back.Dimension);
        Assert.Equal(idx.Count, back.Count);
        Assert.Equal(idx.Metric, back.Metric);
        Assert.Equal(Bytes(idx), File.ReadAllBytes(path));
        if (idx is IvfIndex { IsTrained: false }) { Assert.False(((IvfIndex)back).IsTrained); return; }
        var q = TestData.Random(77, 4, idx.Dimension);
        var a = idx.Search(q, 5); var b = back.Search(q, 5);
        Assert.Equal(a.Labels, b.Labels);
        Assert.Equal(a.Distances, b.Distances);
        if (idx is IvfIndex i1) Assert.Equal(i1.Nprobe, ((IvfIndex)back).Nprobe);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Every_truncation_is_a_clear_error(string kind)
    {
        var bytes = Bytes(Make(kind));
        for (int len = 0; len < bytes.Length; len++)
        {
            var ex = Assert.Throws<ManagedEmbedException>(() => FaissIndexIO.Read(new MemoryStream(bytes, 0, len)));
            Assert.Contains("invalid FAISS index", ex.Message);
        }
        Assert.Throws<ManagedEmbedException>(() => FaissIndexIO.Read(new MemoryStream([.. bytes, 0])));
    }

    [Property(MaxTest = 300)]
    public bool Corrupted_bytes_give_a_clear_error_or_a_valid_index(int seed, byte kindSel)
    {
        string kind = new[] { "flat-ip", "flat-l2", "ivf-ip", "ivf-l2" }[kindSel % 4];
        var bytes = Bytes(Make(kind));
        var rng = new Random(seed);
        int flips = 1 + rng.Next(4);
        for (int f = 0; f < flips; f++)
        {
            // Bias towards the structural prefix, where corruption is interesting.
            int pos = rng.Next(2) == 0 ? rng.Next(Math.Min(bytes.Length, 160)) : rng.Next(bytes.Length);
            bytes[pos] = (byte)rng.Next(256);
        }
        try
        {
            var idx = FaissIndexIO.Read(new MemoryStream(bytes));
            if (idx is IvfIndex { IsTrained: false }) return true;
            idx.Search(new float[idx.Dimension], 3);
            return true;
        }
        catch (ManagedEmbedException) { return true; }
    }

    [Fact]
    public void Hostile_header_claiming_2_pow_40_vectors_is_rejected_without_allocating()
    {
        var bytes = Bytes(MakeFlat(Metric.InnerProduct, n: 2));
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), 1L << 40);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(4 + 4 + 8 + 16 + 1 + 4), (1UL << 40) * 5);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<ManagedEmbedException>(() => FaissIndexIO.Read(new MemoryStream(bytes)));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        Assert.Contains("truncated", ex.Message);

        // IVF whose list sizes claim far more than the file holds.
        var ivf = Bytes(MakeIvf(Metric.L2));
        BinaryPrimitives.WriteInt64LittleEndian(ivf.AsSpan(8), 1L << 40);
        Assert.Throws<ManagedEmbedException>(() => FaissIndexIO.Read(new MemoryStream(ivf)));
    }

    [Fact]
    public void Unknown_type_and_missing_file_are_clear_errors()
    {
        var ex = Assert.Throws<ManagedEmbedException>(() => FaissIndexIO.Read(new MemoryStream("IxPQ\0\0\0\0"u8.ToArray())));
        Assert.Contains("IxPQ", ex.Message);
        Assert.Throws<ManagedEmbedException>(() => FaissIndexIO.Read("/nonexistent/x.index"));
        Assert.Throws<ManagedEmbedException>(() => FaissIndexIO.Write(MakeFlat(Metric.L2), "/nonexistent/dir/x.index"));
    }

    [Fact]
    public void Non_seekable_stream_reads()
    {
        var bytes = Bytes(MakeIvf(Metric.InnerProduct));
        var idx = FaissIndexIO.Read(new NonSeekable(new MemoryStream(bytes)));
        Assert.Equal(120, idx.Count);
    }

    private sealed class NonSeekable(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 7));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

public class VecsFileTests
{
    [Fact]
    public void Fvecs_and_ivecs_round_trip_and_validate()
    {
        string dir = TestPaths.NewTempDir();
        string f = Path.Combine(dir, "a.fvecs");
        var x = TestData.Random(1, 7, 5);
        VecsFile.WriteFvecs(f, x, 5);
        var r = VecsFile.ReadFvecs(f);
        Assert.Equal(7, r.Count); Assert.Equal(5, r.Dimension); Assert.Equal(x, r.Data);
        string iv = Path.Combine(dir, "a.ivecs");
        VecsFile.WriteIvecs(iv, [1, 2, 3, 4, 5, 6], 3);
        Assert.Equal(new[] { 1, 2, 3, 4, 5, 6 }, VecsFile.ReadIvecs(iv).Data);

        var bytes = File.ReadAllBytes(f);
        File.WriteAllBytes(f, bytes[..^3]);
        Assert.Contains("whole number", Assert.Throws<ManagedEmbedException>(() => VecsFile.ReadFvecs(f)).Message);
        var mixed = (byte[])bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(mixed.AsSpan(24), 4);
        File.WriteAllBytes(f, mixed);
        Assert.Contains("row 1", Assert.Throws<ManagedEmbedException>(() => VecsFile.ReadFvecs(f)).Message);
        var nan = (byte[])bytes.Clone();
        BinaryPrimitives.WriteSingleLittleEndian(nan.AsSpan(8), float.NaN);
        File.WriteAllBytes(f, nan);
        Assert.Contains("non-finite", Assert.Throws<ManagedEmbedException>(() => VecsFile.ReadFvecs(f)).Message);
        File.WriteAllBytes(f, []);
        Assert.Throws<ManagedEmbedException>(() => VecsFile.ReadFvecs(f));
        File.WriteAllBytes(f, [0, 0, 0, 0]);
        Assert.Throws<ManagedEmbedException>(() => VecsFile.ReadFvecs(f));
        Assert.Throws<ManagedEmbedException>(() => VecsFile.ReadFvecs(Path.Combine(dir, "missing.fvecs")));
    }
}
