using BenchmarkDotNet.Attributes;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Benchmarks;

/// <summary>
/// Few-row GEMMs whose weights come from memory, as in a one-text forward pass: each call multiplies by the next of
/// 24 distinct FFN-up weights (1536 x 384, 2.25 MiB each, 54 MiB in all, more than this machine class's L3), so the
/// packed panels stream from DRAM as they do across a model's layers. <see cref="GemmBenchmarks"/> reuses one weight
/// and measures the kernel with cache-resident panels; the gap between the two is the weight stream's cost.
/// </summary>
[Config(typeof(KernelConfig))]
public class GemmStreamingBenchmarks : IHasWork
{
    [Params(8, 16, 32)] public int Rows { get; set; }
    public int ThreadCount => 1;

    private const int H = 384, F = 1536, Distinct = 24;
    private float[] _x = [], _y = [], _b = [];
    private PackedMatrix[] _w = [];
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        var r = new Random(1);
        float[] R(int n, float s) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1) * s; return a; }
        _x = R(Rows * H, 1); _y = new float[Rows * F]; _b = R(F, 0.1f);
        _w = new PackedMatrix[Distinct];
        for (int i = 0; i < Distinct; i++) _w[i] = PackedMatrix.FromRowMajor(R(F * H, 0.05f), F, H);
    }

    [Benchmark]
    public void FfnUpStreamed()
    {
        Gemm.Linear(_x, Rows, _w[_next], _b, _y, Activation.Gelu, default, null);
        _next = _next + 1 == Distinct ? 0 : _next + 1;
    }

    public double Flops(string method) => 2.0 * Rows * F * H;
    public double Bytes(string method) => 4.0 * F * H;
}
