using System.Globalization;

namespace ManagedEmbed.Collections;

/// <summary>The type of a metadata value.</summary>
public enum MetadataKind : byte
{
    /// <summary>Only valid in Update/Upsert: removes the key from the stored metadata (ChromaDB's <c>None</c>).</summary>
    Null = 0,
    /// <summary>A UTF-8 string.</summary>
    String = 1,
    /// <summary>A 64-bit signed integer.</summary>
    Integer = 2,
    /// <summary>A finite 64-bit float.</summary>
    Float = 3,
    /// <summary>A boolean.</summary>
    Bool = 4,
    /// <summary>A non-empty list of strings, integers, floats or bools, all of one kind (ChromaDB 1.5's array metadata).</summary>
    List = 5,
}

/// <summary>One metadata value: string, integer (long), float (double), bool, or a list of one of them.</summary>
public readonly struct MetadataValue : IEquatable<MetadataValue>
{
    private readonly object? _o; // the string, or the list's MetadataValue[]
    private readonly long _i; // integer, bool (0/1) or the bits of the double: 24 bytes per value

    private MetadataValue(MetadataKind kind, object? o, long i) { Kind = kind; _o = o; _i = i; }
    private string? _s => _o as string;
    private double _f => BitConverter.Int64BitsToDouble(_i);

    /// <summary>The value's type.</summary>
    public MetadataKind Kind { get; }
    /// <summary>The string value (Kind == String).</summary>
    public string AsString => Kind == MetadataKind.String ? _s! : throw new InvalidOperationException("not a string");
    /// <summary>The integer value (Kind == Integer).</summary>
    public long AsInteger => Kind == MetadataKind.Integer ? _i : throw new InvalidOperationException("not an integer");
    /// <summary>The float value (Kind == Float).</summary>
    public double AsFloat => Kind == MetadataKind.Float ? _f : throw new InvalidOperationException("not a float");
    /// <summary>The bool value (Kind == Bool).</summary>
    public bool AsBool => Kind == MetadataKind.Bool ? _i != 0 : throw new InvalidOperationException("not a bool");
    /// <summary>The list's elements (Kind == List).</summary>
    public IReadOnlyList<MetadataValue> AsList => Kind == MetadataKind.List ? (MetadataValue[])_o! : throw new InvalidOperationException("not a list");
    /// <summary>True for Integer and Float.</summary>
    public bool IsNumber => Kind is MetadataKind.Integer or MetadataKind.Float;
    /// <summary>The numeric value as double (Integer or Float).</summary>
    public double AsNumber => Kind == MetadataKind.Integer ? _i : Kind == MetadataKind.Float ? _f : throw new InvalidOperationException("not a number");

    /// <summary>A string value.</summary>
    public static MetadataValue From(string s) => new(MetadataKind.String, s ?? throw new ArgumentNullException(nameof(s)), 0);
    /// <summary>An integer value.</summary>
    public static MetadataValue From(long i) => new(MetadataKind.Integer, null, i);
    /// <summary>A float value.</summary>
    public static MetadataValue From(double f) => new(MetadataKind.Float, null, BitConverter.DoubleToInt64Bits(f));
    /// <summary>A bool value.</summary>
    public static MetadataValue From(bool b) => new(MetadataKind.Bool, null, b ? 1 : 0);
    /// <summary>
    /// A list value: non-empty, every element a string, integer, float or bool, all of one kind (an integer/float mix
    /// is a list of floats, as in JSON).
    /// </summary>
    /// <exception cref="ManagedEmbedException">The list is empty, nested or mixes kinds.</exception>
    public static MetadataValue From(IEnumerable<MetadataValue> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var a = items.ToArray();
        if (a.Length == 0) throw new ManagedEmbedException("a metadata list must not be empty");
        bool anyFloat = a.Any(x => x.Kind == MetadataKind.Float);
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i].Kind is MetadataKind.Null or MetadataKind.List) throw new ManagedEmbedException("a metadata list holds strings, numbers or bools, not null or lists");
            if (anyFloat && a[i].Kind == MetadataKind.Integer) a[i] = From((double)a[i].AsInteger);
            if (a[i].Kind != a[0].Kind) throw new ManagedEmbedException($"a metadata list must hold values of one type (found {a[0].Kind} and {a[i].Kind})");
        }
        return new(MetadataKind.List, a, 0);
    }

    /// <summary>The key-removal marker for Update/Upsert.</summary>
    public static MetadataValue Null => default;

    /// <summary>Implicit string conversion.</summary>
    public static implicit operator MetadataValue(string s) => From(s);
    /// <summary>Implicit long conversion.</summary>
    public static implicit operator MetadataValue(long i) => From(i);
    /// <summary>Implicit int conversion.</summary>
    public static implicit operator MetadataValue(int i) => From(i);
    /// <summary>Implicit double conversion.</summary>
    public static implicit operator MetadataValue(double f) => From(f);
    /// <summary>Implicit bool conversion.</summary>
    public static implicit operator MetadataValue(bool b) => From(b);

    /// <summary>Exact equality: same kind and same value.</summary>
    public bool Equals(MetadataValue o) => Kind == o.Kind && Kind switch
    {
        MetadataKind.String => string.Equals(_s, o._s, StringComparison.Ordinal),
        MetadataKind.Float => _f.Equals(o._f),
        MetadataKind.Null => true,
        MetadataKind.List => ((MetadataValue[])_o!).AsSpan().SequenceEqual((MetadataValue[])o._o!),
        _ => _i == o._i,
    };
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is MetadataValue v && Equals(v);
    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Kind, _o is MetadataValue[] l ? l.Length : _o?.GetHashCode() ?? 0, _i);
    /// <summary>Equality operator.</summary>
    public static bool operator ==(MetadataValue a, MetadataValue b) => a.Equals(b);
    /// <summary>Inequality operator.</summary>
    public static bool operator !=(MetadataValue a, MetadataValue b) => !a.Equals(b);

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        MetadataKind.String => _s!,
        MetadataKind.Integer => _i.ToString(CultureInfo.InvariantCulture),
        MetadataKind.Float => _f.ToString("R", CultureInfo.InvariantCulture),
        MetadataKind.Bool => _i != 0 ? "true" : "false",
        MetadataKind.List => "[" + string.Join(",", (MetadataValue[])_o!) + "]",
        _ => "null",
    };
}
