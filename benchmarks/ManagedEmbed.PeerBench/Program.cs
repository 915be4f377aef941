// Peer benchmark: ManagedEmbed's BERT forward pass vs ONNX Runtime (CPU EP) on the same weights, alternating in one
// process. Usage:
//   dotnet run -c Release --project benchmarks/ManagedEmbed.PeerBench -- --model DIR --onnx FILE
//       [--seconds S] [--rounds R] [--shapes 32x32/2,64x128/2,1x16/2,1x16/1,32x32/1] [--profile PASSES] [--int8]
// --int8 also times our forward pass with int8 Linear weights (the float model quantized at load, as `membed model
// quantize` writes it), alternating with the two float engines, and prints a second table comparing the three.
// --profile PASSES prints a per-op time table of our forward pass for each shape instead (OpProfile.cs; no ORT run);
// add --rowmajor to replay it with the weights read in place (never packed).
//   PeerBench --ort-cold-start MODEL_DIR ONNX_FILE: ONNX Runtime's process start -> first embedding of one stdin text
//   (OrtColdStart.cs; run by tools/bench_cold_start.py --ort).
// The ONNX file comes from tools/export_onnx.py run on the same model directory (see benchmarks/run-encoder-peer.sh).
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Kernels;
using Microsoft.ML.OnnxRuntime;

// ORT cold start (OrtColdStart.cs): nothing else may run first.
if (args is ["--ort-cold-start", var coldModel, var coldOnnx]) return OrtColdStart.Run(coldModel, coldOnnx);

var opts = ParseArgs(args);
string modelDir = opts.GetValueOrDefault("--model") ?? throw new ArgumentException("--model DIR is required");
string onnxPath = opts.GetValueOrDefault("--onnx") ?? (opts.ContainsKey("--profile") ? "" : throw new ArgumentException("--onnx FILE is required"));
double seconds = double.Parse(opts.GetValueOrDefault("--seconds") ?? "3", CultureInfo.InvariantCulture);
int rounds = int.Parse(opts.GetValueOrDefault("--rounds") ?? "3", CultureInfo.InvariantCulture);
var shapes = (opts.GetValueOrDefault("--shapes") ?? "32x32/2,64x128/2,1x16/2,1x16/1,32x32/1").Split(',')
    .Select(s => { var p = s.Split('x', '/'); return (B: int.Parse(p[0]), T: int.Parse(p[1]), Threads: int.Parse(p[2])); }).ToArray();

var config = SentenceModelConfig.Load(modelDir).Transformer;
using var model = EncoderRegistry.LoadModel(Path.Combine(modelDir, "model.safetensors"), config);
bool int8 = opts.ContainsKey("--int8");
using var int8Model = int8 ? EncoderRegistry.LoadModel(Path.Combine(modelDir, "model.safetensors"), config, quantizeToInt8: true) : null;
var int8Rows = new List<string>();
double ghz = Clock.MeasureGHz();
double roof = Clock.MeasureFmaRoof();
Console.WriteLine($"ManagedEmbed {KernelInfo.Describe()}");
if (opts.TryGetValue("--profile", out var profilePasses))
{
    int passes = int.Parse(profilePasses, CultureInfo.InvariantCulture);
    Console.WriteLine($"model: {modelDir} ({config.ModelType}); clock {ghz:F2} GHz (measured), FMA roof {roof:F0} GFLOP/s per core ({Clock.FmaRoofMethod}, measured)");
    foreach (var (b, t, threads) in shapes)
    {
        var rng = new Random(1234 + b * 31 + t);
        var seqs = Enumerable.Range(0, b).Select(_ => Enumerable.Range(0, t).Select(_ => 4 + rng.Next(config.VocabSize - 4)).ToArray()).ToArray();
        var batch = new TokenBatch(seqs);
        var ws = new EncoderWorkspace();
        using var pool = new KernelThreadPool(threads);
        var times = new List<double>();
        var cpu = new CpuTally();
        Measure(() => model.Forward(batch, ws, pool), [], 1.0, null);
        Measure(() => model.Forward(batch, ws, pool), times, seconds, cpu);
        OpProfile.Run(config, b, t, threads, passes, Median(times), cpu.MsPerRun, roof, opts.ContainsKey("--rowmajor"));
    }
    return 0;
}
Console.WriteLine($"ONNX Runtime {OrtEnv.Instance().GetVersionString()} CPU EP, ORT_ENABLE_ALL, inter-op 1 thread, intra-op = threads");
Console.WriteLine($"model: {modelDir} ({config.ModelType}, hidden {config.HiddenSize}, layers {config.NumHiddenLayers}, heads {config.NumAttentionHeads}, ffn {config.IntermediateSize})");
Console.WriteLine($"clock {ghz:F2} GHz (measured), peak {Clock.FlopsPerCycle * ghz:F0} GFLOP/s per core, FMA roof {roof:F0} GFLOP/s per core ({Clock.FmaRoofMethod}, measured); {rounds} alternating rounds of {seconds} s each");
Console.WriteLine();
// "ratio" is of the median wall times; "best ratio" of the fastest runs; "CPU ratio" of the process CPU time per
// forward pass over whole rounds (robust to a loaded machine, where wall times include time spent descheduled; at
// 2 threads it includes both engines' spinning). "% of peak" is against 64 flop/cycle at the integer-measured clock,
// "% of FMA roof" against the measured roof of Clock.MeasureFmaRoof (threads x one core's).
Console.WriteLine("| shape (B x T) | threads | ManagedEmbed tokens/s | ms/batch | ONNX Runtime tokens/s | ms/batch | ratio | best ratio | CPU ms ours | CPU ms ORT | CPU ratio | ours GFLOP/s | % of peak | % of FMA roof | max abs diff |");
Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");

