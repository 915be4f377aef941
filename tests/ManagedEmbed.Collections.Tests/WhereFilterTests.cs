using System.Globalization;
using System.Text;
using FsCheck.Xunit;

namespace ManagedEmbed.Collections.Tests;

/// <summary>Filter semantics against a deliberately plain reference evaluator over a test-side AST.</summary>
public class WhereFilterTests
{
    // ---- reference model -------------------------------------------------------------------------------------
    private abstract record F;
    private sealed record Cmp(string Key, string Op, object[] Vals) : F;   // Vals: long, double, string, bool
    private sealed record Logic(string Op, F[] Kids) : F;

    private static readonly string[] Keys = ["a", "b", "c"];
    private static readonly object[] Pool = [-2L, -1L, 0L, 1L, 2L, -1.5, 0.0, 1.0, 2.5, "x", "y", "", true, false];
    private static readonly object[] Numbers = [-2L, 0L, 1L, 2L, -1.5, 0.0, 1.0, 2.5];

    private static F Gen(Random r, int depth)
    {
        if (depth < 3 && r.Next(3) == 0)
        {
            var kids = Enumerable.Range(0, r.Next(1, 4)).Select(_ => Gen(r, depth + 1)).ToArray();
            return new Logic(r.Next(2) == 0 ? "$and" : "$or", kids);
        }
        string key = Keys[r.Next(Keys.Length)];
        string[] ops = ["short", "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"];
        string op = ops[r.Next(ops.Length)];
        object[] vals = op switch
        {
            "$gt" or "$gte" or "$lt" or "$lte" => [Numbers[r.Next(Numbers.Length)]],
            "$in" or "$nin" => Enumerable.Range(0, r.Next(1, 4)).Select(_ => Pool[r.Next(Pool.Length)]).ToArray(),
            _ => [Pool[r.Next(Pool.Length)]],
        };
        return new Cmp(key, op, vals);
    }

    private static Dictionary<string, MetadataValue>? GenMeta(Random r)
    {
        if (r.Next(8) == 0) return null;
        var m = new Dictionary<string, MetadataValue>(StringComparer.Ordinal);
        foreach (var k in Keys)
            if (r.Next(3) != 0) m[k] = ToMv(Pool[r.Next(Pool.Length)]);
        return m;
    }

    private static MetadataValue ToMv(object o) => o switch
    {
        long l => l, double d => d, string s => s, bool b => b, _ => throw new InvalidOperationException(),
    };

    private static bool IsNum(object o) => o is long or double;
    private static double Num(object o) => o is long l ? l : (double)o;

    private static object? Lookup(Dictionary<string, MetadataValue>? m, string k)
    {
        if (m is null || !m.TryGetValue(k, out var v)) return null;
        return v.Kind switch
        {
            MetadataKind.Integer => v.AsInteger, MetadataKind.Float => v.AsFloat,
            MetadataKind.String => v.AsString, MetadataKind.Bool => v.AsBool, _ => null,
        };
    }

    private static bool RefEq(object? x, object y)
    {
        if (x is null) return false;
        if (IsNum(x) && IsNum(y)) return Num(x) == Num(y);
        if (x is string xs && y is string ys) return xs == ys;
        if (x is bool xb && y is bool yb) return xb == yb;
        return false;
    }

    private static bool RefEval(F f, Dictionary<string, MetadataValue>? m)
    {
        switch (f)
        {
            case Logic { Op: "$and" } l: return l.Kids.All(k => RefEval(k, m));
            case Logic l: return l.Kids.Any(k => RefEval(k, m));
            case Cmp c:
                object? x = Lookup(m, c.Key);
                switch (c.Op)
                {
                    case "short": case "$eq": return RefEq(x, c.Vals[0]);
                    case "$ne": return !RefEq(x, c.Vals[0]);
                    case "$in": return c.Vals.Any(v => RefEq(x, v));
                    case "$nin": return !c.Vals.Any(v => RefEq(x, v));
                }
                if (x is null || !IsNum(x)) return false;
                double a = Num(x), b = Num(c.Vals[0]);
                return c.Op switch { "$gt" => a > b, "$gte" => a >= b, "$lt" => a < b, _ => a <= b };
        }
        throw new InvalidOperationException();
    }

    private static string Lit(object o) => o switch
    {
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => d.ToString("0.0###", CultureInfo.InvariantCulture),
        string s => "\"" + s + "\"",
        bool b => b ? "true" : "false",
        _ => throw new InvalidOperationException(),
    };

    private static string ToJson(F f) => f switch
    {
        Logic l => $"{{\"{l.Op}\":[{string.Join(",", l.Kids.Select(ToJson))}]}}",
        Cmp { Op: "short" } c => $"{{\"{c.Key}\":{Lit(c.Vals[0])}}}",
        Cmp { Op: "$in" or "$nin" } c => $"{{\"{c.Key}\":{{\"{c.Op}\":[{string.Join(",", c.Vals.Select(Lit))}]}}}}",
        Cmp c => $"{{\"{c.Key}\":{{\"{c.Op}\":{Lit(c.Vals[0])}}}}}",
        _ => throw new InvalidOperationException(),
    };

    [Property(MaxTest = 500)]
    public bool ParsedFilterAgreesWithReference(int seed)
    {
        var r = new Random(seed);
        var f = Gen(r, 0);
        var w = WhereFilter.Parse(ToJson(f));
        for (int i = 0; i < 20; i++)
        {
            var m = GenMeta(r);
            if (w.Matches(m) != RefEval(f, m)) return false;
        }
        return true;
    }

