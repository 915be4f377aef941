using System.Text.Json;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>The tutorial's ChromaDB snippets through `membed collection ...` (the exact CLI forms of the spec).</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-cli");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string Store => Path.Combine(_dir, "db");

    private string Ok(params string[] args)
    {
        var (code, o, e) = H.Run(args);
        Assert.True(code == 0, $"membed {string.Join(' ', args)} failed ({code}): {e}");
        Assert.Equal("", e);
        return o;
    }

    private string Fail(params string[] args)
    {
        var (code, o, e) = H.Run(args);
        Assert.NotEqual(0, code);
        var lines = e.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("membed: error: ", lines[0]);
        return lines[0];
    }

    private static List<JsonElement> Jsonl(string s) =>
        s.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    private string Input(string name, string content)
    {
        string p = Path.Combine(_dir, name);
        File.WriteAllText(p, content);
        return p;
    }

    [Fact]
    public void TutorialFlow()
    {
        Ok("collection", "create", "--path", Store, "--name", "docs", "--space", "cosine", "--no-model");
        string input = Input("in.jsonl", """
            {"id":"id1","document":"This is a document about pineapple","metadata":{"source":"notion","page":1},"embedding":[1,0,0]}
            {"id":"id2","document":"This is a document about oranges","metadata":{"source":"google-docs","page":2},"embedding":[0.8,0.6,0]}
            {"id":"id3","document":"Hawaii is an island","metadata":{"source":"notion","page":3,"score":0.5,"draft":true},"embedding":[0,0,1]}
            """);
        Assert.Contains("added 3", Ok("collection", "add", "--path", Store, "--name", "docs", "--input", input));
        Assert.Equal("3", Ok("collection", "count", "--path", Store, "--name", "docs").Trim().Split(' ')[^1]);
        Assert.Equal("docs", Ok("collection", "list", "--path", Store).Trim());

        var q = Jsonl(Ok("collection", "query", "--path", Store, "--name", "docs", "--embedding", "[1,0.1,0]", "--n", "2"));
        Assert.Equal(["id1", "id2"], q.Select(x => x.GetProperty("id").GetString()));
        Assert.True(q[0].GetProperty("distance").GetDouble() < q[1].GetProperty("distance").GetDouble());
        Assert.Equal("notion", q[0].GetProperty("metadata").GetProperty("source").GetString());
        Assert.Equal("This is a document about pineapple", q[0].GetProperty("document").GetString());

        var qf = Jsonl(Ok("collection", "query", "--path", Store, "--name", "docs", "--embedding", "[1,0.1,0]", "--n", "2", "--where", """{"source":"notion"}"""));
        Assert.Equal(["id1", "id3"], qf.Select(x => x.GetProperty("id").GetString()));
        var qs = Jsonl(Ok("collection", "query", "--path", Store, "--name", "docs", "--embedding", "[1,0,0]", "--n", "3", "--min-score", "0.5"));
        Assert.Equal(["id1", "id2"], qs.Select(x => x.GetProperty("id").GetString()));
        var qd = Jsonl(Ok("collection", "query", "--path", Store, "--name", "docs", "--embedding", "[1,0,0]", "--n", "3", "--where-document", """{"$contains":"island"}"""));
        Assert.Equal(["id3"], qd.Select(x => x.GetProperty("id").GetString()));

        var g = Jsonl(Ok("collection", "get", "--path", Store, "--name", "docs", "--where", """{"page":{"$gte":2}}""", "--limit", "1", "--offset", "1"));
        Assert.Equal("id3", g.Single().GetProperty("id").GetString());
        Assert.Equal(0.5, g[0].GetProperty("metadata").GetProperty("score").GetDouble());
        Assert.True(g[0].GetProperty("metadata").GetProperty("draft").GetBoolean());
        Assert.Equal(["id2", "id1"], Jsonl(Ok("collection", "get", "--path", Store, "--name", "docs", "--ids", "id2,id1")).Select(x => x.GetProperty("id").GetString()));

        string upd = Input("upd.jsonl", """{"id":"id1","document":"This is a document about apples","metadata":{"source":"slack"}}""" + "\n");
        Ok("collection", "update", "--path", Store, "--name", "docs", "--input", upd);
        var g1 = Jsonl(Ok("collection", "get", "--path", Store, "--name", "docs", "--ids", "id1")).Single();
        Assert.Equal("This is a document about apples", g1.GetProperty("document").GetString());
        Assert.Equal("slack", g1.GetProperty("metadata").GetProperty("source").GetString());
        Assert.Equal(1, g1.GetProperty("metadata").GetProperty("page").GetInt64()); // merged, not replaced

        string ups = Input("ups.jsonl", """{"id":"id4","document":"new","embedding":[0,1,0]}""" + "\n");
        Ok("collection", "upsert", "--path", Store, "--name", "docs", "--input", ups);
        Assert.Contains("deleted 1", Ok("collection", "delete", "--path", Store, "--name", "docs", "--ids", "id2"));
        Assert.Contains("deleted 1", Ok("collection", "delete", "--path", Store, "--name", "docs", "--where", """{"draft":true}"""));
        Assert.Equal("2", Ok("collection", "count", "--path", Store, "--name", "docs").Trim().Split(' ')[^1]);
    }

    [Fact]
    public void ErrorsAreOneLineAndChangeNothing()
    {
        Ok("collection", "create", "--path", Store, "--name", "c", "--space", "l2", "--no-model");
        Ok("collection", "add", "--path", Store, "--name", "c", "--input", Input("a.jsonl", """{"id":"a","embedding":[1,2]}""" + "\n"));
        Assert.Contains("already exists", Fail("collection", "add", "--path", Store, "--name", "c", "--input", Input("b.jsonl", """{"id":"b","embedding":[1,2]}""" + "\n" + """{"id":"a","embedding":[1,2]}""" + "\n")));
        Assert.Contains("dimension", Fail("collection", "add", "--path", Store, "--name", "c", "--input", Input("d.jsonl", """{"id":"d","embedding":[1,2,3]}""" + "\n")));
        Assert.Contains(":2: not valid JSON", Fail("collection", "add", "--path", Store, "--name", "c", "--input", Input("j.jsonl", """{"id":"j","embedding":[1,2]}""" + "\n{oops\n")));
        string badUtf8 = Path.Combine(_dir, "u.jsonl");
        File.WriteAllBytes(badUtf8, [.. "{\"id\":\"u\",\"document\":\""u8.ToArray(), 0xC3, 0x28, .. "\",\"embedding\":[1,2]}\n"u8.ToArray()]);
        Assert.Contains("not valid UTF-8", Fail("collection", "add", "--path", Store, "--name", "c", "--input", badUtf8));
        Assert.Contains("unknown operator", Fail("collection", "get", "--path", Store, "--name", "c", "--where", """{"x":{"$like":1}}"""));
        Assert.Contains("invalid where", Fail("collection", "query", "--path", Store, "--name", "c", "--embedding", "[1,2]", "--n", "1", "--where", "{bad"));
        Assert.Contains("unknown collection 'zz'", Fail("collection", "count", "--path", Store, "--name", "zz"));
        Assert.Contains("unknown option", Fail("collection", "count", "--path", Store, "--name", "c", "--bogus", "1"));
        // --n is an alias of -k/--k since issue 14: the message names the option's canonical spelling.
        Assert.Contains("option --k must be an integer in [1,", Fail("collection", "query", "--path", Store, "--name", "c", "--embedding", "[1,2]", "--n", "0"));
        Assert.Contains("created with --no-model", Fail("collection", "add", "--path", Store, "--name", "c", "--input", Input("t.jsonl", """{"id":"t","document":"text only"}""" + "\n")));
        // NaN is not a JSON number: rejected as such (the message never said "NaN"; the appended text hid that).
        Assert.Contains("--embedding must be a JSON array of numbers", Fail("collection", "query", "--path", Store, "--name", "c", "--embedding", "[NaN,1]", "--n", "1"));
        Assert.Equal("1", Ok("collection", "count", "--path", Store, "--name", "c").Trim().Split(' ')[^1]);
    }
}
