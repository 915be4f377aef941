using System.Text.Json;
using System.Text.Json.Nodes;
using ManagedEmbed.Collections;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Server;

/// <summary>
/// A collection as Chroma's API sees it. Its identity (UUID, Chroma name, tenant, database, the client's embedding
/// function configuration), metadata, space and HNSW settings live in the collection's MANIFEST (Collections' one
/// home for them); this holds the directory, the id, and the server's per-collection write gate.
/// </summary>
internal sealed class ChromaCollectionInfo
{
    public required Guid Id { get; init; }
    public required string Dir { get; init; }
    public required Collection Collection { get; init; }
    public ChromaIdentity Identity => Collection.ChromaIdentity!;
    public string Name => Identity.Name;
    public string Tenant => Identity.Tenant;
    public string Database => Identity.Database;
    /// <summary>One writer per collection inside the server: check-then-write sequences (add skipping existing ids) are atomic.</summary>
    public SemaphoreSlim WriteGate { get; } = new(1, 1);

    /// <summary>Chroma's configuration_json: hnsw from the collection's space and HNSW settings (Chroma's defaults when none).</summary>
    public JsonObject Configuration
    {
        get
        {
            var h = Collection.Hnsw;
            var hnsw = new JsonObject
            {
                ["space"] = ChromaCatalog.SpaceName(Collection.Space),
                ["ef_construction"] = h?.ConstructionEf ?? HnswSettings.DefaultConstructionEf,
                ["ef_search"] = h?.SearchEf ?? HnswSettings.DefaultSearchEf,
                ["max_neighbors"] = h?.M ?? HnswSettings.DefaultM,
                ["resize_factor"] = 1.2, ["sync_threshold"] = 1000,
            };
            return new JsonObject
            {
                ["hnsw"] = hnsw, ["spann"] = null,
                ["embedding_function"] = Identity.ClientEmbeddingFunction is { } ef ? JsonNode.Parse(ef) : null,
            };
        }
    }
}

/// <summary>The Chroma-side catalog of a collection store: tenants, databases and collection identities.</summary>
internal sealed class ChromaCatalog
{
    public const string DefaultTenant = "default_tenant";
    public const string DefaultDatabase = "default_database";
    private const string DatabasesFile = "chroma-databases.json";
    private static readonly Guid DefaultDatabaseId = Guid.Empty;

    private readonly CollectionStore _store;
    private readonly object _gate = new();
    private readonly Dictionary<Guid, ChromaCollectionInfo> _byId = new();
    private readonly HashSet<string> _tenants = new(StringComparer.Ordinal) { DefaultTenant };
    private readonly List<(string Tenant, string Name, Guid Id)> _databases = [(DefaultTenant, DefaultDatabase, DefaultDatabaseId)];

