using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using ManagedEmbed.Collections;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace ManagedEmbed.Server;

// Chroma's HTTP API v2 (as served by Chroma 1.0 single-node and used by the official chromadb clients) over a
// collection store: same JSON shapes, status codes and error payloads, so the clients raise the same error classes.
public sealed partial class EmbeddingServer
{
    private const string ChromaVersion = "1.0.0";
    private ChromaCatalog? _chroma;
    private ServerEmbeddingResolver? _chromaResolver;

    /// <summary>The collections' resolver: the served model by its recorded name and aliases, others through the user's resolver.</summary>
    private ServerEmbeddingResolver ChromaResolver(EmbeddingServerOptions options)
    {
        string name = options.ModelName ?? (Directory.Exists(options.ModelId) ? Path.GetFileName(options.ModelId.TrimEnd('/', Path.DirectorySeparatorChar)) : options.ModelId);
        var served = new EmbeddingFunctionSpec(EmbeddingFunctionSpec.SentenceTransformer, name, _encoder.Dimension, _encoder.NormalizesByDefault, options.ModelFingerprint);
        return _chromaResolver = new ServerEmbeddingResolver(served, EmbedServed, _modelNames, options.StoreOptions?.EmbeddingFunctionResolver);
    }

    private void MapChroma(WebApplication app, CollectionStore store)
    {
        _chroma = new ChromaCatalog(store);
        const string T = "/api/v2/tenants/{tenant}";
        const string D = T + "/databases/{database}";
        const string C = D + "/collections/{collection_id}";
        app.MapGet("/api/v2/heartbeat", (RequestDelegate)(ctx => Chroma(ctx, w => w.WriteNumber("nanosecond heartbeat", (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000L)))));
        app.MapGet("/api/v2/version", (RequestDelegate)(ctx => Chroma(ctx, w => w.WriteStringValue(ChromaVersion), bare: true)));
        app.MapGet("/api/v2/healthcheck", (RequestDelegate)(ctx => Chroma(ctx, w => { w.WriteBoolean("is_executor_ready", true); w.WriteBoolean("is_log_client_ready", true); })));
        app.MapGet("/api/v2/pre-flight-checks", (RequestDelegate)(ctx => Chroma(ctx, w =>
        {
            w.WriteNumber("max_batch_size", _options.MaxInputsPerRequest);
            w.WriteBoolean("supports_base64_encoding", true);
        })));
        app.MapGet("/api/v2/auth/identity", (RequestDelegate)(ctx => Chroma(ctx, w =>
        {
            w.WriteString("user_id", "");
            w.WriteString("tenant", ChromaCatalog.DefaultTenant);
            w.WriteStartArray("databases");
            w.WriteStringValue(ChromaCatalog.DefaultDatabase);
            w.WriteEndArray();
        })));
        app.MapPost("/api/v2/reset", (RequestDelegate)(ctx => ChromaError(ctx, new ChromaApiException(403, "ChromaError", "Reset is disabled by config"))));
        app.MapPost("/api/v2/tenants", (RequestDelegate)CreateTenant);
        app.MapGet(T, (RequestDelegate)GetTenant);
        app.MapGet(T + "/databases", (RequestDelegate)ListDatabases);
        app.MapPost(T + "/databases", (RequestDelegate)CreateDatabase);
        app.MapGet(D, (RequestDelegate)GetDatabase);
        app.MapDelete(D, (RequestDelegate)DeleteDatabase);
        app.MapGet(D + "/collections", (RequestDelegate)ListCollections);
        app.MapPost(D + "/collections", (RequestDelegate)CreateCollection);
        app.MapGet(D + "/collections_count", (RequestDelegate)CountCollections);
        app.MapGet(C, (RequestDelegate)GetCollection);
        app.MapPut(C, (RequestDelegate)ModifyCollection);
        app.MapDelete(C, (RequestDelegate)DeleteCollection);
        app.MapGet(C + "/count", (RequestDelegate)CountRecords);
        app.MapPost(C + "/add", (RequestDelegate)(ctx => WriteRecords(ctx, "add")));
        app.MapPost(C + "/upsert", (RequestDelegate)(ctx => WriteRecords(ctx, "upsert")));
        app.MapPost(C + "/update", (RequestDelegate)(ctx => WriteRecords(ctx, "update")));
        app.MapPost(C + "/get", (RequestDelegate)GetRecords);
        app.MapPost(C + "/query", (RequestDelegate)QueryRecords);
        app.MapPost(C + "/delete", (RequestDelegate)DeleteRecords);
    }

    // ------------------------------------------------------------------ the embedding seam

