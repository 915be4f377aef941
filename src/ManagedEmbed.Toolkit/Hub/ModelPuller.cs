using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Hub;

/// <summary>Progress of one file during <see cref="ModelPuller.PullAsync"/>.</summary>
/// <param name="File">Repository path of the file being downloaded.</param>
/// <param name="Received">Bytes of the file on disk so far (including bytes resumed from an earlier run).</param>
/// <param name="Total">The file's full size when the server announced it.</param>
public readonly record struct PullProgress(string File, long Received, long? Total);

/// <summary>What a pull produced.</summary>
/// <param name="Directory">The complete model directory.</param>
/// <param name="RepoId">The repository id.</param>
/// <param name="Revision">The revision the files were resolved at.</param>
/// <param name="AlreadyPresent">True when the directory was already complete and nothing was downloaded.</param>
/// <param name="Files">Repository paths of the files in the directory.</param>
public sealed record PullResult(string Directory, string RepoId, string Revision, bool AlreadyPresent, IReadOnlyList<string> Files);

/// <summary>Options for <see cref="ModelPuller.PullAsync"/>.</summary>
public sealed class PullOptions
{
    /// <summary>The hub endpoint (default <see cref="ModelPuller.DefaultEndpoint"/>). HTTPS, or plain HTTP to a loopback address (local mirrors and tests).</summary>
    public Uri Endpoint { get; init; } = ModelPuller.DefaultEndpoint;

    /// <summary>The revision to resolve; null = the pinned commit of a known model, else "main".</summary>
    public string? Revision { get; init; }

    /// <summary>The directory to create; null = <see cref="ModelCache.DirectoryFor"/>.</summary>
    public string? TargetDirectory { get; init; }

    /// <summary>A SHA-256 (hex) that model.safetensors must have; overrides the built-in table and the server's X-Linked-Etag.</summary>
    public string? ModelSha256 { get; init; }

    /// <summary>Called as bytes arrive (synchronously, on the downloading thread).</summary>
    public Action<PullProgress>? Progress { get; init; }

    /// <summary>Receives one-line notes (resuming, skipped optional files).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Abort a transfer when no byte arrives for this long (the partial file is kept for resuming).</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>TCP/TLS connect timeout.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(20);
}

/// <summary>
/// Downloads a sentence-transformers model directory from a Hugging Face hub endpoint
/// (<c>{endpoint}/{repo}/resolve/{revision}/{file}</c>), resuming partial files with HTTP Range, verifying
/// SHA-256 digests, and publishing the directory atomically: it appears complete or not at all.
/// </summary>
/// <remarks>
/// Layout while a pull is in progress, beside the target <c>DIR</c>: <c>.NAME.partial/</c> holds finished files and
/// <c>FILE.part</c> downloads in flight (kept when a transfer is interrupted, so the next run resumes them), and
/// <c>.NAME.lock</c> keeps two pulls of the same model apart. When every file is verified, the staging directory is
/// renamed to <c>DIR</c> in one step. A digest mismatch discards the whole staging directory.
/// HTTPS goes through .NET's SocketsHttpHandler, which uses the system OpenSSL (libssl) on Linux.
/// </remarks>
public static class ModelPuller
{
    private const string StagingMarker = ".membed-staging";

    /// <summary>The most a file other than the weights may be when no size is pinned (a multilingual tokenizer.json is ~17 MB).</summary>
    public const long MaxSmallFileBytes = 64L << 20;

    /// <summary>
    /// The complete model directory at <paramref name="target"/> when it holds the pinned model (by its manifest's
    /// model.safetensors digest, whichever source wrote it), null when there is none.
    /// </summary>
    internal static PullResult? ExistingPinned(string target, PinnedModel model)
    {
        if (File.Exists(target)) throw new ManagedEmbedException($"{target} exists and is a file, not a model directory");
        if (!Directory.Exists(target)) return null;
        string manifestPath = Path.Combine(target, ModelCache.ManifestName);
        if (!File.Exists(manifestPath))
        {
            if (!Directory.EnumerateFileSystemEntries(target).Any()) return null;
            throw new TargetDirectoryConflictException(target, $"{target} already exists and was not written by a model pull (no {ModelCache.ManifestName}); remove it or choose another directory");
        }
        var m = PullManifest.Read(manifestPath);
        if (!string.Equals(m.RepoId, model.RepoId, StringComparison.OrdinalIgnoreCase))
            throw new TargetDirectoryConflictException(target, $"{target} holds {m.RepoId}, not {model.RepoId}; remove it or choose another directory");
        var weights = m.Files.FirstOrDefault(f => f.Path == "model.safetensors");
        if (weights.Sha256 != model.Weights.Sha256)
            throw new ManagedEmbedException($"{target} holds {m.RepoId} with other weights (SHA-256 {weights.Sha256 ?? "unknown"}, pinned {model.Weights.Sha256}); remove it and pull again");
        CheckFilesPresent(target, m);
        return new PullResult(target, m.RepoId, m.Revision, true, m.Files.Select(f => f.Path).ToList());
    }

