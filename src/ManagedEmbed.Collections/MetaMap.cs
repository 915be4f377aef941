using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace ManagedEmbed.Collections;

/// <summary>
/// A record's stored metadata: immutable parallel arrays of (shared, see <see cref="KeyPool"/>) keys and values.
/// Compared with a Dictionary per record it costs one object instead of three and a lookup is a short scan by
/// reference (filter keys are pooled too) with no hashing — the filter scan over a million records is
/// memory-latency bound, so fewer pointer hops is what matters.
/// </summary>
internal sealed class MetaMap : IReadOnlyDictionary<string, MetadataValue>
{
    private readonly string[] _keys;
    private readonly MetadataValue[] _values;

    private MetaMap(string[] keys, MetadataValue[] values) { _keys = keys; _values = values; }

    /// <summary>Builds from key/value pairs (keys unique), dropping Null values; null when nothing is left.</summary>
    public static MetaMap? From(IEnumerable<KeyValuePair<string, MetadataValue>> kv)
    {
        var keys = new List<string>();
        var vals = new List<MetadataValue>();
        foreach (var (k, v) in kv)
        {
            if (v.Kind == MetadataKind.Null) continue;
            keys.Add(KeyPool.Intern(k));
            vals.Add(KeyPool.InternValue(v));
        }
        return keys.Count == 0 ? null : new MetaMap(keys.ToArray(), vals.ToArray());
    }

    /// <summary>Lookup: reference comparison first (pooled keys), then ordinal comparison.</summary>
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out MetadataValue value)
    {
        var ks = _keys;
        for (int i = 0; i < ks.Length; i++)
            if ((object)ks[i] == key) { value = _values[i]; return true; }
        for (int i = 0; i < ks.Length; i++)
            if (string.Equals(ks[i], key, StringComparison.Ordinal)) { value = _values[i]; return true; }
        value = default;
        return false;
    }

    public MetadataValue this[string key] => TryGetValue(key, out var v) ? v : throw new KeyNotFoundException(key);
    public IEnumerable<string> Keys => _keys;
    public IEnumerable<MetadataValue> Values => _values;
    public int Count => _keys.Length;
    public bool ContainsKey(string key) => TryGetValue(key, out _);

    public IEnumerator<KeyValuePair<string, MetadataValue>> GetEnumerator()
    {
        for (int i = 0; i < _keys.Length; i++) yield return new(_keys[i], _values[i]);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
