using System.Text.Json;
using System.Text.RegularExpressions;

namespace ManagedEmbed.Collections;

/// <summary>
/// A parsed ChromaDB <c>where</c> clause over metadata. Grammar (one key per object, like ChromaDB):
/// <c>{"k": v}</c> (= $eq), <c>{"k": {"$op": v}}</c> with $eq $ne $gt $gte $lt $lte $in $nin, $contains and
/// $not_contains (on list values, ChromaDB 1.5's array metadata: the list holds / does not hold the value), and
/// <c>{"$and": [w, ...]}</c> / <c>{"$or": [w, ...]}</c> nested up to <see cref="MaxNesting"/> levels; <c>{}</c> matches everything.
/// Semantics: integers and floats compare numerically with each other; a string never equals a number or bool;
/// $gt/$gte/$lt/$lte take a number and only match numeric values; a missing key fails $eq/$in/$gt.. and passes
/// $ne/$nin (they are the exact negations of $eq/$in), and likewise $not_contains of $contains; a list value never
/// equals a scalar and is not a number; $contains on a scalar value is false. Unknown operators and wrong operand
/// types are errors.
/// </summary>
public sealed class WhereFilter
{
    private readonly Node _root;
    private WhereFilter(Node root) { _root = root; }

    /// <summary>A filter that matches every record.</summary>
    public static WhereFilter All { get; } = new(new AndNode([]));

