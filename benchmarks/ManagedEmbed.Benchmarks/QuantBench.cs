using System.Diagnostics;
using System.Globalization;
using ManagedEmbed.Index;

namespace ManagedEmbed.Benchmarks;

/// <summary>
/// The membed side of benchmarks/quant/quant_peer.py: float exact search and the quantized indexes (binary / int8
/// first pass, int8 or float rescoring) on the same base/query files, with recall@k against the given ground truth.
/// Prints one line per configuration: <c>name|recall|queries per second|bytes per vector</c>.
///   ManagedEmbed.Benchmarks quant BASE.fvecs QUERIES.fvecs GT.ivecs K MULTIPLIER REPS THREADS
/// </summary>
public static class QuantBench
{
    public static void Run(string[] a)
    {
        var xb = VecsFile.ReadFvecs(a[0]);
        var xq = VecsFile.ReadFvecs(a[1]);
        var gt = VecsFile.ReadIvecs(a[2]);
        int k = int.Parse(a[3], CultureInfo.InvariantCulture), mult = int.Parse(a[4], CultureInfo.InvariantCulture);
        int reps = int.Parse(a[5], CultureInfo.InvariantCulture), threads = int.Parse(a[6], CultureInfo.InvariantCulture);
        int dim = xb.Dimension, nq = xq.Count;

        double Recall(long[] labels)
        {
            double r = 0;
            for (int q = 0; q < nq; q++)
            {
                var want = new HashSet<long>(gt.Data.AsSpan(q * gt.Dimension, k).ToArray().Select(v => (long)v));
                r += labels.AsSpan(q * k, k).ToArray().Count(want.Contains) / (double)k;
            }
            return r / nq;
        }

        void Report(string name, Func<long[]> search, int bytes)
        {
            long[] labels = search(); // warm-up (and the result whose recall is reported)
            var times = new List<double>();
            for (int r = 0; r < reps; r++)
            {
                var sw = Stopwatch.StartNew();
                search();
                times.Add(sw.Elapsed.TotalSeconds);
            }
            times.Sort();
            double qps = nq / times[times.Count / 2];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}|{Recall(labels):F4}|{qps:F1}|{bytes}"));
        }

        var flat = new FlatIndex(dim, Metric.InnerProduct) { Threads = threads };
        flat.Add(xb.Data);
        Report("float32 exact (FlatIndex)", () => flat.Search(xq.Data, k).Labels, dim * 4);

        foreach (var (name, first, rescore, m) in new (string, QuantizedFirstPass, QuantizedRescore, int)[]
        {
            ("binary, no rescoring", QuantizedFirstPass.Binary, QuantizedRescore.None, 1),
            ($"binary + int8 rescore x{mult}", QuantizedFirstPass.Binary, QuantizedRescore.Int8, mult),
            ($"binary + float32 rescore x{mult}", QuantizedFirstPass.Binary, QuantizedRescore.Float32, mult),
            ("int8, no rescoring", QuantizedFirstPass.Int8, QuantizedRescore.None, 1),
            ($"int8 + int8 rescore x{mult}", QuantizedFirstPass.Int8, QuantizedRescore.Int8, mult),
        })
        {
            var index = new QuantizedIndex(xb.Data, dim, first, rescore) { Threads = threads };
            Report(name, () => index.Search(xq.Data, k, m).Labels, index.BytesPerVector);
        }
    }
}
