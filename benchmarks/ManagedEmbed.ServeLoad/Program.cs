// Usage: dotnet run -c Release --project benchmarks/ManagedEmbed.ServeLoad -- MODEL_DIR [CLIENTS=16] [REQUESTS_PER_CLIENT=20] [THREADS]
// Starts membed's server in process on 127.0.0.1 (ephemeral port), twice: with dynamic batching (concurrent requests
// share forward passes) and with one request per forward pass. Each of CLIENTS clients sends REQUESTS_PER_CLIENT
// requests of one sentence, one after another; prints a Markdown row per mode (bounded: fixed request count).
using System.Diagnostics;
using System.Globalization;
using System.Text;
using ManagedEmbed.Encoder;
using ManagedEmbed.Server;

if (args.Length < 1) { Console.Error.WriteLine("usage: ServeLoad MODEL_DIR [CLIENTS] [REQUESTS_PER_CLIENT] [THREADS]"); return 2; }
int clients = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 16;
int perClient = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 20;
int? threads = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : null;
using var encoder = SentenceEncoder.Load(args[0], new EncoderOptions { Threads = threads });
string[] words = ["search", "vector", "model", "server", "request", "batch", "token", "latency", "embedding", "sentence", "query", "document"];

Console.WriteLine($"| mode | clients | requests | wall s | requests/s | p50 ms | p99 ms | forward passes |");
Console.WriteLine("|---|---|---|---|---|---|---|---|");
foreach (bool merge in (bool[])[false, true, false, true])
{
    await using var server = await EmbeddingServer.StartAsync(encoder, new EmbeddingServerOptions { Port = 0, ModelId = "m", MergeRequests = merge });
    using var http = new HttpClient { BaseAddress = server.Address };
    // Warm-up.
    (await http.PostAsync("/v1/embeddings", Body("warm up the model"))).EnsureSuccessStatusCode();
    var latencies = new List<double>();
    var sw = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
    {
        var rng = new Random(c);
        for (int r = 0; r < perClient; r++)
        {
            string text = string.Join(' ', Enumerable.Range(0, 8 + rng.Next(16)).Select(_ => words[rng.Next(words.Length)]));
            long t0 = Stopwatch.GetTimestamp();
            using var resp = await http.PostAsync("/v1/embeddings", Body(text));
            resp.EnsureSuccessStatusCode();
            await resp.Content.ReadAsByteArrayAsync();
            double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            lock (latencies) latencies.Add(ms);
        }
    }));
    double wall = sw.Elapsed.TotalSeconds;
    string metrics = await http.GetStringAsync("/metrics");
    double passes = double.Parse(metrics.Split('\n').Single(l => l.StartsWith("membed_forward_passes_total ", StringComparison.Ordinal)).Split(' ')[1], CultureInfo.InvariantCulture) - 1;
    latencies.Sort();
    double P(double q) => latencies[Math.Min(latencies.Count - 1, (int)(q * latencies.Count))];
    int n = clients * perClient;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {(merge ? "dynamic batching" : "one request per pass")} | {clients} | {n} | {wall:0.00} | {n / wall:0.0} | {P(0.5):0.0} | {P(0.99):0.0} | {passes} |"));
}
return 0;

static StringContent Body(string text) =>
    new("{\"input\":" + System.Text.Json.JsonSerializer.Serialize(text, ManagedEmbed.ServeLoad.Json.Default.String) + "}", Encoding.UTF8, "application/json");

namespace ManagedEmbed.ServeLoad
{
    [System.Text.Json.Serialization.JsonSerializable(typeof(string))]
    internal sealed partial class Json : System.Text.Json.Serialization.JsonSerializerContext;
}
