namespace ManagedEmbed.Hub;

/// <summary>Reading HTTP bodies with a per-read stall timeout and a size cap, so a slow or endless server cannot hang or fill the disk.</summary>
internal static class HttpBody
{
    /// <summary>Reads a small body (a service index, a config file) into memory; more than <paramref name="cap"/> bytes is an error.</summary>
    public static async Task<byte[]> ReadSmallAsync(HttpResponseMessage resp, long cap, Uri url, TimeSpan stallTimeout, CancellationToken ct)
    {
        if (resp.Content.Headers.ContentLength > cap)
            throw new ManagedEmbedException($"{url} announces {resp.Content.Headers.ContentLength:N0} bytes, more than the {cap:N0} allowed for it");
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var ms = new MemoryStream();
        try
        {
            stall.CancelAfter(stallTimeout);
            using Stream body = await resp.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false);
            byte[] buffer = new byte[1 << 14];
            while (true)
            {
                stall.CancelAfter(stallTimeout);
                int n = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                if (n == 0) break;
                if (ms.Length + n > cap)
                    throw new ManagedEmbedException($"{url} sent more than the {cap:N0} bytes allowed for it; refused");
                ms.Write(buffer, 0, n);
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new ManagedEmbedException($"{url}: no data for {stallTimeout.TotalSeconds:0} s");
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            throw new ManagedEmbedException($"{url}: the transfer failed ({e.Message.ReplaceLineEndings(" ")})");
        }
        return ms.ToArray();
    }

    /// <summary>Streams a body to <paramref name="path"/> (fsynced), reporting progress; more than <paramref name="cap"/> bytes, or fewer than announced, is an error.</summary>
    public static async Task CopyToFileAsync(HttpResponseMessage resp, string path, long? total, long cap, string label, Uri url,
        Action<PullProgress>? progress, TimeSpan stallTimeout, CancellationToken ct)
    {
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        long received = 0;
        try
        {
            using var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
            stall.CancelAfter(stallTimeout);
            using Stream body = await resp.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false);
            byte[] buffer = new byte[1 << 16];
            progress?.Invoke(new PullProgress(label, 0, total));
            while (true)
            {
                stall.CancelAfter(stallTimeout); // per read, not per file
                int n = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                if (n == 0) break;
                received += n;
                if (received > cap) throw new ManagedEmbedException($"{url} sent more than the {cap:N0} bytes allowed; refused");
                await fs.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                progress?.Invoke(new PullProgress(label, received, total));
            }
            if (total is long t && received != t)
                throw new ManagedEmbedException($"download of {label} from {url} ended after {received:N0} of {t:N0} bytes");
            fs.Flush(flushToDisk: true);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new ManagedEmbedException($"download of {label} from {url} stalled (no data for {stallTimeout.TotalSeconds:0} s) after {received:N0} bytes");
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            throw new ManagedEmbedException($"download of {label} from {url} failed after {received:N0} bytes ({e.Message.ReplaceLineEndings(" ")})");
        }
    }
}