    private static void CheckFilesPresent(string target, PullManifest m)
    {
        foreach (var f in m.Files)
        {
            var fi = new FileInfo(Path.Combine(target, f.Path));
            if (!fi.Exists || fi.Length != f.Size)
                throw new ManagedEmbedException($"{target} is damaged ({f.Path} is missing or has the wrong size); remove the directory and pull again");
        }
    }

    /// <summary>A pinned pipeline file the hub serves without a published digest must have the pinned value.</summary>
    private static void CheckPipelineValue(PinnedModel pinned, HubFile file, string staging, HubModel model)
    {
        if (file.Sha256 is not null || !pinned.Pipeline.ContainsKey(file.Path)) return;
        byte[] bytes = File.ReadAllBytes(Path.Combine(staging, file.Path.Replace('/', Path.DirectorySeparatorChar)));
        if (!PinnedModels.PipelineMatches(pinned, file.Path, bytes))
        {
            Durable.TryDeleteDirectory(staging);
            throw new ManagedEmbedException($"{file.Path} served for {model.RepoId}@{model.Revision} differs from the published pipeline values pinned in membed; nothing was installed");
        }
    }

    /// <summary>Pulls <paramref name="repoId"/> and returns the complete model directory.</summary>
    public static async Task<PullResult> PullAsync(string repoId, PullOptions options, CancellationToken ct = default)
    {
        HubModels.ValidateRepoId(repoId);
        CheckEndpoint(options.Endpoint);
        HubModel? known = HubModels.TryGetKnown(repoId);
        string revision = options.Revision ?? known?.Revision ?? "main";
        ValidateRevision(revision);
        HubModel model = known is not null && string.Equals(known.Revision, revision, StringComparison.Ordinal)
            ? known
            : HubModels.ForUnknown(repoId, revision);
        string? overrideSha = options.ModelSha256 is null ? null : NormalizeSha(options.ModelSha256, "the SHA-256 given for model.safetensors");

        string target = Path.GetFullPath(options.TargetDirectory ?? ModelCache.DirectoryFor(repoId)).TrimEnd(Path.DirectorySeparatorChar);
        PinnedModel? pinned = known is null ? null : PinnedModels.TryGet(repoId);
        PullResult? Existing() => pinned is not null && ReferenceEquals(model, known) ? ExistingPinned(target, pinned) : CheckExistingTarget(target, repoId, revision);

        if (Existing() is { } present) return present;
        using (ModelStaging lease = ModelStaging.Lock(target))
        {
            // Re-check under the lock: a concurrent pull may have finished meanwhile.
            if (Existing() is { } done) return done;

            string staging = lease.Staging;
            PrepareStaging(staging, repoId, revision, options.Endpoint, options.Log);

            using var http = CreateClient(options);
            var installed = new List<string>();
            var digests = new Dictionary<string, string>(StringComparer.Ordinal); // verified on download: not hashed again
            try
            {
                foreach (HubFile file in model.Files)
                {
                    string? expected = file.Sha256;
                    if (file.Path == "model.safetensors" && overrideSha is not null) expected = overrideSha;
                    if (await FetchFileAsync(http, options, model, file, expected, staging, digests, ct).ConfigureAwait(false))
                    {
                        installed.Add(file.Path);
                        if (pinned is not null && ReferenceEquals(model, known)) CheckPipelineValue(pinned, file, staging, model);
                    }
                }
            }
            catch (Exception e)
            {
                // Keep partial downloads for resuming an interrupted transfer, but leave no trace when nothing
                // arrived (e.g. offline) or the pull was refused (a failed check, a missing file, an HTTP error).
                if (e is not TransferInterruptedException || (Directory.Exists(staging) && !Directory.EnumerateFiles(staging, "*", SearchOption.AllDirectories)
                        .Any(f => Path.GetFileName(f) != StagingMarker && new FileInfo(f).Length > 0)))
                    Durable.TryDeleteDirectory(staging);
                throw;
            }
            if (!installed.Contains("vocab.txt") && !installed.Contains("tokenizer.json"))
            {
                Durable.TryDeleteDirectory(staging);
                throw new ManagedEmbedException($"{repoId}@{revision} has neither vocab.txt nor tokenizer.json at {options.Endpoint}; it is not a model membed can load");
            }

            File.Delete(Path.Combine(staging, StagingMarker));
            lease.WriteManifest(model.RepoId, model.Revision, "hub", installed, digests, w => w.WriteString("endpoint", options.Endpoint.AbsoluteUri));
            lease.Publish();
            return new PullResult(target, repoId, revision, false, installed);
        }
    }

