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
}

/// <summary>One metadata value: string, integer (long), float (double) or bool.</summary>
public readonly struct MetadataValue : IEquatable<MetadataValue>
{
    private readonly string? _s;
    private readonly long _i; // integer, bool (0/1) or the bits of the double: 24 bytes per value

    private MetadataValue(MetadataKind kind, string? s, long i) { Kind = kind; _s = s; _i = i; }
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
        _ => _i == o._i,
    };
    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is MetadataValue v && Equals(v);
    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Kind, _s, _i);
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
        _ => "null",
    };
}
