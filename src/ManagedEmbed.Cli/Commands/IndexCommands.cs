using System.Diagnostics;
using System.Globalization;
using ManagedEmbed.Index;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Cli;

/// <summary>`membed index build|search` and `membed data synth`.</summary>
internal static class IndexCommands
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    // membed index build --vectors base.fvecs --kind flat|ivf|hnsw [--nlist N] [--seed S] [--m M] [--ef-construction E]
    //                   [--ef-search S] [--metric ip|l2] [--threads N] --out FILE
    internal static readonly Opt[] BuildOptions =
    [
        Opt.Req("--vectors", "FILE", "base vectors (.fvecs)"), Opt.Req("--kind", "KIND", "flat|ivf|hnsw"), new("--nlist", "N", "IVF lists") { DefaultText = "4·sqrt(n)" },
        Opt.V("--seed", "S", "IVF k-means seed", "1234"), Opt.V("--m", "M", "HNSW links per node", $"{HnswIndex.DefaultM}"),
        Opt.V("--ef-construction", "E", "HNSW build beam", $"{HnswIndex.DefaultEfConstruction}"),
        Opt.V("--ef-search", "S", "HNSW search beam stored in the index", $"{HnswIndex.DefaultEfSearch}"), Opt.V("--metric", "METRIC", "ip|l2", "ip"), Common.Threads,
        Opt.Req("--out", "FILE", "index file to write (FAISS format)"),
    ];

    internal static int Build(Args a)
    {
        a.NoPositional();
        string vectors = a.Require("--vectors");
        a.Require("--kind");
        string kind = a.GetChoice("--kind", "", "flat", "ivf", "hnsw");
        string outPath = a.Require("--out");
        var metric = a.GetChoice("--metric", "ip", "ip", "l2") == "l2" ? Metric.L2 : Metric.InnerProduct;
        int seed = a.GetInt("--seed", 1234);
        int threads = a.GetInt("--threads", Environment.ProcessorCount, 1, 1024);
        if (kind != "ivf" && a.Has("--nlist")) throw new ManagedEmbedException("option --nlist applies only to --kind ivf");
        if (kind != "ivf" && a.Has("--seed")) throw new ManagedEmbedException("option --seed applies only to --kind ivf");
        foreach (string o in new[] { "--m", "--ef-construction", "--ef-search" })
            if (kind != "hnsw" && a.Has(o)) throw new ManagedEmbedException($"option {o} applies only to --kind hnsw");
        int m = a.GetInt("--m", HnswIndex.DefaultM, 2, 4096);
        int efC = a.GetInt("--ef-construction", HnswIndex.DefaultEfConstruction, 1, 1 << 20);
        int efS = a.GetInt("--ef-search", HnswIndex.DefaultEfSearch, 1, 1 << 20);

        var data = VecsFile.ReadFvecs(vectors);
        CheckMagnitudes(data, vectors);
        IVectorIndex index;
        var proc = Process.GetCurrentProcess();
        double Cpu() { proc.Refresh(); return proc.TotalProcessorTime.TotalSeconds; }
        double cpu0 = Cpu();
        var sw = Stopwatch.StartNew();
        if (kind == "flat")
        {
            index = new FlatIndex(data.Dimension, metric) { Threads = threads };
            index.Add(data.Data);
            Console.Out.WriteLine($"add_seconds: {sw.Elapsed.TotalSeconds.ToString("F3", Inv)}");
        }
        else if (kind == "hnsw")
        {
            using (var bar = ProgressRenderer.Create($"inserting {data.Count} vectors"))
            {
                index = new HnswIndex(data.Dimension, m, metric) { EfConstruction = efC, EfSearch = efS, Threads = threads, OnAddProgress = bar is null ? null : (d, t) => bar.Report(d, t) };
                index.Add(data.Data);
            }
            Console.Out.WriteLine($"add_seconds: {sw.Elapsed.TotalSeconds.ToString("F3", Inv)}");
            Console.Out.WriteLine($"add_cpu_seconds: {(Cpu() - cpu0).ToString("F3", Inv)}");
        }
        else
        {
            // FAISS's rule of thumb: about 4·sqrt(n) lists.
            int nlist = a.GetInt("--nlist", Math.Max(1, (int)(4 * Math.Sqrt(data.Count))), 1, int.MaxValue);
            if (nlist > data.Count) throw new ManagedEmbedException($"--nlist {nlist} exceeds the {data.Count} training vectors in {vectors}");
            var ivf = new IvfIndex(data.Dimension, nlist, metric) { Threads = threads };
            using (var kmeans = new TrainingReporter($"training {nlist} lists (k-means)"))
            {
                ivf.OnTrainingIteration = (it, _) => kmeans.Iteration(it + 1, ivf.TrainingIterations);
                ivf.Train(data.Data, seed);
            }
            foreach (var w in ivf.TrainingWarnings) Console.Error.WriteLine("membed: warning: " + w);
            double train = sw.Elapsed.TotalSeconds, trainCpu = Cpu() - cpu0;
            sw.Restart();
            cpu0 = Cpu();
            ivf.Add(data.Data);
            double add = sw.Elapsed.TotalSeconds, addCpu = Cpu() - cpu0;
            Console.Out.WriteLine($"train_seconds: {train.ToString("F3", Inv)}");
            Console.Out.WriteLine($"add_seconds: {add.ToString("F3", Inv)}");
            // Process CPU time: a load-independent view on a shared machine.
            Console.Out.WriteLine($"train_cpu_seconds: {trainCpu.ToString("F3", Inv)}");
            Console.Out.WriteLine($"add_cpu_seconds: {addCpu.ToString("F3", Inv)}");
            index = ivf;
        }
        FaissIndexIO.Write(index, outPath);
        Console.Out.WriteLine($"wrote {kind} index ({(metric == Metric.L2 ? "l2" : "ip")}, {index.Count} vectors, dim {index.Dimension}) to {outPath}");
        return 0;
    }

    // membed index search --index FILE --queries q.fvecs --k K [--nprobe N | --ef-search S] [--threads N] [--batch-size B] --out ids.ivecs
    internal static readonly Opt[] SearchOptions =
    [
        Opt.Req("--index", "FILE", "index file (FAISS format)"), Opt.Req("--queries", "FILE", "query vectors (.fvecs)"),
        Opt.V("-k|--k", "K", "neighbours per query", "10"), Opt.V("--nprobe", "N", "IVF lists probed (more than nlist: clamped to nlist)"),
        Opt.V("--ef-search", "S", "HNSW search beam"), Common.Threads, new("--batch-size", "B", "queries per batch") { DefaultText = "all" },
        Opt.V("--out", "FILE", "ids of the neighbours (.ivecs)"), Opt.V("--out-scores", "FILE", "their scores (.fvecs: inner products, or squared L2 distances)"),
        Common.Json, Common.Jsonl,
    ];

    internal static int Search(Args a)
    {
        a.NoPositional();
        string indexPath = a.Require("--index");
        string queriesPath = a.Require("--queries");
        int k = a.GetInt("--k", 10, 1, 1 << 20);
        string? outPath = a.Get("--out"), scoresPath = a.Get("--out-scores");
        string format = a.OutputFormat();
        int threads = a.GetInt("--threads", Environment.ProcessorCount, 1, 1024);

        var index = FaissIndexIO.Read(indexPath);
        index.Threads = threads;
        if (index is IvfIndex ivf)
        {
            if (!ivf.IsTrained) throw new ManagedEmbedException($"{indexPath}: the IVF index is not trained");
            ivf.Nprobe = a.GetInt("--nprobe", ivf.Nprobe, 1, int.MaxValue);
            // FAISS's rule: more lists than exist means all of them; said once on stderr, not an error.
            if (ivf.Nprobe > ivf.NList)
            {
                Console.Error.WriteLine($"membed: note: --nprobe {ivf.Nprobe} exceeds nlist {ivf.NList}: searching all {ivf.NList} lists (as FAISS does)");
                ivf.Nprobe = ivf.NList;
            }
        }
        else if (a.Has("--nprobe")) throw new ManagedEmbedException("option --nprobe applies only to IVF indexes");
        if (index is HnswIndex hnsw) hnsw.EfSearch = a.GetInt("--ef-search", hnsw.EfSearch, 1, 1 << 20);
        else if (a.Has("--ef-search")) throw new ManagedEmbedException("option --ef-search applies only to HNSW indexes");

        var q = VecsFile.ReadFvecs(queriesPath);
        CheckMagnitudes(q, queriesPath);
        if (q.Dimension != index.Dimension)
            throw new ManagedEmbedException($"{queriesPath}: queries have dimension {q.Dimension}, the index has {index.Dimension}");
        if (index.Count == 0) throw new ManagedEmbedException($"{indexPath}: the index holds no vectors");
        // More results than vectors cannot exist: capping k at ntotal keeps the result arrays (queries × k) sized by
        // the data, not by the flag (k 1048576 used to overflow, k 100000 × 20k queries used to pass 8 GB).
        int kEff = (int)Math.Min(k, index.Count);
        int batch = a.GetInt("--batch-size", q.Count, 1, int.MaxValue);
        // Bounded memory: a batch's labels and distances (12 bytes per result) stay within BatchBudgetBytes.
        batch = (int)Math.Max(1, Math.Min(batch, BatchBudgetBytes / (12L * kEff)));
        batch = Math.Min(batch, q.Count);

        RunAll(index, q, kEff, batch, 1, null, null, null);   // warm-up (untimed, one batch): JIT, page cache, thread pool
        var proc = Process.GetCurrentProcess();
        proc.Refresh();
        var cpu0 = proc.TotalProcessorTime;
        double secs;
        // With --json/--jsonl the results own stdout and the timings go to stderr.
        var stats = format == "text" ? Console.Out : Console.Error;
        using (var ids = outPath is null ? null : new VecsWriter(outPath, kEff))
        using (var scores = scoresPath is null ? null : new VecsWriter(scoresPath, kEff))
        using (var json = format == "text" ? null : new ResultJson(format == "json", kEff, index.Metric))
        {
            secs = RunAll(index, q, kEff, batch, int.MaxValue, ids, scores, json);
            ids?.Commit();
            scores?.Commit();
            json?.End();
        }
        proc.Refresh();
        double cpu = (proc.TotalProcessorTime - cpu0).TotalSeconds;
        stats.WriteLine($"searched {q.Count} queries, k {kEff}, batch size {batch}, threads {threads}{(index is IvfIndex iv ? $", nprobe {iv.Nprobe}" : "")}{(index is HnswIndex hn ? $", ef_search {hn.EfSearch}" : "")}");
        stats.WriteLine($"seconds: {secs.ToString("F4", Inv)}");
        // Process CPU time of the timed pass: a load-independent view on a shared machine.
        stats.WriteLine($"cpu_seconds: {cpu.ToString("F4", Inv)}");
        stats.WriteLine($"queries/s: {(q.Count / secs).ToString("F1", Inv)}");
        return 0;
    }

    /// <summary>
    /// Finite values can still overflow: a squared L2 distance or dot product of vectors with norm above ~1.8e19
    /// is Inf in float32, and Inf − Inf = NaN scrambles the ranking. Refuse such vectors with their row number.
    /// </summary>
    private static void CheckMagnitudes(VecsData<float> v, string path)
    {
        const double MaxNorm = 1e18;
        for (int i = 0; i < v.Count; i++)
        {
            double s = 0;
            foreach (float x in v.Row(i)) s += (double)x * x;
            if (Math.Sqrt(s) > MaxNorm)
                throw new ManagedEmbedException($"{path}: vector {i} has norm {Math.Sqrt(s).ToString("G3", Inv)}, too large (distances would overflow float32; the limit is 1E+18)");
        }
    }

    /// <summary>Largest result buffer of one search batch (labels + distances).</summary>
    private const long BatchBudgetBytes = 64L << 20;

    /// <summary>
    /// Searches up to <paramref name="maxBatches"/> batches, streaming each batch's labels to <paramref name="ids"/>,
    /// its scores to <paramref name="scores"/> and both to <paramref name="json"/>; returns the search seconds (writes excluded).
    /// </summary>
    private static double RunAll(IVectorIndex index, VecsData<float> q, int k, int batch, int maxBatches, VecsWriter? ids, VecsWriter? scores, ResultJson? json)
    {
        int d = q.Dimension;
        var sw = new Stopwatch();
        int[] row = new int[k];
        for (int start = 0, b = 0; start < q.Count && b < maxBatches; start += batch, b++)
        {
            int m = Math.Min(batch, q.Count - start);
            sw.Start();
            var r = index.Search(q.Data.AsSpan(start * d, m * d), k);
            sw.Stop();
            if (ids is null && scores is null && json is null) continue;
            for (int i = 0; i < m; i++)
            {
                ReadOnlySpan<long> labels = r.LabelsOf(i);
                for (int j = 0; j < k; j++)
                {
                    // ivecs holds int32: a wider label would be silently truncated (2^40 became 0), so refuse it.
                    long l = labels[j];
                    if (l < -1 || l > int.MaxValue)
                        throw new ManagedEmbedException($"query {start + i}: result label {l} does not fit the int32 ivecs output (labels must be in [-1, {int.MaxValue}])");
                    row[j] = (int)l;
                }
                ids?.WriteRow(System.Runtime.InteropServices.MemoryMarshal.AsBytes(row.AsSpan()));
                scores?.WriteRow(System.Runtime.InteropServices.MemoryMarshal.AsBytes(r.DistancesOf(i)));
                json?.Write(start + i, row, r.DistancesOf(i));
            }
        }
        return sw.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// The results as JSON on stdout: --jsonl one object per query ({"query", "ids", "scores"}), --json one document
    /// ({"k", "metric", "results": [...]}). Scores are FAISS's D: inner products (ip) or squared L2 distances (l2).
    /// </summary>
    private sealed class ResultJson : IDisposable
    {
        private readonly Stream _out = new BufferedStream(Console.OpenStandardOutput(), 1 << 16);
        private readonly System.Text.Json.Utf8JsonWriter _w;
        private readonly bool _document;

        public ResultJson(bool document, int k, Metric metric)
        {
            _document = document;
            _w = new System.Text.Json.Utf8JsonWriter(_out);
            if (!document) return;
            _w.WriteStartObject();
            _w.WriteNumber("k", k);
            _w.WriteString("metric", metric == Metric.L2 ? "l2" : "ip");
            _w.WriteStartArray("results");
        }

        public void Write(int query, ReadOnlySpan<int> ids, ReadOnlySpan<float> scores)
        {
            _w.WriteStartObject();
            _w.WriteNumber("query", query);
            _w.WriteStartArray("ids");
            foreach (int id in ids) _w.WriteNumberValue(id);
            _w.WriteEndArray();
            _w.WriteStartArray("scores");
            foreach (float s in scores)
                if (float.IsFinite(s)) _w.WriteNumberValue(s); else _w.WriteNullValue(); // no neighbour (id -1)
            _w.WriteEndArray();
            _w.WriteEndObject();
            if (_document) return;
            _w.Flush();
            _out.WriteByte((byte)'\n');
            _w.Reset();
        }

        public void End()
        {
            if (_document)
            {
                _w.WriteEndArray();
                _w.WriteEndObject();
                _w.Flush();
                _out.WriteByte((byte)'\n');
            }
            _out.Flush();
        }

        public void Dispose()
        {
            _w.Dispose();
            _out.Dispose();
        }
    }

    /// <summary>Streams .ivecs/.fvecs rows (4-byte items) to a temporary file beside the target; <see cref="Commit"/> renames it into place, disposing without it deletes it.</summary>
    private sealed class VecsWriter : IDisposable
    {
        private readonly string _path, _tmp;
        private readonly FileStream _fs;
        private readonly byte[] _head = new byte[4];
        private bool _committed;

        public VecsWriter(string path, int dim)
        {
            _tmp = DurableFile.TempPath(path, out _path, out string dir);
            if (!Directory.Exists(dir)) throw new ManagedEmbedException($"cannot write {path}: directory {dir} does not exist");
            _fs = new FileStream(_tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(_head, dim);
        }

        public void WriteRow(ReadOnlySpan<byte> row)
        {
            _fs.Write(_head);
            _fs.Write(row);
        }

        public void Commit()
        {
            _fs.Flush(flushToDisk: true);
            _fs.Dispose();
            DurableFile.Publish(_tmp, _path);
            _committed = true;
        }

        public void Dispose()
        {
            _fs.Dispose();
            if (!_committed) DurableFile.TryDelete(_tmp);
        }
    }

    // membed data synth --n N --dim D --clusters C --seed S [--center-seed S2] [--spread X] --out FILE.fvecs
    internal static readonly Opt[] SynthOptions =
    [
        Opt.Req("--n", "N", "vectors"), Opt.Req("--dim", "D", "dimension"), Opt.Req("--clusters", "C", "clusters"), Opt.Req("--seed", "S", "seed of the points"),
        Opt.V("--center-seed", "S", "seed of the cluster centres", "42"), Opt.V("--spread", "X", "spread around the centres", "2.0"),
        Opt.Req("--out", "FILE", ".fvecs file to write"),
    ];

    internal static int Synth(Args a)
    {
        a.NoPositional();
        int n = a.RequireInt("--n", 1, int.MaxValue);
        int dim = a.RequireInt("--dim", 1, 1 << 16);
        int clusters = a.RequireInt("--clusters", 1, int.MaxValue);
        int seed = a.RequireInt("--seed");
        // Cluster centres come from their own seed, so base vectors and queries drawn with different --seed values
        // share the same clusters.
        int centerSeed = a.GetInt("--center-seed", 42);
        double spread = a.GetDouble("--spread", 2.0);
        if (!(spread >= 0) || !double.IsFinite(spread)) throw new ManagedEmbedException("option --spread must be a finite non-negative number");
        string outPath = a.Require("--out");
        if ((long)n * dim > Array.MaxLength) throw new ManagedEmbedException($"--n {n} x --dim {dim} is too large");

        float[] x = SyntheticVectors.Clustered(n, dim, clusters, seed, centerSeed, spread);
        VecsFile.WriteFvecs(outPath, x, dim);
        Console.Out.WriteLine($"wrote {n} unit vectors of dimension {dim} in {clusters} clusters to {outPath}");
        return 0;
    }
}