var allocations = new List<string>();
foreach (var (b, t, threads) in shapes)
{
    var rng = new Random(1234 + b * 31 + t);
    var seqs = new int[b][];
    var ids = new long[b * t];
    for (int i = 0; i < b; i++)
    {
        seqs[i] = new int[t];
        for (int j = 0; j < t; j++)
        {
            int id = rng.Next(config.VocabSize);
            // MPNet: a random <pad> (id 1) would take the padding position in both engines; keep every token real.
            if (config.PositionOffset > 0 && id == MPNetConfig.PaddingIdx) id = 4;
            seqs[i][j] = id; ids[i * t + j] = id;
        }
    }
    var batch = new TokenBatch(seqs);
    var ws = new EncoderWorkspace();
    using var pool = new KernelThreadPool(threads);

    using var ort = new OrtBatch(onnxPath, threads, ids, b, t);

    void Ours() => model.Forward(batch, ws, pool);
    var ws8 = new EncoderWorkspace();
    void OursInt8() => int8Model!.Forward(batch, ws8, pool);
    float[] OrtRun(bool copy)
    {
        using var outputs = ort.Run();
        return copy ? outputs[0].GetTensorDataAsSpan<float>().ToArray() : [];
    }

    // Cross-check: same ids, all tokens real -> identical math up to float rounding.
    Ours();
    var ortOut = OrtRun(true);
    int h = config.HiddenSize;
    double maxDiff = 0;
    for (int i = 0; i < b * t * h; i++) maxDiff = Math.Max(maxDiff, Math.Abs(ws.Hidden[i] - ortOut[i]));

    // Warm-up both for a second each (JIT tiering, ORT's first runs), then alternate timed rounds. Before each
    // round the process idles 200 ms, so the other engine's threads have stopped spinning (ORT's intra-op threads
    // and ours both spin briefly after work) and each engine gets both cores to itself.
    var ourTimes = new List<double>();
    var ortTimes = new List<double>();
    var ourCpu = new CpuTally();
    var ortCpu = new CpuTally();
    var int8Times = new List<double>();
    var int8Cpu = new CpuTally();
    double int8Diff = 0;
    if (int8)
    {
        OursInt8();
        for (int i = 0; i < b * t * h; i++) int8Diff = Math.Max(int8Diff, Math.Abs(ws8.Hidden[i] - ws.Hidden[i]));
        Measure(OursInt8, [], 1.0, null);
    }
    Measure(Ours, [], 1.0, null);
    Measure(() => OrtRun(false), [], 1.0, null);
    for (int r = 0; r < rounds; r++)
    {
        Thread.Sleep(200);
        Measure(Ours, ourTimes, seconds, ourCpu);
        Thread.Sleep(200);
        Measure(() => OrtRun(false), ortTimes, seconds, ortCpu);
        if (int8)
        {
            Thread.Sleep(200);
            Measure(OursInt8, int8Times, seconds, int8Cpu);
        }
    }
    if (int8)
        int8Rows.Add($"| {b} x {t} | {threads} | {Median(int8Times):F2} | {Median(ourTimes):F2} | {Median(ortTimes):F2} | {int8Cpu.MsPerRun:F2} | {ourCpu.MsPerRun:F2} | {ortCpu.MsPerRun:F2} | " +
            $"{ourCpu.MsPerRun / int8Cpu.MsPerRun:F2} | {ortCpu.MsPerRun / int8Cpu.MsPerRun:F2} | {int8Diff:E1} |");
    // Steady state allocates nothing: workspace, packed panels and per-thread scratch are all reused.
    long allocBefore = GC.GetTotalAllocatedBytes(precise: true);
    for (int i = 0; i < 5; i++) Ours();
    long allocPerForward = (GC.GetTotalAllocatedBytes(precise: true) - allocBefore) / 5;
    allocations.Add($"{b} x {t} / {threads} threads: {allocPerForward} bytes allocated per forward pass");
    double ourMs = Median(ourTimes), ortMs = Median(ortTimes);
    double ourTps = b * t / (ourMs / 1000), ortTps = b * t / (ortMs / 1000);
    double flops = Flops(config, b, t);
    double gflops = flops / (ourMs / 1000) / 1e9;
    double bestRatio = ortTimes.Min() / ourTimes.Min();
    Console.WriteLine($"| {b} x {t} | {threads} | {ourTps:F0} | {ourMs:F2} | {ortTps:F0} | {ortMs:F2} | {ourTps / ortTps:F2} | {bestRatio:F2} | {ourCpu.MsPerRun:F2} | {ortCpu.MsPerRun:F2} | {ortCpu.MsPerRun / ourCpu.MsPerRun:F2} | {gflops:F0} | {100 * gflops / (threads * Clock.FlopsPerCycle * ghz):F0}% | {100 * gflops / (threads * roof):F0}% | {maxDiff:E1} |");
}

