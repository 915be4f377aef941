using ManagedEmbed.Index;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Cli.Tests;

/// <summary>`membed data synth`, `index build`, `index search` end to end through Cli.Run.</summary>
public class IndexCommandsTests
{
    private static int Run(params string[] args) => ManagedEmbed.Cli.Cli.Run(args);

    [Theory]
    [InlineData("clustered-n40-d12-c3-s7.fvecs", new[] { "--n", "40", "--dim", "12", "--clusters", "3", "--seed", "7" })]
    [InlineData("clustered-n6-d5-c2-sneg3-cs9-spread0.5.fvecs", new[] { "--n", "6", "--dim", "5", "--clusters", "2", "--seed", "-3", "--center-seed", "9", "--spread", "0.5" })]
    public void Data_synth_writes_the_bytes_of_the_independent_reference(string fixture, string[] args)
    {
        // tools/gen_synth_vectors.py wrote the fixture from the documented generator (SplitMix64, Irwin–Hall normals):
        // the same bytes on every machine, unlike System.Random's Box–Muller.
        string d = TestPaths.NewTempDir("membed-cli-synth");
        try
        {
            string o = Path.Combine(d, "x.fvecs");
            Assert.Equal(0, Run(["data", "synth", .. args, "--out", o]));
            Assert.Equal(File.ReadAllBytes(Path.Combine(TestPaths.Fixtures, "synth", fixture)), File.ReadAllBytes(o));
        }
        finally { Directory.Delete(d, true); }
    }

    [Fact]
    public void Synth_build_search_flat_and_ivf()
    {
        string d = TestPaths.NewTempDir("membed-cli-index");
        string b = Path.Combine(d, "b.fvecs"), q = Path.Combine(d, "q.fvecs");
        Assert.Equal(0, Run("data", "synth", "--n", "600", "--dim", "24", "--clusters", "6", "--seed", "1", "--out", b));
        Assert.Equal(0, Run("data", "synth", "--n", "9", "--dim", "24", "--clusters", "6", "--seed", "2", "--out", q));
        var bv = VecsFile.ReadFvecs(b);
        Assert.Equal(600, bv.Count);
        Assert.Equal(24, bv.Dimension);
        for (int i = 0; i < bv.Count; i++)
            Assert.InRange(Kernels.VectorMath.Dot(bv.Row(i), bv.Row(i)), 0.999f, 1.001f);
        // Same seed, same file.
        string b2 = Path.Combine(d, "b2.fvecs");
        Assert.Equal(0, Run("data", "synth", "--n", "600", "--dim", "24", "--clusters", "6", "--seed", "1", "--out", b2));
        Assert.Equal(File.ReadAllBytes(b), File.ReadAllBytes(b2));

        string flat = Path.Combine(d, "flat.index"), ivf = Path.Combine(d, "ivf.index");
        Assert.Equal(0, Run("index", "build", "--vectors", b, "--kind", "flat", "--metric", "l2", "--out", flat));
        Assert.Equal(0, Run("index", "build", "--vectors", b, "--kind", "ivf", "--nlist", "6", "--seed", "3", "--out", ivf));
        string o1 = Path.Combine(d, "o1.ivecs"), o2 = Path.Combine(d, "o2.ivecs"), o3 = Path.Combine(d, "o3.ivecs");
        Assert.Equal(0, Run("index", "search", "--index", flat, "--queries", q, "--k", "5", "--out", o1));
        Assert.Equal(0, Run("index", "search", "--index", flat, "--queries", q, "--k", "5", "--batch-size", "1", "--threads", "1", "--out", o2));
        Assert.Equal(File.ReadAllBytes(o1), File.ReadAllBytes(o2));
        var ids = VecsFile.ReadIvecs(o1);
        Assert.Equal(9, ids.Count);
        Assert.Equal(5, ids.Dimension);
        var exact = new FlatIndex(24, Metric.L2);
        exact.Add(bv.Data);
        var r = exact.Search(VecsFile.ReadFvecs(q).Data, 5);
        Assert.Equal(r.Labels.Select(l => (int)l).ToArray(), ids.Data);

        // IVF with nprobe = nlist is exact (IP here).
        Assert.Equal(0, Run("index", "search", "--index", ivf, "--queries", q, "--k", "5", "--nprobe", "6", "--out", o3));
        var ip = new FlatIndex(24, Metric.InnerProduct);
        ip.Add(bv.Data);
        Assert.Equal(ip.Search(VecsFile.ReadFvecs(q).Data, 5).Labels.Select(l => (int)l).ToArray(), VecsFile.ReadIvecs(o3).Data);
    }