    public ChromaCatalog(CollectionStore store)
    {
        _store = store;
        string dbFile = Path.Combine(store.Root, DatabasesFile);
        if (File.Exists(dbFile))
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(dbFile));
            foreach (var t in doc.RootElement.GetProperty("tenants").EnumerateArray()) _tenants.Add(t.GetString()!);
            foreach (var d in doc.RootElement.GetProperty("databases").EnumerateArray())
                _databases.Add((d.GetProperty("tenant").GetString()!, d.GetProperty("name").GetString()!, Guid.Parse(d.GetProperty("id").GetString()!)));
        }
        foreach (string dir in store.ListCollections())
        {
            // Opening folds an older build's chroma.json sidecar into the MANIFEST. A collection made by the CLI gets
            // an identity on first sight: the default database, its directory name.
            var coll = store.GetCollection(dir);
            var id = coll.ChromaIdentity;
            if (id is null)
            {
                id = new ChromaIdentity(Guid.NewGuid(), dir, DefaultTenant, DefaultDatabase, null);
                store.ModifyCollection(dir, chroma: id);
            }
            _byId[id.Id] = new ChromaCollectionInfo { Id = id.Id, Dir = dir, Collection = coll };
        }
    }

    private void WriteDatabases()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("tenants");
            foreach (var t in _tenants.Order(StringComparer.Ordinal)) w.WriteStringValue(t);
            w.WriteEndArray();
            w.WriteStartArray("databases");
            foreach (var d in _databases.Where(d => d.Id != DefaultDatabaseId))
            {
                w.WriteStartObject();
                w.WriteString("tenant", d.Tenant);
                w.WriteString("name", d.Name);
                w.WriteString("id", d.Id.ToString());
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        DurableFile.WriteAllBytes(Path.Combine(_store.Root, DatabasesFile), buffer.WrittenSpan);
    }

    internal static string SpaceName(DistanceSpace s) => s switch { DistanceSpace.Cosine => "cosine", DistanceSpace.L2 => "l2", _ => "ip" };

    // ------------------------------------------------------------------ tenants and databases

    public bool TenantExists(string tenant) { lock (_gate) return _tenants.Contains(tenant); }

    /// <summary>False when the tenant exists already.</summary>
    public bool CreateTenant(string tenant)
    {
        lock (_gate)
        {
            if (!_tenants.Add(tenant)) return false;
            WriteDatabases();
            return true;
        }
    }

    public (string Tenant, string Name, Guid Id)? GetDatabase(string tenant, string name)
    {
        lock (_gate)
        {
            foreach (var d in _databases) if (d.Tenant == tenant && d.Name == name) return d;
            return null;
        }
    }

    public List<(string Tenant, string Name, Guid Id)> ListDatabases(string tenant)
    {
        lock (_gate) return _databases.Where(d => d.Tenant == tenant).ToList();
    }

    /// <summary>False when the database exists already.</summary>
    public bool CreateDatabase(string tenant, string name)
    {
        lock (_gate)
        {
            if (_databases.Any(d => d.Tenant == tenant && d.Name == name)) return false;
            _databases.Add((tenant, name, Guid.NewGuid()));
            WriteDatabases();
            return true;
        }
    }

    /// <summary>Deletes a database and every collection in it; false when it does not exist.</summary>
    public bool DeleteDatabase(string tenant, string name)
    {
        lock (_gate)
        {
            int i = _databases.FindIndex(d => d.Tenant == tenant && d.Name == name);
            if (i < 0) return false;
            foreach (var c in _byId.Values.Where(c => c.Tenant == tenant && c.Database == name).ToList()) DeleteLocked(c);
            _databases.RemoveAt(i);
            WriteDatabases();
            return true;
        }
    }

    // ------------------------------------------------------------------ collections

    public List<ChromaCollectionInfo> List(string tenant, string database)
    {
        lock (_gate)
            return _byId.Values.Where(c => c.Tenant == tenant && c.Database == database).OrderBy(c => c.Dir, StringComparer.Ordinal).ToList();
    }

    public ChromaCollectionInfo? ByName(string tenant, string database, string name)
    {
        lock (_gate) return _byId.Values.FirstOrDefault(c => c.Tenant == tenant && c.Database == database && c.Name == name);
    }

    public ChromaCollectionInfo? ById(Guid id)
    {
        lock (_gate) return _byId.GetValueOrDefault(id);
    }

    /// <summary>The store's collection behind <paramref name="info"/>.</summary>
    public Collection Open(ChromaCollectionInfo info) => info.Collection;

    /// <summary>
    /// Creates a collection, or returns the existing one of that name when <paramref name="getOrCreate"/> (created: false).
    /// Null when it exists and <paramref name="getOrCreate"/> is false. The directory is the Chroma name in the default
    /// database (so the CLI finds it by name), else (or when that directory is taken) the collection's UUID.
    /// </summary>
    public (ChromaCollectionInfo? Info, bool Created) Create(string tenant, string database, string name, IReadOnlyDictionary<string, MetadataValue>? metadata,
        string? clientEmbeddingFunction, DistanceSpace space, HnswSettings? hnsw, string? model, bool getOrCreate)
    {
        lock (_gate)
        {
            var existing = _byId.Values.FirstOrDefault(c => c.Tenant == tenant && c.Database == database && c.Name == name);
            if (existing is not null) return (getOrCreate ? existing : null, false);
            var id = Guid.NewGuid();
            bool byName = tenant == DefaultTenant && database == DefaultDatabase && name.Length <= 63
                && !Directory.Exists(Path.Combine(_store.Root, name));
            string dir = byName ? name : id.ToString();
            // One atomic create: the MANIFEST is written with the identity, metadata, space, HNSW settings and model.
            var coll = _store.CreateCollection(dir, space, model, metadata, hnsw, new ChromaIdentity(id, name, tenant, database, clientEmbeddingFunction));
            var info = new ChromaCollectionInfo { Id = id, Dir = dir, Collection = coll };
            _byId[id] = info;
            return (info, true);
        }
    }

    /// <summary>
    /// Renames (Chroma name only: the directory keeps its name), replaces metadata, the client's embedding function
    /// configuration and/or the HNSW settings, in one MANIFEST publish.
    /// </summary>
    public void Modify(ChromaCollectionInfo info, string? newName, IReadOnlyDictionary<string, MetadataValue>? newMetadata, string? newClientEf, HnswSettings? newHnsw)
    {
        lock (_gate)
        {
            if (newName is not null && newName != info.Name &&
                _byId.Values.Any(c => c.Tenant == info.Tenant && c.Database == info.Database && c.Name == newName))
                throw new ChromaApiException(409, "ChromaError", $"Collection [{newName}] already exists");
            var identity = info.Identity;
            var changed = identity with { Name = newName ?? identity.Name, ClientEmbeddingFunction = newClientEf ?? identity.ClientEmbeddingFunction };
            _store.ModifyCollection(info.Dir, metadata: newMetadata, hnsw: newHnsw, chroma: changed == identity ? null : changed);
        }
    }

    public void Delete(ChromaCollectionInfo info)
    {
        lock (_gate) DeleteLocked(info);
    }

    private void DeleteLocked(ChromaCollectionInfo info)
    {
        _store.DeleteCollection(info.Dir);
        _byId.Remove(info.Id);
    }

    public int Count(string tenant, string database)
    {
        lock (_gate) return _byId.Values.Count(c => c.Tenant == tenant && c.Database == database);
    }
}

/// <summary>An error answered in Chroma's shape: <c>{"error": type, "message": message}</c> with an HTTP status.</summary>
internal sealed class ChromaApiException(int status, string type, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
}
