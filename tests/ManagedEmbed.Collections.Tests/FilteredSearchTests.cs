using FsCheck.Xunit;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>
/// Filtered query = brute force over the filtered live set, on every search path: no index (WAL only), a flat
/// segment index, and IVF probing every list, with deleted segment rows and WAL rows on top, and pre-filter
/// thresholds that send the filter into the index scan (id selector) or through the exact pre-filter scan.
/// </summary>
public class FilteredSearchTests
{
    [Property(MaxTest = 12)]
    public bool Filtered_query_equals_brute_force_over_the_filtered_set(int seed, bool ivf, bool cosine, byte fracSel, byte cutSel)
    {
        var r = new Random(seed);
        int d = 6, n = 300 + r.Next(200), groups = 10, cut = cutSel % (groups + 1), k = 1 + r.Next(15);
        double frac = (fracSel % 3) switch { 0 => 0.0, 1 => 0.25, _ => 1.0 };
        string dir = TestPaths.NewTempDir("membed-filtered");
        try
        {
            var opts = new CollectionOptions { IvfThreshold = ivf ? 64 : 1 << 30, IvfNprobe = ivf ? 1 << 16 : 0, PrefilterMaxFraction = frac };
            using var store = CollectionStore.Open(dir, options: opts);
            var c = store.CreateCollection("t", cosine ? DistanceSpace.Cosine : DistanceSpace.L2);
            var vecs = new Dictionary<string, float[]>(StringComparer.Ordinal);
            var group = new Dictionary<string, long>(StringComparer.Ordinal);
            void AddRows(int from, int to)
            {
                var ids = Enumerable.Range(from, to - from).Select(i => $"id{i}").ToList();
                var vs = ids.Select(_ => H.RandVec(r, d)).ToList();
                var metas = ids.Select(_ => (IReadOnlyDictionary<string, MetadataValue>?)H.Meta(("g", (long)r.Next(groups)))).ToList();
                c.Add(ids, embeddings: vs, metadatas: metas);
                for (int i = 0; i < ids.Count; i++) { vecs[ids[i]] = vs[i]; group[ids[i]] = metas[i]!["g"].AsInteger; }
            }
            AddRows(0, n);
            c.Compact();
            // Deleted segment rows (still in the index until the next compaction) and rows only in the WAL.
            var dead = vecs.Keys.Where(_ => r.Next(5) == 0).ToList();
            if (dead.Count > 0) c.Delete(dead);
            foreach (var id in dead) { vecs.Remove(id); group.Remove(id); }
            AddRows(n, n + 40);

            var where = WhereFilter.Parse($"{{\"g\":{{\"$lt\":{cut}}}}}");
            var q = H.RandVec(r, d);
            var got = c.Query(queryEmbeddings: [q], nResults: k, where: where, include: Include.Distances);
            var want = vecs.Where(kv => group[kv.Key] < cut)
                .Select(kv => (Id: kv.Key, Dist: RefDistance(q, kv.Value, cosine)))
                .OrderBy(x => x.Dist).ThenBy(x => x.Id, StringComparer.Ordinal).Take(k).ToList();
            if (got.Ids[0].Count != want.Count) return false;
            for (int i = 0; i < want.Count; i++)
            {
                // Distances agree to float rounding; near-equal distances may swap, so compare the distance sequence
                // and that every returned id matches.
                if (Math.Abs(got.Distances![0][i] - want[i].Dist) > 1e-4) return false;
                if (group[got.Ids[0][i]] >= cut) return false;
            }
            return got.Ids[0].Distinct().Count() == want.Count;
        }
        finally { Directory.Delete(dir, true); }
    }

    private static double RefDistance(float[] q, float[] v, bool cosine)
    {
        double dot = 0, qq = 0, vv = 0, l2 = 0;
        for (int i = 0; i < q.Length; i++) { dot += q[i] * v[i]; qq += q[i] * q[i]; vv += v[i] * v[i]; l2 += (q[i] - v[i]) * (q[i] - v[i]); }
        return cosine ? 1 - dot / Math.Sqrt(qq * vv) : l2;
    }
}