    /// <summary>
    /// The one-line message for an unreachable hub, naming the offline alternative (front ends add how to pull
    /// elsewhere and how to point at a directory).
    /// </summary>
    public static string OfflineMessage(Uri endpoint, string repoId, string reason) =>
        $"cannot reach {endpoint.GetLeftPart(UriPartial.Authority)} ({reason}), so {repoId} cannot be downloaded here; " +
        $"a complete model directory (config.json, model.safetensors, vocab.txt, tokenizer_config.json, modules.json, " +
        $"sentence_bert_config.json, 1_Pooling/config.json) pulled or copied elsewhere can be used as it is, or placed at {SafeCacheDir(repoId)}";

    /// <summary>
    /// The default hub endpoint: $HF_ENDPOINT when set (the variable huggingface_hub uses for mirrors), else
    /// https://huggingface.co.
    /// </summary>
    public static Uri DefaultEndpoint
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("HF_ENDPOINT");
            if (string.IsNullOrWhiteSpace(env)) return new Uri("https://huggingface.co");
            if (!Uri.TryCreate(env.Trim(), UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
                throw new ManagedEmbedException($"HF_ENDPOINT must be an http(s) URL, got '{env}'");
            return u;
        }
    }

    /// <summary>True when $MEMBED_OFFLINE or $HF_HUB_OFFLINE is set to 1/true/yes/on: nothing is downloaded implicitly.</summary>
    public static bool OfflineMode => IsTrue("MEMBED_OFFLINE") || IsTrue("HF_HUB_OFFLINE");

    private static bool IsTrue(string name) =>
        Environment.GetEnvironmentVariable(name)?.Trim().ToLowerInvariant() is "1" or "true" or "yes" or "on";

    private static string SafeCacheDir(string repoId)
    {
        try { return ModelCache.DirectoryFor(repoId); }
        catch (ManagedEmbedException) { return "~/.cache/managedembed/" + repoId; }
    }

    private static PullResult? CheckExistingTarget(string target, string repoId, string revision)
    {
        if (File.Exists(target)) throw new ManagedEmbedException($"{target} exists and is a file, not a model directory");
        if (!Directory.Exists(target)) return null;
        string manifestPath = Path.Combine(target, ModelCache.ManifestName);
        if (!File.Exists(manifestPath))
        {
            if (!Directory.EnumerateFileSystemEntries(target).Any()) return null; // empty: fine to replace
            throw new TargetDirectoryConflictException(target, $"{target} already exists and was not written by a model pull (no {ModelCache.ManifestName}); remove it or choose another directory");
        }
        var m = PullManifest.Read(manifestPath);
        if (!string.Equals(m.RepoId, repoId, StringComparison.OrdinalIgnoreCase) || m.Revision != revision)
            throw new TargetDirectoryConflictException(target, $"{target} holds {m.RepoId}@{m.Revision}, not {repoId}@{revision}; remove it or choose another directory");
        CheckFilesPresent(target, m);
        return new PullResult(target, m.RepoId, m.Revision, true, m.Files.Select(f => f.Path).ToList());
    }

    private static void PrepareStaging(string staging, string repoId, string revision, Uri endpoint, Action<string>? log)
    {
        string markerPath = Path.Combine(staging, StagingMarker);
        string marker = $"{repoId}@{revision} from {endpoint.GetLeftPart(UriPartial.Authority)}";
        if (Directory.Exists(staging))
        {
            string? old = File.Exists(markerPath) ? File.ReadAllText(markerPath) : null;
            if (old == marker)
            {
                log?.Invoke($"resuming an earlier pull in {staging}");
                return;
            }
            Durable.TryDeleteDirectory(staging); // left over from another revision/endpoint: start clean
        }
        Directory.CreateDirectory(staging);
        DurableFile.WriteAllBytes(markerPath, Encoding.UTF8.GetBytes(marker));
    }

