using System.Diagnostics;
using System.Globalization;
using ManagedEmbed.Collections;

/// <summary>
/// tests/clients/chroma/load.mjs in process (the library, no HTTP): the same generator (the script's 32-bit LCG,
/// seed 12345, unit vectors normalized in double), the same metadata ({bucket: i % 10}), the same batches of 1,000,
/// the same 300 single queries (n_results 10) and filtered queries (bucket $ne 3) from CONCURRENCY threads.
/// </summary>
internal static class ChromaLoad
{
    public static void Run(int n, int dim, int q, int conc, string dir)
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        uint seed = 12345;
        double Rand() { seed = unchecked(seed * 1664525u + 1013904223u); return seed / 4294967296.0 - 0.5; }
        float[] Vec()
        {
            var v = new double[dim];
            double ss = 0;
            for (int i = 0; i < dim; i++) { v[i] = Rand(); ss += v[i] * v[i]; }
            double norm = Math.Sqrt(ss);
            return v.Select(x => (float)(x / norm)).ToArray();
        }
        using var store = CollectionStore.Open(dir);
        var c = store.CreateCollection($"load-{n}", DistanceSpace.Cosine);
        var sw = Stopwatch.StartNew();
        for (int start = 0; start < n; start += 1000)
        {
            int m = Math.Min(1000, n - start);
            var ids = Enumerable.Range(start, m).Select(i => $"r{i}").ToList();
            var embs = ids.Select(_ => Vec()).ToList();
            var metas = Enumerable.Range(start, m).Select(i => (IReadOnlyDictionary<string, MetadataValue>?)new Dictionary<string, MetadataValue> { ["bucket"] = MetadataValue.From((long)(i % 10)) }).ToList();
            c.Add(ids, null, metas, embs);
        }
        double addSeconds = sw.Elapsed.TotalSeconds;
        var queries = Enumerable.Range(0, q).Select(_ => Vec()).ToArray();
        var lat = new List<double>();
        foreach (var qv in queries)
        {
            var s = Stopwatch.StartNew();
            c.Query(queryEmbeddings: [qv], nResults: 10);
            lat.Add(s.Elapsed.TotalMilliseconds);
        }
        lat.Sort();
        double Pct(double p) => lat[Math.Min(lat.Count - 1, (int)Math.Floor(p * lat.Count))];
        var where = WhereFilter.Parse("""{"bucket":{"$ne":3}}""");
        int next = -1;
        var t1 = Stopwatch.StartNew();
        var threads = Enumerable.Range(0, conc).Select(_ => new Thread(() =>
        {
            for (int i; (i = Interlocked.Increment(ref next)) < q;) c.Query(queryEmbeddings: [queries[i]], nResults: 10, where: where);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        double concSeconds = t1.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{{\"records\":{n},\"dim\":{dim},\"count\":{c.Count()},\"add_records_per_s\":{Math.Round(n / addSeconds)},\"query_p50_ms\":{Pct(0.5):0.00},\"query_p99_ms\":{Pct(0.99):0.00},\"filtered_queries_per_s_concurrent\":{Math.Round(q / concSeconds)},\"concurrency\":{conc}}}"));
    }
}
