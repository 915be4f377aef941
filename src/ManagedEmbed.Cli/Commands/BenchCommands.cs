using System.Diagnostics;
using ManagedEmbed.Encoder;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Cli;

internal static class BenchCommands
{
    /// <summary>
    /// Forward-pass throughput on random token ids: B sequences of exactly T real tokens (no padding), N threads.
    /// Warms up, then runs whole batches for at least S seconds; prints per-batch times and, last, `tokens/s: X`.
    /// </summary>
    internal static readonly Opt[] EncodeOptions =
    [
        Opt.Req("--model", "DIR", "model directory"), Opt.Req("--batch", "B", "sequences per batch"), Opt.Req("--seq", "T", "tokens per sequence"),
        Common.Threads, Opt.V("--seconds", "S", "minimum measured time", "5"), Opt.V("--seed", "N", "random token ids' seed", "1"),
    ];

    internal static int Encode(Args a)
    {
        a.NoPositional();
        string dir = a.Require("--model");
        int batch = a.RequireInt("--batch", 1, 1_000_000);
        int seq = a.RequireInt("--seq", 1, 1_000_000);
        int threads = a.GetInt("--threads", Environment.ProcessorCount, 1, 1024);
        double seconds = a.GetDouble("--seconds", 5);
        if (!(seconds > 0) || seconds > 3600) throw new ManagedEmbedException($"--seconds must be in (0, 3600], got {seconds}");
        int seed = a.GetInt("--seed", 1);

        using var enc = SentenceEncoder.Load(ModelLocator.Resolve(dir), new EncoderOptions { Threads = threads });
        int vocab = enc.Config.Transformer.VocabSize;
        if (seq > enc.Config.Transformer.MaxSequenceLength)
            throw new ManagedEmbedException($"--seq {seq} exceeds the {enc.Config.Transformer.MaxSequenceLength} positions of max_position_embeddings {enc.Config.Transformer.MaxPositionEmbeddings}");
        var rng = new Random(seed);
        var ids = new int[batch][];
        for (int i = 0; i < batch; i++)
        {
            ids[i] = new int[seq];
            for (int t = 0; t < seq; t++) ids[i][t] = rng.Next(vocab);
        }

        Console.Out.WriteLine($"model: {dir}");
        Console.Out.WriteLine($"shape: batch {batch} x seq {seq}, threads {threads}; {KernelInfo.Describe()}");
        // Warm-up: JIT tiering (a no-op under AOT), workspace sizing, page-in of the weights.
        var warm = Stopwatch.StartNew();
        int warmRuns = 0;
        do { enc.EncodeIds(ids, batch); warmRuns++; } while (warm.Elapsed.TotalSeconds < Math.Min(2.0, seconds / 2) || warmRuns < 3);

        var times = new List<double>();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < seconds || times.Count < 3)
        {
            long t0 = Stopwatch.GetTimestamp();
            enc.EncodeIds(ids, batch);
            times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        double cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / times.Count;
        times.Sort();
        double median = times[times.Count / 2];
        double tokensPerSecond = (double)batch * seq / (median / 1000);
        Console.Out.WriteLine($"batches: {times.Count}, ms/batch: median {median:F3}, min {times[0]:F3}, max {times[^1]:F3}; process CPU ms/batch {cpuMs:F3}");
        Console.Out.WriteLine($"tokens/s: {tokensPerSecond:F0}");
        return 0;
    }
}
