using System.Buffers;
using System.Net;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using ManagedEmbed.Encoder;
using ManagedEmbed.Kernels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ManagedEmbed.Server;

/// <summary>
/// An embedding server for one loaded model: OpenAI-compatible <c>/v1/embeddings</c> and <c>/v1/models</c>,
/// TEI-compatible <c>/embed</c> and <c>/tokenize</c>, <c>/health</c>, <c>/info</c> and Prometheus <c>/metrics</c>.
/// Concurrent requests are merged into forward passes (dynamic batching). Stopping (or SIGTERM when run with
/// <see cref="WaitForShutdownAsync"/>) lets in-flight requests finish and answers new ones 503. With
/// <see cref="EmbeddingServerOptions.StorePath"/>, the same server also speaks Chroma's HTTP API v2 under <c>/api/v2</c>
/// over that collection store.
/// </summary>
public sealed partial class EmbeddingServer : IAsyncDisposable
{
    private readonly SentenceEncoder _encoder;
    private readonly EmbeddingServerOptions _options;
    private readonly WebApplication _app;
    private readonly DynamicBatcher _batcher;
    private readonly ServerMetrics _metrics = new();
    private readonly HashSet<string> _modelNames;
    private volatile bool _draining;
    private int _inFlight;
    private int _stopped;
    private readonly Collections.CollectionStore? _store;
    private readonly byte[]? _tokenHash;

