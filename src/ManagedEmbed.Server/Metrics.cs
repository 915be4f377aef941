using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace ManagedEmbed.Server;

/// <summary>A Prometheus histogram (cumulative buckets, sum, count).</summary>
internal sealed class Histogram(string name, string help, double[] bounds)
{
    private readonly long[] _counts = new long[bounds.Length + 1];
    private double _sum;
    private long _count;
    private readonly Lock _lock = new();

    public void Observe(double v)
    {
        int i = 0;
        while (i < bounds.Length && v > bounds[i]) i++;
        lock (_lock) { _counts[i]++; _sum += v; _count++; }
    }

    public void Write(StringBuilder sb)
    {
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        sb.Append("# TYPE ").Append(name).Append(" histogram\n");
        lock (_lock)
        {
            long cum = 0;
            for (int i = 0; i < bounds.Length; i++)
            {
                cum += _counts[i];
                sb.Append(name).Append("_bucket{le=\"").Append(bounds[i].ToString("R", CultureInfo.InvariantCulture)).Append("\"} ").Append(cum).Append('\n');
            }
            cum += _counts[^1];
            sb.Append(name).Append("_bucket{le=\"+Inf\"} ").Append(cum).Append('\n');
            sb.Append(name).Append("_sum ").Append(_sum.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
            sb.Append(name).Append("_count ").Append(_count).Append('\n');
        }
    }
}

/// <summary>The server's counters and histograms, rendered as Prometheus text by GET /metrics.</summary>
internal sealed class ServerMetrics
{
    private static readonly double[] Seconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private readonly ConcurrentDictionary<(string Path, int Status), StrongBox> _requests = new();
    private long _tokens, _inputs, _forwards;

    public Histogram BatchSize { get; } = new("membed_batch_size", "Sequences per forward pass.", [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);
    public Histogram BatchTokens { get; } = new("membed_batch_tokens", "Tokens per forward pass.", [16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536]);
    public Histogram QueueSeconds { get; } = new("membed_queue_duration_seconds", "Time a request waited before its first forward pass.", Seconds);
    public Histogram InferenceSeconds { get; } = new("membed_inference_duration_seconds", "Time of one forward pass.", Seconds);
    public Histogram RequestSeconds { get; } = new("membed_request_duration_seconds", "Time from a request's arrival to its response.", Seconds);

    private sealed class StrongBox { public long Value; }

    public void Request(string path, int status) => Interlocked.Increment(ref _requests.GetOrAdd((path, status), _ => new StrongBox()).Value);
    public void Tokens(long n, int inputs) { Interlocked.Add(ref _tokens, n); Interlocked.Add(ref _inputs, inputs); }
    public void Forward() => Interlocked.Increment(ref _forwards);

    public string Render(int queued, int inFlight)
    {
        var sb = new StringBuilder();
        sb.Append("# HELP membed_requests_total HTTP requests by path and status.\n# TYPE membed_requests_total counter\n");
        foreach (var ((path, status), box) in _requests.OrderBy(k => k.Key.Path, StringComparer.Ordinal).ThenBy(k => k.Key.Status))
            sb.Append("membed_requests_total{path=\"").Append(path).Append("\",status=\"").Append(status).Append("\"} ").Append(Interlocked.Read(ref box.Value)).Append('\n');
        sb.Append("# HELP membed_prompt_tokens_total Tokens embedded.\n# TYPE membed_prompt_tokens_total counter\nmembed_prompt_tokens_total ").Append(Interlocked.Read(ref _tokens)).Append('\n');
        sb.Append("# HELP membed_inputs_total Inputs (texts or token sequences) embedded.\n# TYPE membed_inputs_total counter\nmembed_inputs_total ").Append(Interlocked.Read(ref _inputs)).Append('\n');
        sb.Append("# HELP membed_forward_passes_total Forward passes run.\n# TYPE membed_forward_passes_total counter\nmembed_forward_passes_total ").Append(Interlocked.Read(ref _forwards)).Append('\n');
        sb.Append("# HELP membed_queue_size Requests waiting for or in a forward pass.\n# TYPE membed_queue_size gauge\nmembed_queue_size ").Append(queued).Append('\n');
        sb.Append("# HELP membed_requests_in_flight Requests being handled.\n# TYPE membed_requests_in_flight gauge\nmembed_requests_in_flight ").Append(inFlight).Append('\n');
        BatchSize.Write(sb);
        BatchTokens.Write(sb);
        QueueSeconds.Write(sb);
        InferenceSeconds.Write(sb);
        RequestSeconds.Write(sb);
        return sb.ToString();
    }
}