    /// <summary>Downloads one file into the staging directory; false when an optional file does not exist upstream.</summary>
    private static async Task<bool> FetchFileAsync(HttpClient http, PullOptions options, HubModel model, HubFile file,
        string? expectedSha, string staging, Dictionary<string, string> digests, CancellationToken ct)
    {
        string finalPath = Path.Combine(staging, file.Path.Replace('/', Path.DirectorySeparatorChar));
        if (File.Exists(finalPath)) return true; // verified and renamed by an earlier (interrupted) run
        Directory.CreateDirectory(Path.GetDirectoryName(finalPath)!);
        string part = finalPath + ".part";
        Uri url = ResolveUrl(options.Endpoint, model.RepoId, model.Revision, file.Path);

        for (int attempt = 0; ; attempt++)
        {
            long have = File.Exists(part) ? new FileInfo(part).Length : 0;
            using var resp = await SendAsync(http, url, have, options, model.RepoId, ct).ConfigureAwait(false);
            var (linkedSha, linkedSize) = resp.Linked;
            HttpResponseMessage r = resp.Response;
            int status = (int)r.StatusCode;

            if (status == 404)
            {
                if (!file.Required)
                {
                    options.Log?.Invoke($"{file.Path}: not in the repository (optional, skipped)");
                    DurableFile.TryDelete(part);
                    return false;
                }
                Durable.TryDeleteDirectory(staging);
                throw new ManagedEmbedException($"{file.Path} not found at {url} (HTTP 404): check the repository id and revision");
            }
            if (status is 401 or 403)
                throw new ManagedEmbedException($"access denied (HTTP {status}) for {url}: the repository may be private or gated");
            if (status == 416)
            {
                // Our partial file is at least as long as the file: complete already, or stale. Verify or restart.
                long? full = r.Content.Headers.ContentRange?.Length;
                if (have > 0 && full == have)
                {
                    if (Verify(part, file, expectedSha ?? linkedSha, linkedSize, url, model, staging) is { } d416) digests[file.Path] = d416;
                    break;
                }
                DurableFile.TryDelete(part);
                if (attempt > 0) throw new ManagedEmbedException($"server refused the byte range for {url} (HTTP 416) twice");
                continue;
            }
            if (status is not (200 or 206))
                throw new ManagedEmbedException($"HTTP {status} {r.ReasonPhrase} for {url}");

            string? digest = expectedSha ?? linkedSha;
            if (digest is null && file.Path == "model.safetensors")
                throw new UnpinnedWeightsException(model.RepoId, model.Revision, $"no SHA-256 is known for {model.RepoId}@{model.Revision} model.safetensors (not in the pinned-model table and the server sent no X-Linked-Etag), so it cannot be verified");

            long offset = 0;
            long? total = r.Content.Headers.ContentLength;
            if (status == 206)
            {
                ContentRangeHeaderValue? cr = r.Content.Headers.ContentRange;
                if (cr?.From != have)
                {
                    DurableFile.TryDelete(part);
                    throw new ManagedEmbedException($"server answered the resume request for {url} with range '{cr}' instead of bytes {have}-; the partial file was discarded, run the command again");
                }
                offset = have;
                total = cr.Length;
                options.Log?.Invoke($"{file.Path}: resuming at byte {have:N0}" + (total is long t ? $" of {t:N0}" : ""));
            }
            else if (have > 0)
                options.Log?.Invoke($"{file.Path}: server does not support resuming; downloading again from the start");

            if (file.Size is long pinned && total is long announced && announced != pinned)
            {
                // Refuse before transferring: the server's file cannot be the published one.
                Durable.TryDeleteDirectory(staging);
                throw new ManagedEmbedException($"{file.Path} at {url} is {announced:N0} bytes, but the published size for {model.RepoId}@{model.Revision} is {pinned:N0}; nothing was installed");
            }
            long cap = file.Size ?? (file.Path == "model.safetensors" ? long.MaxValue : MaxSmallFileBytes);
            if (total is long tt && tt > cap)
            {
                Durable.TryDeleteDirectory(staging);
                throw new ManagedEmbedException($"{file.Path} at {url} announces {tt:N0} bytes, more than the {cap:N0} allowed for it; nothing was installed");
            }
            await HttpBody.CopyToFileAsync(r, part, offset, total, cap, file.Path, url, options.Progress, options.StallTimeout, keepPartial: true, ct).ConfigureAwait(false);
            if (Verify(part, file, digest, linkedSize, url, model, staging) is { } verified) digests[file.Path] = verified;
            break;
        }
        File.Move(part, finalPath);
        DurableFile.FsyncDirectory(Path.GetDirectoryName(finalPath)!);
        return true;
    }

