using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

public sealed class CollectionTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-coll");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static readonly CollectionOptions Compacting = new() { CompactionMinWalBytes = 0, CompactionRatio = 0 };

    /// <summary>The tutorial's ChromaDB flow: add with metadata, query n_results, where filter, update, delete, count.</summary>
    [Fact]
    public void TutorialSnippets()
    {
        using (var store = CollectionStore.Open(_dir))
        {
            var c = store.CreateCollection("my_collection", DistanceSpace.Cosine);
            c.Add(ids: ["id1", "id2", "id3"],
                documents: ["This is a document about pineapple", "This is a document about oranges", "Hawaii is an island"],
                metadatas: [H.Meta(("source", "notion")), H.Meta(("source", "google-docs")), H.Meta(("source", "notion"), ("year", 2024L))],
                embeddings: [[1f, 0f, 0f], [0.8f, 0.6f, 0f], [0f, 0f, 1f]]);
            Assert.Equal(3, c.Count());

            var q = c.Query(queryEmbeddings: [[1f, 0.1f, 0f]], nResults: 2);
            Assert.Equal(["id1", "id2"], q.Ids[0]);
            Assert.Equal("This is a document about pineapple", q.Documents![0][0]);
            Assert.True(q.Distances![0][0] < q.Distances[0][1]);

            var qf = c.Query(queryEmbeddings: [[1f, 0.1f, 0f]], nResults: 2, where: WhereFilter.Parse("""{"source": "notion"}"""));
            Assert.Equal(["id1", "id3"], qf.Ids[0]);

            c.Update(ids: ["id1"], documents: ["This is a document about apples"], metadatas: [H.Meta(("source", "slack"))]);
            var g = c.Get(ids: ["id1"]);
            Assert.Equal("This is a document about apples", g.Documents![0]);
            Assert.Equal("slack", g.Metadatas![0]!["source"].AsString);

            c.Delete(ids: ["id2"]);
            Assert.Equal(2, c.Count());
            Assert.Equal(1, c.Delete(where: WhereFilter.Parse("""{"year": {"$gte": 2024}}""")));
            Assert.Equal(1, c.Count());
        }
        // Everything survives a reopen.
        using (var store = CollectionStore.Open(_dir, readOnly: true))
        {
            var c = store.GetCollection("my_collection");
            Assert.Equal(1, c.Count());
            Assert.Equal(["id1"], c.Get().Ids);
            Assert.Equal(["my_collection"], store.ListCollections());
        }
    }

    [Theory]
    [InlineData(DistanceSpace.Cosine)]
    [InlineData(DistanceSpace.InnerProduct)]
    [InlineData(DistanceSpace.L2)]
    public void DistancesFollowChromaConventions(DistanceSpace space)
    {
        using var store = CollectionStore.Open(_dir);
        var c = store.CreateCollection("d", space);
        float[] a = [3f, 4f], b = [1f, 0f], q = [0.6f, 0.8f];
        c.Add(["a", "b"], embeddings: [a, b]);
        var r = c.Query(queryEmbeddings: [q], nResults: 2);
        double Expected(float[] v) => space switch
        {
            DistanceSpace.Cosine => 1 - (q[0] * v[0] + q[1] * v[1]) / (Math.Sqrt(q[0] * q[0] + q[1] * q[1]) * Math.Sqrt(v[0] * v[0] + v[1] * v[1])),
            DistanceSpace.InnerProduct => 1 - (q[0] * v[0] + q[1] * v[1]),
            _ => (q[0] - v[0]) * (q[0] - v[0]) + (q[1] - v[1]) * (q[1] - v[1]),
        };
        var want = new[] { ("a", Expected(a)), ("b", Expected(b)) }.OrderBy(x => x.Item2).ToArray();
        Assert.Equal(want.Select(x => x.Item1), r.Ids[0]);
        for (int i = 0; i < 2; i++) Assert.Equal(want[i].Item2, r.Distances![0][i], 5);
    }

    [Fact]
    public void MinScoreKeepsOnlyResultsAtOrAboveIt()
    {
        using var store = CollectionStore.Open(_dir);
        var c = store.CreateCollection("s");
        c.Add(["x", "y", "z"], embeddings: [[1f, 0f], [0.6f, 0.8f], [0f, 1f]]);
        var r = c.Query(queryEmbeddings: [[1f, 0f]], nResults: 3, minScore: 0.6);
        Assert.Equal(["x", "y"], r.Ids[0]); // cos = 1, 0.6 (kept: at the threshold), 0 (rejected)
        Assert.Empty(c.Query(queryEmbeddings: [[1f, 0f]], nResults: 3, minScore: 1.01).Ids[0]);
    }

    [Fact]
    public void UpsertAndUpdateMergeMetadataAndNullRemovesKeys()
    {
        using var store = CollectionStore.Open(_dir);
        var c = store.CreateCollection("m", DistanceSpace.L2);
        c.Add(["a"], ["doc a"], [H.Meta(("k1", 1L), ("k2", "v"))], [[1f, 2f]]);
        c.Upsert(["a", "b"], null, [H.Meta(("k2", MetadataValue.Null), ("k3", true)), H.Meta(("k1", 5L))], [[1f, 2f], [3f, 4f]]);
        var g = c.Get(include: Include.Documents | Include.Metadatas | Include.Embeddings);
        Assert.Equal(["a", "b"], g.Ids.Order());
        int ia = g.Ids.ToList().IndexOf("a");
        Assert.Equal("doc a", g.Documents![ia]);
        Assert.Equal(H.Meta(("k1", 1L), ("k3", true)), g.Metadatas![ia]);
        c.Update(["b"], documents: ["doc b"]);
        Assert.Equal([3f, 4f], c.Get(["b"], include: Include.Embeddings).Embeddings![0]);
        Assert.Equal("doc b", c.Get(["b"]).Documents![0]);
    }

    [Fact]
    public void GetWithLimitOffsetWhereDocumentAndPeek()
    {
        using var store = CollectionStore.Open(_dir);
        var c = store.CreateCollection("g", DistanceSpace.L2);
        var ids = Enumerable.Range(0, 20).Select(i => $"r{i:D2}").ToList();
        c.Add(ids, ids.Select(i => (string?)("text " + i)).ToList(), ids.Select((_, i) => (IReadOnlyDictionary<string, MetadataValue>?)H.Meta(("i", (long)i))).ToList(),
            ids.Select((_, i) => new float[] { i, 1 }).ToList());
        Assert.Equal(["r05", "r06", "r07"], c.Get(limit: 3, offset: 5).Ids);
        Assert.Equal(["r12", "r14"], c.Get(where: WhereFilter.Parse("""{"$and":[{"i":{"$gte":12}},{"i":{"$in":[12,14,30]}}]}""")).Ids);
        Assert.Equal(["r10", "r11", "r12"], c.Get(whereDocument: WhereDocumentFilter.Parse("""{"$contains":"r1"}"""), limit: 3).Ids);
        Assert.Equal(["r03", "r01"], c.Get(ids: ["r03", "nope", "r01"]).Ids);
        var p = c.Peek(2);
        Assert.Equal(["r00", "r01"], p.Ids);
        Assert.NotNull(p.Embeddings);
    }

    [Fact]
    public void BadInputIsAClearErrorAndChangesNothing()
    {
        using var store = CollectionStore.Open(_dir);
        var c = store.CreateCollection("b", DistanceSpace.Cosine);
        c.Add(["a"], ["doc"], [H.Meta(("k", 1L))], [[1f, 0f, 0f]]);
        var before = H.Snapshot(c);
        string wal = Path.Combine(_dir, "b", "wal-0000000000.log");
        long walLen = new FileInfo(wal).Length;
        void Bad(Action act, string msg)
        {
            var e = Assert.Throws<ManagedEmbedException>(act);
            Assert.Contains(msg, e.Message);
            Assert.DoesNotContain("\n", e.Message);
            Assert.Equal(before, H.Snapshot(c));
            Assert.Equal(walLen, new FileInfo(wal).Length);
        }
        Bad(() => c.Add(["x", "x"], embeddings: [[1f, 0f, 0f], [0f, 1f, 0f]]), "duplicate id 'x'");
        Bad(() => c.Add(["n1", "a"], embeddings: [[1f, 0f, 0f], [0f, 1f, 0f]]), "id 'a' already exists");
        Bad(() => c.Add(["n1"], embeddings: [[1f, 0f]]), "dimension 2 does not match");
        Bad(() => c.Add(["n1", "n2"], embeddings: [[1f, 0f, 0f], [1f, 0f]]), "dimension");
        Bad(() => c.Add(["n1"], embeddings: [[float.NaN, 0f, 0f]]), "NaN");
        Bad(() => c.Add(["n1"], embeddings: [[float.PositiveInfinity, 0f, 0f]]), "Inf");
        Bad(() => c.Add(["n1"], embeddings: [[0f, 0f, 0f]]), "zero vector");
        Bad(() => c.Add([""], embeddings: [[1f, 0f, 0f]]), "id must not be empty");
        Bad(() => c.Add([new string('x', 513)], embeddings: [[1f, 0f, 0f]]), "maximum is 512");
        Bad(() => c.Add(["ok", "bad\ud800"], embeddings: [[1f, 0f, 0f], [1f, 0f, 0f]]), "not valid Unicode");
        Bad(() => c.Add(["n1"], ["bad \udc00 doc"], embeddings: [[1f, 0f, 0f]]), "not valid Unicode");
        Bad(() => c.Add(["n1"], metadatas: [H.Meta(("$k", 1L))], embeddings: [[1f, 0f, 0f]]), "must not start with '$'");
        Bad(() => c.Add(["n1"], metadatas: [H.Meta(("k", double.NaN))], embeddings: [[1f, 0f, 0f]]), "not a finite number");
        Bad(() => c.Add(["n1"], metadatas: [H.Meta(("k", MetadataValue.Null))], embeddings: [[1f, 0f, 0f]]), "null value");
        Bad(() => c.Add(["n1"], documents: ["d"]), "created without a model");
        Bad(() => c.Add([], embeddings: []), "ids must not be empty");
        Bad(() => c.Add(["n1"], documents: ["a", "b"], embeddings: [[1f, 0f, 0f]]), "2 documents for 1 ids");
        Bad(() => c.Update(["nope"], documents: ["d"]), "id 'nope' does not exist");
        Bad(() => c.Update(["a"], embeddings: [[1f, 0f]]), "dimension");
        Bad(() => c.Delete(where: WhereFilter.Parse("{\"k\":{\"$bogus\":1}}")), "unknown operator");
        Bad(() => c.Query(queryEmbeddings: [[1f, 0f]]), "dimension 2");
        Bad(() => c.Query(queryTexts: ["hello"]), "need an embedding function");
        Bad(() => store.GetCollection("nope"), "unknown collection 'nope'");
        Bad(() => store.CreateCollection("b"), "already exists");
        Bad(() => store.CreateCollection("../evil"), "invalid collection name");
        Assert.Equal(512, Collection.MaxIdBytes);
        c.Add([new string('x', 512)], embeddings: [[1f, 0f, 0f]]); // exactly the maximum is fine
    }

    [Fact]
    public void SecondWriterIsRejectedWhileReadersKeepWorking()
    {
        using var w = CollectionStore.Open(_dir);
        var c = w.CreateCollection("l", DistanceSpace.L2);
        c.Add(["a"], embeddings: [[1f]]);
        using (var w2 = CollectionStore.Open(_dir))
        {
            var e = Assert.Throws<ManagedEmbedException>(() => w2.GetCollection("l"));
            Assert.Contains("collection 'l' is locked by another process", e.Message);
            var e2 = Assert.Throws<ManagedEmbedException>(() => w2.DeleteCollection("l"));
            Assert.Contains("locked by another process", e2.Message);
        }
        using (var r = CollectionStore.Open(_dir, readOnly: true))
        {
            Assert.Equal(1, r.GetCollection("l").Count());
            Assert.Throws<ManagedEmbedException>(() => r.GetCollection("l").Add(["b"], embeddings: [[2f]]));
        }
        // Across processes too: the CLI writer is refused, the CLI reader works.
        var (code, _, err) = H.Run("collection", "delete", "--path", _dir, "--name", "l", "--ids", "a");
        Assert.Equal(2, code);
        Assert.Contains("locked by another process", err);
        var (code2, outp, _) = H.Run("collection", "count", "--path", _dir, "--name", "l");
        Assert.Equal(0, code2);
        Assert.Equal("1", outp.Trim().Split(' ')[^1]);
    }

    [Fact]
    public void DeleteCollectionRemovesIt()
    {
        using var s = CollectionStore.Open(_dir);
        s.CreateCollection("x1").Add(["a"], embeddings: [[1f, 2f]]);
        s.CreateCollection("x2");
        s.DeleteCollection("x1");
        Assert.Equal(["x2"], s.ListCollections());
        Assert.Throws<ManagedEmbedException>(() => s.GetCollection("x1"));
        var again = s.CreateCollection("x1");
        Assert.Equal(0, again.Count());
    }

    [Theory]
    [InlineData(1_000_000, DistanceSpace.Cosine)]   // flat segment index
    [InlineData(50, DistanceSpace.Cosine)]          // IVF segment index
    [InlineData(50, DistanceSpace.L2)]
    [InlineData(50, DistanceSpace.InnerProduct)]
    public void CompactionPreservesContentsAndFilteredQueriesEqualBruteForce(int ivfThreshold, DistanceSpace space)
    {
        var opts = new CollectionOptions { CompactionMinWalBytes = 20_000, CompactionRatio = 0.5, IvfThreshold = ivfThreshold, IvfNprobe = 1 << 20, PrefilterMaxFraction = 0.1 };
        var r = new Random(42);
        const int dim = 8;
        var model = new Dictionary<string, (float[] V, long G)>();
        SortedDictionary<string, string> snap;
        string kind;
        using (var store = CollectionStore.Open(_dir, options: opts))
        {
            var c = store.CreateCollection("c", space);
            for (int step = 0; step < 40; step++)
            {
                var ids = Enumerable.Range(0, 25).Select(_ => $"k{r.Next(400)}").Distinct().ToList();
                var vecs = ids.Select(_ => H.RandVec(r, dim)).ToList();
                var metas = ids.Select(_ => (IReadOnlyDictionary<string, MetadataValue>?)H.Meta(("g", (long)r.Next(10)))).ToList();
                c.Upsert(ids, ids.Select(i => (string?)("doc " + i)).ToList(), metas, vecs);
                for (int i = 0; i < ids.Count; i++) model[ids[i]] = (vecs[i], metas[i]!["g"].AsInteger);
                if (step % 7 == 6)
                {
                    var del = model.Keys.Where(_ => r.Next(6) == 0).ToList();
                    if (del.Count > 0) { c.Delete(del); foreach (var d in del) model.Remove(d); }
                }
            }
            c.WaitForCompaction(); // automatic compactions run in the background
            kind = c.IndexKind;
            Assert.NotEqual("none", kind);
            Assert.Equal(ivfThreshold < 100 ? "ivf" : "flat", kind);
            Assert.Equal(model.Count, c.Count());
            CheckQueries(c, model, r, space);
            snap = H.Snapshot(c);
        }
        using (var store = CollectionStore.Open(_dir, readOnly: true, options: opts))
        {
            var c = store.GetCollection("c");
            Assert.Equal(snap, H.Snapshot(c));
            Assert.Equal(kind, c.IndexKind);
            CheckQueries(c, model, r, space);
        }
    }

    [Theory]
    [InlineData(1_000_000)] // flat segment index
    [InlineData(1_000)]     // IVF segment index (exact: nprobe >= nlist)
    public void LargeFilteredQueriesOnEveryPathEqualBruteForce(int ivfThreshold)
    {
        var opts = new CollectionOptions { CompactionMinWalBytes = long.MaxValue, IvfThreshold = ivfThreshold, IvfNprobe = 1 << 20 };
        var r = new Random(9);
        const int n = 6000, dim = 8;
        using var store = CollectionStore.Open(_dir, options: opts);
        var c = store.CreateCollection("big", DistanceSpace.L2);
        var vecs = new Dictionary<string, float[]>();
        var metas = new Dictionary<string, Dictionary<string, MetadataValue>>();
        var docs = new Dictionary<string, string>();
        for (int start = 0; start < n; start += 500)
        {
            var ids = Enumerable.Range(start, 500).Select(i => $"r{i}").ToList();
            foreach (var id in ids)
            {
                int i = int.Parse(id[1..]);
                vecs[id] = H.RandVec(r, dim);
                metas[id] = H.Meta(("g", (long)(i % 10)), ("i", (long)i));
                docs[id] = i % 7 == 0 ? "seven" : "other";
            }
            c.Add(ids, ids.Select(id => (string?)docs[id]).ToList(), ids.Select(id => (IReadOnlyDictionary<string, MetadataValue>?)metas[id]).ToList(), ids.Select(id => vecs[id]).ToList());
            if (start == 4000) c.Compact(); // rows after this stay in the WAL
        }
        var del = Enumerable.Range(0, 300).Select(i => $"r{i * 7}").ToList();
        c.Delete(del);
        foreach (var d in del) { vecs.Remove(d); metas.Remove(d); docs.Remove(d); }
        Assert.Equal(ivfThreshold < n ? "ivf" : "flat", c.IndexKind);
        string[] filters = ["""{"g":{"$lt":5}}""", """{"g":3}""", """{"i":{"$gte":5990}}""", """{"$or":[{"g":1},{"g":2},{"g":3},{"g":4},{"g":5},{"g":6}]}""", """{"g":{"$ne":-1}}"""];
        foreach (var f in filters)
        {
            foreach (var wdText in new string?[] { null, """{"$contains":"other"}""" })
            {
                var wf = WhereFilter.Parse(f);
                var wd = wdText is null ? null : WhereDocumentFilter.Parse(wdText);
                for (int t = 0; t < 5; t++)
                {
                    var q = H.RandVec(r, dim);
                    var want = vecs.Keys.Where(id => wf.Matches(metas[id]) && (wd is null || wd.Matches(docs[id])))
                        .Select(id => (Id: id, D: q.Zip(vecs[id], (x, y) => (x - y) * (x - y)).Sum()))
                        .OrderBy(x => x.D).Take(10).ToList();
                    var got = c.Query(queryEmbeddings: [q], nResults: 10, where: wf, whereDocument: wd);
                    Assert.Equal(want.Select(x => x.Id), got.Ids[0]);
                    for (int j = 0; j < want.Count; j++) Assert.Equal(want[j].D, got.Distances![0][j], 4);
                }
            }
        }
    }

    [Fact]
    public void FiltersOnKeysBeyondTheColumnLimitFallBackToPerRecordEvaluation()
    {
        using var store = CollectionStore.Open(_dir);
        var c = store.CreateCollection("wide", DistanceSpace.L2);
        // 80 distinct keys: the first 64 get metadata columns, the rest are evaluated per record.
        var ids = Enumerable.Range(0, 80).Select(i => $"w{i}").ToList();
        c.Add(ids, metadatas: ids.Select((_, i) => (IReadOnlyDictionary<string, MetadataValue>?)H.Meta(($"k{i}", (long)i), ("all", (long)(i % 3)))).ToList(),
            embeddings: ids.Select((_, i) => new float[] { i }).ToList());
        foreach (int i in new[] { 0, 63, 64, 79 })
        {
            Assert.Equal([$"w{i}"], c.Get(where: WhereFilter.Parse($"{{\"k{i}\":{i}}}")).Ids);
            Assert.Equal(79, c.Get(where: WhereFilter.Parse($"{{\"k{i}\":{{\"$ne\":{i}}}}}")).Ids.Count);
            Assert.Equal([$"w{i}"], c.Query(queryEmbeddings: [[0f]], nResults: 5, where: WhereFilter.Parse($"{{\"$and\":[{{\"k{i}\":{{\"$gte\":0}}}},{{\"all\":{i % 3}}}]}}")).Ids[0]);
        }
        Assert.Empty(c.Get(where: WhereFilter.Parse("{\"nokey\":1}")).Ids);
        Assert.Equal(80, c.Get(where: WhereFilter.Parse("{\"nokey\":{\"$nin\":[1]}}")).Ids.Count);
    }

    private static void CheckQueries(Collection c, Dictionary<string, (float[] V, long G)> model, Random r, DistanceSpace space)
    {
        float Dist(float[] q, float[] v)
        {
            if (space == DistanceSpace.L2) return q.Zip(v, (x, y) => (x - y) * (x - y)).Sum();
            if (space == DistanceSpace.InnerProduct) return 1 - q.Zip(v, (x, y) => x * y).Sum();
            float nq = MathF.Sqrt(q.Sum(x => x * x)), nv = MathF.Sqrt(v.Sum(x => x * x));
            return 1 - q.Zip(v, (x, y) => x * y).Sum() / (nq * nv);
        }
        string[] filters = ["""{"g":3}""", """{"g":{"$lt":8}}""", """{"g":{"$nin":[1,2]}}""", "{}"];
        for (int t = 0; t < 12; t++)
        {
            var q = H.RandVec(r, 8);
            string f = filters[t % filters.Length];
            var wf = WhereFilter.Parse(f);
            var want = model.Where(kv => wf.Matches(H.Meta(("g", kv.Value.G))))
                .Select(kv => (Id: kv.Key, D: Dist(q, kv.Value.V))).OrderBy(x => x.D).ThenBy(x => x.Id, StringComparer.Ordinal).Take(10).ToList();
            var got = c.Query(queryEmbeddings: [q], nResults: 10, where: wf);
            Assert.Equal(want.Count, got.Ids[0].Count);
            for (int i = 0; i < want.Count; i++) Assert.Equal(want[i].D, got.Distances![0][i], 4);
            // Ids equal up to exact ties.
            Assert.Equal(want.Select(x => x.Id).Order(), got.Ids[0].Order());
        }
    }
}