Console.WriteLine();
foreach (var line in allocations) Console.WriteLine(line);
if (int8)
{
    // CPU ratios > 1: int8 used less CPU time per forward pass. "max abs diff" = int8 vs our float32 last hidden state.
    Console.WriteLine();
    Console.WriteLine($"int8 weights ({Int8Gemm.Path} integer path): median ms/batch and CPU ms per forward pass");
    Console.WriteLine("| shape (B x T) | threads | int8 ms | fp32 ms | ORT fp32 ms | CPU ms int8 | CPU ms fp32 | CPU ms ORT | fp32/int8 CPU | ORT/int8 CPU | max abs diff |");
    Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|");
    foreach (var line in int8Rows) Console.WriteLine(line);
}
return 0;

static void Measure(Action run, List<double> times, double seconds, CpuTally? cpu)
{
    using var self = Process.GetCurrentProcess();
    TimeSpan cpu0 = self.TotalProcessorTime;
    var sw = Stopwatch.StartNew();
    int n = 0;
    while (sw.Elapsed.TotalSeconds < seconds || n < 3)
    {
        long t0 = Stopwatch.GetTimestamp();
        run();
        times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        n++;
    }
    self.Refresh();
    cpu?.Add((self.TotalProcessorTime - cpu0).TotalMilliseconds, n);
}

static double Median(List<double> xs) { var s = xs.OrderBy(x => x).ToList(); return s[s.Count / 2]; }

// Multiply-adds x 2 of one forward pass: per layer and token, QKV 3h², output h², FFN 2hf; attention 2·T·h
// (scores and context) per token; embeddings and LayerNorm are not counted.
static double Flops(TransformerConfig c, int b, int t)
{
    double h = c.HiddenSize, f = c.IntermediateSize;
    return 2.0 * b * t * c.NumHiddenLayers * (4 * h * h + 2 * h * f + 2.0 * t * h);
}

static Dictionary<string, string> ParseArgs(string[] a)
{
    var d = new Dictionary<string, string>();
    string[] known = ["--model", "--onnx", "--seconds", "--rounds", "--shapes", "--profile", "--rowmajor", "--int8"];
    for (int i = 0; i < a.Length; i++)
    {
        if (a[i] is "--int8" or "--rowmajor") { d[a[i]] = "yes"; continue; } // flags: take no value
        if (!known.Contains(a[i]) || i + 1 >= a.Length) throw new ArgumentException($"unknown option or missing value: {a[i]}");
        d[a[i]] = a[++i];
    }
    return d;
}

/// <summary>Process CPU time over whole measured rounds, per run.</summary>
sealed class CpuTally
{
    private double _ms;
    private long _runs;
    public void Add(double ms, int runs) { _ms += ms; _runs += runs; }
    public double MsPerRun => _runs == 0 ? double.NaN : _ms / _runs;
}

static class Clock
{
    public const double FlopsPerCycle = 2 * 16 * 2; // 2 FMA pipes x 16 fp32 lanes x 2 flops

    /// <summary>What <see cref="MeasureFmaRoof"/> runs on this machine (for the headers).</summary>
    public static string FmaRoofMethod => Avx512F.IsSupported ? "16 zmm FMA chains" : Fma.IsSupported ? "12 ymm FMA chains" : "no FMA";