    /// <summary>Checks size and SHA-256; returns the verified digest (null when none is known for the file).</summary>
    private static string? Verify(string part, HubFile file, string? digest, long? linkedSize, Uri url, HubModel model, string staging)
    {
        long length = new FileInfo(part).Length;
        long? size = file.Size ?? linkedSize;
        if (size is long s && length != s)
        {
            Durable.TryDeleteDirectory(staging);
            throw new ManagedEmbedException($"{file.Path} from {url} has {length:N0} bytes, expected {s:N0}; the download was discarded and nothing was installed");
        }
        if (digest is null) return null;
        string actual;
        using (var f = File.OpenRead(part)) actual = Convert.ToHexStringLower(SHA256.HashData(f));
        if (actual != digest)
        {
            Durable.TryDeleteDirectory(staging);
            throw new ManagedEmbedException($"{file.Path} from {url} failed verification: SHA-256 {actual}, expected {digest} for {model.RepoId}@{model.Revision}; the download was discarded and nothing was installed");
        }
        return actual;
    }

    private sealed class Sent(HttpResponseMessage response, (string? Sha, long? Size) linked) : IDisposable
    {
        public HttpResponseMessage Response { get; } = response;
        public (string? Sha, long? Size) Linked { get; } = linked;
        public void Dispose() => Response.Dispose();
    }

    /// <summary>GET with manual redirects, so the hub's X-Linked-Etag/X-Linked-Size on the first hop are not lost.</summary>
    private static async Task<Sent> SendAsync(HttpClient http, Uri url, long rangeFrom, PullOptions options, string repoId, CancellationToken ct)
    {
        string? sha = null;
        long? size = null;
        Uri current = url;
        for (int hop = 0; ; hop++)
        {
            using var req = new HttpRequestMessage(HttpMethod.Get, current);
            if (rangeFrom > 0) req.Headers.Range = new RangeHeaderValue(rangeFrom, null);
            HttpResponseMessage resp;
            try
            {
                resp = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            }
            catch (HttpRequestException e) when (IsUnreachable(e))
            {
                throw new SourceUnreachableException(OfflineMessage(current, repoId, Reason(e)), e) { RepoId = repoId };
            }
            catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.SecureConnectionError)
            {
                throw new ManagedEmbedException($"TLS connection to {current.Host} failed ({OneLine((e.InnerException ?? e).Message)}); HTTPS uses the system OpenSSL (libssl), check that it is installed and the CA certificates are current", e);
            }
            catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
            {
                throw new SourceUnreachableException(OfflineMessage(current, repoId, "connection timed out"), e) { RepoId = repoId };
            }
            sha ??= ParseLinkedSha(resp);
            if (size is null && resp.Headers.TryGetValues("X-Linked-Size", out var sizes)
                && long.TryParse(sizes.First(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long ls))
                size = ls;
            int status = (int)resp.StatusCode;
            if (status is 301 or 302 or 303 or 307 or 308)
            {
                Uri? loc = resp.Headers.Location;
                resp.Dispose();
                if (loc is null) throw new ManagedEmbedException($"HTTP {status} redirect without a Location from {current}");
                if (hop >= 10) throw new ManagedEmbedException($"too many redirects fetching {url}");
                Uri next = loc.IsAbsoluteUri ? loc : new Uri(current, loc);
                if (next.Scheme != Uri.UriSchemeHttps && !(next.Scheme == Uri.UriSchemeHttp && IsLoopback(next)))
                    throw new ManagedEmbedException($"refusing redirect from {current} to non-HTTPS {next}");
                current = next;
                continue;
            }
            return new Sent(resp, (sha, size));
        }
    }

    private static string? ParseLinkedSha(HttpResponseMessage resp)
    {
        // The hub sends the LFS object's SHA-256 as X-Linked-Etag ("hex", possibly weak W/"hex").
        if (!resp.Headers.TryGetValues("X-Linked-Etag", out var values)) return null;
        string v = values.First().Trim();
        if (v.StartsWith("W/", StringComparison.Ordinal)) v = v[2..];
        v = v.Trim('"').ToLowerInvariant();
        return v.Length == 64 && v.All(char.IsAsciiHexDigit) ? v : null;
    }