    private EmbeddingServer(SentenceEncoder encoder, EmbeddingServerOptions options)
    {
        _encoder = encoder;
        _options = options;
        _modelNames = new HashSet<string>(options.ModelAliases.Append(options.ModelId), StringComparer.Ordinal);
        _batcher = new DynamicBatcher(encoder, _metrics, options.MaxBatchTokens, options.MaxConcurrentRequests, options.MergeRequests);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        builder.WebHost.UseKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            k.AddServerHeader = false;
            if (options.Host == "localhost") k.ListenLocalhost(options.Port);
            else if (IPAddress.TryParse(options.Host, out var ip)) k.Listen(ip, options.Port);
            else throw new ManagedEmbedException($"host '{options.Host}' is not an IP address or 'localhost'");
        });
        _app = builder.Build();
        _app.Use(Gate);
        _app.MapGet("/health", (RequestDelegate)Health);
        _app.MapGet("/info", (RequestDelegate)Info);
        _app.MapGet("/metrics", (RequestDelegate)Metrics);
        _app.MapGet("/v1/models", (RequestDelegate)Models);
        _app.MapPost("/v1/embeddings", (RequestDelegate)OpenAiEmbeddings);
        _app.MapPost("/embed", (RequestDelegate)TeiEmbed);
        _app.MapPost("/tokenize", (RequestDelegate)TeiTokenize);
        if (options.StorePath is not null)
        {
            _store = Collections.CollectionStore.Open(options.StorePath,
                options: (options.StoreOptions ?? Collections.CollectionOptions.Default).WithEmbeddingFunctionResolver(ChromaResolver(options)));
            try { MapChroma(_app, _store); }
            catch
            {
                _store.Dispose();
                throw;
            }
        }
        if (options.AuthToken is not null) _tokenHash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(options.AuthToken));
        _app.Lifetime.ApplicationStopping.Register(() => _draining = true);
    }

    /// <summary>Starts serving <paramref name="encoder"/> (owned by the caller, who disposes it after the server).</summary>
    /// <exception cref="ManagedEmbedException">An option is invalid.</exception>
    /// <exception cref="IOException">The address cannot be bound (e.g. the port is in use).</exception>
    public static async Task<EmbeddingServer> StartAsync(SentenceEncoder encoder, EmbeddingServerOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var server = new EmbeddingServer(encoder, options);
        await server._app.StartAsync(cancellationToken).ConfigureAwait(false);
        return server;
    }

    /// <summary>The bound address, e.g. http://127.0.0.1:8080 (with the actual port when <see cref="EmbeddingServerOptions.Port"/> is 0).</summary>
    public Uri Address
    {
        get
        {
            var a = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
                ?? throw new InvalidOperationException("the server is not bound");
            return new Uri(a);
        }
    }

    /// <summary>Completes when the host is asked to stop (SIGTERM, Ctrl+C, or <see cref="StopAsync"/>), after in-flight requests finish.</summary>
    public async Task WaitForShutdownAsync(CancellationToken cancellationToken = default)
    {
        await _app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        await StopAsync().ConfigureAwait(false);
    }

    /// <summary>Stops: new requests get 503, in-flight ones finish (up to <see cref="EmbeddingServerOptions.ShutdownTimeout"/>).</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        _draining = true;
        using (var cts = new CancellationTokenSource(_options.ShutdownTimeout))
        {
            while (Volatile.Read(ref _inFlight) > 0 && !cts.IsCancellationRequested) await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
        }
        await _app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        await _batcher.DrainAsync().ConfigureAwait(false);
        _store?.Dispose(); // releases the collections' writer locks
        _chromaResolver?.Dispose(); // the models other collections loaded
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ pipeline

    private async Task Gate(HttpContext ctx, RequestDelegate next)
    {
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        string path = ctx.Request.Path.Value ?? "";
        if (_draining)
        {
            ctx.Response.Headers.Connection = "close";
            await Error(ctx, 503, "the server is shutting down", "server_shutting_down", null, "unavailable").ConfigureAwait(false);
        }
        else if (_tokenHash is not null && path is not ("/health" or "/api/v2/heartbeat") && !Authorized(ctx.Request))
        {
            ctx.Response.Headers.WWWAuthenticate = "Bearer";
            await Error(ctx, 401, "missing or wrong token: send 'Authorization: Bearer <token>' or 'X-Chroma-Token: <token>'", "authentication_error", null, "unauthorized").ConfigureAwait(false);
        }
        else
        {
            Interlocked.Increment(ref _inFlight);
            try
            {
                await next(ctx).ConfigureAwait(false);
            }
            catch (Exception e) when (!ctx.Response.HasStarted)
            {
                // Never a stack trace: the message only, with a status matching the cause.
                var (status, message) = e switch
                {
                    BadHttpRequestException b => (b.StatusCode, b.StatusCode == 413 ? $"the request body exceeds the limit of {_options.MaxRequestBodyBytes} bytes" : b.Message),
                    ManagedEmbedException m => (400, m.Message),
                    OperationCanceledException => (499, "the request was cancelled"),
                    _ => (500, "internal error: " + e.GetType().Name),
                };
                await Error(ctx, status, message, status >= 500 ? "server_error" : "invalid_request_error", null, null).ConfigureAwait(false);
            }
            finally { Interlocked.Decrement(ref _inFlight); }
        }
        string known = path is "/health" or "/info" or "/metrics" or "/v1/models" or "/v1/embeddings" or "/embed" or "/tokenize" ? path
            : path.StartsWith("/api/v2/", StringComparison.Ordinal) ? "/api/v2" : "other";
        _metrics.Request(known, ctx.Response.StatusCode);
        _metrics.RequestSeconds.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds);
    }

    private static bool IsTei(HttpContext ctx) => ctx.Request.Path.Value is "/embed" or "/tokenize";
    private static bool IsChroma(HttpContext ctx) => ctx.Request.Path.Value?.StartsWith("/api/", StringComparison.Ordinal) == true;

    /// <summary>The bearer token (or Chroma's X-Chroma-Token) compared in constant time (hashes: no length leak).</summary>
    private bool Authorized(HttpRequest request)
    {
        string? given = request.Headers.Authorization.ToString() is { Length: > 7 } a && a.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? a[7..].Trim() : request.Headers["X-Chroma-Token"].ToString();
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(given ?? ""));
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(hash, _tokenHash);
    }

    /// <summary>An error in the door's own format: OpenAI's envelope, or TEI's {error, error_type}.</summary>
    private static Task Error(HttpContext ctx, int status, string message, string type, string? param, string? code)
    {
        ctx.Response.StatusCode = status;
        if (IsChroma(ctx))
        {
            string chromaType = status switch { 400 => "InvalidArgumentError", 401 => "AuthError", 404 => "NotFoundError", 500 => "InternalError", _ => "ChromaError" };
            return ChromaError(ctx, new ChromaApiException(status, chromaType, message));
        }
        if (IsTei(ctx))
        {
            string teiType = status switch { 413 => "Validation", 422 => "Validation", 429 => "Overloaded", 503 => "Unhealthy", >= 500 => "Backend", _ => "Validation" };
            return Write(ctx, new TeiError(message, teiType), ServerJson.Default.TeiError);
        }
        return Write(ctx, new OpenAiError(new OpenAiErrorBody(message, type, param, code)), ServerJson.Default.OpenAiError);
    }

    private sealed class RequestException(int status, string message, string? param, string? code = null) : Exception(message)
    {
        public int Status { get; } = status;
        public string? Param { get; } = param;
        public string? Code { get; } = code;
    }

    private static Task Write<T>(HttpContext ctx, T value, JsonTypeInfo<T> info)
    {
        ctx.Response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(ctx.Response.Body, value, info);
    }

    // ------------------------------------------------------------------ simple endpoints

    private Task Health(HttpContext ctx) => Write(ctx, new HealthStatus("ok"), ServerJson.Default.HealthStatus);

    private Task Info(HttpContext ctx) => Write(ctx, new ServerInfo(
        _options.ModelId, "float32", _encoder.Dimension, _encoder.MaxSeqLength, _encoder.NormalizesByDefault, _options.MaxBatchTokens,
        _options.MaxConcurrentRequests, _options.MaxInputsPerRequest, _options.MaxRequestBodyBytes, _options.AutoTruncate,
        typeof(EmbeddingServer).Assembly.GetName().Version?.ToString(3) ?? "0.0.0"), ServerJson.Default.ServerInfo);

    private Task Metrics(HttpContext ctx)
    {
        ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        return ctx.Response.WriteAsync(_metrics.Render(_batcher.Admitted, Volatile.Read(ref _inFlight)));
    }

    private Task Models(HttpContext ctx) =>
        Write(ctx, new ModelList("list", [new ModelCard(_options.ModelId, "model", 0, "managedembed")]), ServerJson.Default.ModelList);

    // ------------------------------------------------------------------ embeddings

    private async Task<JsonDocument?> ReadJson(HttpContext ctx)
    {
        var buffer = new ArrayBufferWriter<byte>();
        while (true)
        {
            var mem = buffer.GetMemory(16384);
            int n = await ctx.Request.Body.ReadAsync(mem, ctx.RequestAborted).ConfigureAwait(false);
            if (n == 0) break;
            buffer.Advance(n);
            if (buffer.WrittenCount > _options.MaxRequestBodyBytes)
                throw new RequestException(413, $"the request body exceeds the limit of {_options.MaxRequestBodyBytes} bytes", null, "request_too_large");
        }
        if (buffer.WrittenCount == 0) throw new RequestException(400, "the request body is empty; send a JSON object", null);
        try
        {
            var doc = JsonDocument.Parse(buffer.WrittenMemory, new JsonDocumentOptions { MaxDepth = 16 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                doc.Dispose();
                throw new RequestException(400, "the request body must be a JSON object", null);
            }
            return doc;
        }
        catch (JsonException e)
        {
            throw new RequestException(400, "the request body is not valid JSON: " + e.Message, null);
        }
    }

    private async Task Handle(HttpContext ctx, Func<HttpContext, JsonElement, Task> body)
    {
        try
        {
            using var doc = await ReadJson(ctx).ConfigureAwait(false);
            await body(ctx, doc!.RootElement).ConfigureAwait(false);
        }
        catch (RequestException e)
        {
            await Error(ctx, e.Status, e.Message, e.Status == 429 ? "rate_limit_error" : e.Status == 404 ? "invalid_request_error" : "invalid_request_error", e.Param, e.Code).ConfigureAwait(false);
        }
    }

    private Task OpenAiEmbeddings(HttpContext ctx) => Handle(ctx, async (c, root) =>
    {
        string? model = OptionalString(root, "model");
        if (model is not null && !_modelNames.Contains(model))
            throw new RequestException(404, $"The model '{model}' does not exist; this server serves '{_options.ModelId}'", "model", "model_not_found");
        string format = OptionalString(root, "encoding_format") ?? "float";
        if (format is not ("float" or "base64"))
            throw new RequestException(400, $"encoding_format must be 'float' or 'base64', got '{format}'", "encoding_format");
        int dims = Dimensions(root, "dimensions");
        if (!root.TryGetProperty("input", out var input)) throw new RequestException(400, "'input' is required", "input");
        int[][] ids = Inputs(input, "input", _options.AutoTruncate);
        // OpenAI's dimensions returns unit vectors whatever the model's pipeline: a shortened vector is re-normalized.
        float[][] vectors = await Embed(ids, dims, _encoder.NormalizesByDefault || dims < _encoder.Dimension).ConfigureAwait(false);
        long tokens = ids.Sum(s => (long)s.Length);

        c.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(c.Response.Body);
        w.WriteStartObject();
        w.WriteString("object", "list");
        w.WriteStartArray("data");
        for (int i = 0; i < vectors.Length; i++)
        {
            w.WriteStartObject();
            w.WriteString("object", "embedding");
            w.WriteNumber("index", i);
            if (format == "base64") w.WriteBase64String("embedding", MemoryMarshal.AsBytes(vectors[i].AsSpan()));
            else
            {
                w.WriteStartArray("embedding");
                foreach (float f in vectors[i]) w.WriteNumberValue(f);
                w.WriteEndArray();
            }
            w.WriteEndObject();
            if (w.BytesPending > 65536) await w.FlushAsync().ConfigureAwait(false);
        }
        w.WriteEndArray();
        w.WriteString("model", _options.ModelId);
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", tokens);
        w.WriteNumber("total_tokens", tokens);
        w.WriteEndObject();
        w.WriteEndObject();
        await w.FlushAsync().ConfigureAwait(false);
    });

    private Task TeiEmbed(HttpContext ctx) => Handle(ctx, async (c, root) =>
    {
        bool normalize = OptionalBool(root, "normalize") ?? true;
        bool truncate = OptionalBool(root, "truncate") ?? _options.AutoTruncate;
        int dims = Dimensions(root, "dimensions");
        if (!root.TryGetProperty("inputs", out var input)) throw new RequestException(422, "'inputs' is required", "inputs");
        // TEI's prompt_name: a prompt of config_sentence_transformers.json prepended to every text (none when absent,
        // as TEI without --default-prompt-name); its tokens leave the pool when the Pooling module excludes prompts.
        string? promptName = OptionalString(root, "prompt_name");
        string? prompt = null;
        if (promptName is not null)
        {
            try { prompt = _encoder.Config.SentenceTransformers.ResolvePrompt(promptName, null); }
            catch (ManagedEmbedException e) { throw new RequestException(422, e.Message, "prompt_name"); }
        }
        int[][] ids = Inputs(input, "inputs", truncate, prompt: prompt);
        float[][] vectors = await Embed(ids, dims, normalize, _encoder.PromptPoolSkip(prompt)).ConfigureAwait(false);
        await Write(c, vectors, ServerJson.Default.SingleArrayArray).ConfigureAwait(false);
    });

    private Task TeiTokenize(HttpContext ctx) => Handle(ctx, (c, root) =>
    {
        if (!root.TryGetProperty("inputs", out var input)) throw new RequestException(422, "'inputs' is required", "inputs");
        bool truncate = OptionalBool(root, "truncate") ?? _options.AutoTruncate;
        int[][] ids = Inputs(input, "inputs", truncate, textOnly: true);
        var tok = _encoder.Tokenizer;
        var result = ids.Select(seq => seq.Select(id => new TokenInfo(id, tok.IdToToken(id), tok.IsSpecial(id))).ToArray()).ToArray();
        return Write(c, result, ServerJson.Default.TokenInfoArrayArray);
    });

    /// <summary>Queues <paramref name="ids"/> on the batcher; truncates to <paramref name="dims"/> (Matryoshka) and normalizes after.</summary>
    private async Task<float[][]> Embed(int[][] ids, int dims, bool normalize, int promptSkip = 0)
    {
        if (!_batcher.TryEnqueue(ids, out var task, promptSkip))
            throw new RequestException(429, $"the server is at its limit of {_options.MaxConcurrentRequests} concurrent requests; retry later", null, "rate_limit_exceeded");
        float[][] pooled = await task.ConfigureAwait(false);
        _metrics.Tokens(ids.Sum(s => (long)s.Length), ids.Length);
        var result = new float[pooled.Length][];
        for (int i = 0; i < pooled.Length; i++)
        {
            float[] v = dims < pooled[i].Length ? pooled[i][..dims] : pooled[i];
            if (normalize) VectorMath.L2Normalize(v);
            result[i] = v;
        }
        return result;
    }

    private int Dimensions(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var d) || d.ValueKind == JsonValueKind.Null) return _encoder.Dimension;
        if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int v))
            throw new RequestException(400, $"'{name}' must be an integer", name);
        if (v < 1 || v > _encoder.Dimension)
            throw new RequestException(400, $"'{name}' must be between 1 and {_encoder.Dimension} (the model's width), got {v}", name);
        return v;
    }

    private static string? OptionalString(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind != JsonValueKind.String) throw new RequestException(400, $"'{name}' must be a string", name);
        return e.GetString();
    }

    private static bool? OptionalBool(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw new RequestException(400, $"'{name}' must be true or false", name);
        return e.GetBoolean();
    }

    /// <summary>
    /// The token sequences of <paramref name="input"/>: a string, an array of strings, an array of token ids (one
    /// sequence of this model's vocabulary ids, as /tokenize returns them, [CLS] and [SEP] included), or an array of such arrays.
    /// </summary>
    private int[][] Inputs(JsonElement input, string param, bool truncate, bool textOnly = false, string? prompt = null)
    {
        int max = _encoder.MaxSeqLength;
        if (input.ValueKind == JsonValueKind.String) return [Text(input.GetString()!, 0)];
        if (input.ValueKind != JsonValueKind.Array)
            throw new RequestException(400, $"'{param}' must be a string, an array of strings{(textOnly ? "" : ", an array of token ids or an array of token-id arrays")}", param);
        int n = input.GetArrayLength();
        if (n == 0) throw new RequestException(400, $"'{param}' is empty", param);
        if (n > _options.MaxInputsPerRequest)
            throw new RequestException(413, $"'{param}' has {n} inputs, more than this server's limit of {_options.MaxInputsPerRequest} per request", param, "too_many_inputs");
        var first = input[0];
        if (prompt is not null && first.ValueKind is JsonValueKind.Number or JsonValueKind.Array)
            throw new RequestException(422, "prompt_name applies to text inputs, not to token ids", "prompt_name");
        if (first.ValueKind == JsonValueKind.Number && !textOnly) return [Ids(input, 0)];
        var result = new int[n][];
        int i = 0;
        foreach (var item in input.EnumerateArray())
        {
            result[i] = item.ValueKind switch
            {
                JsonValueKind.String when first.ValueKind == JsonValueKind.String => Text(item.GetString()!, i),
                JsonValueKind.Array when first.ValueKind == JsonValueKind.Array && !textOnly => Ids(item, i),
                _ => throw new RequestException(400, $"'{param}[{i}]' must be {(first.ValueKind == JsonValueKind.Array && !textOnly ? "an array of token ids" : "a string")} like '{param}[0]'", param),
            };
            i++;
        }
        return result;

        int[] Text(string text, int index)
        {
            if (text.Length == 0) throw new RequestException(400, $"'{param}[{index}]' is an empty string", param);
            if (prompt is not null) text = prompt + text;
            int[] ids = _encoder.Tokenize(text);
            if (!truncate && ids.Length >= max && _encoder.Tokenizer.Encode(text, max + 1).Length > max)
                throw new RequestException(param == "inputs" ? 413 : 400, $"'{param}[{index}]' is longer than the model's maximum of {max} tokens; shorten it or enable truncation", param, "context_length_exceeded");
            return ids;
        }

        int[] Ids(JsonElement arr, int index)
        {
            int len = arr.GetArrayLength();
            if (len == 0) throw new RequestException(400, $"'{param}[{index}]' is an empty token-id array", param);
            if (len > max && !truncate)
                throw new RequestException(400, $"'{param}[{index}]' has {len} tokens, more than the model's maximum of {max}; shorten it or enable truncation", param, "context_length_exceeded");
            var ids = new int[Math.Min(len, max)];
            int j = 0;
            foreach (var e in arr.EnumerateArray())
            {
                if (j == ids.Length) break;
                if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int id) || id < 0 || id >= _encoder.Tokenizer.VocabSize)
                    throw new RequestException(400, $"'{param}[{index}]' holds '{e.GetRawText()}', not a token id in [0, {_encoder.Tokenizer.VocabSize})", param);
                ids[j++] = id;
            }
            return ids;
        }
    }

}
