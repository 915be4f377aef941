namespace ManagedEmbed.Server;

/// <summary>Settings of <see cref="EmbeddingServer"/>. Every limit answers a clear 4xx when exceeded.</summary>
public sealed class EmbeddingServerOptions
{
    /// <summary>The address to bind: an IP address or "localhost" (default 127.0.0.1: this machine only).</summary>
    public string Host { get; set; } = "127.0.0.1";
    /// <summary>The TCP port (0: an ephemeral port, reported by <see cref="EmbeddingServer.Address"/>).</summary>
    public int Port { get; set; } = 8080;
    /// <summary>The model's id in /v1/models and responses; requests naming another model get 404.</summary>
    public string ModelId { get; set; } = "model";
    /// <summary>Other names a request's <c>model</c> may use for the same model (e.g. its short name).</summary>
    public IReadOnlyList<string> ModelAliases { get; set; } = [];
    /// <summary>
    /// The name collections created over Chroma's API record for the served model (a model id, never a path); null:
    /// <see cref="ModelId"/>, or its last path segment when it is a directory.
    /// </summary>
    public string? ModelName { get; set; }
    /// <summary>The served model's weights fingerprint (as collections record it: <c>sha256:</c> + 16 hex digits), or null when unknown.</summary>
    public string? ModelFingerprint { get; set; }
    /// <summary>Tokens per forward pass: concurrent requests are merged into passes up to this budget (default 16384).</summary>
    public int MaxBatchTokens { get; set; } = 16384;
    /// <summary>
    /// Whether concurrent requests share forward passes (dynamic batching, the default). False runs each request in
    /// passes of its own (still split at <see cref="MaxBatchTokens"/>): the baseline of the serving benchmark.
    /// </summary>
    public bool MergeRequests { get; set; } = true;
    /// <summary>Requests admitted at once (queued or running); more get 429 (default 512).</summary>
    public int MaxConcurrentRequests { get; set; } = 512;
    /// <summary>Inputs per request; more get 413 (default 2048, OpenAI's limit).</summary>
    public int MaxInputsPerRequest { get; set; } = 2048;
    /// <summary>Request body size in bytes; larger bodies get 413 (default 8 MiB).</summary>
    public long MaxRequestBodyBytes { get; set; } = 8L << 20;
    /// <summary>Inputs longer than the model's max_seq_length are truncated when true, rejected when false (the default, as TEI).</summary>
    public bool AutoTruncate { get; set; }
    /// <summary>How long shutdown waits for in-flight requests (default 30 s).</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A collection store directory to serve over Chroma's HTTP API v2 (<c>/api/v2</c>), beside the embedding
    /// endpoints; null (the default) serves embeddings only. The server holds the store's writer locks while it runs.
    /// </summary>
    public string? StorePath { get; set; }
    /// <summary>Tuning of the collection store at <see cref="StorePath"/> (compaction thresholds, IVF); null: the defaults.</summary>
    public ManagedEmbed.Collections.CollectionOptions? StoreOptions { get; set; }
    /// <summary>
    /// When set, every request (except <c>/health</c> and Chroma's heartbeat) must carry it as
    /// <c>Authorization: Bearer</c> or <c>X-Chroma-Token</c>; others get 401.
    /// </summary>
    public string? AuthToken { get; set; }
    /// <summary>Allows binding a non-loopback address without <see cref="AuthToken"/> (an explicit opt-out).</summary>
    public bool AllowUnauthenticatedRemote { get; set; }

    internal void Validate()
    {
        if (AuthToken is { } t && (t.Length == 0 || t.Any(char.IsWhiteSpace))) throw new ManagedEmbedException("the auth token is empty or contains whitespace");
        if (AuthToken is null && !AllowUnauthenticatedRemote && !IsLoopbackHost(Host))
            throw new ManagedEmbedException($"refusing to listen on {Host} without an auth token: anyone who can reach it could read and change the data; set a token or allow unauthenticated access explicitly");
        if (string.IsNullOrWhiteSpace(Host)) throw new ManagedEmbedException("host is empty");
        if (Host != "localhost" && !System.Net.IPAddress.TryParse(Host, out _))
            throw new ManagedEmbedException($"host '{Host}' is not an IP address or 'localhost'");
        if (Port is < 0 or > 65535) throw new ManagedEmbedException($"port must be in [0, 65535], got {Port}");
        if (MaxBatchTokens < 1) throw new ManagedEmbedException($"max batch tokens must be at least 1, got {MaxBatchTokens}");
        if (MaxConcurrentRequests < 1) throw new ManagedEmbedException($"max concurrent requests must be at least 1, got {MaxConcurrentRequests}");
        if (MaxInputsPerRequest < 1) throw new ManagedEmbedException($"max inputs per request must be at least 1, got {MaxInputsPerRequest}");
        if (MaxRequestBodyBytes < 1) throw new ManagedEmbedException($"max request body size must be at least 1 byte, got {MaxRequestBodyBytes}");
        if (string.IsNullOrEmpty(ModelId)) throw new ManagedEmbedException("model id is empty");
    }

    /// <summary>True for "localhost" and loopback IP addresses (127.0.0.0/8, ::1): hosts that need no auth token.</summary>
    public static bool IsLoopbackHost(string host) =>
        host == "localhost" || (System.Net.IPAddress.TryParse(host, out var ip) && System.Net.IPAddress.IsLoopback(ip));
}