    /// <summary>Parses a where clause from JSON text; a clear <see cref="ManagedEmbedException"/> when malformed.</summary>
    public static WhereFilter Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, JsonOptions); }
        catch (JsonException e) { throw new ManagedEmbedException($"invalid where: {JsonError(e)}"); }
        using (doc) return Parse(doc.RootElement);
    }

    /// <summary>How deeply <c>$and</c>/<c>$or</c> (and <c>where_document</c>'s) clauses may nest.</summary>
    public const int MaxNesting = 32;

    /// <summary>JSON depth for a clause nested <see cref="MaxNesting"/> levels (two JSON levels per $and/$or, a few for a leaf), so the nesting check, not the JSON reader, reports the limit.</summary>
    internal static readonly JsonDocumentOptions JsonOptions = new() { MaxDepth = 2 * MaxNesting + 8 };

    /// <summary>A JsonException as a short reason; the reader's depth error becomes the documented nesting limit.</summary>
    internal static string JsonError(JsonException e) => e.Message.Contains("maximum configured depth", StringComparison.Ordinal)
        ? $"nested deeper than {MaxNesting} levels (the limit)"
        : $"not valid JSON ({e.Message.Split('.')[0]})";

    /// <summary>Parses a where clause from a JSON element.</summary>
    public static WhereFilter Parse(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) throw Err("the clause must be a JSON object");
        if (!e.EnumerateObject().Any()) return All;
        return new WhereFilter(ParseNode(e, 0));
    }

    /// <summary>True when the metadata (null = no metadata) satisfies the clause.</summary>
    public bool Matches(IReadOnlyDictionary<string, MetadataValue>? metadata) => _root.Eval(metadata);

    /// <summary>A row predicate over metadata columns, or null when some key has no column.</summary>
    internal Func<int, bool>? Bind(MetaColumns columns) => _root.Bind(columns);

    /// <summary>True for the match-everything filter.</summary>
    public bool IsAll => _root is AndNode { Children.Length: 0 };

    private static ManagedEmbedException Err(string what) => new($"invalid where: {what}");

    private static Node ParseNode(JsonElement e, int depth)
    {
        if (depth > MaxNesting) throw Err($"nested deeper than {MaxNesting} levels (the limit)");
        if (e.ValueKind != JsonValueKind.Object) throw Err($"expected an object, got {Kind(e)}");
        int n = 0;
        JsonProperty prop = default;
        foreach (var p in e.EnumerateObject()) { prop = p; n++; }
        if (n != 1) throw Err($"each object must have exactly one key (use $and to combine conditions), got {n}");
        string key = prop.Name;
        if (key is "$and" or "$or")
        {
            if (prop.Value.ValueKind != JsonValueKind.Array || prop.Value.GetArrayLength() == 0)
                throw Err($"{key} needs a non-empty array of where clauses");
            var kids = prop.Value.EnumerateArray().Select(c => ParseNode(c, depth + 1)).ToArray();
            return key == "$and" ? new AndNode(kids) : new OrNode(kids);
        }
        if (key.StartsWith('$')) throw Err($"unknown operator '{key}'");
        if (key.Length == 0) throw Err("empty metadata key");
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object) return new CmpNode(key, Op.Eq, [Scalar(v, key, "$eq")]);
        int m = 0;
        JsonProperty op = default;
        foreach (var p in v.EnumerateObject()) { op = p; m++; }
        if (m != 1) throw Err($"condition on '{key}' must have exactly one operator, got {m}");
        switch (op.Name)
        {
            case "$eq": return new CmpNode(key, Op.Eq, [Scalar(op.Value, key, op.Name)]);
            case "$ne": return new CmpNode(key, Op.Ne, [Scalar(op.Value, key, op.Name)]);
            case "$gt": return new CmpNode(key, Op.Gt, [Number(op.Value, key, op.Name)]);
            case "$gte": return new CmpNode(key, Op.Gte, [Number(op.Value, key, op.Name)]);
            case "$lt": return new CmpNode(key, Op.Lt, [Number(op.Value, key, op.Name)]);
            case "$lte": return new CmpNode(key, Op.Lte, [Number(op.Value, key, op.Name)]);
            case "$contains": return new CmpNode(key, Op.Contains, [Scalar(op.Value, key, op.Name)]);
            case "$not_contains": return new CmpNode(key, Op.NotContains, [Scalar(op.Value, key, op.Name)]);
            case "$in":
            case "$nin":
                if (op.Value.ValueKind != JsonValueKind.Array || op.Value.GetArrayLength() == 0)
                    throw Err($"{op.Name} on '{key}' needs a non-empty array");
                var vals = op.Value.EnumerateArray().Select(x => Scalar(x, key, op.Name)).ToArray();
                return new CmpNode(key, op.Name == "$in" ? Op.In : Op.Nin, vals);
            default: throw Err($"unknown operator '{op.Name}' on '{key}'");
        }
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object", JsonValueKind.Array => "an array", JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number", JsonValueKind.True or JsonValueKind.False => "a bool", _ => "null",
    };

    internal static MetadataValue Scalar(JsonElement v, string key, string op)
    {
        switch (v.ValueKind)
        {
            case JsonValueKind.String: return KeyPool.InternValue(MetadataValue.From(v.GetString()!));
            case JsonValueKind.True: return MetadataValue.From(true);
            case JsonValueKind.False: return MetadataValue.From(false);
            case JsonValueKind.Number:
                if (v.TryGetInt64(out long l)) return MetadataValue.From(l);
                double d = v.GetDouble();
                if (!double.IsFinite(d)) throw Err($"{op} on '{key}': number out of range");
                return MetadataValue.From(d);
            default: throw Err($"{op} on '{key}' needs a string, number or bool, got {Kind(v)}");
        }
    }

    private static MetadataValue Number(JsonElement v, string key, string op)
    {
        if (v.ValueKind != JsonValueKind.Number) throw Err($"{op} on '{key}' needs a number, got {Kind(v)}");
        return Scalar(v, key, op);
    }

    /// <summary>Equality used by $eq/$ne/$in/$nin: numbers compare by value across int/float.</summary>
    internal static bool ValueEquals(MetadataValue a, MetadataValue b)
    {
        if (a.Kind == MetadataKind.Integer && b.Kind == MetadataKind.Integer) return a.AsInteger == b.AsInteger;
        if (a.IsNumber && b.IsNumber) return Compare(a, b) == 0;
        return a.Equals(b);
    }

    /// <summary>Numeric three-way comparison, exact for long/long and long/double.</summary>
    internal static int Compare(MetadataValue a, MetadataValue b)
    {
        if (a.Kind == MetadataKind.Integer && b.Kind == MetadataKind.Integer) return a.AsInteger.CompareTo(b.AsInteger);
        if (a.Kind == MetadataKind.Float && b.Kind == MetadataKind.Float) return a.AsFloat.CompareTo(b.AsFloat);
        if (a.Kind == MetadataKind.Integer) return -CompareDoubleLong(b.AsFloat, a.AsInteger);
        return CompareDoubleLong(a.AsFloat, b.AsInteger);
    }

    // Exact comparison of a double with a long (a plain (double)l cast rounds above 2^53).
    private static int CompareDoubleLong(double d, long l)
    {
        if (d < -9.2233720368547758e18) return -1;
        if (d >= 9.2233720368547758e18) return 1;
        double t = Math.Truncate(d);
        long tl = (long)t;
        if (tl != l) return tl.CompareTo(l);
        return (d - t).CompareTo(0.0);
    }

    private enum Op { Eq, Ne, Gt, Gte, Lt, Lte, In, Nin, Contains, NotContains }

    private abstract class Node
    {
        public abstract bool Eval(IReadOnlyDictionary<string, MetadataValue>? m);
        public abstract Func<int, bool>? Bind(MetaColumns c);
    }

    private sealed class AndNode(Node[] children) : Node
    {
        public Node[] Children { get; } = children;
        public override Func<int, bool>? Bind(MetaColumns c)
        {
            var kids = new Func<int, bool>[Children.Length];
            for (int i = 0; i < kids.Length; i++) if ((kids[i] = Children[i].Bind(c)!) is null) return null;
            if (kids.Length == 2) { var a = kids[0]; var b = kids[1]; return row => a(row) && b(row); }
            return row => { foreach (var k in kids) if (!k(row)) return false; return true; };
        }
        public override bool Eval(IReadOnlyDictionary<string, MetadataValue>? m)
        {
            foreach (var c in Children) if (!c.Eval(m)) return false;
            return true;
        }
    }

    private sealed class OrNode(Node[] children) : Node
    {
        public override Func<int, bool>? Bind(MetaColumns c)
        {
            var kids = new Func<int, bool>[children.Length];
            for (int i = 0; i < kids.Length; i++) if ((kids[i] = children[i].Bind(c)!) is null) return null;
            return row => { foreach (var k in kids) if (k(row)) return true; return false; };
        }

        public override bool Eval(IReadOnlyDictionary<string, MetadataValue>? m)
        {
            foreach (var c in children) if (c.Eval(m)) return true;
            return false;
        }
    }

    private sealed class CmpNode(string key, Op op, MetadataValue[] values) : Node
    {
        private readonly string _key = KeyPool.Intern(key);

        public override bool Eval(IReadOnlyDictionary<string, MetadataValue>? m)
        {
            MetadataValue x = default;
            bool has = m is MetaMap mm ? mm.TryGetValue(_key, out x) : m is not null && m.TryGetValue(_key, out x) && x.Kind != MetadataKind.Null;
            return EvalValue(has, x);
        }

        public override Func<int, bool>? Bind(MetaColumns c)
        {
            if (!c.TryGetColumn(_key, out var col)) return null;
            if (col is null) { bool v = EvalValue(false, default); return _ => v; }
            return row => { var x = col[row]; return EvalValue(x.Kind != MetadataKind.Null, x); };
        }

        private bool EvalValue(bool has, MetadataValue x)
        {
            switch (op)
            {
                case Op.Eq: return has && ValueEquals(x, values[0]);
                case Op.Ne: return !(has && ValueEquals(x, values[0]));
                case Op.In: return has && AnyEquals(x);
                case Op.Nin: return !(has && AnyEquals(x));
                case Op.Contains: return has && ListContains(x);
                case Op.NotContains: return !(has && ListContains(x));
            }
            if (!has || !x.IsNumber) return false;
            int c = Compare(x, values[0]);
            return op switch { Op.Gt => c > 0, Op.Gte => c >= 0, Op.Lt => c < 0, _ => c <= 0 };
        }

        private bool ListContains(MetadataValue x)
        {
            if (x.Kind != MetadataKind.List) return false;
            foreach (var e in x.AsList) if (ValueEquals(e, values[0])) return true;
            return false;
        }

        private bool AnyEquals(MetadataValue x)
        {
            foreach (var v in values) if (ValueEquals(x, v)) return true;
            return false;
        }
    }
}

