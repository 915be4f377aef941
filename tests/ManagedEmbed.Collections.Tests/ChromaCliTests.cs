using System.Text.Json;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>ChromaDB's surface through `membed collection ...`: count, query groups/include/table/chroma shape, get
/// include, peek, modify, get-or-create, --input -, --yes for destructive operations, help. Hand-computed values.</summary>
public sealed class ChromaCliTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-chroma-cli");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string Store => Path.Combine(_dir, "db");

    private static string Ok((int Exit, string Out, string Err) r)
    {
        Assert.True(r.Exit == 0, $"exit {r.Exit}: {r.Err}");
        return r.Out;
    }

    private static string Fail((int Exit, string Out, string Err) r)
    {
        Assert.Equal(2, r.Exit);
        Assert.Equal("", r.Out);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        return lines[0];
    }

    private const string Records = """
        {"id":"id1","document":"This is a document about pineapple","metadata":{"source":"notion","page":1,"tags":["fruit","yellow"]},"embedding":[1,0,0]}
        {"id":"id2","document":"This is a document about oranges","metadata":{"source":"google-docs","page":2},"embedding":[0.8,0.6,0]}
        {"id":"id3","document":"Hawaii is an island","metadata":{"source":"notion","page":3},"embedding":[0,0,1]}

        """;

    private void Seed()
    {
        Ok(H.Run("collection", "create", "--path", Store, "--name", "docs", "--no-model", "--metadata", """{"hnsw:space":"cosine","team":"search"}"""));
        Ok(H.RunStdin(Records, null, "collection", "add", "--path", Store, "--name", "docs", "--input", "-"));
    }

    [Fact]
    public void CountPrintsJustTheNumber()
    {
        Seed();
        Assert.Equal("3\n", Ok(H.Run("collection", "count", "--path", Store, "--name", "docs")));
    }

    [Fact]
    public void QueryIdsRestrictsTheCandidates()
    {
        Seed();
        // [1,0,0] is nearest to id1, but only id2 and id3 are candidates: id2 (1 − 0.8 = 0.2), then id3 (1 − 0 = 1).
        var lines = Ok(H.Run("collection", "query", "--path", Store, "--name", "docs", "--embedding", "[1,0,0]", "--ids", "id3,id2"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["id2", "id3"], lines.Select(l => l.GetProperty("id").GetString()));
        Assert.Equal(0.2, lines[0].GetProperty("distance").GetDouble(), 1e-6);
        Assert.Contains("--ids", Fail(H.Run("collection", "query", "--path", Store, "--name", "docs", "--embedding", "[1,0,0]", "--ids", "id1,,id2")));
    }

    [Fact]
    public void QueryGroupsIncludeAndShapes()
    {
        Seed();
        // Two queries, n defaults to 10 (all three records), one JSON line per hit tagged with its query.
        var lines = Ok(H.Run("collection", "query", "--path", Store, "--name", "docs", "--embedding", "[1,0,0]", "--embedding", "[0,0,1]"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(6, lines.Count);
        Assert.Equal(["id1", "id2", "id3", "id3", "id1", "id2"], lines.Select(l => l.GetProperty("id").GetString()));
        Assert.Equal([0, 0, 0, 1, 1, 1], lines.Select(l => l.GetProperty("query").GetInt32()));
        // cosine distance 1 − cos: [1,0,0]·[0.8,0.6,0] = 0.8 → 0.2.
        Assert.Equal(0.2, lines[1].GetProperty("distance").GetDouble(), 1e-6);
        Assert.Equal(["fruit", "yellow"], lines[0].GetProperty("metadata").GetProperty("tags").EnumerateArray().Select(x => x.GetString()));

        // ChromaDB's QueryResult shape: lists per query; fields not included are null.
        var ch = JsonDocument.Parse(Ok(H.Run("collection", "query", "--path", Store, "--name", "docs", "--embedding", "[1,0,0]", "--embedding", "[0,0,1]",
            "--n", "1", "--include", "distances,embeddings", "--format", "chroma"))).RootElement;
        Assert.Equal("""[["id1"],["id3"]]""", ch.GetProperty("ids").GetRawText());
        Assert.Equal("""[[0],[0]]""", ch.GetProperty("distances").GetRawText());
        Assert.Equal("""[[[1,0,0]],[[0,0,1]]]""", ch.GetProperty("embeddings").GetRawText());
        Assert.Equal(JsonValueKind.Null, ch.GetProperty("documents").ValueKind);
        Assert.Equal(JsonValueKind.Null, ch.GetProperty("metadatas").ValueKind);
        Assert.Equal("""["distances","embeddings"]""", ch.GetProperty("included").GetRawText());

        // Only ids when nothing is included.
        var bare = JsonDocument.Parse(Ok(H.Run("collection", "query", "--path", Store, "--name", "docs", "--embedding", "[1,0,0]", "--n", "1", "--include", ""))
            .Trim()).RootElement;
        Assert.Equal("""{"id":"id1","query":0}""", bare.GetRawText());

        Assert.Contains("--include", Fail(H.Run("collection", "query", "--path", Store, "--name", "docs", "--embedding", "[1,0,0]", "--include", "uris")));
    }

    [Fact]
    public void QueryTable()
    {
        Seed();
        string t = Ok(H.Run("collection", "query", "--path", Store, "--name", "docs", "--embedding", "[1,0,0]", "--n", "2", "--format", "table"));
        var rows = t.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, rows.Length);
        Assert.Equal(["rank", "score", "id", "document"], rows[0].Split("  ", StringSplitOptions.RemoveEmptyEntries).Take(4).Select(x => x.Trim()));
        Assert.Contains("page", rows[0]);
        Assert.Contains("source", rows[0]);
        // score = 1 − cosine distance: 1 and 0.8.
        Assert.StartsWith("1     1.0000  id1  This is a document about pineapple", rows[1]);
        Assert.StartsWith("2     0.8000  id2  This is a document about oranges", rows[2]);
        Assert.Contains("google-docs", rows[2]);
    }

    [Fact]
    public void GetIncludePeekAndStdinIds()
    {
        Seed();
        var g = JsonDocument.Parse(Ok(H.Run("collection", "get", "--path", Store, "--name", "docs", "--where", """{"tags":{"$contains":"fruit"}}""",
            "--include", "embeddings", "--format", "chroma"))).RootElement;
        Assert.Equal("""["id1"]""", g.GetProperty("ids").GetRawText());
        Assert.Equal("""[[1,0,0]]""", g.GetProperty("embeddings").GetRawText());
        Assert.Equal(JsonValueKind.Null, g.GetProperty("documents").ValueKind);

        var ids = Ok(H.RunStdin("id3\nid1\n", null, "collection", "get", "--path", Store, "--name", "docs", "--input", "-", "--include", "documents"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["id3", "id1"], ids.Select(x => x.GetProperty("id").GetString()));
        Assert.False(ids[0].TryGetProperty("metadata", out _));

        var p = Ok(H.Run("collection", "peek", "--path", Store, "--name", "docs", "--limit", "2")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, p.Length);
        Assert.Equal("[0.8,0.6,0]", JsonDocument.Parse(p[1]).RootElement.GetProperty("embedding").GetRawText());

        Assert.Equal("deleted 1\n", Ok(H.RunStdin("id2\n", null, "collection", "delete", "--path", Store, "--name", "docs", "--input", "-")));
        Assert.Equal("2\n", Ok(H.Run("collection", "count", "--path", Store, "--name", "docs")));
    }

    [Fact]
    public void DestructiveOperationsNeedYesWhenStdinIsNotATerminal()
    {
        Seed();
        // Removing some records needs no confirmation.
        Assert.Equal("deleted 1\n", Ok(H.RunStdin("", null, "collection", "delete", "--path", Store, "--name", "docs", "--where", """{"page":3}""")));
        // Removing every record does.
        Assert.Contains("--yes", Fail(H.RunStdin("", null, "collection", "delete", "--path", Store, "--name", "docs", "--where", "{}")));
        Assert.Contains("--yes", Fail(H.RunStdin("", null, "collection", "delete", "--path", Store, "--name", "docs", "--where", """{"page":{"$lte":2}}""")));
        Assert.Equal("2\n", Ok(H.Run("collection", "count", "--path", Store, "--name", "docs")));
        Assert.Equal("deleted 2\n", Ok(H.RunStdin("", null, "collection", "delete", "--path", Store, "--name", "docs", "--where", "{}", "--yes")));

        Assert.Contains("--yes", Fail(H.RunStdin("", null, "collection", "drop", "--path", Store, "--name", "docs")));
        Assert.Equal("docs\n", Ok(H.Run("collection", "list", "--path", Store)));
        Ok(H.RunStdin("", null, "collection", "drop", "--path", Store, "--name", "docs", "--yes"));
        Assert.Equal("", Ok(H.Run("collection", "list", "--path", Store)));
    }

    [Fact]
    public void ModifyGetOrCreateAndHelp()
    {
        Seed();
        Assert.Contains("opened existing collection docs", Ok(H.Run("collection", "create", "--path", Store, "--name", "docs", "--no-model", "--get-or-create")));
        Assert.Contains("already exists", Fail(H.Run("collection", "create", "--path", Store, "--name", "docs", "--no-model")));
        Ok(H.Run("collection", "modify", "--path", Store, "--name", "docs", "--new-name", "notes", "--metadata", """{"team":"ranking"}"""));
        Assert.Equal("notes\n", Ok(H.Run("collection", "list", "--path", Store)));
        Assert.Equal("3\n", Ok(H.Run("collection", "count", "--path", Store, "--name", "notes")));
        Assert.Contains("cannot be changed", Fail(H.Run("collection", "modify", "--path", Store, "--name", "notes", "--metadata", """{"hnsw:space":"l2"}""")));
        Ok(H.Run("collection", "create", "--path", Store, "--name", "e", "--no-model", "--metadata", """{"hnsw:space":"l2"}"""));
        Ok(H.Run("collection", "add", "--path", Store, "--name", "e", "--input", WriteFile("e.jsonl", """{"id":"a","embedding":[3,4]}""")));
        var d = JsonDocument.Parse(Ok(H.Run("collection", "query", "--path", Store, "--name", "e", "--embedding", "[0,0]")).Trim()).RootElement;
        Assert.Equal(25, d.GetProperty("distance").GetDouble()); // l2 honoured: 3² + 4²

        var help = H.Run("--help");
        Assert.Contains("drop", help.Out + help.Err);
        var usage = H.Run("collection");
        Assert.Contains("drop", usage.Err);
        var full = H.Run("collection", "--help");
        Assert.Equal(0, full.Exit);
        Assert.Contains("drop", full.Out);
        var query = H.Run("collection", "query", "--help");
        Assert.Equal(0, query.Exit);
        Assert.Contains("--format <FORMAT>", query.Out);
        Assert.Contains("jsonl (one result per line) | table | chroma", query.Out);
    }

    private string WriteFile(string name, string content)
    {
        string p = Path.Combine(_dir, name);
        File.WriteAllText(p, content + "\n");
        return p;
    }
}
