using System.Linq.Expressions;
using ManagedEmbed.Collections;
using ManagedEmbed.Testing;
using Microsoft.Extensions.VectorData;

namespace ManagedEmbed.VectorData.Tests;

/// <summary>
/// The VectorData abstraction's documented semantics, checked against hand-computed values. Every test runs twice:
/// against one in-process store (<see cref="InProcessConformanceTests"/>) and against a store that is disposed and
/// reopened from disk between writing and reading (<see cref="ReopenedConformanceTests"/>).
/// </summary>
public abstract class ConformanceTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-vdata");
    private ManagedEmbedVectorStore _store;

    protected ConformanceTests() { _store = new ManagedEmbedVectorStore(_dir); }

    /// <summary>True: the store is reopened from disk before every read.</summary>
    protected abstract bool Reopen { get; }

    public void Dispose() => _store.Dispose();

    private ManagedEmbedVectorStore Store => _store;

    /// <summary>After writes: the same store, or a new one opened from the directory (the old one is disposed first).</summary>
    private ManagedEmbedVectorStore Reread()
    {
        if (!Reopen) return _store;
        _store.Dispose();
        _store = new ManagedEmbedVectorStore(_dir);
        return _store;
    }

    private static ReadOnlyMemory<float> V(params float[] v) => v;

    // Unit-length vectors (cosine collections store unit-normalized vectors, so these come back unchanged).
    private static Hotel[] Hotels() =>
    [
        new() { Id = "a", Name = "Alpha", Rating = 5, Price = 120.5, Open = true, Tag = "sea", Embedding = V(1, 0, 0, 0) },
        new() { Id = "b", Name = "Bravo", Rating = 3, Price = 80, Open = true, Tag = "city", Embedding = V(0.6f, 0.8f, 0, 0) },
        new() { Id = "c", Name = "Charlie", Rating = 4, Price = 99.25, Open = false, Tag = null, Embedding = V(0, 1, 0, 0) },
        new() { Id = "d", Name = "Delta", Rating = 1, Price = 45, Open = true, Tag = "sea", Embedding = V(0, 0, 1, 0) },
        new() { Id = "e", Name = "Echo", Rating = 4, Price = 150, Open = true, Tag = "mountain", Embedding = V(0.8f, 0, 0.6f, 0) },
    ];

    private async Task<VectorStoreCollection<string, Hotel>> Seeded(string name = "hotels")
    {
        var c = Store.GetCollection<string, Hotel>(name);
        await c.EnsureCollectionExistsAsync();
        await c.UpsertAsync(Hotels());
        return Reread().GetCollection<string, Hotel>(name);
    }

    private static void AssertHotel(Hotel want, Hotel? got, bool vectors)
    {
        Assert.NotNull(got);
        Assert.Equal(want.Id, got.Id);
        Assert.Equal(want.Name, got.Name);
        Assert.Equal(want.Rating, got.Rating);
        Assert.Equal(want.Price, got.Price);
        Assert.Equal(want.Open, got.Open);
        Assert.Equal(want.Tag, got.Tag);
        if (!vectors) Assert.Equal(0, got.Embedding.Length);
        else
        {
            Assert.Equal(want.Embedding.Length, got.Embedding.Length);
            for (int i = 0; i < want.Embedding.Length; i++) Assert.Equal(want.Embedding.Span[i], got.Embedding.Span[i], 1e-6);
        }
    }

    [Fact]
    public async Task UpsertThenGet_RoundTripsEveryProperty()
    {
        var c = await Seeded();
        foreach (var h in Hotels())
        {
            AssertHotel(h, await c.GetAsync(h.Id, new RecordRetrievalOptions { IncludeVectors = true }), vectors: true);
            AssertHotel(h, await c.GetAsync(h.Id), vectors: false);
        }
        var batch = await c.GetAsync(["e", "a"]).ToListAsync();
        Assert.Equal(["a", "e"], batch.Select(h => h.Id).Order());
    }

    [Fact]
    public async Task Upsert_ReplacesTheRecord_NullClearsAValue()
    {
        var c = Store.GetCollection<string, Hotel>("hotels");
        await c.EnsureCollectionExistsAsync();
        await c.UpsertAsync(Hotels());
        var changed = new Hotel { Id = "a", Name = "Alpha2", Rating = 2, Price = 1, Open = false, Tag = null, Embedding = V(0, 0, 0, 1) };
        await c.UpsertAsync(changed);
        c = Reread().GetCollection<string, Hotel>("hotels");
        AssertHotel(changed, await c.GetAsync("a", new RecordRetrievalOptions { IncludeVectors = true }), vectors: true);
        // Within one batch the last record of a key wins.
        await c.UpsertAsync([changed, new Hotel { Id = "a", Name = "Last", Embedding = V(0, 0, 0, 1) }]);
        c = Reread().GetCollection<string, Hotel>("hotels");
        Assert.Equal("Last", (await c.GetAsync("a"))!.Name);
        Assert.Equal(5, await c.GetAsync(r => true, 100).CountAsync());
    }

    [Fact]
    public async Task MissingKeys_AreNullOrSkipped_AndDeleteIgnoresThem()
    {
        var c = await Seeded();
        Assert.Null(await c.GetAsync("nope"));
        Assert.Empty(await c.GetAsync(["nope", "zip"]).ToListAsync());
        Assert.Equal(["b"], await c.GetAsync(["nope", "b"]).Select(h => h.Id).ToListAsync());
        await c.DeleteAsync("nope");
        await c.DeleteAsync(["nope", "zip"]);
        Assert.Equal(5, await c.GetAsync(r => true, 100).CountAsync());
    }

    [Fact]
    public async Task Delete_RemovesFromGetAndSearch()
    {
        var c = await Seeded();
        await c.DeleteAsync("a");
        await c.DeleteAsync(["b", "c"]);
        c = Reread().GetCollection<string, Hotel>("hotels");
        Assert.Null(await c.GetAsync("a"));
        var hits = await c.SearchAsync(V(1, 0, 0, 0), 10).Select(r => r.Record.Id).ToListAsync();
        Assert.Equal(["e", "d"], hits);
    }

    [Fact]
    public async Task Search_OrdersByCosineSimilarity_WithHandComputedScores()
    {
        var c = await Seeded();
        var hits = await c.SearchAsync(V(2, 0, 0, 0), 5).ToListAsync(); // length 2: cosine ignores it
        Assert.Equal(["a", "e", "b", "c", "d"], hits.Take(3).Select(h => h.Record.Id).Concat(hits.Skip(3).Select(h => h.Record.Id).Order()));
        double[] want = [1.0, 0.8, 0.6, 0.0, 0.0];
        for (int i = 0; i < 5; i++) Assert.Equal(want[i], hits[i].Score!.Value, 1e-6);
    }

    [Fact]
    public async Task FilterThenSearch_OnlyMatchingRecords()
    {
        var c = await Seeded();
        var hits = await c.SearchAsync(V(1, 0, 0, 0), 10, new() { Filter = r => r.Rating >= 4 && r.Open }).ToListAsync();
        Assert.Equal(["a", "e"], hits.Select(h => h.Record.Id));
        Assert.Equal(0.8, hits[1].Score!.Value, 1e-6);
        // The filter applies before top-k: the best match overall (a) is excluded, the next ones fill the page.
        var sea = await c.SearchAsync(V(1, 0, 0, 0), 1, new() { Filter = r => r.Tag == "sea" && r.Rating < 5 }).ToListAsync();
        Assert.Equal(["d"], sea.Select(h => h.Record.Id));
    }

    [Fact]
    public async Task Search_SkipTopAndScoreThreshold()
    {
        var c = await Seeded();
        Assert.Equal(["e", "b"], await c.SearchAsync(V(1, 0, 0, 0), 2, new() { Skip = 1 }).Select(h => h.Record.Id).ToListAsync());
        Assert.Equal(["a", "e", "b"], await c.SearchAsync(V(1, 0, 0, 0), 10, new() { ScoreThreshold = 0.5 }).Select(h => h.Record.Id).ToListAsync());
        var withVectors = await c.SearchAsync(V(1, 0, 0, 0), 1, new() { IncludeVectors = true }).SingleAsync();
        Assert.Equal(1f, withVectors.Record.Embedding.Span[0], 1e-6);
        var without = await c.SearchAsync(V(1, 0, 0, 0), 1).SingleAsync();
        Assert.Equal(0, without.Record.Embedding.Length);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await c.SearchAsync(V(1, 0, 0, 0), 0).ToListAsync());
    }

    public static TheoryData<string, string> Filters => new()
    {
        { "eq", "b" }, { "ne", "a,c,d,e" }, { "lt", "b,d" }, { "lte", "b,c,d,e" }, { "gt", "a" }, { "gte", "a,c,e" },
        { "and", "e" }, { "or", "a,b,d" }, { "not-eq", "a,c,d,e" }, { "not-lt", "a,c,e" }, { "not-and", "a,b,c,d" },
        { "bool", "a,b,d,e" }, { "not-bool", "c" }, { "in", "a,b,d" }, { "not-in", "c,e" }, { "in-empty", "" },
        { "captured", "a,e" }, { "double", "a,e" }, { "mirrored", "a,e" }, { "null-tag-ne", "a,b,c,e" },
    };

    private static Expression<Func<Hotel, bool>> FilterFor(string name)
    {
        string[] tags = ["sea", "city"];
        int minRating = 4;
        var empty = new List<string>();
        return name switch
        {
            "eq" => r => r.Name == "Bravo",
            "ne" => r => r.Name != "Bravo",
            "lt" => r => r.Rating < 4,
            "lte" => r => r.Rating <= 4,
            "gt" => r => r.Rating > 4,
            "gte" => r => r.Rating >= 4,
            "and" => r => r.Rating >= 4 && r.Price > 121,
            "or" => r => r.Rating < 2 || r.Tag == "city" || r.Name == "Alpha",
            "not-eq" => r => !(r.Name == "Bravo"),
            "not-lt" => r => !(r.Rating < 4),
            "not-and" => r => !(r.Rating == 4 && r.Price > 121),
            "bool" => r => r.Open,
            "not-bool" => r => !r.Open,
            "in" => r => tags.Contains(r.Tag),
            "not-in" => r => !tags.Contains(r.Tag),
            "in-empty" => r => empty.Contains(r.Name),
            "captured" => r => r.Rating >= minRating && r.Price > 100,
            "double" => r => r.Price >= 120.5,
            "mirrored" => r => 100 < r.Price,
            "null-tag-ne" => r => r.Tag != "sea" || r.Name == "Alpha",
            _ => throw new ArgumentException(name),
        };
    }

    [Theory]
    [MemberData(nameof(Filters))]
    public async Task Filter_Operators_MatchTheHandComputedSets(string filter, string want)
    {
        var c = await Seeded();
        var got = await c.GetAsync(FilterFor(filter), 100).Select(h => h.Id).ToListAsync();
        Assert.Equal(want.Length == 0 ? [] : want.Split(','), got.Order());
        // The same filter restricts search.
        var hits = await c.SearchAsync(V(1, 0, 0, 0), 100, new() { Filter = FilterFor(filter) }).Select(h => h.Record.Id).ToListAsync();
        Assert.Equal(want.Length == 0 ? [] : want.Split(','), hits.Order());
    }

    [Fact]
    public async Task Filter_UnsupportedNodes_NameTheNode()
    {
        var c = await Seeded();
        var e1 = await Assert.ThrowsAsync<NotSupportedException>(async () => await c.GetAsync(r => r.Name.StartsWith("A"), 10).ToListAsync());
        Assert.Contains("StartsWith", e1.Message);
        var e2 = await Assert.ThrowsAsync<NotSupportedException>(async () => await c.GetAsync(r => r.Rating + 1 > 4, 10).ToListAsync());
        Assert.Contains("r.Rating + 1", e2.Message);
        var e3 = await Assert.ThrowsAsync<NotSupportedException>(async () => await c.GetAsync(r => r.Id == "a", 10).ToListAsync());
        Assert.Contains("key property", e3.Message);
        var e4 = await Assert.ThrowsAsync<NotSupportedException>(async () => await c.SearchAsync(V(1, 0, 0, 0), 1, new() { Filter = r => r.Tag == null }).ToListAsync());
        Assert.Contains("null", e4.Message);
    }

    [Fact]
    public async Task GetByFilter_HonoursTopAndSkip_InInsertionOrder()
    {
        var c = await Seeded();
        Assert.Equal(["b", "c"], await c.GetAsync(r => r.Rating > 0, 2, new() { Skip = 1 }).Select(h => h.Id).ToListAsync());
    }

    [Fact]
    public async Task DimensionMismatch_IsAnError_AndWritesNothing()
    {
        var c = Store.GetCollection<string, Hotel>("hotels");
        await c.EnsureCollectionExistsAsync();
        var bad = new Hotel { Id = "x", Name = "X", Embedding = V(1, 0, 0) };
        var e = await Assert.ThrowsAsync<ArgumentException>(() => c.UpsertAsync([Hotels()[0], bad]));
        Assert.Contains("3 dimensions", e.Message);
        Assert.Contains("says 4", e.Message);
        await Assert.ThrowsAsync<ArgumentException>(async () => await c.SearchAsync(V(1, 0, 0, 0, 0), 1).ToListAsync());
        c = Reread().GetCollection<string, Hotel>("hotels");
        Assert.Null(await c.GetAsync("a"));
        await c.UpsertAsync(Hotels());

        // A definition whose dimensions differ from the stored vectors is refused by every operation.
        var wide = Reread().GetCollection<string, WideHotel>("hotels");
        var ve = await Assert.ThrowsAsync<VectorStoreException>(() => wide.GetAsync("a"));
        Assert.Contains("4-dimensional", ve.Message);
        Assert.Equal("hotels", ve.CollectionName);
        await Assert.ThrowsAsync<VectorStoreException>(() => wide.EnsureCollectionExistsAsync());
    }

    [Fact]
    public async Task ConcurrentUpserts_AllLand()
    {
        var c = Store.GetCollection<string, Hotel>("hotels");
        await c.EnsureCollectionExistsAsync();
        const int Writers = 8, PerWriter = 40;
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            for (int i = 0; i < PerWriter; i++)
            {
                float angle = (w * PerWriter + i) * 0.01f;
                await c.UpsertAsync(new Hotel { Id = $"w{w}-{i}", Name = $"n{w}", Rating = i, Embedding = V(MathF.Cos(angle), MathF.Sin(angle), 0, 0) });
            }
        })));
        c = Reread().GetCollection<string, Hotel>("hotels");
        var all = await c.GetAsync(r => r.Rating >= 0, 10_000).ToListAsync();
        Assert.Equal(Writers * PerWriter, all.Count);
        Assert.Equal(Writers * PerWriter, all.Select(h => h.Id).Distinct().Count());
        Assert.Equal(PerWriter, all.Count(h => h.Name == "n3"));
        var nearest = await c.SearchAsync(V(1, 0, 0, 0), 1).SingleAsync();
        Assert.Equal("w0-0", nearest.Record.Id);
    }

    [Fact]
    public async Task Store_ListsChecksAndDeletesCollections()
    {
        Assert.False(await Store.CollectionExistsAsync("hotels"));
        await Seeded("hotels");
        var c2 = Store.GetCollection<string, Hotel>("other");
        await c2.EnsureCollectionExistsAsync();
        await c2.EnsureCollectionExistsAsync(); // idempotent
        var s = Reread();
        Assert.Equal(["hotels", "other"], await s.ListCollectionNamesAsync().ToListAsync());
        Assert.True(await s.CollectionExistsAsync("hotels"));
        Assert.True(await s.GetCollection<string, Hotel>("other").CollectionExistsAsync());
        await s.EnsureCollectionDeletedAsync("hotels");
        await s.EnsureCollectionDeletedAsync("hotels"); // idempotent
        await s.GetCollection<string, Hotel>("other").EnsureCollectionDeletedAsync();
        s = Reread();
        Assert.Empty(await s.ListCollectionNamesAsync().ToListAsync());
        Assert.False(await s.CollectionExistsAsync("hotels"));
        // Record operations on a missing collection fail as the abstraction documents: VectorStoreException.
        var gone = await Assert.ThrowsAsync<VectorStoreException>(() => s.GetCollection<string, Hotel>("hotels").GetAsync("a"));
        Assert.Contains("unknown collection 'hotels'", gone.Message);
        Assert.Equal("Get", gone.OperationName);
        Assert.Throws<ArgumentException>(() => s.GetCollection<string, Hotel>("bad name!"));
    }

    [Fact]
    public async Task DotProductAndEuclidean_ScoresAreHandComputed()
    {
        var dot = Store.GetCollection<int, DotRecord>("dot");
        await dot.EnsureCollectionExistsAsync();
        await dot.UpsertAsync([
            new DotRecord { Id = 1, Big = 1L << 40, Ratio = 0.25f, Embedding = [3, 1, 0, 0] },
            new DotRecord { Id = 2, Big = -7, Ratio = 1.5f, Embedding = [0, 0, 2, 0] },
        ]);
        var eu = Store.GetCollection<Guid, EuclidRecord>("euclid");
        await eu.EnsureCollectionExistsAsync();
        var g1 = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        var g2 = Guid.Parse("7c9e6679-7425-40de-944b-e07fc1f90ae7");
        await eu.UpsertAsync([new EuclidRecord { Id = g1, Embedding = V(4, 4, 0, 0) }, new EuclidRecord { Id = g2, Embedding = V(1, 1, 1, 1) }]);
        var s = Reread();
        dot = s.GetCollection<int, DotRecord>("dot");
        var d = await dot.SearchAsync(new float[] { 1, 2, 0, 0 }, 2, new() { IncludeVectors = true }).ToListAsync();
        Assert.Equal([1, 2], d.Select(h => h.Record.Id));
        Assert.Equal(5.0, d[0].Score!.Value, 1e-5);   // 1*3 + 2*1
        Assert.Equal(0.0, d[1].Score!.Value, 1e-5);
        Assert.Equal([3f, 1f, 0f, 0f], d[0].Record.Embedding!); // dot-product vectors are stored as given
        Assert.Equal(1L << 40, d[0].Record.Big);
        Assert.Equal(0.25f, d[0].Record.Ratio);
        Assert.Equal(["1"], await dot.GetAsync(r => r.Big > 0 && r.Ratio < 1, 10).Select(r => r.Id.ToString()).ToListAsync());

        eu = s.GetCollection<Guid, EuclidRecord>("euclid");
        var e = await eu.SearchAsync(V(1, 0, 0, 0), 2).ToListAsync();
        Assert.Equal([g2, g1], e.Select(h => h.Record.Id));
        Assert.Equal(Math.Sqrt(3), e[0].Score!.Value, 1e-5);   // |(0,1,1,1)|
        Assert.Equal(5.0, e[1].Score!.Value, 1e-5);            // |(3,4,0,0)|
        // Distance scores: the threshold keeps results at or below it.
        Assert.Equal([g2], await eu.SearchAsync(V(1, 0, 0, 0), 2, new() { ScoreThreshold = 2 }).Select(h => h.Record.Id).ToListAsync());
    }

    [Fact]
    public async Task UnsupportedDefinitionsAndInputs_AreClearErrors()
    {
        var e = Assert.Throws<NotSupportedException>(() => Store.GetCollection<string, HammingRecord>("h"));
        Assert.Contains("HammingDistance", e.Message);
        var c = await Seeded();
        var t = await Assert.ThrowsAsync<NotSupportedException>(async () => await c.SearchAsync("text", 1).ToListAsync());
        Assert.Contains("'string'", t.Message);
        // The same name with another distance function is refused rather than silently searched in the wrong space.
        var dotView = Store.GetCollection<int, DotRecord>("hotels");
        var ve = await Assert.ThrowsAsync<VectorStoreException>(() => dotView.EnsureCollectionExistsAsync());
        Assert.Contains("DotProductSimilarity", ve.Message);
    }

    [Fact]
    public async Task DynamicCollection_RoundTripsAndFilters()
    {
        var definition = new VectorStoreCollectionDefinition
        {
            Properties =
            [
                new VectorStoreKeyProperty("Id", typeof(string)),
                new VectorStoreDataProperty("Name", typeof(string)),
                new VectorStoreDataProperty("Rating", typeof(int)),
                new VectorStoreVectorProperty("Embedding", typeof(ReadOnlyMemory<float>), 4),
            ],
        };
        var c = Store.GetDynamicCollection("dyn", definition);
        await c.EnsureCollectionExistsAsync();
        await c.UpsertAsync([
            new Dictionary<string, object?> { ["Id"] = "x", ["Name"] = "Ex", ["Rating"] = 2, ["Embedding"] = V(1, 0, 0, 0) },
            new Dictionary<string, object?> { ["Id"] = "y", ["Name"] = "Why", ["Rating"] = 7, ["Embedding"] = V(0, 1, 0, 0) },
        ]);
        c = Reread().GetDynamicCollection("dyn", definition);
        var x = await c.GetAsync("x", new RecordRetrievalOptions { IncludeVectors = true });
        Assert.NotNull(x);
        Assert.Equal("x", x["Id"]);
        Assert.Equal("Ex", x["Name"]);
        Assert.Equal(2, x["Rating"]);
        Assert.Equal([1f, 0f, 0f, 0f], ((ReadOnlyMemory<float>)x["Embedding"]!).ToArray());
        var hits = await c.SearchAsync(V(0, 1, 0, 0), 5, new() { Filter = r => (int)r["Rating"]! > 5 }).ToListAsync();
        Assert.Equal(["y"], hits.Select(h => (string)h.Record["Id"]!));
        Assert.Equal(1.0, hits[0].Score!.Value, 1e-6);
    }
}

public sealed class InProcessConformanceTests : ConformanceTests
{
    protected override bool Reopen => false;
}

public sealed class ReopenedConformanceTests : ConformanceTests
{
    protected override bool Reopen => true;
}