/// <summary>
/// A parsed ChromaDB <c>where_document</c> clause: <c>{"$contains": "s"}</c>, <c>{"$not_contains": "s"}</c>,
/// <c>{"$regex": "p"}</c>, <c>{"$not_regex": "p"}</c>, combined with <c>$and</c>/<c>$or</c>. $contains is ordinal
/// (case-sensitive) substring search; $regex searches the document with a .NET pattern run by the non-backtracking
/// engine (linear time, like ChromaDB's Rust regex: no backreferences or lookarounds) and a per-match timeout, so a
/// hostile pattern cannot hang a query. A record without a document fails $contains/$regex and passes the negations.
/// </summary>
public sealed class WhereDocumentFilter
{
    private readonly Func<string?, bool> _eval;
    private WhereDocumentFilter(Func<string?, bool> eval) { _eval = eval; }

    /// <summary>The default timeout of one $regex match (1 s).</summary>
    public static readonly TimeSpan DefaultRegexTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Parses a where_document clause from JSON text; <paramref name="regexTimeout"/> bounds each $regex match.</summary>
    public static WhereDocumentFilter Parse(string json, TimeSpan? regexTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, WhereFilter.JsonOptions); }
        catch (JsonException e) { throw new ManagedEmbedException($"invalid where_document: {WhereFilter.JsonError(e)}"); }
        using (doc) return Parse(doc.RootElement, regexTimeout);
    }

    /// <summary>Parses a where_document clause from a JSON element.</summary>
    public static WhereDocumentFilter Parse(JsonElement e, TimeSpan? regexTimeout = null) => new(ParseNode(e, 0, regexTimeout ?? DefaultRegexTimeout));

    /// <summary>A $contains clause.</summary>
    public static WhereDocumentFilter Contains(string s) => new(d => d is not null && d.Contains(s, StringComparison.Ordinal));

    /// <summary>True when the document satisfies the clause.</summary>
    public bool Matches(string? document) => _eval(document);

    private static ManagedEmbedException Err(string what) => new($"invalid where_document: {what}");

    private static Func<string?, bool> ParseNode(JsonElement e, int depth, TimeSpan timeout)
    {
        if (depth > WhereFilter.MaxNesting) throw Err($"nested deeper than {WhereFilter.MaxNesting} levels (the limit)");
        if (e.ValueKind != JsonValueKind.Object) throw Err("expected an object");
        int n = 0;
        JsonProperty prop = default;
        foreach (var p in e.EnumerateObject()) { prop = p; n++; }
        if (n != 1) throw Err($"each object must have exactly one operator, got {n}");
        switch (prop.Name)
        {
            case "$contains":
            case "$not_contains":
                if (prop.Value.ValueKind != JsonValueKind.String || prop.Value.GetString()!.Length == 0)
                    throw Err($"{prop.Name} needs a non-empty string");
                string s = prop.Value.GetString()!;
                if (prop.Name == "$contains") return d => d is not null && d.Contains(s, StringComparison.Ordinal);
                return d => d is null || !d.Contains(s, StringComparison.Ordinal);
            case "$and":
            case "$or":
                if (prop.Value.ValueKind != JsonValueKind.Array || prop.Value.GetArrayLength() == 0)
                    throw Err($"{prop.Name} needs a non-empty array");
                var kids = prop.Value.EnumerateArray().Select(c => ParseNode(c, depth + 1, timeout)).ToArray();
                if (prop.Name == "$and") return d => kids.All(k => k(d));
                return d => kids.Any(k => k(d));
            case "$regex":
            case "$not_regex":
                if (prop.Value.ValueKind != JsonValueKind.String || prop.Value.GetString()!.Length == 0)
                    throw Err($"{prop.Name} needs a non-empty string");
                string pattern = prop.Value.GetString()!;
                Regex re;
                try { re = new Regex(pattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant, timeout); }
                catch (ArgumentException ex) { throw Err($"{prop.Name} pattern is not a valid regular expression ({ex.Message.ReplaceLineEndings(" ")})"); }
                catch (NotSupportedException ex) { throw Err($"{prop.Name} pattern uses a construct the linear-time engine does not support ({ex.Message.ReplaceLineEndings(" ")})"); }
                string opName = prop.Name; // not prop: its document is disposed after parsing
                bool negate = opName == "$not_regex";
                return d =>
                {
                    if (d is null) return negate;
                    try { return re.IsMatch(d) != negate; }
                    catch (RegexMatchTimeoutException) { throw new ManagedEmbedException($"where_document {opName} timed out after {timeout.TotalSeconds:0.###} s on one document; simplify the pattern"); }
                };
            default: throw Err($"unknown operator '{prop.Name}' (expected $contains, $not_contains, $regex, $not_regex, $and, $or)");
        }
    }
}
