using BenchmarkDotNet.Attributes;
using ManagedEmbed.Index;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Benchmarks;

/// <summary>The search kernels (Distance, TopKHeap) and the index paths built on them.</summary>
[MemoryDiagnoser]
public class IndexKernelBenchmarks
{
    private const int Dim = 384;
    private float[] _rows = [], _queries = [], _scores = [], _block = [];
    private FlatIndex _flat = null!;
    private IvfIndex _ivf = null!;
    private TopKHeap _heap = null!;

    /// <summary>Database rows scanned by ScoreRows / the flat index.</summary>
    [Params(20_000)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(1);
        _rows = new float[Rows * Dim];
        for (int i = 0; i < _rows.Length; i++) _rows[i] = (float)(rng.NextDouble() - 0.5);
        _queries = new float[64 * Dim];
        for (int i = 0; i < _queries.Length; i++) _queries[i] = (float)(rng.NextDouble() - 0.5);
        _scores = new float[Rows];
        Distance.ScoreRows(_queries.AsSpan(0, Dim), _rows, _scores, l2: false);   // realistic scores for TopK10
        _block = new float[32 * 128];
        _flat = new FlatIndex(Dim) { Threads = 1 };
        _flat.Add(_rows);
        _ivf = new IvfIndex(Dim, 128) { Threads = 1, Nprobe = 8 };
        _ivf.Train(_rows.AsSpan(0, 128 * 60 * Dim));
        _ivf.Add(_rows);
        _heap = new TopKHeap(10);
    }

    /// <summary>One query against all rows: a single streaming pass (bytes = Rows × 1536).</summary>
    [Benchmark]
    public void ScoreRows() => Distance.ScoreRows(_queries.AsSpan(0, Dim), _rows, _scores, l2: false);

    /// <summary>32 queries × 128 rows register-tiled block (in cache): the GEMM-like batch kernel.</summary>
    [Benchmark]
    public void ScoreBlock32x128() => Distance.ScoreBlock(_queries, 32, _rows, 128, Dim, _block, l2: false);

    /// <summary>Top-10 selection over Rows scores.</summary>
    [Benchmark]
    public void TopK10()
    {
        _heap.PushRange(_scores, 0, 1f);
        _heap.Reset();
    }

    /// <summary>Flat single query (1 thread), scan fused with top-10.</summary>
    [Benchmark]
    public SearchResult FlatSingle() => _flat.Search(_queries.AsSpan(0, Dim), 10);

    /// <summary>Flat batch of 64 queries (1 thread).</summary>
    [Benchmark]
    public SearchResult FlatBatch64() => _flat.Search(_queries, 10);

    /// <summary>IVF (nlist 128, nprobe 8) batch of 64 queries (1 thread).</summary>
    [Benchmark]
    public SearchResult IvfBatch64() => _ivf.Search(_queries, 10);

    /// <summary>One k-means iteration set: 128 centroids over 7,680 points, 5 iterations.</summary>
    [Benchmark]
    public KMeansResult KMeans128() => new KMeans(128) { Iterations = 5, Threads = 1 }.Fit(_rows.AsSpan(0, 128 * 60 * Dim), Dim);
}