    /// <summary>
    /// The one place where Chroma records and query texts sent without embeddings get embedded: with the collection's
    /// own recorded model (the served one through the batcher, any other loaded once and shared), its weights
    /// fingerprint checked by the collection; a mismatch answers Chroma's InvalidArgumentError.
    /// </summary>
    private static async Task<float[][]> EmbedForCollection(ChromaCollectionInfo info, IReadOnlyList<string> texts)
    {
        var coll = info.Collection;
        if (!coll.HasEmbeddingFunction)
            throw new ChromaApiException(400, "InvalidArgumentError", $"collection [{info.Name}] has no embedding function; send embeddings");
        // The collection's embedding API is synchronous; run it off the request thread.
        return await Task.Run(() => coll.Embed(texts)).ConfigureAwait(false);
    }

    /// <summary>The served model's embeddings through the dynamic batcher (the collections' resolver calls this).</summary>
    private Task<float[][]> EmbedServed(IReadOnlyList<string> texts, CancellationToken cancel)
    {
        var ids = new int[texts.Count][];
        for (int i = 0; i < ids.Length; i++) ids[i] = _encoder.Tokenize(texts[i]);
        return Embed(ids, _encoder.Dimension, _encoder.NormalizesByDefault);
    }

    // ------------------------------------------------------------------ plumbing

    private delegate Task ChromaBody(HttpContext ctx);

    /// <summary>Runs <paramref name="body"/>, answering any failure in Chroma's error shape.</summary>
    private async Task ChromaGuard(HttpContext ctx, ChromaBody body)
    {
        try { await body(ctx).ConfigureAwait(false); }
        catch (ChromaApiException e) { await ChromaError(ctx, e).ConfigureAwait(false); }
        catch (RequestException e) { await ChromaError(ctx, new ChromaApiException(e.Status == 400 ? 422 : e.Status, "ChromaError", e.Message)).ConfigureAwait(false); }
        catch (ManagedEmbedException e) { await ChromaError(ctx, new ChromaApiException(400, "InvalidArgumentError", e.Message)).ConfigureAwait(false); }
        catch (ObjectDisposedException)
        {
            // The collection was deleted while this request was using it.
            await ChromaError(ctx, new ChromaApiException(404, "NotFoundError", $"Collection [{Route(ctx, "collection_id")}] does not exists.")).ConfigureAwait(false);
        }
    }

    private static Task ChromaError(HttpContext ctx, ChromaApiException e)
    {
        if (ctx.Response.HasStarted) return Task.CompletedTask;
        ctx.Response.StatusCode = e.Status;
        return WriteChroma(ctx, w => { w.WriteString("error", e.Type); w.WriteString("message", e.Message); }, bare: false);
    }

    private Task Chroma(HttpContext ctx, Action<Utf8JsonWriter> write, bool bare = false) => ChromaGuard(ctx, c => WriteChroma(c, write, bare));

