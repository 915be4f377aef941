using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 that serves files the way the Hugging Face hub does
/// (<c>/{repo}/resolve/{revision}/{path}</c>, X-Linked-Etag/X-Linked-Size, optional redirect to a "CDN" path),
/// with Range support and fault injection: corrupted bodies and connections dropped mid-file.
/// Written on a raw TcpListener so a dropped connection is a real half-sent response.
/// </summary>
internal sealed class LocalHubServer : IDisposable
{
    public sealed record Request(string Method, string Path, string? Range);

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly Dictionary<string, byte[]> _files = new(StringComparer.Ordinal);

    public string Repo { get; }
    public string Revision { get; }
    public Uri Endpoint { get; }
    public ConcurrentQueue<Request> Requests { get; } = new();

    /// <summary>Files (repository paths) whose resolve URL redirects to /cdn/..., as the hub does for LFS files.</summary>
    public HashSet<string> Lfs { get; } = new(StringComparer.Ordinal);
    /// <summary>Files whose body is served with one byte flipped (headers still announce the true digest).</summary>
    public HashSet<string> Corrupt { get; } = new(StringComparer.Ordinal);
    /// <summary>File → byte count after which the next N responses for it are cut off (connection closed).</summary>
    public ConcurrentDictionary<string, long> DropAfter { get; } = new(StringComparer.Ordinal);
    /// <summary>How many more times to drop (per file) before serving normally.</summary>
    public ConcurrentDictionary<string, int> DropTimes { get; } = new(StringComparer.Ordinal);
    /// <summary>When false, Range headers are ignored (200 with the full body).</summary>
    public bool SupportRange { get; set; } = true;
    /// <summary>When false, no X-Linked-Etag header is sent.</summary>
    public bool SendLinkedEtag { get; set; } = true;

    public LocalHubServer(string repo, string revision, IReadOnlyDictionary<string, byte[]> files)
    {
        Repo = repo;
        Revision = revision;
        foreach (var (k, v) in files) _files[k] = v;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Endpoint = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}");
        _loop = Task.Run(AcceptLoop);
    }

    public static string Sha256Hex(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    public int CountRequests(string file, bool withRange) =>
        Requests.Count(r => r.Path.EndsWith("/" + file, StringComparison.Ordinal) && (r.Range is not null) == withRange);

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { return; }
            _ = Task.Run(() => Handle(client));
        }
    }

    private async Task Handle(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                // One request per connection ("Connection: close"): simple and enough for the client under test.
                string? head = await ReadHead(stream);
                if (head is null) return;
                string[] lines = head.Split("\r\n");
                string[] first = lines[0].Split(' ');
                string method = first[0], path = Uri.UnescapeDataString(first[1]);
                string? range = lines.Skip(1).Where(l => l.StartsWith("Range:", StringComparison.OrdinalIgnoreCase))
                    .Select(l => l[6..].Trim()).FirstOrDefault();
                Requests.Enqueue(new Request(method, path, range));
                await Respond(stream, method, path, range);
            }
            catch (IOException) { }
            catch (SocketException) { }
        }
    }

    private async Task Respond(NetworkStream s, string method, string path, string? range)
    {
        string prefix = $"/{Repo}/resolve/{Revision}/";
        string? file = null;
        bool viaCdn = false;
        if (path.StartsWith(prefix, StringComparison.Ordinal)) file = path[prefix.Length..];
        else if (path.StartsWith("/cdn/", StringComparison.Ordinal)) { file = path[5..]; viaCdn = true; }
        if (file is null || !_files.TryGetValue(file, out byte[]? body))
        {
            await WriteHead(s, "404 Not Found", [("Content-Length", "0"), ("X-Error-Code", "EntryNotFound")]);
            return;
        }
        var linked = new List<(string, string)>();
        if (SendLinkedEtag && Lfs.Contains(file))
        {
            linked.Add(("X-Linked-Etag", $"\"{Sha256Hex(body)}\""));
            linked.Add(("X-Linked-Size", body.Length.ToString(CultureInfo.InvariantCulture)));
        }
        if (Lfs.Contains(file) && !viaCdn)
        {
            await WriteHead(s, "302 Found", [.. linked, ("Location", "/cdn/" + file), ("Content-Length", "0")]);
            return;
        }
        if (Corrupt.Contains(file)) { body = (byte[])body.Clone(); body[body.Length / 2] ^= 0x5A; }

        long start = 0;
        if (range is not null && SupportRange)
        {
            if (!range.StartsWith("bytes=", StringComparison.Ordinal) || !range.EndsWith('-')
                || !long.TryParse(range[6..^1], CultureInfo.InvariantCulture, out start))
            {
                await WriteHead(s, "400 Bad Request", [("Content-Length", "0")]);
                return;
            }
            if (start >= body.Length)
            {
                await WriteHead(s, "416 Range Not Satisfiable", [("Content-Range", $"bytes */{body.Length}"), ("Content-Length", "0")]);
                return;
            }
        }
        long len = body.Length - start;
        var headers = new List<(string, string)> { ("Content-Length", len.ToString(CultureInfo.InvariantCulture)), ("Accept-Ranges", "bytes"), ("ETag", "\"x\"") };
        if (start > 0 || (range is not null && SupportRange))
            headers.Add(("Content-Range", $"bytes {start}-{body.Length - 1}/{body.Length}"));
        await WriteHead(s, range is not null && SupportRange ? "206 Partial Content" : "200 OK", [.. headers, .. (viaCdn ? [] : linked)]);
        if (method == "HEAD") return;

        long send = len;
        if (DropAfter.TryGetValue(file, out long cut) && DropTimes.TryGetValue(file, out int times) && times > 0)
        {
            DropTimes[file] = times - 1;
            send = Math.Max(0, Math.Min(len, cut - start));
        }
        await s.WriteAsync(body.AsMemory((int)start, (int)send));
        await s.FlushAsync();
        if (send < len)
        {
            // A real mid-file drop: the connection ends before the announced Content-Length is reached.
            s.Socket.Shutdown(SocketShutdown.Both);
        }
    }

    private static async Task WriteHead(NetworkStream s, string status, IEnumerable<(string Name, string Value)> headers)
    {
        var sb = new StringBuilder();
        sb.Append("HTTP/1.1 ").Append(status).Append("\r\n");
        foreach (var (n, v) in headers) sb.Append(n).Append(": ").Append(v).Append("\r\n");
        sb.Append("Connection: close\r\n\r\n");
        await s.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()));
    }

    private static async Task<string?> ReadHead(NetworkStream s)
    {
        var buf = new List<byte>();
        var one = new byte[1];
        while (buf.Count < 16384)
        {
            int n = await s.ReadAsync(one);
            if (n == 0) return null;
            buf.Add(one[0]);
            int c = buf.Count;
            if (c >= 4 && buf[c - 4] == '\r' && buf[c - 3] == '\n' && buf[c - 2] == '\r' && buf[c - 1] == '\n')
                return Encoding.ASCII.GetString(buf.ToArray(), 0, c - 4);
        }
        return null;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try { _loop.Wait(2000); } catch (AggregateException) { }
    }
}
