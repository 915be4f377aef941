using System.Collections.Concurrent;

namespace ManagedEmbed.Collections;

/// <summary>
/// Shares metadata key strings across records (a million records with key "source" hold one string), which saves
/// memory and lets filter evaluation hit string.Equals' reference fast path. Bounded so hostile inputs with
/// unbounded distinct keys cannot grow it without limit.
/// </summary>
internal static class KeyPool
{
    private const int MaxKeys = 65536;
    private static readonly ConcurrentDictionary<string, string> Pool = new(StringComparer.Ordinal);

    /// <summary>Shares short string values too (low-cardinality values such as "notion" are the common case).</summary>
    public static MetadataValue InternValue(MetadataValue v) =>
        v.Kind == MetadataKind.String && v.AsString.Length <= 64 ? MetadataValue.From(Intern(v.AsString)) : v;

    public static string Intern(string key)
    {
        if (Pool.TryGetValue(key, out var s)) return s;
        if (Pool.Count >= MaxKeys) return key;
        return Pool.GetOrAdd(key, key);
    }
}
