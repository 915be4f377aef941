using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>
/// Recall floor of a collection's IVF segment index at the default nprobe (issue 10 B). The other collection tests
/// set IvfNprobe = 1 &lt;&lt; 20 (exact); here only the IVF threshold is lowered so a 20k-record segment gets IVF.
/// </summary>
public sealed class IvfRecallTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-recall");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    public void Recall_at_10_is_at_least_0_9_at_the_default_nprobe_on_clustered_data()
    {
        const int n = 20_000, dim = 32, clusters = 50, nq = 200, k = 10;
        var (data, queries) = H.Clustered(n, nq, dim, clusters, 7);
        var opts = new CollectionOptions { IvfThreshold = 1_000 }; // everything else default, IvfNprobe included
        using var store = CollectionStore.Open(_dir, options: opts);
        var c = store.CreateCollection("c", DistanceSpace.Cosine);
        for (int b = 0; b < n; b += 2_000)
            c.Add(ids: [.. Enumerable.Range(b, 2_000).Select(i => $"r{i}")], embeddings: data[b..(b + 2_000)]);
        c.Compact();
        Assert.Equal("ivf", c.IndexKind);
        var res = c.Query(queryEmbeddings: queries, nResults: k, include: Include.Distances);
        int hits = 0;
        for (int q = 0; q < nq; q++)
        {
            // Exact cosine top-k, in double.
            var truth = Enumerable.Range(0, n).OrderByDescending(i => H.Cos(queries[q], data[i])).ThenBy(i => i).Take(k).Select(i => $"r{i}").ToHashSet();
            hits += res.Ids[q].Count(truth.Contains);
        }
        double recall = hits / (double)(nq * k);
        Assert.True(recall >= 0.9, $"recall@10 = {recall:0.000} at the default nprobe (⌈nlist/16⌉, nlist = {Math.Round(Math.Sqrt(n))})");
    }
}
