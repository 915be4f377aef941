using System.Text.Json;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>ChromaDB's API surface in process: collection metadata and hnsw:space, modify, get_or_create, peek,
/// query/get include and grouping, list metadata, where_document $regex. Expected values are computed by hand.</summary>
public sealed class ChromaApiTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-chroma-api");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static Dictionary<string, MetadataValue> M(params (string K, MetadataValue V)[] kv) => H.Meta(kv);

    [Fact]
    public void HnswSpaceInTheMetadataChoosesTheSpace()
    {
        using var store = CollectionStore.Open(_dir);
        var l2 = store.CreateCollection("l2", metadata: M(("hnsw:space", "l2"), ("owner", "me")));
        Assert.Equal(DistanceSpace.L2, l2.Space);
        l2.Add(["a", "b"], embeddings: [[0f, 0f], [3f, 4f]]);
        // Squared Euclidean distance from [0,0]: 0 and 3²+4² = 25.
        Assert.Equal([0f, 25f], l2.Query(queryEmbeddings: [[0f, 0f]]).Distances![0]);

        var ip = store.CreateCollection("ip", metadata: M(("hnsw:space", "ip")));
        ip.Add(["a"], embeddings: [[1f, 2f]]);
        // 1 − dot: 1 − (1·3 + 2·4) = −10.
        Assert.Equal(-10f, ip.Query(queryEmbeddings: [[3f, 4f]]).Distances![0][0]);

        var cos = store.CreateCollection("cos", metadata: M(("hnsw:space", "cosine")));
        cos.Add(["a"], embeddings: [[3f, 4f]]);
        // 1 − cos: [3,4]·[4,3] / 25 = 24/25 → 0.04.
        Assert.Equal(0.04f, cos.Query(queryEmbeddings: [[4f, 3f]]).Distances![0][0], 1e-6f);
        Assert.Equal(DistanceSpace.Cosine, store.CreateCollection("default").Space);

        Assert.Equal("me", store.GetCollection("l2").Metadata["owner"].AsString);
        Assert.Contains("disagrees", Assert.Throws<ManagedEmbedException>(() => store.CreateCollection("x", DistanceSpace.Cosine, metadata: M(("hnsw:space", "l2")))).Message);
        Assert.Contains("hnsw:space", Assert.Throws<ManagedEmbedException>(() => store.CreateCollection("y", metadata: M(("hnsw:space", "manhattan")))).Message);
        Assert.DoesNotContain("x", store.ListCollections());
        store.Dispose();
        using var again = CollectionStore.Open(_dir, readOnly: true);
        Assert.Equal(DistanceSpace.L2, again.GetCollection("l2").Space);
        Assert.Equal("me", again.GetCollection("l2").Metadata["owner"].AsString);
    }

    [Fact]
    public void ModifyRenamesAndReplacesMetadata()
    {
        using (var store = CollectionStore.Open(_dir))
        {
            var c = store.CreateCollection("old", DistanceSpace.L2, metadata: M(("v", 1L), ("w", "gone after modify")));
            c.Add(["a", "b"], ["doc a", "doc b"], embeddings: [[1f, 0f], [0f, 1f]]);
            store.CreateCollection("taken");
            Assert.Contains("already exists", Assert.Throws<ManagedEmbedException>(() => store.ModifyCollection("old", newName: "taken")).Message);
            store.ModifyCollection("old", newName: "new", metadata: M(("v", 2L), ("hnsw:space", "l2")));
            Assert.Equal(["new", "taken"], store.ListCollections());
            Assert.Equal("new", c.Name);
            c.Add(["c"], ["doc c"], embeddings: [[1f, 1f]]); // still writable after the move
            Assert.Contains("cannot be changed", Assert.Throws<ManagedEmbedException>(() => store.ModifyCollection("new", metadata: M(("hnsw:space", "cosine")))).Message);
            Assert.Throws<ManagedEmbedException>(() => store.GetCollection("old"));
        }
        using var ro = CollectionStore.Open(_dir, readOnly: true);
        var n = ro.GetCollection("new");
        Assert.Equal(3, n.Count());
        Assert.Equal(2L, n.Metadata["v"].AsInteger);
        // Replaced, not merged (as real Chroma 1.0's modify does: metadata {a:1} then modify {b:2} reads back {b:2}).
        Assert.False(n.Metadata.ContainsKey("w"));
        Assert.Equal(["a", "b", "c"], n.Get().Ids);
    }

    [Fact]
    public void GetOrCreateAndPeek()
    {
        using var store = CollectionStore.Open(_dir);
        var c = store.GetOrCreateCollection("g", DistanceSpace.L2);
        c.Add(Enumerable.Range(0, 12).Select(i => $"id{i}").ToList(), embeddings: Enumerable.Range(0, 12).Select(i => new[] { (float)i, 0f }).ToList());
        var same = store.GetOrCreateCollection("g", DistanceSpace.Cosine); // exists: arguments not applied
        Assert.Same(c, same);
        Assert.Equal(DistanceSpace.L2, same.Space);
        var p = c.Peek(3);
        Assert.Equal(["id0", "id1", "id2"], p.Ids);
        Assert.Equal([2f, 0f], p.Embeddings![2]);
        // n_results defaults to 10, as in ChromaDB.
        var q = c.Query(queryEmbeddings: [[0f, 0f], [11f, 0f]]);
        Assert.Equal(2, q.Ids.Count);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"id{i}"), q.Ids[0]);
        Assert.Equal(Enumerable.Range(2, 10).Reverse().Select(i => $"id{i}"), q.Ids[1]);
        // Squared distances 0, 1, 4, …
        Assert.Equal([0f, 1f, 4f], q.Distances![0].Take(3));
        var inc = c.Query(queryEmbeddings: [[0f, 0f]], nResults: 2, include: Include.Embeddings);
        Assert.Null(inc.Documents);
        Assert.Null(inc.Distances);
        Assert.Equal([1f, 0f], inc.Embeddings![0][1]);
        var g = c.Get(limit: 2, offset: 5, include: Include.None);
        Assert.Equal(["id5", "id6"], g.Ids);
        Assert.Null(g.Documents);
    }

    [Fact]
    public void ListMetadataWithContainsAndNotContains()
    {
        using (var store = CollectionStore.Open(_dir))
        {
            var c = store.CreateCollection("l", DistanceSpace.L2);
            c.Add(["a", "b", "c", "d"], embeddings: [[1f], [2f], [3f], [4f]], metadatas:
            [
                M(("tags", MetadataValue.From([MetadataValue.From("red"), MetadataValue.From("green")])), ("n", MetadataValue.From([MetadataValue.From(1L), MetadataValue.From(2L)]))),
                M(("tags", MetadataValue.From([MetadataValue.From("blue")]))),
                M(("tags", "red")), // a scalar: $contains is about lists
                null,
            ]);
            Check(c);
            c.Compact(); // lists survive the segment codec too
            Check(c);
        }
        using var ro = CollectionStore.Open(_dir, readOnly: true);
        Check(ro.GetCollection("l"));

        static void Check(Collection c)
        {
            Assert.Equal(["a"], c.Get(where: WhereFilter.Parse("""{"tags": {"$contains": "red"}}""")).Ids);
            Assert.Equal(["b", "c", "d"], c.Get(where: WhereFilter.Parse("""{"tags": {"$not_contains": "red"}}""")).Ids);
            Assert.Equal(["a"], c.Get(where: WhereFilter.Parse("""{"n": {"$contains": 2}}""")).Ids);
            Assert.Equal(["a"], c.Get(where: WhereFilter.Parse("""{"n": {"$contains": 2.0}}""")).Ids);
            Assert.Equal(["c"], c.Get(where: WhereFilter.Parse("""{"tags": "red"}""")).Ids); // a list never equals a scalar
            Assert.Equal(["a", "b"], c.Get(where: WhereFilter.Parse("""{"$or": [{"tags": {"$contains": "blue"}}, {"n": {"$contains": 1}}]}""")).Ids);
            var m = c.Get(["a"]).Metadatas![0]!;
            Assert.Equal(["red", "green"], m["tags"].AsList.Select(x => x.AsString));
        }
    }

    [Fact]
    public void MixedOrEmptyListsAreRefused()
    {
        Assert.Throws<ManagedEmbedException>(() => MetadataValue.From([MetadataValue.From("a"), MetadataValue.From(1L)]));
        Assert.Throws<ManagedEmbedException>(() => MetadataValue.From(Array.Empty<MetadataValue>()));
        // An integer/float mix is a list of floats, as in JSON.
        var f = MetadataValue.From([MetadataValue.From(1L), MetadataValue.From(2.5)]);
        Assert.Equal([MetadataKind.Float, MetadataKind.Float], f.AsList.Select(x => x.Kind));
        using var d = JsonDocument.Parse("""{"a": [1, "x"]}""");
        Assert.Contains("one type", Assert.Throws<ManagedEmbedException>(() => MetadataJson.Parse(d.RootElement, "line 1", allowNull: false)).Message);
    }

    [Fact]
    public void WhereDocumentRegex()
    {
        using var store = CollectionStore.Open(_dir);
        var c = store.CreateCollection("r", DistanceSpace.L2);
        c.Add(["a", "b", "c", "d"], ["This is about apples", "this is about pears", "Apples and pears", null], embeddings: [[1f], [2f], [3f], [4f]]);
        Assert.Equal(["a"], c.Get(whereDocument: WhereDocumentFilter.Parse("""{"$regex": "^This.*apples$"}""")).Ids);
        Assert.Equal(["a", "c"], c.Get(whereDocument: WhereDocumentFilter.Parse("""{"$regex": "(?i)apples"}""")).Ids);
        Assert.Equal(["b", "d"], c.Get(whereDocument: WhereDocumentFilter.Parse("""{"$not_regex": "[Aa]pples"}""")).Ids);
        Assert.Equal(["c"], c.Get(whereDocument: WhereDocumentFilter.Parse("""{"$and": [{"$regex": "pears$"}, {"$contains": "Apples"}]}""")).Ids);
        // d has no document: it fails $regex and passes $not_contains.
        Assert.Equal(["b", "c", "d"], c.Get(whereDocument: WhereDocumentFilter.Parse("""{"$or": [{"$regex": "^this"}, {"$not_contains": "about"}]}""")).Ids);
        Assert.Equal(["a"], c.Query(queryEmbeddings: [[4f]], nResults: 1, whereDocument: WhereDocumentFilter.Parse("""{"$regex": "apples$"}""")).Ids[0]);
        Assert.Contains("not a valid regular expression", Assert.Throws<ManagedEmbedException>(() => WhereDocumentFilter.Parse("""{"$regex": "(unclosed"}""")).Message);
        // Backreferences need backtracking, which the linear-time engine (like ChromaDB's Rust regex) refuses.
        Assert.Contains("$regex", Assert.Throws<ManagedEmbedException>(() => WhereDocumentFilter.Parse("""{"$regex": "(a)\\1"}""")).Message);
    }

    [Fact]
    public void RegexMatchesAreBoundedByTheTimeout()
    {
        // A 4 MB document and a one-tick budget: the match cannot finish in time and says so in one line.
        var f = WhereDocumentFilter.Parse("""{"$regex": "(x+x+)+y"}""", TimeSpan.FromTicks(1));
        string doc = new('x', 4 << 20);
        var e = Assert.Throws<ManagedEmbedException>(() => f.Matches(doc));
        Assert.Contains("timed out", e.Message);
    }
}