    [Property(MaxTest = 100)]
    public bool CollectionGetAgreesWithReference(int seed)
    {
        // The same property end to end: Get(where) returns exactly the records the reference accepts.
        var r = new Random(seed);
        string dir = ManagedEmbed.Testing.TestPaths.NewTempDir("membed-where");
        try
        {
            using var store = CollectionStore.Open(dir);
            var c = store.CreateCollection("t", DistanceSpace.L2);
            int n = 30;
            var metas = Enumerable.Range(0, n).Select(_ => GenMeta(r)).ToList();
            c.Add(Enumerable.Range(0, n).Select(i => $"id{i}").ToList(), metadatas: metas.Select(m => (IReadOnlyDictionary<string, MetadataValue>?)m).ToList(),
                embeddings: Enumerable.Range(0, n).Select(_ => H.RandVec(r, 4)).ToList());
            var f = Gen(r, 0);
            var got = c.Get(where: WhereFilter.Parse(ToJson(f))).Ids;
            var want = Enumerable.Range(0, n).Where(i => RefEval(f, metas[i])).Select(i => $"id{i}").ToList();
            return got.SequenceEqual(want);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("{\"a\":{\"$regex\":\"x\"}}", "unknown operator '$regex'")]
    [InlineData("{\"$not\":[{\"a\":1}]}", "unknown operator '$not'")]
    [InlineData("{\"a\":{\"$gt\":\"5\"}}", "$gt on 'a' needs a number")]
    [InlineData("{\"a\":{\"$lte\":true}}", "$lte on 'a' needs a number")]
    [InlineData("{\"a\":{\"$in\":[]}}", "$in on 'a' needs a non-empty array")]
    [InlineData("{\"a\":{\"$in\":\"x\"}}", "$in on 'a' needs a non-empty array")]
    [InlineData("{\"a\":{\"$in\":[[1]]}}", "needs a string, number or bool")]
    [InlineData("{\"a\":null}", "needs a string, number or bool")]
    [InlineData("{\"a\":[1,2]}", "needs a string, number or bool")]
    [InlineData("{\"a\":1,\"b\":2}", "exactly one key")]
    [InlineData("{\"a\":{\"$eq\":1,\"$ne\":2}}", "exactly one operator")]
    [InlineData("{\"$and\":{\"a\":1}}", "$and needs a non-empty array")]
    [InlineData("{\"$or\":[]}", "$or needs a non-empty array")]
    [InlineData("{\"$and\":[1]}", "expected an object")]
    [InlineData("[1]", "must be a JSON object")]
    [InlineData("{\"a\":", "not valid JSON")]
    [InlineData("", "not valid JSON")]
    public void MalformedWhereIsAClearError(string json, string expected)
    {
        var e = Assert.Throws<ManagedEmbedException>(() => WhereFilter.Parse(json));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("invalid where", e.Message);
    }

    [Fact]
    public void EmptyWhereMatchesAll()
    {
        Assert.True(WhereFilter.Parse("{}").Matches(null));
        Assert.True(WhereFilter.Parse("{}").IsAll);
    }

    [Fact]
    public void NumbersCompareAcrossIntAndFloatButNotAcrossTypes()
    {
        var m = H.Meta(("n", 3L), ("f", 2.5), ("s", "3"), ("b", true));
        Assert.True(WhereFilter.Parse("{\"n\":3.0}").Matches(m));
        Assert.True(WhereFilter.Parse("{\"f\":{\"$gt\":2}}").Matches(m));
        Assert.False(WhereFilter.Parse("{\"s\":3}").Matches(m));
        Assert.False(WhereFilter.Parse("{\"s\":{\"$gt\":1}}").Matches(m));
        Assert.False(WhereFilter.Parse("{\"b\":1}").Matches(m));
        Assert.True(WhereFilter.Parse("{\"b\":true}").Matches(m));
        Assert.True(WhereFilter.Parse("{\"missing\":{\"$ne\":1}}").Matches(m));
        Assert.False(WhereFilter.Parse("{\"missing\":{\"$gte\":-1000}}").Matches(m));
        // Large integers compare exactly, not through a lossy double cast.
        var big = H.Meta(("n", 9007199254740993L));
        Assert.False(WhereFilter.Parse("{\"n\":9007199254740992.0}").Matches(big));
        Assert.True(WhereFilter.Parse("{\"n\":{\"$gt\":9007199254740992.0}}").Matches(big));
    }

    [Fact]
    public void WhereDocumentOperators()
    {
        var c = WhereDocumentFilter.Parse("{\"$contains\":\"apple\"}");
        Assert.True(c.Matches("pineapple pie"));
        Assert.False(c.Matches("Apple"));
        Assert.False(c.Matches(null));
        var nc = WhereDocumentFilter.Parse("{\"$not_contains\":\"apple\"}");
        Assert.True(nc.Matches(null));
        Assert.False(nc.Matches("apple"));
        var and = WhereDocumentFilter.Parse("{\"$and\":[{\"$contains\":\"a\"},{\"$or\":[{\"$contains\":\"b\"},{\"$not_contains\":\"c\"}]}]}");
        Assert.True(and.Matches("ab c"));
        Assert.True(and.Matches("a"));
        Assert.False(and.Matches("ac"));
        foreach (var bad in new[] { "{\"$contains\":1}", "{\"$contains\":\"\"}", "{\"$regex\":1}", "{\"$regex\":\"(\"}", "{\"$near\":\"a\"}", "{\"$and\":[]}", "{\"$contains\":\"a\",\"$not_contains\":\"b\"}", "x" })
            Assert.StartsWith("invalid where_document", Assert.Throws<ManagedEmbedException>(() => WhereDocumentFilter.Parse(bad)).Message);
    }
}
