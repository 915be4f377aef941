using System.Diagnostics;
using System.Runtime.InteropServices;
using ManagedEmbed.Index;
using ManagedEmbed.Kernels;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Index.Tests;

/// <summary>
/// Both directions against real FAISS (Debian's /usr/bin/python3 with python3-faiss; .ci/run installs it):
/// files we write open in faiss.read_index and give the same results; files faiss.write_index writes open here and
/// give the results FAISS gives.
/// </summary>
public class FaissInteropTests
{
    private const string Python = "/usr/bin/python3";
    private static string Script => Path.Combine(TestPaths.RepoRoot, "tests", "ManagedEmbed.Index.Tests", "faiss_interop.py");

    internal static void RunPython(params string[] args)
    {
        var psi = new ProcessStartInfo(Python) { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add(Script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"faiss_interop.py {string.Join(' ', args)} failed: {err}");
    }

    private static (float[] D, long[] I) FaissSearch(string index, string queries, int k, int nprobe)
    {
        string prefix = index + ".res";
        RunPython("search", index, queries, k.ToString(), nprobe.ToString(), prefix);
        var I = MemoryMarshal.Cast<byte, long>(File.ReadAllBytes(prefix + ".labels")).ToArray();
        var D = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(prefix + ".dist")).ToArray();
        return (D, I);
    }

    /// <summary>
    /// Same results up to float rounding: distances agree closely; where labels differ the two ids must be a
    /// near-tie (our exact score for FAISS's id is within tolerance of that rank's distance).
    /// </summary>
    internal static void AssertSameResults(SearchResult ours, float[] D, long[] I, float[] data, float[] queries, int dim, Metric metric)
    {
        Assert.Equal(ours.Labels.Length, I.Length);
        int k = ours.K;
        for (int q = 0; q < ours.Count; q++)
            for (int j = 0; j < k; j++)
            {
                int at = q * k + j;
                float tol = 1e-4f * (1 + Math.Abs(D[at]));
                Assert.True(Math.Abs(ours.Distances[at] - D[at]) <= tol, $"query {q} rank {j}: distance {ours.Distances[at]} vs FAISS {D[at]}");
                if (ours.Labels[at] == I[at]) continue;
                Assert.True(I[at] >= 0 && ours.Labels[at] >= 0, $"query {q} rank {j}: label {ours.Labels[at]} vs FAISS {I[at]}");
                float s = Distance.Score(queries.AsSpan(q * dim, dim), data.AsSpan((int)I[at] * dim, dim), metric == Metric.L2);
                Assert.True(Math.Abs(s - ours.Distances[at]) <= tol, $"query {q} rank {j}: label {ours.Labels[at]} vs FAISS {I[at]} is not a tie");
            }
    }

    [Theory]
    [InlineData("flat", Metric.InnerProduct)]
    [InlineData("flat", Metric.L2)]
    [InlineData("ivf", Metric.InnerProduct)]
    [InlineData("ivf", Metric.L2)]
    [InlineData("ivf-sparse", Metric.InnerProduct)]
    public void Our_file_opens_in_faiss_with_the_same_results(string kind, Metric metric)
    {
        int d = 24, n = 600, nq = 40, k = 10, nlist = 12;
        string dir = TestPaths.NewTempDir("membed-interop");
        var data = TestData.Random(21, n, d, normalize: true);
        var queries = TestData.Random(22, nq, d, normalize: true);
        string qf = Path.Combine(dir, "q.fvecs");
        VecsFile.WriteFvecs(qf, queries, d);
        IVectorIndex idx;
        if (kind == "flat") idx = new FlatIndex(d, metric);
        else { var ivf = new IvfIndex(d, nlist, metric); ivf.Train(data, 5); idx = ivf; }
        // "ivf-sparse": only 3 vectors in 12 lists, so the file uses FAISS's sparse size table.
        idx.Add(kind == "ivf-sparse" ? data.AsSpan(0, 3 * d) : data);
        string file = Path.Combine(dir, "ours.index");
        FaissIndexIO.Write(idx, file);

        foreach (int nprobe in kind == "flat" ? [0] : new[] { nlist, 3 })
        {
            var ours = idx is IvfIndex iv ? iv.Search(queries, k, nprobe) : idx.Search(queries, k);
            var (D, I) = FaissSearch(file, qf, k, nprobe);
            AssertSameResults(ours, D, I, data, queries, d, metric);
        }
    }

    [Theory]
    [InlineData("flat", Metric.InnerProduct)]
    [InlineData("flat", Metric.L2)]
    [InlineData("ivf", Metric.InnerProduct)]
    [InlineData("ivf", Metric.L2)]
    [InlineData("ivf-l2q", Metric.InnerProduct)]
    [InlineData("ivf-directmap", Metric.L2)]
    public void Faiss_file_opens_here_with_the_same_results(string kind, Metric metric)
    {
        int d = 20, n = 700, nq = 40, k = 10, nlist = 10;
        string dir = TestPaths.NewTempDir("membed-interop");
        var data = TestData.Random(31, n, d, normalize: true);
        var queries = TestData.Random(32, nq, d, normalize: true);
        string bf = Path.Combine(dir, "base.fvecs"), qf = Path.Combine(dir, "q.fvecs"), file = Path.Combine(dir, "faiss.index");
        VecsFile.WriteFvecs(bf, data, d);
        VecsFile.WriteFvecs(qf, queries, d);
        RunPython("build", kind == "flat" ? "flat" : "ivf", kind == "ivf-l2q" ? "ip-l2q" : metric == Metric.L2 ? "l2" : "ip", bf, nlist.ToString(), "7", file,
            kind == "ivf-directmap" ? "direct-map" : "none");
        var idx = FaissIndexIO.Read(file);
        Assert.Equal(kind == "flat" ? typeof(FlatIndex) : typeof(IvfIndex), idx.GetType());
        if (kind == "ivf-l2q") Assert.Equal(Metric.L2, ((IvfIndex)idx).Quantizer.Metric);
        Assert.Equal(metric, idx.Metric);
        Assert.Equal(n, idx.Count);
        foreach (int nprobe in kind == "flat" ? [0] : new[] { nlist, 2 })
        {
            var ours = idx is IvfIndex iv ? iv.Search(queries, k, nprobe) : idx.Search(queries, k);
            var (D, I) = FaissSearch(file, qf, k, nprobe);
            AssertSameResults(ours, D, I, data, queries, d, metric);
        }
        // And what we write back from it is byte-identical to what FAISS wrote (we do not keep a direct map).
        var ms = new MemoryStream();
        FaissIndexIO.Write(idx, ms);
        if (kind != "ivf-directmap") Assert.Equal(File.ReadAllBytes(file), ms.ToArray());
        else Assert.Equal(File.ReadAllBytes(file).Length - 8L * n, ms.Length);
    }
}
