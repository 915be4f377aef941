using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>Regressions from the hostile-input campaign (issue 10) on collections, through the library and the CLI.</summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-hostile");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string Store => Path.Combine(_dir, "db");

    private string Input(string name, string content)
    {
        string p = Path.Combine(_dir, name);
        File.WriteAllText(p, content);
        return p;
    }

    private static string OneError((int Exit, string Out, string Err) r)
    {
        Assert.Equal(2, r.Exit);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("membed: error: ", lines[0]);
        return lines[0];
    }

    private static void Ok((int Exit, string Out, string Err) r) => Assert.True(r.Exit == 0, $"exit {r.Exit}: {r.Err}");

    private const string Subnormal = "[1e-45,1e-45,1e-45,1e-45,1e-45,1e-45,1e-45,1e-45]";

    [Fact]
    public void Subnormal_vectors_are_rejected_and_queries_never_print_partial_output()
    {
        Ok(H.Run("collection", "create", "--path", Store, "--name", "c", "--space", "cosine", "--no-model"));
        Ok(H.Run("collection", "add", "--path", Store, "--name", "c", "--input",
            Input("ok.jsonl", "{\"id\":\"a\",\"embedding\":[1,0,0,0,0,0,0,0]}\n{\"id\":\"b\",\"embedding\":[0,1,0,0,0,0,0,0]}\n")));
        string e = OneError(H.Run("collection", "add", "--path", Store, "--name", "c", "--input",
            Input("sub.jsonl", "{\"id\":\"s\",\"embedding\":" + Subnormal + "}\n")));
        Assert.Contains("too small to normalize", e);
        Assert.Contains("'s'", e);
        OneError(H.Run("collection", "upsert", "--path", Store, "--name", "c", "--input", Path.Combine(_dir, "sub.jsonl")));
        OneError(H.Run("collection", "update", "--path", Store, "--name", "c", "--input",
            Input("subu.jsonl", "{\"id\":\"a\",\"embedding\":" + Subnormal + "}\n")));

        // The store still answers queries, and a subnormal query is a clean error with nothing on stdout.
        var q = H.Run("collection", "query", "--path", Store, "--name", "c", "--embedding", "[1,0,0,0,0,0,0,0]", "--n", "5");
        Ok(q);
        Assert.Equal(2, q.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        var bad = H.Run("collection", "query", "--path", Store, "--name", "c", "--embedding", Subnormal, "--n", "5");
        OneError(bad);
        Assert.Equal("", bad.Out);
    }

    [Fact]
    public void Huge_vectors_are_rejected_in_l2_space()
    {
        using var store = CollectionStore.Open(Store);
        var c = store.CreateCollection("l", DistanceSpace.L2);
        var ex = Assert.Throws<ManagedEmbedException>(() => c.Add(["x"], embeddings: [[3e38f, 3e38f]]));
        Assert.Contains("too large", ex.Message);
        Assert.Equal(0, c.Count());
    }

    [Fact]
    public void Missing_manifest_is_reported_as_damaged_by_every_command()
    {
        Ok(H.Run("collection", "create", "--path", Store, "--name", "c", "--no-model"));
        File.Delete(Path.Combine(Store, "c", "MANIFEST"));
        string count = OneError(H.Run("collection", "count", "--path", Store, "--name", "c"));
        string create = OneError(H.Run("collection", "create", "--path", Store, "--name", "c", "--no-model"));
        foreach (string e in new[] { count, create })
        {
            Assert.Contains("damaged", e);
            Assert.Contains("membed collection repair", e);
        }
    }

    [Fact]
    public void Duplicate_json_keys_are_rejected_naming_the_line()
    {
        Ok(H.Run("collection", "create", "--path", Store, "--name", "c", "--space", "l2", "--no-model"));
        string e = OneError(H.Run("collection", "add", "--path", Store, "--name", "c", "--input",
            Input("dup.jsonl", "{\"id\":\"a\",\"embedding\":[1,0]}\n{\"id\":\"b\",\"id\":\"c\",\"embedding\":[0,1]}\n")));
        Assert.Contains("dup.jsonl:2", e);
        Assert.Contains("\"id\" appears twice", e);
        Assert.Equal("0", H.Run("collection", "count", "--path", Store, "--name", "c").Out.Trim());
    }

    [Fact]
    public void Jsonl_with_a_byte_order_mark_is_read()
    {
        Ok(H.Run("collection", "create", "--path", Store, "--name", "c", "--space", "l2", "--no-model"));
        string p = Path.Combine(_dir, "bom.jsonl");
        File.WriteAllBytes(p, [0xEF, 0xBB, 0xBF, .. "{\"id\":\"a\",\"embedding\":[1,0]}\n"u8.ToArray()]);
        Ok(H.Run("collection", "add", "--path", Store, "--name", "c", "--input", p));
        Assert.Equal("1", H.Run("collection", "count", "--path", Store, "--name", "c").Out.Trim());
    }

    [Fact]
    public void Jsonl_with_invalid_utf8_names_the_line_and_commits_nothing()
    {
        // The shared line reader (TextInput.StreamLines): BOM skipped, line numbers count from the first line.
        Ok(H.Run("collection", "create", "--path", Store, "--name", "c", "--space", "l2", "--no-model"));
        string p = Path.Combine(_dir, "bad-utf8.jsonl");
        File.WriteAllBytes(p, [0xEF, 0xBB, 0xBF, .. "{\"id\":\"a\",\"embedding\":[1,0]}\n\n{\"id\":\"b\",\"document\":\"x"u8.ToArray(), 0xC3, 0x28,
            .. "\",\"embedding\":[0,1]}\n"u8.ToArray()]);
        string e = OneError(H.Run("collection", "add", "--path", Store, "--name", "c", "--input", p, "--batch-size", "1"));
        Assert.True(e.Contains("bad-utf8.jsonl line 3: not valid UTF-8", StringComparison.Ordinal), e);
        Assert.Equal("0", H.Run("collection", "count", "--path", Store, "--name", "c").Out.Trim());
    }

    [Fact]
    public void The_whole_file_is_validated_before_the_first_batch_commits()
    {
        Ok(H.Run("collection", "create", "--path", Store, "--name", "c", "--space", "l2", "--no-model"));
        // Batch 1 (lines 1-2) is fine; batch 2 mixes a line with an embedding and one without.
        string input = Input("mixed.jsonl",
            "{\"id\":\"a\",\"embedding\":[1,0]}\n{\"id\":\"b\",\"embedding\":[0,1]}\n" +
            "{\"id\":\"c\",\"embedding\":[1,1]}\n{\"id\":\"d\",\"document\":\"no vector\"}\n");
        var r = H.Run("collection", "add", "--path", Store, "--name", "c", "--batch-size", "2", "--input", input);
        Assert.Contains("mixed.jsonl:4", OneError(r));
        Assert.Equal("", r.Out);   // no "committed" acknowledgment: nothing was written
        Assert.Equal("0", H.Run("collection", "count", "--path", Store, "--name", "c").Out.Trim());
        // A wrong dimension in a later batch is caught up front too.
        string dims = Input("dims.jsonl", "{\"id\":\"a\",\"embedding\":[1,0]}\n{\"id\":\"b\",\"embedding\":[0,1,0]}\n");
        Assert.Contains("dims.jsonl:2", OneError(H.Run("collection", "add", "--path", Store, "--name", "c", "--batch-size", "1", "--input", dims)));
        Assert.Equal("0", H.Run("collection", "count", "--path", Store, "--name", "c").Out.Trim());
    }

    private static string Nested(string op, int levels, string leaf)
    {
        string s = leaf;
        for (int i = 0; i < levels; i++) s = $"{{\"{op}\": [{s}]}}";
        return s;
    }

    [Fact]
    public void Where_nesting_is_accepted_up_to_the_documented_limit_and_refused_clearly_beyond()
    {
        // The documented limit (docs/readme-collections.md): 32 levels of $and/$or.
        var ok = WhereFilter.Parse(Nested("$and", 32, "{\"k\": {\"$in\": [1, 2]}}"));
        Assert.True(ok.Matches(H.Meta(("k", MetadataValue.From(2L)))));
        Assert.False(ok.Matches(H.Meta(("k", MetadataValue.From(3L)))));
        var e = Assert.Throws<ManagedEmbedException>(() => WhereFilter.Parse(Nested("$or", 33, "{\"k\": 1}")));
        Assert.Contains("nested deeper than 32 levels", e.Message);
        // Far deeper than the JSON reader allows: the same message, not a JSON reader error.
        e = Assert.Throws<ManagedEmbedException>(() => WhereFilter.Parse(Nested("$or", 500, "{\"k\": 1}")));
        Assert.Contains("nested deeper than 32 levels", e.Message);
        Assert.True(WhereDocumentFilter.Parse(Nested("$and", 32, "{\"$contains\": \"x\"}")).Matches("xyz"));
        e = Assert.Throws<ManagedEmbedException>(() => WhereDocumentFilter.Parse(Nested("$and", 40, "{\"$contains\": \"x\"}")));
        Assert.Contains("nested deeper than 32 levels", e.Message);
    }

    [Fact]
    public void A_store_path_that_is_a_file_is_named_plainly()
    {
        string file = Input("not-a-dir", "x");
        string e = OneError(H.Run("collection", "create", "--path", file, "--name", "c", "--no-model"));
        Assert.Contains("is a file, not a directory", e);
        Assert.Contains(file, e);
    }
}
