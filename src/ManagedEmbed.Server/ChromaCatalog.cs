using System.Text.Json;
using System.Text.Json.Nodes;
using ManagedEmbed.Collections;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Server;

/// <summary>
/// What Chroma's API knows about a collection beyond the store: its UUID, Chroma name, tenant/database, metadata and
/// configuration_json. Kept in a sidecar file (<c>chroma.json</c>) inside the collection's directory, so a copied
/// collection directory keeps its identity. Collections made by the CLI get a sidecar on first sight.
/// </summary>
internal sealed class ChromaCollectionInfo
{
    public required Guid Id { get; init; }
    public required string Dir { get; init; }
    public required string Name { get; set; }
    public required string Tenant { get; init; }
    public required string Database { get; init; }
    public JsonObject? Metadata { get; set; }
    public required JsonObject Configuration { get; set; }
    /// <summary>The id of the model that embeds documents/query texts sent without embeddings (null: bring your own vectors).</summary>
    public string? Model { get; init; }
    /// <summary>One writer per collection inside the server: check-then-write sequences (add skipping existing ids) are atomic.</summary>
    public SemaphoreSlim WriteGate { get; } = new(1, 1);
}

/// <summary>The Chroma-side catalog of a collection store: tenants, databases and collection identities.</summary>
internal sealed class ChromaCatalog
{
    public const string DefaultTenant = "default_tenant";
    public const string DefaultDatabase = "default_database";
    internal const string SidecarName = "chroma.json";
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
            // A collection made by the CLI: the default database, its own distance space, no Chroma embedding function.
            var info = ReadSidecar(dir) ?? NewInfo(dir, DefaultConfiguration(SpaceName(store.GetCollection(dir).Space), null));
            _byId[info.Id] = info;
        }
    }

    private ChromaCollectionInfo? ReadSidecar(string dir)
    {
        string path = Path.Combine(_store.Root, dir, SidecarName);
        if (!File.Exists(path)) return null;
        var o = JsonNode.Parse(File.ReadAllBytes(path))!.AsObject();
        return new ChromaCollectionInfo
        {
            Id = Guid.Parse((string)o["id"]!),
            Dir = dir,
            Name = (string)o["name"]!,
            Tenant = (string)o["tenant"]!,
            Database = (string)o["database"]!,
            Metadata = o["metadata"] as JsonObject,
            Configuration = o["configuration_json"]!.AsObject(),
            Model = (string?)o["model"],
        };
    }

    private void WriteSidecar(ChromaCollectionInfo c)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("id", c.Id.ToString());
            w.WriteString("name", c.Name);
            w.WriteString("tenant", c.Tenant);
            w.WriteString("database", c.Database);
            w.WritePropertyName("metadata");
            if (c.Metadata is null) w.WriteNullValue(); else c.Metadata.WriteTo(w);
            w.WritePropertyName("configuration_json");
            c.Configuration.WriteTo(w);
            if (c.Model is null) w.WriteNull("model"); else w.WriteString("model", c.Model);
            w.WriteEndObject();
        }
        DurableFile.WriteAllBytes(Path.Combine(_store.Root, c.Dir, SidecarName), buffer.WrittenSpan);
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

    private ChromaCollectionInfo NewInfo(string dir, JsonObject configuration)
    {
        var info = new ChromaCollectionInfo
        {
            Id = Guid.NewGuid(), Dir = dir, Name = dir, Tenant = DefaultTenant, Database = DefaultDatabase,
            Metadata = null, Configuration = configuration, Model = null,
        };
        WriteSidecar(info);
        return info;
    }

    /// <summary>Chroma's configuration_json for a new collection: HNSW defaults with the given overrides.</summary>
    public static JsonObject DefaultConfiguration(string space, JsonNode? embeddingFunction, JsonObject? hnswOverrides = null)
    {
        var hnsw = new JsonObject
        {
            ["space"] = space, ["ef_construction"] = 100, ["ef_search"] = 100, ["max_neighbors"] = 16,
            ["resize_factor"] = 1.2, ["sync_threshold"] = 1000,
        };
        if (hnswOverrides is not null)
            foreach (var (k, v) in hnswOverrides) if (k != "space" && v is not null) hnsw[k] = v.DeepClone();
        return new JsonObject { ["hnsw"] = hnsw, ["spann"] = null, ["embedding_function"] = embeddingFunction?.DeepClone() };
    }

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

    /// <summary>The store's collection behind <paramref name="info"/> (opened on first use, then cached by the store).</summary>
    public Collection Open(ChromaCollectionInfo info) => _store.GetCollection(info.Dir);

    /// <summary>
    /// Creates a collection, or returns the existing one of that name when <paramref name="getOrCreate"/> (created: false).
    /// Null when it exists and <paramref name="getOrCreate"/> is false. The directory is the Chroma name in the default
    /// database (so the CLI finds it by name), else (or when that directory is taken) the collection's UUID.
    /// </summary>
    public (ChromaCollectionInfo? Info, bool Created) Create(string tenant, string database, string name, JsonObject? metadata,
        JsonObject configuration, DistanceSpace space, string? model, bool getOrCreate)
    {
        lock (_gate)
        {
            var existing = _byId.Values.FirstOrDefault(c => c.Tenant == tenant && c.Database == database && c.Name == name);
            if (existing is not null) return (getOrCreate ? existing : null, false);
            var id = Guid.NewGuid();
            bool byName = tenant == DefaultTenant && database == DefaultDatabase && name.Length <= 63
                && !Directory.Exists(Path.Combine(_store.Root, name));
            string dir = byName ? name : id.ToString();
            var coll = _store.CreateCollection(dir, space);
            var info = new ChromaCollectionInfo
            {
                Id = id, Dir = dir, Name = name, Tenant = tenant, Database = database,
                Metadata = metadata, Configuration = configuration, Model = model,
            };
            try { WriteSidecar(info); }
            catch
            {
                _store.DeleteCollection(coll.Name);
                throw;
            }
            _byId[id] = info;
            return (info, true);
        }
    }

    /// <summary>Renames (Chroma name only: the directory keeps its name) and/or replaces metadata and configuration.</summary>
    public void Modify(ChromaCollectionInfo info, string? newName, JsonObject? newMetadata, JsonObject? newConfiguration)
    {
        lock (_gate)
        {
            if (newName is not null && newName != info.Name &&
                _byId.Values.Any(c => c.Tenant == info.Tenant && c.Database == info.Database && c.Name == newName))
                throw new ChromaApiException(409, "ChromaError", $"Collection [{newName}] already exists");
            string oldName = info.Name;
            var oldMeta = info.Metadata;
            var oldConf = info.Configuration;
            if (newName is not null) info.Name = newName;
            if (newMetadata is not null) info.Metadata = newMetadata;
            if (newConfiguration is not null) info.Configuration = newConfiguration;
            try { WriteSidecar(info); }
            catch
            {
                info.Name = oldName;
                info.Metadata = oldMeta;
                info.Configuration = oldConf;
                throw;
            }
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