    [Fact]
    public void Build_and_search_hnsw_and_reject_its_corrupt_files()
    {
        string d = TestPaths.NewTempDir("membed-cli-hnsw");
        string b = Path.Combine(d, "b.fvecs"), q = Path.Combine(d, "q.fvecs"), idx = Path.Combine(d, "h.index");
        Assert.Equal(0, Run("data", "synth", "--n", "800", "--dim", "16", "--clusters", "8", "--seed", "1", "--out", b));
        Assert.Equal(0, Run("data", "synth", "--n", "20", "--dim", "16", "--clusters", "8", "--seed", "2", "--out", q));
        Assert.Equal(0, Run("index", "build", "--vectors", b, "--kind", "hnsw", "--m", "8", "--ef-construction", "50", "--ef-search", "900",
            "--metric", "l2", "--threads", "2", "--out", idx));
        var h = Assert.IsType<HnswIndex>(FaissIndexIO.Read(idx));
        Assert.Equal((8, 50, 900, Metric.L2, 800L), (h.M, h.EfConstruction, h.EfSearch, h.Metric, h.Count));
        // A beam wider than the data visits the whole (connected) graph: exact.
        string o = Path.Combine(d, "o.ivecs");
        Assert.Equal(0, Run("index", "search", "--index", idx, "--queries", q, "--k", "5", "--out", o));
        var exact = new FlatIndex(16, Metric.L2);
        exact.Add(VecsFile.ReadFvecs(b).Data);
        Assert.Equal(exact.Search(VecsFile.ReadFvecs(q).Data, 5).Labels.Select(l => (int)l).ToArray(), VecsFile.ReadIvecs(o).Data);
        Assert.Equal(0, Run("index", "search", "--index", idx, "--queries", q, "--k", "5", "--ef-search", "4", "--out", o));
        Assert.Equal(2, Run("index", "search", "--index", idx, "--queries", q, "--k", "5", "--ef-search", "0", "--out", o));
        Assert.Equal(2, Run("index", "search", "--index", idx, "--queries", q, "--k", "5", "--nprobe", "3", "--out", o));
        byte[] bytes = File.ReadAllBytes(idx);
        string bad = Path.Combine(d, "bad.index"), o2 = Path.Combine(d, "o2.ivecs");
        foreach (int cut in new[] { 10, 60, 200, bytes.Length / 2, bytes.Length - 1 })
        {
            File.WriteAllBytes(bad, bytes[..cut]);
            Assert.Equal(2, Run("index", "search", "--index", bad, "--queries", q, "--k", "5", "--out", o2));
        }
        Assert.False(File.Exists(o2));
    }

    [Fact]
    public void Bad_input_exits_2_and_writes_nothing()
    {
        string d = TestPaths.NewTempDir("membed-cli-index");
        string b = Path.Combine(d, "b.fvecs"), q = Path.Combine(d, "q.fvecs"), idx = Path.Combine(d, "x.index"), o = Path.Combine(d, "o.ivecs");
        Assert.Equal(0, Run("data", "synth", "--n", "50", "--dim", "8", "--clusters", "2", "--seed", "1", "--out", b));
        Assert.Equal(0, Run("data", "synth", "--n", "3", "--dim", "9", "--clusters", "2", "--seed", "1", "--out", q));
        Assert.Equal(2, Run("index", "build", "--vectors", b, "--kind", "annoy", "--out", idx));
        Assert.Equal(2, Run("index", "build", "--vectors", b, "--kind", "hnsw", "--m", "1", "--out", idx));
        Assert.Equal(2, Run("index", "build", "--vectors", b, "--kind", "hnsw", "--ef-construction", "0", "--out", idx));
        Assert.Equal(2, Run("index", "build", "--vectors", b, "--kind", "flat", "--ef-search", "8", "--out", idx));
        Assert.Equal(2, Run("index", "build", "--vectors", b, "--kind", "hnsw", "--nlist", "4", "--out", idx));
        Assert.Equal(2, Run("index", "build", "--vectors", b, "--kind", "flat", "--nlist", "4", "--out", idx));
        Assert.Equal(2, Run("index", "build", "--vectors", b, "--kind", "ivf", "--nlist", "51", "--out", idx));
        Assert.Equal(2, Run("index", "build", "--vectors", b, "--kind", "flat", "--bogus", "1", "--out", idx));
        Assert.Equal(2, Run("index", "build", "--vectors", Path.Combine(d, "missing.fvecs"), "--kind", "flat", "--out", idx));
        Assert.False(File.Exists(idx));
        Assert.Equal(0, Run("index", "build", "--vectors", b, "--kind", "flat", "--out", idx));
        Assert.Equal(2, Run("index", "search", "--index", idx, "--queries", q, "--k", "3", "--out", o));   // dim 9 vs 8
        Assert.Equal(2, Run("index", "search", "--index", idx, "--queries", b, "--k", "0", "--out", o));
        Assert.Equal(2, Run("index", "search", "--index", idx, "--queries", b, "--k", "3", "--nprobe", "2", "--out", o)); // flat
        Assert.Equal(2, Run("index", "search", "--index", idx, "--queries", b, "--k", "3", "--ef-search", "9", "--out", o)); // flat
        File.WriteAllBytes(Path.Combine(d, "bad.index"), File.ReadAllBytes(idx)[..40]);
        Assert.Equal(2, Run("index", "search", "--index", Path.Combine(d, "bad.index"), "--queries", b, "--k", "3", "--out", o));
        Assert.False(File.Exists(o));
        Assert.Equal(2, Run("data", "synth", "--n", "0", "--dim", "8", "--clusters", "2", "--seed", "1", "--out", b));
        Assert.Equal(2, Run("data", "generate"));
        Assert.Equal(2, Run("index", "frobnicate"));
    }

