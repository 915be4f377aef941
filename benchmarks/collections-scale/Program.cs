// Scale benchmark of ManagedEmbed.Collections: N records × D dims with metadata and explicit embeddings.
// usage: dotnet run -c Release --project benchmarks/collections-scale -- --n 1000000 --dim 384 --dir /tmp/cs [--batch 1000] [--queries 200]
// Phases: build (add throughput, compaction), query (p50/p99 with and without where), reopen (open time, RSS) —
// (--phase chroma-load: tests/clients/chroma/load.mjs's workload and data, in process; see ChromaLoad.cs) —
// the reopen phase runs in a fresh child process so its RSS is that of a reader that just opened the store.
using System.Diagnostics;
using System.Globalization;
using ManagedEmbed.Collections;

var opt = new Dictionary<string, string>();
for (int i = 0; i + 1 < args.Length; i += 2) opt[args[i].TrimStart('-')] = args[i + 1];
int n = int.Parse(opt.GetValueOrDefault("n", "1000000"), CultureInfo.InvariantCulture);
int dim = int.Parse(opt.GetValueOrDefault("dim", "384"), CultureInfo.InvariantCulture);
int batch = int.Parse(opt.GetValueOrDefault("batch", "1000"), CultureInfo.InvariantCulture);
int nq = int.Parse(opt.GetValueOrDefault("queries", "200"), CultureInfo.InvariantCulture);
string dir = opt.GetValueOrDefault("dir", Path.Combine(Path.GetTempPath(), "membed-scale"));
string phase = opt.GetValueOrDefault("phase", "all");
const int Clusters = 1000;

if (phase == "chroma-load") { ChromaLoad.Run(n, dim, nq, int.Parse(opt.GetValueOrDefault("concurrency", "8"), CultureInfo.InvariantCulture), dir); return; }

static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
static double CpuSec() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;
static string Pct(List<double> xs, double p) { xs.Sort(); return xs[Math.Min(xs.Count - 1, (int)Math.Ceiling(p * xs.Count) - 1)].ToString("F2", CultureInfo.InvariantCulture); }
static long DirBytes(string d) => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
static double MiB(long b) => b / 1048576.0;

// Deterministic clustered data: centers ~ N(0,1), points = center + 0.35·noise (so IVF has structure to use).
float[] centers = new float[Clusters * dim];
{
    var r = new Random(1);
    for (int i = 0; i < centers.Length; i++) centers[i] = (float)Gauss(r);
}
static double Gauss(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());
float[] Point(Random r)
{
    int c = r.Next(Clusters);
    var v = new float[dim];
    for (int j = 0; j < dim; j++) v[j] = centers[c * dim + j] + 0.35f * (float)Gauss(r);
    return v;
}

if (phase == "reopen")
{
    double cpu0 = CpuSec();
    var sw0 = Stopwatch.StartNew();
    using var s = CollectionStore.Open(dir, readOnly: true);
    var c = s.GetCollection("bench");
    double openMs = sw0.Elapsed.TotalMilliseconds;
    double openCpu = CpuSec() - cpu0;
    int count = c.Count();
    GC.Collect();
    var p = Process.GetCurrentProcess();
    Console.WriteLine($"reopen: {openMs / 1000:F2} s wall, {openCpu:F2} s CPU for {count} records (index {c.IndexKind}); RSS {MiB(p.WorkingSet64):F0} MiB, peak {MiB(p.PeakWorkingSet64):F0} MiB");
    var r = new Random(99);
    var lat = new List<double>();
    for (int i = 0; i < 50; i++) { var q = Point(r); long t = Stopwatch.GetTimestamp(); c.Query(queryEmbeddings: [q], nResults: 10); lat.Add(Ms(Stopwatch.GetTimestamp() - t)); }
    Console.WriteLine($"reopen: query p50 {Pct(lat, 0.5)} ms p99 {Pct(lat, 0.99)} ms (50 queries, no filter)");
    return;
}

