using ManagedEmbed.Kernels;

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

    /// <summary>
    /// Streams a body into <paramref name="path"/> — created, or appended to when <paramref name="offset"/> bytes of
    /// it are already there (a resumed download) — and makes it durable (<see cref="DurableFile.Sync"/>). Progress
    /// reports the bytes on disk. More than <paramref name="cap"/> bytes in all is refused and the file deleted. A
    /// stall (no byte for <paramref name="stallTimeout"/>), a dropped connection or a body shorter than
    /// <paramref name="total"/> throws <see cref="TransferInterruptedException"/>: with <paramref name="keepPartial"/>
    /// the bytes received are kept, durably, for a later resume; without it the file is deleted.
    /// </summary>
    public static async Task CopyToFileAsync(HttpResponseMessage resp, string path, long offset, long? total, long cap, string label, Uri url,
        Action<PullProgress>? progress, TimeSpan stallTimeout, bool keepPartial, CancellationToken ct)
    {
        long received = offset;
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var fs = DurableFile.OpenStaged(path, append: offset > 0);
        try
        {
            stall.CancelAfter(stallTimeout);
            using Stream body = await resp.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false);
            byte[] buffer = new byte[1 << 16];
            progress?.Invoke(new PullProgress(label, received, total));
            while (true)
            {
                stall.CancelAfter(stallTimeout); // re-arm: the timeout is per read, not per file
                int n = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                if (n == 0) break;
                if (received + n > cap)
                {
                    fs.Dispose();
                    DurableFile.TryDelete(path);
                    throw new ManagedEmbedException($"{label} at {url} sent more than the {cap:N0} bytes allowed for it; refused, nothing was installed");
                }
                await fs.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                received += n;
                progress?.Invoke(new PullProgress(label, received, total));
            }
            if (total is long t && received != t)
                throw new HttpIOException(HttpRequestError.ResponseEnded, $"got {received:N0} of {t:N0} bytes");
            DurableFile.Sync(fs);
        }
        catch (Exception e) when (!ct.IsCancellationRequested && e is IOException or HttpRequestException or OperationCanceledException)
        {
            string why = e is OperationCanceledException ? $"no data for {stallTimeout.TotalSeconds:0} s" : e.Message.ReplaceLineEndings(" ").Trim();
            string got = $"{received:N0}" + (total is long t2 ? $" of {t2:N0}" : "");
            if (keepPartial)
            {
                DurableFile.Sync(fs); // what arrived stays, so the next run continues with a Range request
                throw new TransferInterruptedException($"download of {label} from {url} was interrupted after {got} bytes ({why}); run the same command again to resume");
            }
            fs.Dispose();
            DurableFile.TryDelete(path);
            throw new TransferInterruptedException($"download of {label} from {url} failed after {got} bytes ({why})");
        }
        finally { fs.Dispose(); }
    }
}
