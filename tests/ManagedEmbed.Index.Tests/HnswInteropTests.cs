using System.Runtime.InteropServices;
using ManagedEmbed.Index;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Index.Tests;

/// <summary>
/// HNSW against real FAISS IndexHNSWFlat (Debian's /usr/bin/python3 with python3-faiss 1.7.3): FAISS's graph arrays
/// come from FAISS's own memory (faiss_interop.py dumps them), never from our reader.
/// </summary>
public class HnswInteropTests
{
    private static T[] Raw<T>(string path) where T : unmanaged => MemoryMarshal.Cast<byte, T>(File.ReadAllBytes(path)).ToArray();

    private static (float[] D, long[] I) FaissSearch(string index, string queries, int k, int efSearch)
    {
        string prefix = index + ".res";
        FaissInteropTests.RunPython("hnsw-search", index, queries, k.ToString(), efSearch.ToString(), prefix);
        return (Raw<float>(prefix + ".dist"), Raw<long>(prefix + ".labels"));
    }

    [Theory]
    [InlineData(Metric.L2)]
    [InlineData(Metric.InnerProduct)]
    public void Faiss_hnsw_file_loads_here_with_faiss_graph_levels_and_results(Metric metric)
    {
        int d = 16, n = 3000, nq = 60, k = 10, m = 8;
        string dir = TestPaths.NewTempDir("membed-hnsw");
        var data = TestData.Random(41, n, d, normalize: true);
        var queries = TestData.Random(42, nq, d, normalize: true);
        string bf = Path.Combine(dir, "base.fvecs"), qf = Path.Combine(dir, "q.fvecs"), file = Path.Combine(dir, "faiss.index"), dump = Path.Combine(dir, "dump");
        VecsFile.WriteFvecs(bf, data, d);
        VecsFile.WriteFvecs(qf, queries, d);
        FaissInteropTests.RunPython("hnsw-build", metric == Metric.L2 ? "l2" : "ip", bf, m.ToString(), "40", "24", file, dump);
        var levels = Raw<int>(dump + ".levels");
        var offsets = Raw<long>(dump + ".offsets");
        var neighbors = Raw<int>(dump + ".neighbors");
        var probas = Raw<double>(dump + ".probas");
        var entry = Raw<int>(dump + ".entry");

        var loaded = Assert.IsType<HnswIndex>(FaissIndexIO.Read(file));
        Assert.Equal(metric, loaded.Metric);
        Assert.Equal(n, loaded.Count);
        Assert.Equal(24, loaded.EfSearch);
        Assert.Equal(40, loaded.EfConstruction);
        Assert.Equal(m, loaded.M);
        Assert.Equal(entry[0], loaded.EntryPoint);
        Assert.Equal(entry[1], loaded.MaxLevel);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(levels[i] - 1, loaded.LevelOf(i));
            for (int l = 0; l < levels[i]; l++)
            {
                int begin = (int)offsets[i] + (l == 0 ? 0 : 2 * m + (l - 1) * m), end = begin + (l == 0 ? 2 * m : m);
                var expected = neighbors[begin..end].TakeWhile(v => v >= 0).ToArray();
                Assert.Equal(expected, loaded.NeighborsOf(i, l));
            }
        }
        foreach (int ef in new[] { 0, 10, 64 })
        {
            var ours = ef == 0 ? loaded.Search(queries, k) : loaded.Search(queries, k, ef);
            var (D, I) = FaissSearch(file, qf, k, ef);
            FaissInteropTests.AssertSameResults(ours, D, I, data, queries, d, metric);
        }

        // Building the same data here draws FAISS's levels (same generator, seed and level distribution) and, on one
        // thread, inserts in FAISS's order with FAISS's rules: the graph matches up to float rounding in near-ties.
        var built = new HnswIndex(d, m, metric) { EfConstruction = 40, Threads = 1 };
        built.Add(data);
        Assert.Equal(probas, built.AssignProbas.ToArray());
        Assert.Equal(entry[0], built.EntryPoint);
        Assert.Equal(entry[1], built.MaxLevel);
        int same = 0;
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(levels[i] - 1, built.LevelOf(i));
            if (built.NeighborsOf(i, 0).Order().SequenceEqual(loaded.NeighborsOf(i, 0).Order())) same++;
        }
        Assert.True(same >= 0.98 * n, $"only {same} of {n} level-0 neighbour lists equal FAISS's");
    }

    [Theory]
    [InlineData(Metric.L2)]
    [InlineData(Metric.InnerProduct)]
    public void Our_hnsw_file_opens_in_faiss_with_the_same_results(Metric metric)
    {
        int d = 24, n = 2500, nq = 60, k = 10;
        string dir = TestPaths.NewTempDir("membed-hnsw");
        var data = TestData.Random(51, n, d, normalize: true);
        var queries = TestData.Random(52, nq, d, normalize: true);
        string qf = Path.Combine(dir, "q.fvecs"), file = Path.Combine(dir, "ours.index");
        VecsFile.WriteFvecs(qf, queries, d);
        var idx = new HnswIndex(d, 12, metric) { EfConstruction = 60, EfSearch = 20, Threads = 2 };
        idx.Add(data.AsSpan(0, 1000 * d));
        idx.Add(data.AsSpan(1000 * d));   // a second batch links into the existing graph
        FaissIndexIO.Write(idx, file);
        foreach (int ef in new[] { 0, 12, 80 })
        {
            var ours = ef == 0 ? idx.Search(queries, k) : idx.Search(queries, k, ef);
            var (D, I) = FaissSearch(file, qf, k, ef);
            FaissInteropTests.AssertSameResults(ours, D, I, data, queries, d, metric);
        }
    }
}