    private static bool IsUnreachable(HttpRequestException e) =>
        e.HttpRequestError is HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError or HttpRequestError.ProxyTunnelError
        || e.InnerException is SocketException;

    private static string Reason(HttpRequestException e) => e.HttpRequestError switch
    {
        HttpRequestError.NameResolutionError => "name resolution failed",
        HttpRequestError.ProxyTunnelError => "proxy tunnel failed",
        _ => e.InnerException is SocketException se ? OneLine(se.Message) : "connection failed",
    };

    private static HttpClient CreateClient(PullOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None, // byte ranges must address the stored bytes
            ConnectTimeout = options.ConnectTimeout,
        };
        var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("membed", typeof(ModelPuller).Assembly.GetName().Version?.ToString(3) ?? "0"));
        return http;
    }

    /// <summary>The resolve URL of one file: <c>{endpoint}/{repo}/resolve/{revision}/{path}</c>.</summary>
    public static Uri ResolveUrl(Uri endpoint, string repoId, string revision, string path)
    {
        string baseUrl = endpoint.AbsoluteUri.TrimEnd('/');
        string escapedPath = string.Join('/', path.Split('/').Select(Uri.EscapeDataString));
        return new Uri($"{baseUrl}/{repoId}/resolve/{Uri.EscapeDataString(revision)}/{escapedPath}");
    }

    private static void CheckEndpoint(Uri endpoint)
    {
        if (!endpoint.IsAbsoluteUri || endpoint.Scheme == Uri.UriSchemeHttps) return;
        if (endpoint.Scheme == Uri.UriSchemeHttp && IsLoopback(endpoint)) return;
        throw new ManagedEmbedException($"endpoint {endpoint} must use https:// (plain http:// is allowed only for 127.0.0.1/localhost)");
    }

    private static bool IsLoopback(Uri u) =>
        u.IsLoopback || (IPAddress.TryParse(u.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static void ValidateRevision(string revision)
    {
        if (revision.Length is 0 or > 200 || revision.Contains("..", StringComparison.Ordinal)
            || !revision.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/'))
            throw new ManagedEmbedException($"'{revision}' is not a valid revision (a commit hash, branch or tag)");
    }

    private static string NormalizeSha(string s, string what)
    {
        string v = s.Trim().ToLowerInvariant();
        if (v.Length != 64 || !v.All(char.IsAsciiHexDigit))
            throw new ManagedEmbedException($"{what} must be 64 hex digits, got '{s}'");
        return v;
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}

/// <summary>A download stopped part-way (dropped connection, stall); the hub keeps the partial file for resuming.</summary>
public sealed class TransferInterruptedException : ManagedEmbedException
{
    /// <summary>Creates the exception.</summary>
    public TransferInterruptedException(string message) : base(message) { }
}

/// <summary>The manifest <c>membed pull</c> writes into a completed model directory.</summary>
/// <param name="RepoId">The repository id.</param>
/// <param name="Revision">The hub revision.</param>
/// <param name="Source">"hub", "nuget" or "import".</param>
/// <param name="Package">For NuGet-sourced models, <c>id@version</c>.</param>
/// <param name="Files">Each file with its size and SHA-256.</param>
public sealed record PullManifest(string RepoId, string Revision, string Source, string? Package, IReadOnlyList<(string Path, long Size, string? Sha256)> Files)
{
    /// <summary>Reads a manifest; a damaged one is a clear error.</summary>
    public static PullManifest Read(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            var files = new List<(string, long, string?)>();
            foreach (var f in root.GetProperty("files").EnumerateArray())
                files.Add((f.GetProperty("path").GetString()!, f.GetProperty("size").GetInt64(),
                    f.TryGetProperty("sha256", out var h) ? h.GetString() : null));
            string source = root.TryGetProperty("source", out var s) ? s.GetString() ?? "hub" : "hub";
            string? package = root.TryGetProperty("package", out var p) && root.TryGetProperty("package_version", out var v) ? $"{p.GetString()}@{v.GetString()}" : null;
            return new PullManifest(root.GetProperty("repo").GetString()!, root.GetProperty("revision").GetString()!, source, package, files);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new ManagedEmbedException($"{path} is not a valid pull manifest ({e.Message.ReplaceLineEndings(" ")}); remove the directory and pull again");
        }
    }
}
