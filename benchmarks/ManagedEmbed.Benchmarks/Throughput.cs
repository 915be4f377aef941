using System.Diagnostics;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace ManagedEmbed.Benchmarks;

/// <summary>A benchmark that knows how much work one invocation does, so the summary can show GFLOP/s or GB/s.</summary>
public interface IHasWork
{
    /// <summary>Floating-point operations (multiply and add count 2 per FMA) of one call to <paramref name="method"/>, or 0.</summary>
    double Flops(string method);
    /// <summary>Bytes read + written by one call to <paramref name="method"/> (for memory-bound kernels), or 0.</summary>
    double Bytes(string method);
    /// <summary>Threads the call uses (for % of peak).</summary>
    int ThreadCount { get; }
}

/// <summary>Machine peak: measured core clock × 2 FMA pipes × 16 fp32 lanes × 2 flops per FMA.</summary>
public static class Peak
{
    /// <summary>Flops per cycle per core for fp32 FMA on 512-bit vectors with two FMA pipes.</summary>
    public const double FlopsPerCycle = 2 * 16 * 2;

    private static readonly Lazy<double> s_ghz = new(MeasureGHz);

    /// <summary>Core clock in GHz under load, measured with a chain of dependent 1-cycle integer additions.</summary>
    public static double GHz => s_ghz.Value;

    /// <summary>Peak GFLOP/s of <paramref name="threads"/> cores.</summary>
    public static double GFlops(int threads) => threads * FlopsPerCycle * GHz;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long Chain(long n, long a, long b)
    {
        // 8 dependent adds per iteration (each needs the previous result: 1 cycle latency each); the loop counter
        // runs in parallel, so one iteration takes 8 cycles.
        for (long i = 0; i < n; i++)
        {
            a += b; a += i; a += b; a += i; a += b; a += i; a += b; a += i;
        }
        return a;
    }

    private static double MeasureGHz()
    {
        long b = Environment.TickCount64 | 1;
        Chain(1_000_000, 1, b);
        double best = 0;
        // Many short runs, keep the fastest: on a shared machine most runs get preempted, one usually does not.
        for (int rep = 0; rep < 300; rep++)
        {
            const long n = 500_000;
            var sw = Stopwatch.StartNew();
            long r = Chain(n, rep, b);
            double s = sw.Elapsed.TotalSeconds;
            if (r == 42) Console.Write("");
            best = Math.Max(best, n * 8 / s / 1e9);
        }
        return best;
    }
}

/// <summary>Adds GFLOP/s, % of peak and GB/s columns computed from <see cref="IHasWork"/>.</summary>
public sealed class ThroughputColumn(string name, Func<IHasWork, string, double, string> format) : IColumn
{
    public string Id => "Throughput." + name;
    public string ColumnName => name;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => name switch
    {
        "GFLOP/s" => "fp32 operations per second (an FMA counts 2)",
        "%peak" => $"GFLOP/s over threads x {Peak.FlopsPerCycle} flop/cycle x measured clock",
        _ => "bytes read + written per second",
    };
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics is not { } stats) return "-";
        if (Activator.CreateInstance(benchmarkCase.Descriptor.Type) is not IHasWork work) return "-";
        foreach (var p in benchmarkCase.Parameters.Items)
            benchmarkCase.Descriptor.Type.GetProperty(p.Name)?.SetValue(work, p.Value);
        double seconds = stats.Median * 1e-9;
        return format(work, benchmarkCase.Descriptor.WorkloadMethod.Name, seconds);
    }

    public static readonly ThroughputColumn GFlops = new("GFLOP/s", (w, m, s) => w.Flops(m) > 0 ? (w.Flops(m) / s / 1e9).ToString("F1") : "-");
    public static readonly ThroughputColumn PercentPeak = new("%peak", (w, m, s) => w.Flops(m) > 0 ? (100 * w.Flops(m) / s / 1e9 / Peak.GFlops(w.ThreadCount)).ToString("F0") + "%" : "-");
    public static readonly ThroughputColumn GBytes = new("GB/s", (w, m, s) => w.Bytes(m) > 0 ? (w.Bytes(m) / s / 1e9).ToString("F1") : "-");
}

/// <summary>Short job (the machine is shared) plus the throughput columns and the measured clock in the legend.</summary>
public sealed class KernelConfig : ManualConfig
{
    private static int s_printed;

    public KernelConfig()
    {
        AddJob(Job.ShortRun.WithWarmupCount(3).WithIterationCount(7));
        AddColumn(ThroughputColumn.GFlops, ThroughputColumn.PercentPeak, ThroughputColumn.GBytes);
        AddColumn(StatisticColumn.Median);
        AddLogicalGroupRules(BenchmarkLogicalGroupRule.ByParams);
        if (Interlocked.Exchange(ref s_printed, 1) == 0)
            Console.WriteLine($"// Peak model: {Peak.GHz:F2} GHz (measured) x {Peak.FlopsPerCycle} flop/cycle = {Peak.GFlops(1):F0} GFLOP/s per core");
    }
}
