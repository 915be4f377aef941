using System.Runtime.InteropServices;
using ManagedEmbed.Encoder;
using ManagedEmbed.Hub;
using ManagedEmbed.Server;

namespace ManagedEmbed.Cli;

/// <summary>
/// `membed serve`: the OpenAI/TEI-compatible embedding server (src/ManagedEmbed.Server) for one model and, with
/// --path, Chroma's HTTP API over a collection store (as `chroma run --path DIR`). The model stays optional: the
/// default all-MiniLM-L6-v2 embeds documents and query texts sent without embeddings.
/// </summary>
public static class ServeCommands
{
    /// <summary>Runs the server until SIGTERM/SIGINT; in-flight requests finish, new ones get 503.</summary>
    internal static readonly Opt[] Options =
    [
        Common.Model, Opt.V("--host", "HOST", "address to bind (beyond loopback needs --auth-token or --insecure)", "127.0.0.1"),
        new("--port", "PORT", "port (0 picks a free one)") { DefaultText = "8080; 8000 with --path, as 'chroma run'" }, Common.Threads,
        Opt.V("--max-batch-tokens", "N", "tokens per encoder batch", "16384"), Opt.V("--max-concurrent-requests", "N", "requests in flight before 503", "512"),
        Opt.V("--max-inputs", "N", "inputs per request", "2048"), Opt.V("--max-body-bytes", "N", "request body limit", "8388608"),
        Opt.F("--auto-truncate", "cut long inputs instead of answering 413"), Opt.V("--shutdown-timeout", "S", "seconds in-flight requests get on SIGTERM", "30"),
        Opt.V("--path", "DIR", "also serve Chroma's HTTP API (/api/v2) over this collection store"),
        Opt.V("--auth-token", "TOKEN", "require 'Authorization: Bearer TOKEN'"), Opt.F("--insecure", "allow a non-loopback --host without a token"),
    ];

    public static int Serve(Args a)
    {
        if (a.Positional.Count > 0) throw new ManagedEmbedException($"unexpected argument '{a.Positional[0]}'");
        var options = new EmbeddingServerOptions
        {
            Host = a.Get("--host") ?? "127.0.0.1",
            // Chroma's clients default to port 8000; the embeddings-only server keeps 8080.
            Port = a.GetInt("--port", a.Has("--path") ? 8000 : 8080, 0, 65535),
            StorePath = a.Get("--path"),
            AuthToken = a.Get("--auth-token"),
            AllowUnauthenticatedRemote = a.Has("--insecure"),
            MaxBatchTokens = a.GetInt("--max-batch-tokens", 16384, 1, 1 << 24),
            MaxConcurrentRequests = a.GetInt("--max-concurrent-requests", 512, 1, 1 << 20),
            MaxInputsPerRequest = a.GetInt("--max-inputs", 2048, 1, 1 << 20),
            MaxRequestBodyBytes = a.GetInt("--max-body-bytes", 8 << 20, 1, int.MaxValue),
            AutoTruncate = a.Has("--auto-truncate"),
            ShutdownTimeout = TimeSpan.FromSeconds(a.GetInt("--shutdown-timeout", 30, 0, 3600)),
        };
        if (options.AuthToken is not null && options.AllowUnauthenticatedRemote) throw new ManagedEmbedException("--auth-token and --insecure exclude each other");
        if (options.AuthToken is null && !options.AllowUnauthenticatedRemote && !EmbeddingServerOptions.IsLoopbackHost(options.Host))
            throw new ManagedEmbedException($"--host {options.Host} exposes the server beyond this machine: add --auth-token T (clients send 'Authorization: Bearer T') or --insecure");
        string? model = a.Get("--model");
        string modelId = model ?? HubModels.DefaultRepoId;
        string dir = ProductCommands.ResolveModel(model);
        int? threads = a.Has("--threads") ? a.GetInt("--threads", 1, 1, 1024) : null;
        using var encoder = SentenceEncoder.Load(dir, new EncoderOptions { Threads = threads });
        // A request may name the model by the --model value, its short name, or its directory.
        string shortName = Path.GetFileName(modelId.TrimEnd('/', Path.DirectorySeparatorChar));
        options.ModelId = modelId;
        options.ModelAliases = [shortName, dir];
        if (options.StorePath is not null)
        {
            // Collections created over Chroma's API record the served model by name with its weights' fingerprint;
            // collections recording another model load it through the same resolver as the collection commands.
            string name = ManagedEmbed.Extensions.AI.ManagedEmbedFunctionResolver.ModelName(modelId, dir);
            options.ModelName = Path.IsPathRooted(name) ? shortName : name;
            try { options.ModelFingerprint = ManagedEmbed.Extensions.AI.ManagedEmbedFunctionResolver.Fingerprint(dir); }
            catch (ManagedEmbedException) { options.ModelFingerprint = null; } // weights in another format: recorded without a fingerprint
            options.StoreOptions = CollectionCommands.Options();
        }

        EmbeddingServer server;
        try { server = EmbeddingServer.StartAsync(encoder, options).GetAwaiter().GetResult(); }
        catch (IOException e) { throw new ManagedEmbedException($"cannot listen on {options.Host}:{options.Port}: {e.Message}"); }
        if (options.StorePath is not null)
            Console.Error.WriteLine($"membed: Chroma API v2 at {server.Address.ToString().TrimEnd('/')}/api/v2 over the collection store {Path.GetFullPath(options.StorePath)}");
        // One line on stdout once bound (scripts and tests read the address from it; port 0 picks a free port).
        Console.Out.WriteLine($"membed: serving {modelId} (dimension {encoder.Dimension}, max {encoder.MaxSeqLength} tokens) on {server.Address.ToString().TrimEnd('/')}");
        Console.Out.Flush();
        server.WaitForShutdownAsync().GetAwaiter().GetResult();
        server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Console.Error.WriteLine("membed: server stopped");
        return 0;
    }
}