if (Directory.Exists(dir)) Directory.Delete(dir, true);
Console.WriteLine($"collections-scale: n={n} dim={dim} batch={batch} dir={dir} cpus={Environment.ProcessorCount}; load average at start: {(File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a")}");
var store = CollectionStore.Open(dir);
var coll = store.CreateCollection("bench", DistanceSpace.Cosine);
var rng = new Random(7);
var sw = Stopwatch.StartNew();
double addCpu0 = CpuSec();
long genTicks = 0;
double worstBatchMs = 0;
for (int start = 0; start < n; start += batch)
{
    long t0 = Stopwatch.GetTimestamp();
    int m = Math.Min(batch, n - start);
    var ids = new string[m];
    var docs = new string?[m];
    var metas = new IReadOnlyDictionary<string, MetadataValue>?[m];
    var embs = new float[m][];
    for (int i = 0; i < m; i++)
    {
        int k = start + i;
        ids[i] = "doc-" + k.ToString(CultureInfo.InvariantCulture);
        docs[i] = "document number " + k.ToString(CultureInfo.InvariantCulture);
        metas[i] = new Dictionary<string, MetadataValue>
        {
            ["cat"] = (long)(k % 100), ["src"] = "source-" + (k % 10).ToString(CultureInfo.InvariantCulture),
            ["score"] = (k % 1000) / 1000.0, ["even"] = k % 2 == 0,
        };
        embs[i] = Point(rng);
    }
    long t1 = Stopwatch.GetTimestamp();
    genTicks += t1 - t0;
    coll.Add(ids, docs, metas, embs);
    worstBatchMs = Math.Max(worstBatchMs, Ms(Stopwatch.GetTimestamp() - t1));
    if ((start / batch) % 100 == 99) Console.WriteLine($"  {start + m} added, {sw.Elapsed.TotalSeconds:F0} s, index {coll.IndexKind}");
}
double addSec = sw.Elapsed.TotalSeconds - Ms(genTicks) / 1000;
double addCpu = CpuSec() - addCpu0;
Console.WriteLine($"add: {n} records in {addSec:F1} s wall (excluding {Ms(genTicks) / 1000:F1} s data generation) = {n / addSec:F0} records/s; process CPU {addCpu:F1} s incl. generation and background compactions; worst Add call {worstBatchMs:F0} ms; index {coll.IndexKind}");
sw.Restart();
coll.WaitForCompaction();
Console.WriteLine($"waited {sw.Elapsed.TotalSeconds:F1} s for a running background compaction; index {coll.IndexKind}");

void Queries(string label)
{
    var r = new Random(123);
    var filters = new (string Name, WhereFilter? W)[]
    {
        ("no filter", null),
        ("where cat=7 (1%)", WhereFilter.Parse("{\"cat\":7}")),
        ("where cat<50 (50%)", WhereFilter.Parse("{\"cat\":{\"$lt\":50}}")),
        ("where $and src/even (5%)", WhereFilter.Parse("{\"$and\":[{\"src\":\"source-3\"},{\"even\":false}]}")),
    };
    foreach (var (name, w) in filters)
    {
        var lat = new List<double>();
        double c0 = CpuSec();
        for (int i = 0; i < nq; i++)
        {
            var q = Point(r);
            long t = Stopwatch.GetTimestamp();
            var res = coll.Query(queryEmbeddings: [q], nResults: 10, where: w);
            lat.Add(Ms(Stopwatch.GetTimestamp() - t));
            if (res.Ids[0].Count != 10) throw new Exception("short result");
        }
        double cpuMs = (CpuSec() - c0) * 1000 / nq;
        Console.WriteLine($"query [{label}] {name}: p50 {Pct(lat, 0.5)} ms, p99 {Pct(lat, 0.99)} ms wall; mean CPU {cpuMs:F2} ms/query ({nq} queries, k=10)");
    }
}

Queries("after adds: segment + WAL tail");
sw.Restart();
double cc0 = CpuSec();
coll.Compact();
Console.WriteLine($"compact: {sw.Elapsed.TotalSeconds:F1} s wall, {CpuSec() - cc0:F1} s CPU to rewrite {coll.Count()} records into one segment (index {coll.IndexKind})");
Queries("compacted");

// Recall@10 of the unfiltered (index) path against the exact answer.
{
    var r = new Random(5);
    var all = coll.Get(include: Include.Embeddings);
    int hits = 0, total = 0;
    for (int i = 0; i < 20; i++)
    {
        var q = Point(r);
        var qn = (float[])q.Clone();
        ManagedEmbed.Kernels.VectorMath.L2Normalize(qn);
        var exact = Enumerable.Range(0, all.Ids.Count).Select(j => (j, d: 1 - ManagedEmbed.Kernels.VectorMath.Dot(qn, all.Embeddings![j])))
            .OrderBy(x => x.d).Take(10).Select(x => all.Ids[x.j]).ToHashSet();
        var got = coll.Query(queryEmbeddings: [q], nResults: 10).Ids[0];
        hits += got.Count(exact.Contains);
        total += 10;
    }
    Console.WriteLine($"recall@10 of the unfiltered query vs exact: {hits / (double)total:F3} (20 queries)");
}
var proc = Process.GetCurrentProcess();
Console.WriteLine($"writer RSS {MiB(proc.WorkingSet64):F0} MiB, peak {MiB(proc.PeakWorkingSet64):F0} MiB");
store.Dispose();
Console.WriteLine($"disk: {MiB(DirBytes(dir)):F0} MiB ({string.Join(", ", Directory.EnumerateFiles(Path.Combine(dir, "bench")).Select(f => $"{Path.GetFileName(f)} {MiB(new FileInfo(f).Length):F0} MiB"))})");

// Reopen in a fresh process (read-only): open time and RSS of a reader.
var psi = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false };
foreach (var a in Environment.GetCommandLineArgs().Skip(1)) psi.ArgumentList.Add(a);
if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") psi.ArgumentList.Insert(0, Path.Combine(AppContext.BaseDirectory, "CollectionsScale.dll"));
psi.ArgumentList.Add("--phase");
psi.ArgumentList.Add("reopen");
using (var child = Process.Start(psi)!) child.WaitForExit();