    /// <summary>Writes a JSON response: an object filled by <paramref name="write"/>, or (bare) a single value.</summary>
    private static async Task WriteChroma(HttpContext ctx, Action<Utf8JsonWriter> write, bool bare, int status = 200)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            if (!bare) w.WriteStartObject();
            write(w);
            if (!bare) w.WriteEndObject();
        }
        if (!ctx.Response.HasStarted && ctx.Response.StatusCode == 200) ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.Body.WriteAsync(buffer.WrittenMemory, ctx.RequestAborted).ConfigureAwait(false);
    }

    private static string Route(HttpContext ctx, string name) => ctx.Request.RouteValues[name] as string ?? "";

    private async Task<JsonElement> ChromaBodyJson(HttpContext ctx)
    {
        // ReadJson bounds the body by MaxRequestBodyBytes and parses with a depth limit.
        using var doc = await ReadJson(ctx).ConfigureAwait(false);
        return doc!.RootElement.Clone();
    }

    /// <summary>Chroma's name rule for collections, tenants and databases: 3–512 of [a-zA-Z0-9._-], alphanumeric at both ends.</summary>
    private static void ValidateChromaName(string name, string what = "name")
    {
        bool ok = name.Length is >= 3 and <= 512 && char.IsAsciiLetterOrDigit(name[0]) && char.IsAsciiLetterOrDigit(name[^1])
            && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
        if (!ok)
            throw new ChromaApiException(400, "InvalidArgumentError",
                $"Validation error: {what}: Expected a name containing 3-512 characters from [a-zA-Z0-9._-], starting and ending with a character in [a-zA-Z0-9]. Got: {name}");
    }

    private static string RequiredName(JsonElement body)
    {
        if (!body.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String)
            throw new ChromaApiException(422, "ChromaError", "Failed to deserialize the JSON body into the target type: missing field `name`");
        return n.GetString()!;
    }

    private (string Tenant, string Database) Db(HttpContext ctx)
    {
        string t = Route(ctx, "tenant"), d = Route(ctx, "database");
        if (_chroma!.GetDatabase(t, d) is null) throw new ChromaApiException(404, "NotFoundError", $"Database [{d}] not found. Are you sure it exists?");
        return (t, d);
    }

    private ChromaCollectionInfo CollectionById(HttpContext ctx)
    {
        string raw = Route(ctx, "collection_id");
        if (!Guid.TryParse(raw, out var id)) throw new ChromaApiException(400, "InvalidArgumentError", "Collection ID is not a valid UUIDv4");
        var (t, d) = Db(ctx);
        var info = _chroma!.ById(id);
        if (info is null || info.Tenant != t || info.Database != d) throw new ChromaApiException(404, "NotFoundError", $"Collection [{raw}] does not exists.");
        return info;
    }

    // ------------------------------------------------------------------ tenants and databases

    private Task CreateTenant(HttpContext ctx) => ChromaGuard(ctx, async c =>
    {
        string name = RequiredName(await ChromaBodyJson(c).ConfigureAwait(false));
        if (name.Length < 3) throw new ChromaApiException(400, "InvalidArgumentError", $"Validation error: name: tenant names have at least 3 characters, got '{name}'");
        if (!_chroma!.CreateTenant(name)) throw new ChromaApiException(409, "ChromaError", $"Tenant [{name}] already exists");
        await WriteChroma(c, _ => { }, bare: false).ConfigureAwait(false);
    });

    private Task GetTenant(HttpContext ctx) => ChromaGuard(ctx, c =>
    {
        string t = Route(c, "tenant");
        if (!_chroma!.TenantExists(t)) throw new ChromaApiException(404, "NotFoundError", $"Tenant [{t}] not found");
        return WriteChroma(c, w => { w.WriteString("name", t); w.WriteNull("resource_name"); }, bare: false);
    });

    private static void WriteDatabase(Utf8JsonWriter w, (string Tenant, string Name, Guid Id) d)
    {
        w.WriteStartObject();
        w.WriteString("id", d.Id.ToString());
        w.WriteString("name", d.Name);
        w.WriteString("tenant", d.Tenant);
        w.WriteEndObject();
    }

    private Task ListDatabases(HttpContext ctx) => ChromaGuard(ctx, c =>
    {
        var dbs = _chroma!.ListDatabases(Route(c, "tenant"));
        int offset = QueryInt(c, "offset", 0), limit = QueryInt(c, "limit", int.MaxValue);
        return WriteChroma(c, w =>
        {
            w.WriteStartArray();
            foreach (var d in dbs.Skip(offset).Take(limit)) WriteDatabase(w, d);
            w.WriteEndArray();
        }, bare: true);
    });

    private Task CreateDatabase(HttpContext ctx) => ChromaGuard(ctx, async c =>
    {
        string name = RequiredName(await ChromaBodyJson(c).ConfigureAwait(false));
        ValidateChromaName(name);
        if (!_chroma!.CreateDatabase(Route(c, "tenant"), name)) throw new ChromaApiException(409, "ChromaError", $"Database [{name}] already exists");
        await WriteChroma(c, _ => { }, bare: false).ConfigureAwait(false);
    });

    private Task GetDatabase(HttpContext ctx) => ChromaGuard(ctx, c =>
    {
        string t = Route(c, "tenant"), d = Route(c, "database");
        var db = _chroma!.GetDatabase(t, d) ?? throw new ChromaApiException(404, "NotFoundError", $"Database [{d}] not found. Are you sure it exists?");
        return WriteChroma(c, w => WriteDatabase(w, db), bare: true);
    });

    private Task DeleteDatabase(HttpContext ctx) => ChromaGuard(ctx, c =>
    {
        string t = Route(c, "tenant"), d = Route(c, "database");
        if (!_chroma!.DeleteDatabase(t, d)) throw new ChromaApiException(404, "NotFoundError", $"Database [{d}] not found. Are you sure it exists?");
        return WriteChroma(c, _ => { }, bare: false);
    });

    private static int QueryInt(HttpContext ctx, string name, int dflt)
    {
        string? s = ctx.Request.Query[name];
        if (s is null) return dflt;
        if (!int.TryParse(s, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int v))
            throw new ChromaApiException(400, "InvalidArgumentError", $"{name} must be a non-negative integer, got '{s}'");
        return v;
    }

    // ------------------------------------------------------------------ collections

    private void WriteCollection(Utf8JsonWriter w, ChromaCollectionInfo info)
    {
        int dim = _chroma!.Open(info).Dimension;
        w.WriteStartObject();
        w.WriteString("id", info.Id.ToString());
        w.WriteString("name", info.Name);
        w.WritePropertyName("configuration_json");
        info.Configuration.WriteTo(w);
        w.WritePropertyName("metadata");
        var meta = info.Collection.Metadata;
        MetadataJson.Write(w, meta.Count == 0 ? null : meta);
        if (dim == 0) w.WriteNull("dimension"); else w.WriteNumber("dimension", dim);
        w.WriteString("tenant", info.Tenant);
        w.WriteString("database", info.Database);
        w.WriteNumber("log_position", 0);
        w.WriteNumber("version", 0);
        w.WriteEndObject();
    }

    private Task ListCollections(HttpContext ctx) => ChromaGuard(ctx, c =>
    {
        var (t, d) = Db(c);
        int offset = QueryInt(c, "offset", 0), limit = QueryInt(c, "limit", int.MaxValue);
        var list = _chroma!.List(t, d).Skip(offset).Take(limit).ToList();
        return WriteChroma(c, w =>
        {
            w.WriteStartArray();
            foreach (var info in list) WriteCollection(w, info);
            w.WriteEndArray();
        }, bare: true);
    });

    private Task CountCollections(HttpContext ctx) => ChromaGuard(ctx, c =>
    {
        var (t, d) = Db(c);
        int n = _chroma!.Count(t, d);
        return WriteChroma(c, w => w.WriteNumberValue(n), bare: true);
    });

    private static Dictionary<string, MetadataValue>? CollectionMetadata(JsonElement body, string field)
    {
        if (!body.TryGetProperty(field, out var m) || m.ValueKind == JsonValueKind.Null) return null;
        if (m.ValueKind != JsonValueKind.Object) throw new ChromaApiException(400, "InvalidArgumentError", $"{field} must be an object");
        return MetadataJson.Parse(m, field, allowNull: false);
    }

    /// <summary>A configuration's hnsw integer, or null when absent.</summary>
    private static int? HnswInt(JsonElement hnsw, string key)
    {
        if (!hnsw.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i) || i < 1)
            throw new ChromaApiException(422, "ChromaError", $"Failed to deserialize the JSON body into the target type: hnsw.{key}: expected a positive integer");
        return i;
    }

    private Task CreateCollection(HttpContext ctx) => ChromaGuard(ctx, async c =>
    {
        var (t, d) = Db(c);
        var body = await ChromaBodyJson(c).ConfigureAwait(false);
        string name = RequiredName(body);
        ValidateChromaName(name);
        var metadata = CollectionMetadata(body, "metadata");
        bool getOrCreate = body.TryGetProperty("get_or_create", out var g) && g.ValueKind == JsonValueKind.True;
        JsonElement? hnsw = null;
        string? ef = null;
        if (body.TryGetProperty("configuration", out var conf) && conf.ValueKind == JsonValueKind.Object)
        {
            if (conf.TryGetProperty("hnsw", out var h) && h.ValueKind == JsonValueKind.Object) hnsw = h;
            if (conf.TryGetProperty("embedding_function", out var e) && e.ValueKind != JsonValueKind.Null) ef = e.GetRawText();
        }
        // Chroma's order: the configuration's hnsw.space, then the legacy metadata key, then l2.
        string? metaSpace = metadata is not null && metadata.TryGetValue(CollectionStore.SpaceKey, out var ms) && ms.Kind == MetadataKind.String ? ms.AsString : null;
        string space = (hnsw is { } hs && hs.TryGetProperty("space", out var sp) && sp.ValueKind == JsonValueKind.String ? sp.GetString() : null) ?? metaSpace ?? "l2";
        var ds = space switch
        {
            "l2" => DistanceSpace.L2, "cosine" => DistanceSpace.Cosine, "ip" => DistanceSpace.InnerProduct,
            _ => throw new ChromaApiException(400, "InvalidArgumentError", $"unknown distance space '{space}' (l2, cosine or ip)"),
        };
        // HNSW settings as Chroma reads them: the metadata's hnsw:* keys, overridden by the configuration's hnsw.
        HnswSettings? settings;
        try { settings = HnswSettings.FromMetadata(metadata); }
        catch (ManagedEmbedException) { throw new ChromaApiException(400, "InvalidArgumentError", "Failed to parse hnsw parameters from segment metadata"); }
        if (hnsw is { } hc)
        {
            int? m = HnswInt(hc, "max_neighbors"), efc = HnswInt(hc, "ef_construction"), efs = HnswInt(hc, "ef_search");
            if (m is not null || efc is not null || efs is not null)
            {
                var b = settings ?? new HnswSettings();
                settings = new HnswSettings(m ?? b.M, efc ?? b.ConstructionEf, efs ?? b.SearchEf);
            }
        }
        // The collection records its own model: this server's, by name (documents sent without embeddings use it).
        var (info, _) = _chroma!.Create(t, d, name, metadata, ef, ds, settings, _chromaResolver!.Served.Model, getOrCreate);
        if (info is null) throw new ChromaApiException(409, "ChromaError", $"Collection [{name}] already exists");
        await WriteChroma(c, w => WriteCollection(w, info), bare: true).ConfigureAwait(false);
    });

    /// <summary>GET/DELETE name the collection by name (as the clients do); record routes use its id.</summary>
    private ChromaCollectionInfo CollectionByName(HttpContext ctx)
    {
        var (t, d) = Db(ctx);
        string name = Route(ctx, "collection_id");
        return _chroma!.ByName(t, d, name) ?? throw new ChromaApiException(404, "NotFoundError", $"Collection [{name}] does not exists");
    }

    private Task GetCollection(HttpContext ctx) => ChromaGuard(ctx, c =>
    {
        var info = CollectionByName(c);
        return WriteChroma(c, w => WriteCollection(w, info), bare: true);
    });

    private Task DeleteCollection(HttpContext ctx) => ChromaGuard(ctx, async c =>
    {
        var info = CollectionByName(c);
        await info.WriteGate.WaitAsync(c.RequestAborted).ConfigureAwait(false);
        try { _chroma!.Delete(info); }
        finally { info.WriteGate.Release(); }
        await WriteChroma(c, _ => { }, bare: false).ConfigureAwait(false);
    });

    private Task ModifyCollection(HttpContext ctx) => ChromaGuard(ctx, async c =>
    {
        var info = CollectionById(c);
        var body = await ChromaBodyJson(c).ConfigureAwait(false);
        string? newName = body.TryGetProperty("new_name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
        if (newName is not null) ValidateChromaName(newName);
        var newMeta = CollectionMetadata(body, "new_metadata");
        HnswSettings? newHnsw = null;
        string? newEf = null;
        if (body.TryGetProperty("new_configuration", out var nc) && nc.ValueKind == JsonValueKind.Object)
        {
            if (nc.TryGetProperty("hnsw", out var h) && h.ValueKind == JsonValueKind.Object)
            {
                // Chroma 1.0's UpdateHnswConfiguration: ef_search and max_neighbors change (M from the next compaction,
                // which rebuilds the graph); space and ef_construction are not fields of an update.
                foreach (var p in h.EnumerateObject())
                    if (p.Name is not ("ef_search" or "max_neighbors" or "num_threads" or "resize_factor" or "sync_threshold" or "batch_size"))
                        throw new ChromaApiException(422, "ChromaError", $"Failed to deserialize the JSON body into the target type: new_configuration.hnsw.{p.Name}: unknown field `{p.Name}`, " +
                            "expected one of `ef_search`, `max_neighbors`, `num_threads`, `resize_factor`, `sync_threshold`, `batch_size`");
                int? efs = HnswInt(h, "ef_search"), m = HnswInt(h, "max_neighbors");
                if (efs is not null || m is not null)
                {
                    var b = info.Collection.Hnsw ?? new HnswSettings();
                    newHnsw = b with { M = m ?? b.M, SearchEf = efs ?? b.SearchEf };
                }
            }
            if (nc.TryGetProperty("embedding_function", out var e) && e.ValueKind != JsonValueKind.Null) newEf = e.GetRawText();
        }
        _chroma!.Modify(info, newName, newMeta, newEf, newHnsw);
        await WriteChroma(c, _ => { }, bare: false).ConfigureAwait(false);
    });

    // ------------------------------------------------------------------ records

    private Task CountRecords(HttpContext ctx) => ChromaGuard(ctx, c =>
    {
        int n = _chroma!.Open(CollectionById(c)).Count();
        return WriteChroma(c, w => w.WriteNumberValue(n), bare: true);
    });

    private static List<string>? Ids(JsonElement body, bool required)
    {
        if (!body.TryGetProperty("ids", out var e) || e.ValueKind == JsonValueKind.Null)
        {
            if (required) throw new ChromaApiException(422, "ChromaError", "Failed to deserialize the JSON body into the target type: missing field `ids`");
            return null;
        }
        if (e.ValueKind != JsonValueKind.Array) throw new ChromaApiException(400, "InvalidArgumentError", "ids must be an array of strings");
        var ids = new List<string>(e.GetArrayLength());
        foreach (var x in e.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.String) throw new ChromaApiException(400, "InvalidArgumentError", "ids must be an array of strings");
            string id = x.GetString()!;
            if (id.Length == 0) throw new ChromaApiException(400, "InvalidArgumentError", "Empty ID, ID must have at least one character");
            ids.Add(id);
        }
        return ids;
    }

    /// <summary>Embeddings as arrays of numbers or as base64 little-endian float32 (the client's packed form).</summary>
    private static List<float[]>? Embeddings(JsonElement body, string field)
    {
        if (!body.TryGetProperty(field, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Array) throw new ChromaApiException(400, "InvalidArgumentError", $"{field} must be an array");
        var list = new List<float[]>(e.GetArrayLength());
        foreach (var x in e.EnumerateArray())
        {
            if (x.ValueKind == JsonValueKind.String)
            {
                byte[] bytes;
                try { bytes = x.GetBytesFromBase64(); }
                catch (FormatException) { throw new ChromaApiException(400, "InvalidArgumentError", $"{field}: an embedding string is not valid base64"); }
                if (bytes.Length % 4 != 0) throw new ChromaApiException(400, "InvalidArgumentError", $"{field}: a base64 embedding must hold whole float32 values");
                list.Add(MemoryMarshal.Cast<byte, float>(bytes).ToArray());
            }
            else if (x.ValueKind == JsonValueKind.Array)
            {
                var v = new float[x.GetArrayLength()];
                int i = 0;
                foreach (var f in x.EnumerateArray())
                {
                    if (f.ValueKind != JsonValueKind.Number) throw new ChromaApiException(400, "InvalidArgumentError", $"{field}: embeddings hold numbers only");
                    v[i++] = f.GetSingle();
                }
                list.Add(v);
            }
            else throw new ChromaApiException(400, "InvalidArgumentError", $"{field}: each embedding must be an array of numbers or a base64 string");
        }
        return list;
    }

    private static List<string?>? Documents(JsonElement body, string field)
    {
        if (!body.TryGetProperty(field, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Array) throw new ChromaApiException(400, "InvalidArgumentError", $"{field} must be an array");
        var list = new List<string?>();
        foreach (var x in e.EnumerateArray())
        {
            if (x.ValueKind == JsonValueKind.Null) list.Add(null);
            else if (x.ValueKind == JsonValueKind.String) list.Add(x.GetString());
            else throw new ChromaApiException(400, "InvalidArgumentError", $"{field} must hold strings");
        }
        return list;
    }

    /// <summary>Record metadatas: Collections' one metadata reader (scalars and Chroma 1.5 list values).</summary>
    private static List<IReadOnlyDictionary<string, MetadataValue>?>? Metadatas(JsonElement body, bool allowNull)
    {
        if (!body.TryGetProperty("metadatas", out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Array) throw new ChromaApiException(400, "InvalidArgumentError", "metadatas must be an array");
        var list = new List<IReadOnlyDictionary<string, MetadataValue>?>();
        foreach (var m in e.EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.Null) { list.Add(null); continue; }
            if (m.ValueKind != JsonValueKind.Object) throw new ChromaApiException(400, "InvalidArgumentError", "each metadata must be an object or null");
            // Update/upsert: None removes the key. Add: a None value is simply absent.
            var d = MetadataJson.Parse(m, "metadatas", allowNull: true);
            if (!allowNull) foreach (var k in d.Where(p => p.Value.Kind == MetadataKind.Null).Select(p => p.Key).ToList()) d.Remove(k);
            list.Add(d.Count == 0 && !allowNull ? null : d);
        }
        return list;
    }

    private static void CheckDimension(Collection coll, IEnumerable<float[]>? vectors)
    {
        if (vectors is null) return;
        int dim = coll.Dimension;
        foreach (var v in vectors)
        {
            if (dim == 0) dim = v.Length;
            else if (v.Length != dim) throw new ChromaApiException(400, "InvalidArgumentError", $"Collection expecting embedding with dimension of {dim}, got {v.Length}");
        }
    }

    private static List<T>? Pick<T>(List<T>? list, List<int> keep) => list is null ? null : keep.Select(i => list[i]).ToList();

    private Task WriteRecords(HttpContext ctx, string op) => ChromaGuard(ctx, async c =>
    {
        var info = CollectionById(c);
        var body = await ChromaBodyJson(c).ConfigureAwait(false);
        var ids = Ids(body, required: true)!;
        var embeddings = Embeddings(body, "embeddings");
        var documents = Documents(body, "documents");
        var metadatas = Metadatas(body, allowNull: op != "add");
        foreach (var (field, count) in (ReadOnlySpan<(string, int?)>)[("embeddings", embeddings?.Count), ("documents", documents?.Count), ("metadatas", metadatas?.Count)])
            if (count is { } k && k != ids.Count)
                throw new ChromaApiException(400, "InvalidArgumentError", $"Inconsistent number of records: {ids.Count} ids, {k} {field}");
        if (embeddings is null && op != "update")
        {
            if (documents is null || documents.Any(x => x is null))
                throw new ChromaApiException(422, "ChromaError", "Failed to deserialize the JSON body into the target type: missing field `embeddings`");
            embeddings = (await EmbedForCollection(info, documents!).ConfigureAwait(false)).ToList();
        }
        else if (embeddings is null && documents is not null && documents.All(x => x is not null) && info.Collection.HasEmbeddingFunction)
            embeddings = (await EmbedForCollection(info, documents!).ConfigureAwait(false)).ToList();

        await info.WriteGate.WaitAsync(c.RequestAborted).ConfigureAwait(false);
        try
        {
            var coll = _chroma!.Open(info);
            CheckDimension(coll, embeddings);
            if (op == "upsert") coll.Upsert(ids, documents, metadatas, embeddings);
            else
            {
                // Chroma's add skips ids that exist (first occurrence wins within a call); update skips unknown ids.
                var existing = coll.Get(ids, include: Include.None).Ids.ToHashSet(StringComparer.Ordinal);
                var seen = new HashSet<string>(StringComparer.Ordinal);
                var keep = new List<int>();
                for (int i = 0; i < ids.Count; i++)
                    if (seen.Add(ids[i]) && existing.Contains(ids[i]) == (op == "update")) keep.Add(i);
                if (keep.Count > 0)
                {
                    if (op == "add") coll.Add(Pick(ids, keep)!, Pick(documents, keep), Pick(metadatas, keep), Pick(embeddings, keep));
                    else coll.Update(Pick(ids, keep)!, Pick(documents, keep), Pick(metadatas, keep), Pick(embeddings, keep));
                }
            }
        }
        finally { info.WriteGate.Release(); }
        await WriteChroma(c, _ => { }, bare: false, status: op == "add" ? 201 : 200).ConfigureAwait(false);
    });

    private static (Include Include, bool Uris, List<string> Names) Includes(JsonElement body, string dflt)
    {
        var names = new List<string>();
        if (body.TryGetProperty("include", out var e) && e.ValueKind == JsonValueKind.Array)
            foreach (var x in e.EnumerateArray()) names.Add(x.GetString() ?? "");
        else names.AddRange(dflt.Split(','));
        Include inc = Include.None;
        bool uris = false;
        foreach (string n in names)
        {
            inc |= n switch
            {
                "documents" => Include.Documents, "metadatas" => Include.Metadatas, "embeddings" => Include.Embeddings,
                "distances" => Include.Distances, "uris" => Include.None,
                _ => throw new ChromaApiException(422, "ChromaError", $"Failed to deserialize the JSON body into the target type: include: unknown variant `{n}`"),
            };
            uris |= n == "uris";
        }
        return (inc, uris, names);
    }

    private static (WhereFilter? Where, WhereDocumentFilter? WhereDocument) Filters(JsonElement body)
    {
        WhereFilter? where = null;
        WhereDocumentFilter? wd = null;
        if (body.TryGetProperty("where", out var w) && w.ValueKind != JsonValueKind.Null && !(w.ValueKind == JsonValueKind.Object && !w.EnumerateObject().Any()))
        {
            CheckInLists(w, 0);
            where = WhereFilter.Parse(w);
        }
        if (body.TryGetProperty("where_document", out var d) && d.ValueKind != JsonValueKind.Null && !(d.ValueKind == JsonValueKind.Object && !d.EnumerateObject().Any()))
            wd = WhereDocumentFilter.Parse(d);
        return (where, wd);
    }

    /// <summary>As Chroma: the values of an $in/$nin list share one type (int and float count as different types).</summary>
    private static void CheckInLists(JsonElement e, int depth)
    {
        if (depth > WhereFilter.MaxNesting) return; // the parser reports the nesting
        if (e.ValueKind == JsonValueKind.Array) { foreach (var x in e.EnumerateArray()) CheckInLists(x, depth + 1); return; }
        if (e.ValueKind != JsonValueKind.Object) return;
        foreach (var p in e.EnumerateObject())
        {
            if (p.Name is "$in" or "$nin" && p.Value.ValueKind == JsonValueKind.Array && p.Value.EnumerateArray().Select(ValueType).Distinct().Count() > 1)
                throw new ChromaApiException(400, "InvalidArgumentError", "Invalid where clause");
            CheckInLists(p.Value, depth + 1);
        }

        static string ValueType(JsonElement v) => v.ValueKind switch
        {
            JsonValueKind.Number => v.TryGetInt64(out _) ? "int" : "float",
            JsonValueKind.True or JsonValueKind.False => "bool",
            _ => v.ValueKind.ToString(),
        };
    }

    private static int? OptionalInt(JsonElement body, string name)
    {
        if (!body.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int v) || v < 0)
            throw new ChromaApiException(400, "InvalidArgumentError", $"{name} must be a non-negative integer");
        return v;
    }

    private static void WriteVector(Utf8JsonWriter w, float[] v)
    {
        w.WriteStartArray();
        foreach (float f in v) w.WriteNumberValue(f);
        w.WriteEndArray();
    }

    private static void WriteIncludeNames(Utf8JsonWriter w, List<string> names)
    {
        w.WriteStartArray("include");
        foreach (var n in names) w.WriteStringValue(n);
        w.WriteEndArray();
    }

    private Task GetRecords(HttpContext ctx) => ChromaGuard(ctx, async c =>
    {
        var info = CollectionById(c);
        var body = await ChromaBodyJson(c).ConfigureAwait(false);
        var ids = Ids(body, required: false);
        var (where, wd) = Filters(body);
        var (inc, uris, names) = Includes(body, "documents,metadatas");
        if ((inc & Include.Distances) != 0) throw new ChromaApiException(400, "InvalidArgumentError", "distances are not returned by get");
        var r = _chroma!.Open(info).Get(ids, where, wd, OptionalInt(body, "limit"), OptionalInt(body, "offset") ?? 0, inc);
        await WriteChroma(c, w =>
        {
            w.WriteStartArray("ids");
            foreach (var id in r.Ids) w.WriteStringValue(id);
            w.WriteEndArray();
            w.WritePropertyName("embeddings");
            if (r.Embeddings is null) w.WriteNullValue();
            else { w.WriteStartArray(); foreach (var v in r.Embeddings) WriteVector(w, v); w.WriteEndArray(); }
            w.WritePropertyName("documents");
            if (r.Documents is null) w.WriteNullValue();
            else { w.WriteStartArray(); foreach (var d in r.Documents) w.WriteStringValue(d); w.WriteEndArray(); }
            w.WritePropertyName("uris");
            if (!uris) w.WriteNullValue();
            else { w.WriteStartArray(); foreach (var _ in r.Ids) w.WriteNullValue(); w.WriteEndArray(); }
            w.WritePropertyName("metadatas");
            if (r.Metadatas is null) w.WriteNullValue();
            else { w.WriteStartArray(); foreach (var m in r.Metadatas) MetadataJson.Write(w, m); w.WriteEndArray(); }
            WriteIncludeNames(w, names);
        }, bare: false).ConfigureAwait(false);
    });

    private Task QueryRecords(HttpContext ctx) => ChromaGuard(ctx, async c =>
    {
        var info = CollectionById(c);
        var body = await ChromaBodyJson(c).ConfigureAwait(false);
        var restrict = Ids(body, required: false);
        var queries = Embeddings(body, "query_embeddings");
        if (queries is null)
        {
            var texts = Documents(body, "query_texts");
            if (texts is null || texts.Count == 0 || texts.Any(t => t is null))
                throw new ChromaApiException(422, "ChromaError", "Failed to deserialize the JSON body into the target type: missing field `query_embeddings`");
            queries = (await EmbedForCollection(info, texts!).ConfigureAwait(false)).ToList();
        }
        int n = OptionalInt(body, "n_results") ?? 10;
        var (where, wd) = Filters(body);
        var (inc, uris, names) = Includes(body, "documents,metadatas,distances");
        var coll = _chroma!.Open(info);
        CheckDimension(coll, queries);
        var r = coll.Query(queryEmbeddings: queries, nResults: Math.Max(n, 1), where: where, whereDocument: wd, include: inc, ids: restrict);
        await WriteChroma(c, w =>
        {
            w.WriteStartArray("ids");
            foreach (var q in r.Ids) { w.WriteStartArray(); foreach (var id in q) w.WriteStringValue(id); w.WriteEndArray(); }
            w.WriteEndArray();
            w.WritePropertyName("embeddings");
            if (r.Embeddings is null) w.WriteNullValue();
            else { w.WriteStartArray(); foreach (var q in r.Embeddings) { w.WriteStartArray(); foreach (var v in q) WriteVector(w, v); w.WriteEndArray(); } w.WriteEndArray(); }
            w.WritePropertyName("documents");
            if (r.Documents is null) w.WriteNullValue();
            else { w.WriteStartArray(); foreach (var q in r.Documents) { w.WriteStartArray(); foreach (var d in q) w.WriteStringValue(d); w.WriteEndArray(); } w.WriteEndArray(); }
            w.WritePropertyName("uris");
            if (!uris) w.WriteNullValue();
            else { w.WriteStartArray(); foreach (var q in r.Ids) { w.WriteStartArray(); foreach (var _ in q) w.WriteNullValue(); w.WriteEndArray(); } w.WriteEndArray(); }
            w.WritePropertyName("metadatas");
            if (r.Metadatas is null) w.WriteNullValue();
            else { w.WriteStartArray(); foreach (var q in r.Metadatas) { w.WriteStartArray(); foreach (var m in q) MetadataJson.Write(w, m); w.WriteEndArray(); } w.WriteEndArray(); }
            w.WritePropertyName("distances");
            if (r.Distances is null) w.WriteNullValue();
            else { w.WriteStartArray(); foreach (var q in r.Distances) { w.WriteStartArray(); foreach (var d in q) w.WriteNumberValue(d); w.WriteEndArray(); } w.WriteEndArray(); }
            WriteIncludeNames(w, names);
        }, bare: false).ConfigureAwait(false);
    });

    private Task DeleteRecords(HttpContext ctx) => ChromaGuard(ctx, async c =>
    {
        var info = CollectionById(c);
        var body = await ChromaBodyJson(c).ConfigureAwait(false);
        var ids = Ids(body, required: false);
        var (where, wd) = Filters(body);
        if (ids is not null || where is not null || wd is not null)
        {
            await info.WriteGate.WaitAsync(c.RequestAborted).ConfigureAwait(false);
            try { _chroma!.Open(info).Delete(ids, where, wd); }
            finally { info.WriteGate.Release(); }
        }
        await WriteChroma(c, _ => { }, bare: false).ConfigureAwait(false);
    });
}