    /// <summary>
    /// The practical fp32 roof of one core: independent FMA chains with no loads (16 on 512-bit vectors, 12 on 256-bit
    /// ones with AVX2), the fastest of several runs, in GFLOP/s; NaN without FMA. The theoretical peak (FlopsPerCycle
    /// x the integer-measured clock) sits a few percent above it (the clock under sustained FMA load is lower).
    /// </summary>
    public static double MeasureFmaRoof()
    {
        if (!Avx512F.IsSupported && !Fma.IsSupported) return double.NaN;
        const long iterations = 2_000_000;
        double flopsPerIteration = Avx512F.IsSupported ? 16.0 * 32 : 12.0 * 16;
        Func<long, float, float> chains = Avx512F.IsSupported ? FmaChains512 : FmaChains256;
        double best = 0;
        float sink = chains(1000, 0f);
        for (int rep = 0; rep < 12; rep++)
        {
            long t0 = Stopwatch.GetTimestamp();
            sink += chains(iterations, rep * 1e-3f);
            double s = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            best = Math.Max(best, iterations * flopsPerIteration / s / 1e9);
        }
        if (sink == 42) Console.Write(""); // keeps the chains live
        return best;
    }

    // No call inside the loops, so the accumulators stay in registers (a call would make the JIT keep them on the
    // stack across it).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaChains512(long iterations, float start)
    {
        var m = Vector512.Create(0.999999f);
        var add = Vector512.Create(1e-7f);
        Vector512<float> c0 = Vector512.Create(start), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        Vector512<float> c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Avx512F.FusedMultiplyAdd(c0, m, add); c1 = Avx512F.FusedMultiplyAdd(c1, m, add);
            c2 = Avx512F.FusedMultiplyAdd(c2, m, add); c3 = Avx512F.FusedMultiplyAdd(c3, m, add);
            c4 = Avx512F.FusedMultiplyAdd(c4, m, add); c5 = Avx512F.FusedMultiplyAdd(c5, m, add);
            c6 = Avx512F.FusedMultiplyAdd(c6, m, add); c7 = Avx512F.FusedMultiplyAdd(c7, m, add);
            c8 = Avx512F.FusedMultiplyAdd(c8, m, add); c9 = Avx512F.FusedMultiplyAdd(c9, m, add);
            c10 = Avx512F.FusedMultiplyAdd(c10, m, add); c11 = Avx512F.FusedMultiplyAdd(c11, m, add);
            c12 = Avx512F.FusedMultiplyAdd(c12, m, add); c13 = Avx512F.FusedMultiplyAdd(c13, m, add);
            c14 = Avx512F.FusedMultiplyAdd(c14, m, add); c15 = Avx512F.FusedMultiplyAdd(c15, m, add);
        }
        return Vector512.Sum(((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)) + ((c12 + c13) + (c14 + c15)));
    }

    // 12 chains in the 16 ymm registers of AVX2 (two more hold the operands).
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaChains256(long iterations, float start)
    {
        var m = Vector256.Create(0.999999f);
        var add = Vector256.Create(1e-7f);
        Vector256<float> c0 = Vector256.Create(start), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        Vector256<float> c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iterations; i++)
        {
            c0 = Fma.MultiplyAdd(c0, m, add); c1 = Fma.MultiplyAdd(c1, m, add); c2 = Fma.MultiplyAdd(c2, m, add);
            c3 = Fma.MultiplyAdd(c3, m, add); c4 = Fma.MultiplyAdd(c4, m, add); c5 = Fma.MultiplyAdd(c5, m, add);
            c6 = Fma.MultiplyAdd(c6, m, add); c7 = Fma.MultiplyAdd(c7, m, add); c8 = Fma.MultiplyAdd(c8, m, add);
            c9 = Fma.MultiplyAdd(c9, m, add); c10 = Fma.MultiplyAdd(c10, m, add); c11 = Fma.MultiplyAdd(c11, m, add);
        }
        return Vector256.Sum(((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long Chain(long n, long a, long b)
    {
        for (long i = 0; i < n; i++) { a += b; a += i; a += b; a += i; a += b; a += i; a += b; a += i; }
        return a;
    }

    /// <summary>Fastest of many short runs of 8 dependent 1-cycle adds per iteration.</summary>
    public static double MeasureGHz()
    {
        long b = Environment.TickCount64 | 1;
        Chain(1_000_000, 1, b);
        double best = 0;
        for (int rep = 0; rep < 300; rep++)
        {
            var sw = Stopwatch.StartNew();
            long r = Chain(500_000, rep, b);
            double s = sw.Elapsed.TotalSeconds;
            if (r == 42) Console.Write("");
            best = Math.Max(best, 500_000.0 * 8 / s / 1e9);
        }
        return best;
    }
}