    /// <summary>An IVF index (nlist 1) over <paramref name="n"/> random unit vectors whose stored ids are replaced by <paramref name="ids"/>.</summary>
    private static string IvfWithIds(string dir, int dim, long[] ids)
    {
        var rng = new Random(5);
        var x = new float[ids.Length * dim];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble() + 0.1f;
        var ivf = new IvfIndex(dim, 1);
        ivf.Train(x);
        ivf.Add(x);
        string path = Path.Combine(dir, "ivf.index");
        FaissIndexIO.Write(ivf, path);
        byte[] bytes = File.ReadAllBytes(path);
        byte[] seq = Enumerable.Range(0, ids.Length).SelectMany(i => BitConverter.GetBytes((long)i)).ToArray();
        int at = bytes.AsSpan().IndexOf(seq);
        Assert.True(at > 0, "sequential ids not found in the IVF file");
        for (int i = 0; i < ids.Length; i++) BitConverter.GetBytes(ids[i]).CopyTo(bytes, at + 8 * i);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void Search_caps_k_at_ntotal_instead_of_failing()
    {
        string d = TestPaths.NewTempDir("membed-cli-index");
        try
        {
            string b = Path.Combine(d, "b.fvecs"), idx = Path.Combine(d, "x.index"), o = Path.Combine(d, "o.ivecs");
            Assert.Equal(0, Run("data", "synth", "--n", "7", "--dim", "8", "--clusters", "2", "--seed", "1", "--out", b));
            Assert.Equal(0, Run("index", "build", "--vectors", b, "--kind", "flat", "--out", idx));
            Assert.Equal(0, Run("index", "search", "--index", idx, "--queries", b, "--k", "1048576", "--out", o));
            var ids = VecsFile.ReadIvecs(o);
            Assert.Equal(7, ids.Count);
            Assert.Equal(7, ids.Dimension);   // k capped at the 7 indexed vectors
            for (int i = 0; i < 7; i++) Assert.Equal(Enumerable.Range(0, 7), ids.Row(i).ToArray().Order());
            // Tiny batches still give the same file.
            string o2 = Path.Combine(d, "o2.ivecs");
            Assert.Equal(0, Run("index", "search", "--index", idx, "--queries", b, "--k", "1048576", "--batch-size", "2", "--out", o2));
            Assert.Equal(File.ReadAllBytes(o), File.ReadAllBytes(o2));
        }
        finally { Directory.Delete(d, true); }
    }

    [Fact]
    public void Search_refuses_labels_that_do_not_fit_int32_ivecs()
    {
        string d = TestPaths.NewTempDir("membed-cli-index");
        try
        {
            string idx = IvfWithIds(d, 4, [0, 1L << 40, 2]);
            string q = Path.Combine(d, "q.fvecs"), o = Path.Combine(d, "o.ivecs");
            VecsFile.WriteFvecs(q, new float[] { 1, 1, 1, 1 }, 4);
            Assert.Equal(2, Run("index", "search", "--index", idx, "--queries", q, "--k", "3", "--out", o));
            Assert.False(File.Exists(o));
            Assert.Empty(TempFiles.LeftIn(d));
        }
        finally { Directory.Delete(d, true); }
    }

    [Fact]
    public void An_over_large_text_input_is_named_in_the_error()
    {
        string d = TestPaths.NewTempDir("membed-cli-big");
        try
        {
            // Sparse: past the 2 GiB whole-file read limit, whose runtime message names no file.
            string big = Path.Combine(d, "config.json");
            using (var fs = new FileStream(big, FileMode.Create)) fs.SetLength((long)Array.MaxLength + 1);
            var r = CliRunner.Run(["model", "synth", "--config", big, "--vocab", big, "--seed", "1", "--out", Path.Combine(d, "m")]);
            Assert.Equal(2, r.ExitCode);
            Assert.StartsWith("membed: error: ", r.Stderr);
            Assert.Contains(big, r.Stderr);
        }
        finally { Directory.Delete(d, true); }
    }

    [Fact]
    public void Vectors_whose_distances_would_overflow_are_refused()
    {
        string d = TestPaths.NewTempDir("membed-cli-index");
        try
        {
            string b = Path.Combine(d, "b.fvecs"), idx = Path.Combine(d, "x.index");
            VecsFile.WriteFvecs(b, new float[] { 1, 0, 0, 1, 3e38f, 3e38f }, 2);
            Assert.Equal(2, Run("index", "build", "--vectors", b, "--kind", "flat", "--metric", "l2", "--out", idx));
            Assert.False(File.Exists(idx));
        }
        finally { Directory.Delete(d, true); }
    }
}
