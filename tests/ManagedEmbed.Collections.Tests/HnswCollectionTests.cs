using System.Text.Json;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>
/// ChromaDB's hnsw:* collection options (issue 16 item 4): a collection created with them indexes its compacted
/// segments with HNSW using those parameters, records them in its MANIFEST, keeps them after reopen, and stays
/// consistent with deletions (filtered until compaction rebuilds the graph without them). Truth is an exact top-k in
/// double precision computed here.
/// </summary>
public sealed class HnswCollectionTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-hnsw-coll");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static JsonElement ManifestHnsw(string dir)
    {
        byte[] b = File.ReadAllBytes(Path.Combine(dir, "MANIFEST"));
        using var doc = JsonDocument.Parse(b.AsMemory(20));
        return doc.RootElement.GetProperty("hnsw").Clone();
    }

    [Fact]
    public void Recall_at_10_is_at_least_0_9_at_Chromas_defaults_and_survives_reopen_and_deletes()
    {
        const int n = 20_000, dim = 32, nq = 200, k = 10;
        var (data, queries) = H.Clustered(n, nq, dim, 50, 11);
        using (var store = CollectionStore.Open(_dir))
        {
            // hnsw:M alone turns HNSW on; the other two take ChromaDB's defaults (100, 100).
            var c = store.CreateCollection("c", DistanceSpace.Cosine, metadata: H.Meta(("hnsw:M", 16L)));
            Assert.Equal(new HnswSettings(16, 100, 100), c.Hnsw);
            for (int b = 0; b < n; b += 2_000)
                c.Add(ids: [.. Enumerable.Range(b, 2_000).Select(i => $"r{i}")], embeddings: data[b..(b + 2_000)]);
            c.Compact();
            Assert.Equal("hnsw", c.IndexKind);
        }
        var h = ManifestHnsw(Path.Combine(_dir, "c"));
        Assert.Equal(16, h.GetProperty("M").GetInt32());
        Assert.Equal(100, h.GetProperty("constructionEf").GetInt32());
        Assert.Equal(100, h.GetProperty("searchEf").GetInt32());

        using var again = CollectionStore.Open(_dir);
        var c2 = again.GetCollection("c");
        Assert.Equal("hnsw", c2.IndexKind);
        Assert.Equal(new HnswSettings(16, 100, 100), c2.Hnsw);
        // Delete every third record: tombstoned rows must never come back, before and after the rebuild.
        var deleted = Enumerable.Range(0, n).Where(i => i % 3 == 0).Select(i => $"r{i}").ToList();
        c2.Delete(deleted);
        var dead = deleted.ToHashSet();
        var live = Enumerable.Range(0, n).Where(i => i % 3 != 0).ToArray();
        foreach (bool compacted in new[] { false, true })
        {
            if (compacted) { c2.Compact(); Assert.Equal("hnsw", c2.IndexKind); }
            var res = c2.Query(queryEmbeddings: queries, nResults: k, include: Include.Distances);
            int hits = 0;
            for (int q = 0; q < nq; q++)
            {
                Assert.DoesNotContain(res.Ids[q], dead.Contains);
                Assert.Equal(k, res.Ids[q].Count);
                var truth = live.OrderByDescending(i => H.Cos(queries[q], data[i])).ThenBy(i => i).Take(k).Select(i => $"r{i}").ToHashSet();
                hits += res.Ids[q].Count(truth.Contains);
            }
            double recall = hits / (double)(nq * k);
            Assert.True(recall >= 0.9, $"recall@10 = {recall:0.000} (compacted after deletes: {compacted})");
        }
    }

    [Fact]
    public void Parameters_come_from_the_metadata_and_are_validated()
    {
        using var store = CollectionStore.Open(_dir);
        var c = store.CreateCollection("p", metadata: H.Meta(("hnsw:M", 8L), ("hnsw:construction_ef", 50L), ("hnsw:search_ef", 20L), ("hnsw:space", "ip")));
        Assert.Equal(new HnswSettings(8, 50, 20), c.Hnsw);
        Assert.Equal(DistanceSpace.InnerProduct, c.Space);
        Assert.Null(store.CreateCollection("plain", metadata: H.Meta(("hnsw:space", "l2"))).Hnsw);
        Assert.Contains("hnsw:M", Assert.Throws<ManagedEmbedException>(() => store.CreateCollection("bad", metadata: H.Meta(("hnsw:M", "x")))).Message);
        Assert.Contains("M must be", Assert.Throws<ManagedEmbedException>(() => store.CreateCollection("bad2", metadata: H.Meta(("hnsw:M", 1L)))).Message);
        // Small segment: still an HNSW graph with the given M; search ef changes at once through modify.
        var r = new Random(3);
        var vecs = Enumerable.Range(0, 300).Select(_ => H.RandVec(r, 8)).ToArray();
        c.Add([.. Enumerable.Range(0, 300).Select(i => $"v{i}")], embeddings: vecs);
        c.Compact();
        Assert.Equal("hnsw", c.IndexKind);
        store.ModifyCollection("p", hnsw: new HnswSettings(8, 50, 64));
        Assert.Equal(64, c.Hnsw!.SearchEf);
        // As in ChromaDB, the metadata's hnsw:* keys change the metadata, not the index.
        store.ModifyCollection("p", metadata: H.Meta(("hnsw:M", 32L), ("hnsw:space", "ip")));
        Assert.Equal(new HnswSettings(8, 50, 64), c.Hnsw);
    }

    [Fact]
    public void Query_restricted_to_ids_ranks_only_those_records()
    {
        using var store = CollectionStore.Open(_dir);
        var c = store.CreateCollection("q", DistanceSpace.L2);
        c.Add(["a", "b", "c", "d"], embeddings: [[0f, 0f], [1f, 0f], [3f, 0f], [0f, 2f]],
            metadatas: [H.Meta(("t", "x")), H.Meta(("t", "y")), H.Meta(("t", "x")), H.Meta(("t", "x"))]);
        // Query (0,0): squared L2 a 0, b 1, d 4, c 9. Restricted to c, b, nope: b (1), c (9).
        var r = c.Query(queryEmbeddings: [[0f, 0f]], nResults: 10, ids: ["c", "b", "nope"]);
        Assert.Equal(["b", "c"], r.Ids[0]);
        Assert.Equal([1f, 9f], r.Distances![0]);
        // With a where clause: only c among them has t = x.
        var w = c.Query(queryEmbeddings: [[0f, 0f]], nResults: 10, ids: ["c", "b"], where: WhereFilter.Parse("""{"t":"x"}"""));
        Assert.Equal(["c"], w.Ids[0]);
        Assert.Equal(["d"], c.Query(queryEmbeddings: [[0f, 2f]], nResults: 1, ids: ["a", "d"]).Ids[0]);
    }

    [Fact]
    public void A_chroma_json_sidecar_is_folded_into_the_manifest_on_open()
    {
        using (var store = CollectionStore.Open(_dir)) store.CreateCollection("old", DistanceSpace.Cosine);
        string dir = Path.Combine(_dir, "old");
        // The sidecar exactly as the previous server build wrote it (ChromaCatalog.WriteSidecar at commit 5ac665d).
        const string sidecar = """
            {"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","name":"Old Name","tenant":"default_tenant","database":"db2",
             "metadata":{"team":"search","v":2},
             "configuration_json":{"hnsw":{"space":"cosine","ef_construction":100,"ef_search":100,"max_neighbors":16,"resize_factor":1.2,"sync_threshold":1000},
               "spann":null,"embedding_function":{"type":"known","name":"default","config":{}}},
             "model":"sentence-transformers/all-MiniLM-L6-v2"}
            """;
        File.WriteAllText(Path.Combine(dir, "chroma.json"), sidecar);
        // A read-only open sees the identity and writes nothing.
        byte[] before = File.ReadAllBytes(Path.Combine(dir, "MANIFEST"));
        using (var ro = CollectionStore.Open(_dir, readOnly: true))
        {
            var id = ro.GetCollection("old").ChromaIdentity!;
            Assert.Equal("Old Name", id.Name);
        }
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(dir, "MANIFEST")));
        Assert.True(File.Exists(Path.Combine(dir, "chroma.json")));
        using (var store = CollectionStore.Open(_dir))
        {
            var c = store.GetCollection("old");
            Assert.Equal(new ChromaIdentity(Guid.Parse("7c9e6679-7425-40de-944b-e07fc1f90ae7"), "Old Name", "default_tenant", "db2",
                """{"type":"known","name":"default","config":{}}"""), c.ChromaIdentity);
            Assert.Equal("search", c.Metadata["team"].AsString);
            Assert.Equal(2L, c.Metadata["v"].AsInteger);
            // The model the old server embedded with: a legacy reference, recorded by name by an open with a resolver.
            Assert.Equal("sentence-transformers/all-MiniLM-L6-v2", c.LegacyModelPath);
        }
        Assert.False(File.Exists(Path.Combine(dir, "chroma.json")));
        byte[] m = File.ReadAllBytes(Path.Combine(dir, "MANIFEST"));
        using var doc = JsonDocument.Parse(m.AsMemory(20));
        var ch = doc.RootElement.GetProperty("chroma");
        Assert.Equal("7c9e6679-7425-40de-944b-e07fc1f90ae7", ch.GetProperty("id").GetString());
        Assert.Equal("db2", ch.GetProperty("database").GetString());
        Assert.Equal(3, doc.RootElement.GetProperty("format").GetInt32());
        // Reopened: the identity comes from the manifest alone.
        using var again = CollectionStore.Open(_dir);
        Assert.Equal("Old Name", again.GetCollection("old").ChromaIdentity!.Name);
    }
}
