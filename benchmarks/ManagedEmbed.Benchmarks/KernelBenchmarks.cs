using BenchmarkDotNet.Attributes;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Benchmarks;

/// <summary>
/// The encoder's GEMMs at the MiniLM shapes: rows m = batch × tokens (16 = 1×16, 1024 = 32×32, 8192 = 64×128);
/// QKV (n = 3·384, k = 384), attention output (384, 384, fused bias + in-place residual), FFN up (1536, 384, fused
/// bias + GELU), FFN down (384, 1536, fused bias + residual).
/// </summary>
[Config(typeof(KernelConfig))]
public class GemmBenchmarks : IHasWork
{
    [Params(16, 1024, 8192)] public int Rows { get; set; }
    [Params(1, 2)] public int Threads { get; set; }
    public int ThreadCount => Threads;

    private const int H = 384, F = 1536;
    private float[] _x = [], _h = [], _ff = [], _y = [], _bH = [], _b3 = [], _bF = [];
    private PackedMatrix _wqkv = null!, _wo = null!, _w1 = null!, _w2 = null!;
    private KernelThreadPool? _pool;

    [GlobalSetup]
    public void Setup()
    {
        var r = new Random(1);
        float[] R(int n, float s) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1) * s; return a; }
        _x = R(Rows * H, 1); _h = R(Rows * H, 1); _ff = R(Rows * F, 1); _y = new float[Rows * Math.Max(3 * H, F)];
        _bH = R(H, 0.1f); _b3 = R(3 * H, 0.1f); _bF = R(F, 0.1f);
        _wqkv = PackedMatrix.FromRowMajor(R(3 * H * H, 0.05f), 3 * H, H);
        _wo = PackedMatrix.FromRowMajor(R(H * H, 0.05f), H, H);
        _w1 = PackedMatrix.FromRowMajor(R(F * H, 0.05f), F, H);
        _w2 = PackedMatrix.FromRowMajor(R(H * F, 0.05f), H, F);
        _pool = Threads > 1 ? new KernelThreadPool(Threads) : null;
    }

    [GlobalCleanup] public void Cleanup() => _pool?.Dispose();

    [Benchmark] public void Qkv() => Gemm.Linear(_x, Rows, _wqkv, _b3, _y, Activation.None, default, _pool);
    [Benchmark] public void AttnOutResidual() => Gemm.Linear(_x, Rows, _wo, _bH, _h, Activation.None, _h, _pool);
    [Benchmark] public void FfnUpGelu() => Gemm.Linear(_x, Rows, _w1, _bF, _y, Activation.Gelu, default, _pool);
    [Benchmark] public void FfnDownResidual() => Gemm.Linear(_ff, Rows, _w2, _bH, _h, Activation.None, _h, _pool);

    public double Flops(string method) => 2.0 * Rows * method switch
    {
        nameof(Qkv) => 3 * H * H,
        nameof(AttnOutResidual) => H * H,
        nameof(FfnUpGelu) => F * H,
        nameof(FfnDownResidual) => H * F,
        _ => 0,
    };
    public double Bytes(string method) => 0;
}

/// <summary>
/// Scaled dot-product attention for one layer (12 heads of 32, all tokens real), per (sequence, head):
/// S = QKᵀ (MatMulTransB), row softmax(S/√d) (scale fused), O = PV (MatMul, V read in place). 8 sequences × T tokens,
/// as the encoder's AttentionWork does it.
/// </summary>
[Config(typeof(KernelConfig))]
public class AttentionBenchmarks : IHasWork
{
    [Params(16, 32, 128)] public int Tokens { get; set; }
    public int ThreadCount => 1;
    private const int Batch = 8, Heads = 12, D = 32, H = 384;
    private float[] _qkv = [], _ctx = [], _scores = [];

    [GlobalSetup]
    public void Setup()
    {
        var r = new Random(2);
        _qkv = new float[Batch * Tokens * 3 * H];
        for (int i = 0; i < _qkv.Length; i++) _qkv[i] = (float)(r.NextDouble() * 2 - 1);
        _ctx = new float[Batch * Tokens * H];
        _scores = new float[Tokens * Tokens];
    }

    [Benchmark]
    public void Attention()
    {
        int t = Tokens, ld = 3 * H;
        float scale = 1f / MathF.Sqrt(D);
        for (int b = 0; b < Batch; b++)
            for (int h = 0; h < Heads; h++)
            {
                int baseRow = b * t * ld;
                Gemm.MatMulTransB(_qkv.AsSpan(baseRow + h * D), ld, _qkv.AsSpan(baseRow + H + h * D), ld, _scores, t, t, t, D);
                for (int i = 0; i < t; i++) Normalization.Softmax(_scores.AsSpan(i * t, t), scale);
                Gemm.MatMul(_scores, t, _qkv.AsSpan(baseRow + 2 * H + h * D), ld, _ctx.AsSpan(b * t * H + h * D), H, t, D, t);
            }
    }

    public double Flops(string method) => 2.0 * Batch * Heads * 2 * Tokens * Tokens * D;
    public double Bytes(string method) => 0;
}

/// <summary>Row-wise kernels at the model's widths: LayerNorm over 384, GELU over 1536, softmax over T.</summary>
[Config(typeof(KernelConfig))]
public class ElementwiseBenchmarks : IHasWork
{
    [Params(1024)] public int Rows { get; set; }
    public int ThreadCount => 1;
    private const int H = 384, F = 1536;
    private float[] _h = [], _f = [], _f0 = [], _g = [], _b = [], _s = [], _s0 = [];

    [GlobalSetup]
    public void Setup()
    {
        var r = new Random(3);
        float[] R(int n, float s) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1) * s; return a; }
        _h = R(Rows * H, 2); _f0 = R(Rows * F, 3); _f = (float[])_f0.Clone(); _g = R(H, 1); _b = R(H, 1);
        _s0 = R(Rows * 128, 5); _s = (float[])_s0.Clone();
    }

    [Benchmark] public void LayerNorm384() => Normalization.LayerNorm(_h, _g, _b, 1e-12f);
    [Benchmark] public void GeluErf1536() { _f0.CopyTo(_f, 0); Activations.Apply(_f, Activation.Gelu); }
    [Benchmark] public void GeluTanh1536() { _f0.CopyTo(_f, 0); Activations.Apply(_f, Activation.GeluTanh); }
    [Benchmark]
    public void Softmax128()
    {
        _s0.CopyTo(_s, 0);
        for (int i = 0; i < Rows; i++) Normalization.Softmax(_s.AsSpan(i * 128, 128));
    }

    public double Flops(string method) => 0;
    public double Bytes(string method) => method switch
    {
        nameof(LayerNorm384) => 2.0 * 4 * Rows * H,
        nameof(GeluErf1536) or nameof(GeluTanh1536) => 2.0 * 4 * Rows * F,
        nameof(Softmax128) => 2.0 * 4 * Rows * 128,
        _ => 0,
    };
}
