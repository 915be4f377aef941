using System.Buffers;
using System.Collections;
using System.Linq.Expressions;
using System.Text;
using System.Text.Json;
using ManagedEmbed.Collections;
using Microsoft.Extensions.VectorData.ProviderServices;
using Microsoft.Extensions.VectorData.ProviderServices.Filter;

namespace ManagedEmbed.VectorData;

#pragma warning disable MEVD9001 // the abstraction's provider-services types are marked experimental

/// <summary>
/// Translates a LINQ filter (<c>r =&gt; r.Year &gt;= 2020 &amp;&amp; tags.Contains(r.Tag)</c>) to the store's where-filter:
/// ==, !=, &lt;, &lt;=, &gt;, &gt;=, &amp;&amp;, ||, ! and Contains on a list ($in/$nin). Negation is pushed down to the
/// comparisons (De Morgan), so a record whose value is null (not stored) matches neither <c>x &lt; v</c> nor
/// <c>!(x &lt; v)</c>, as in SQL; <c>!(x == v)</c> (= <c>x != v</c>) does match it, as in C#.
/// </summary>
internal sealed class FilterTranslator : FilterTranslatorBase
{
    /// <summary>The filter, or null when it matches every record.</summary>
    public WhereFilter? Translate(LambdaExpression filter, CollectionModel model)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var body = PreprocessFilter(filter, model, new FilterPreprocessingOptions());
        var node = Translate(body, negate: false);
        if (node is Const { Value: true }) return null;
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer)) Write(node, w);
        return WhereFilter.Parse(Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    private abstract record Node;
    private sealed record Const(bool Value) : Node;
    private sealed record Cmp(string Key, string Op, object Value) : Node;
    private sealed record In(string Key, bool Negated, object[] Values) : Node;
    private sealed record Junction(bool IsAnd, Node[] Children) : Node;

    private Node Translate(Expression node, bool negate)
    {
        switch (node)
        {
            case BinaryExpression { NodeType: ExpressionType.AndAlso or ExpressionType.OrElse } b:
                {
                    // !(a && b) == !a || !b and !(a || b) == !a && !b.
                    bool isAnd = (b.NodeType == ExpressionType.AndAlso) != negate;
                    return Combine(isAnd, Translate(b.Left, negate), Translate(b.Right, negate));
                }
            case UnaryExpression { NodeType: ExpressionType.Not } not when not.Type == typeof(bool):
                return Translate(not.Operand, !negate);
            case UnaryExpression { NodeType: ExpressionType.Convert } conv when Nullable.GetUnderlyingType(conv.Type) == conv.Operand.Type:
                return Translate(conv.Operand, negate);
            case BinaryExpression { NodeType: ExpressionType.Equal or ExpressionType.NotEqual or ExpressionType.LessThan
                or ExpressionType.LessThanOrEqual or ExpressionType.GreaterThan or ExpressionType.GreaterThanOrEqual } b:
                return Comparison(b, negate);
            case ConstantExpression { Value: bool c }:
                return new Const(c != negate);
            case MethodCallExpression call when TryMatchContains(call, out var source, out var item):
                return Contains(call, source, item, negate);
            case MethodCallExpression call:
                throw new NotSupportedException($"filter: method {call.Method.DeclaringType?.Name}.{call.Method.Name} is not supported (supported: Contains on a list of values)");
            case Expression e when e.Type == typeof(bool) && TryBindProperty(e, out var p):
                // r => r.IsActive
                return new Cmp(Key(p, e), "$eq", !negate);
            default:
                throw new NotSupportedException($"filter: {node.NodeType} node '{node}' is not supported (supported: ==, !=, <, <=, >, >=, &&, ||, !, Contains on a list)");
        }
    }

    private static Node Combine(bool isAnd, Node a, Node b)
    {
        // Fold constants (e.g. an empty Contains list) so that no empty $and/$or reaches the store's parser.
        if (a is Const ca) return ca.Value == isAnd ? b : ca;
        if (b is Const cb) return cb.Value == isAnd ? a : cb;
        var kids = new List<Node>();
        foreach (var n in new[] { a, b })
        {
            if (n is Junction j && j.IsAnd == isAnd) kids.AddRange(j.Children);
            else kids.Add(n);
        }
        return new Junction(isAnd, kids.ToArray());
    }

    private Node Comparison(BinaryExpression b, bool negate)
    {
        var type = b.NodeType;
        Expression left = Unwrap(b.Left), right = Unwrap(b.Right);
        PropertyModel? p;
        object? value;
        Expression propExpr;
        if (TryBindProperty(left, out p) && right is ConstantExpression rc) { value = rc.Value; propExpr = left; }
        else if (TryBindProperty(right, out p) && left is ConstantExpression lc) { value = lc.Value; propExpr = right; type = Mirror(type); }
        else throw new NotSupportedException($"filter: comparison '{b}' must compare a record property with a value");
        if (value is null) throw new NotSupportedException($"filter: comparison '{b}' with null is not supported (null values are not stored)");
        if (negate) type = Complement(type);
        string op = type switch
        {
            ExpressionType.Equal => "$eq", ExpressionType.NotEqual => "$ne",
            ExpressionType.LessThan => "$lt", ExpressionType.LessThanOrEqual => "$lte",
            ExpressionType.GreaterThan => "$gt", _ => "$gte",
        };
        if (op is "$lt" or "$lte" or "$gt" or "$gte" && value is string or bool)
            throw new NotSupportedException($"filter: '{b}': ordering comparisons need a number");
        return new Cmp(Key(p!, propExpr), op, Scalar(value, b));
    }

    private static Expression Unwrap(Expression e) =>
        e is UnaryExpression { NodeType: ExpressionType.Convert } c && Nullable.GetUnderlyingType(c.Type) == c.Operand.Type ? c.Operand : e;

    private static ExpressionType Mirror(ExpressionType t) => t switch
    {
        ExpressionType.LessThan => ExpressionType.GreaterThan, ExpressionType.LessThanOrEqual => ExpressionType.GreaterThanOrEqual,
        ExpressionType.GreaterThan => ExpressionType.LessThan, ExpressionType.GreaterThanOrEqual => ExpressionType.LessThanOrEqual,
        _ => t,
    };

    private static ExpressionType Complement(ExpressionType t) => t switch
    {
        ExpressionType.Equal => ExpressionType.NotEqual, ExpressionType.NotEqual => ExpressionType.Equal,
        ExpressionType.LessThan => ExpressionType.GreaterThanOrEqual, ExpressionType.GreaterThanOrEqual => ExpressionType.LessThan,
        ExpressionType.GreaterThan => ExpressionType.LessThanOrEqual, _ => ExpressionType.GreaterThan,
    };

    private Node Contains(MethodCallExpression call, Expression source, Expression item, bool negate)
    {
        if (TryBindProperty(source, out _))
            throw new NotSupportedException($"filter: '{call}': Contains on a record property (array field) is not supported; only a list of values containing a property");
        if (!TryBindProperty(Unwrap(item), out var p))
            throw new NotSupportedException($"filter: '{call}': the item of Contains must be a record property");
        IEnumerable values = source switch
        {
            ConstantExpression { Value: IEnumerable e and not string } => e,
            NewArrayExpression arr => arr.Expressions.Select(x => x is ConstantExpression c ? c.Value
                : throw new NotSupportedException($"filter: '{call}': array elements must be values")).ToArray(),
            _ => throw new NotSupportedException($"filter: '{call}': Contains needs a list of values"),
        };
        var list = new List<object>();
        foreach (var v in values) list.Add(Scalar(v ?? throw new NotSupportedException($"filter: '{call}': null in the list is not supported"), call));
        // x in [] is false for every record.
        if (list.Count == 0) return new Const(negate);
        return new In(Key(p, item), negate, list.ToArray());
    }

    private static string Key(PropertyModel p, Expression e) => p switch
    {
        KeyPropertyModel => throw new NotSupportedException($"filter: '{e}': filtering on the key property '{p.ModelName}' is not supported; get records by key instead"),
        VectorPropertyModel => throw new NotSupportedException($"filter: '{e}': filtering on the vector property '{p.ModelName}' is not supported"),
        _ => p.StorageName,
    };

    private static object Scalar(object v, Expression where) => v switch
    {
        string or bool or long or double => v,
        int i => (long)i,
        float f => (double)f,
        _ => throw new NotSupportedException($"filter: '{where}': values of type {v.GetType().Name} are not supported"),
    };

    private static void Write(Node n, Utf8JsonWriter w)
    {
        w.WriteStartObject();
        switch (n)
        {
            case Cmp c:
                w.WritePropertyName(c.Key);
                w.WriteStartObject();
                w.WritePropertyName(c.Op);
                WriteValue(c.Value, w);
                w.WriteEndObject();
                break;
            case In i:
                w.WritePropertyName(i.Key);
                w.WriteStartObject();
                w.WriteStartArray(i.Negated ? "$nin" : "$in");
                foreach (var v in i.Values) WriteValue(v, w);
                w.WriteEndArray();
                w.WriteEndObject();
                break;
            case Junction j:
                w.WriteStartArray(j.IsAnd ? "$and" : "$or");
                foreach (var k in j.Children) Write(k, w);
                w.WriteEndArray();
                break;
            case Const:
                // Only a whole filter that is constant false gets here (true is "no filter"): a condition no record meets.
                w.WriteStartArray("$and");
                w.WriteStartObject(); w.WriteStartObject("_"); w.WriteStartArray("$in"); w.WriteNumberValue(0); w.WriteEndArray(); w.WriteEndObject(); w.WriteEndObject();
                w.WriteStartObject(); w.WriteStartObject("_"); w.WriteStartArray("$nin"); w.WriteNumberValue(0); w.WriteEndArray(); w.WriteEndObject(); w.WriteEndObject();
                w.WriteEndArray();
                break;
        }
        w.WriteEndObject();
    }

    private static void WriteValue(object v, Utf8JsonWriter w)
    {
        switch (v)
        {
            case string s: w.WriteStringValue(s); break;
            case bool b: w.WriteBooleanValue(b); break;
            case long l: w.WriteNumberValue(l); break;
            case double d:
                if (!double.IsFinite(d)) throw new NotSupportedException("filter: NaN and infinite values are not supported");
                w.WriteNumberValue(d);
                break;
        }
    }
}
