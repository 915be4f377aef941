// Per-op profile of one encoder forward pass (PeerBench --profile PASSES): replays the layer sequence of
// SelfAttentionBlock / FeedForwardBlock through the same public kernel calls, with per-layer weights of the model's
// shapes (random values: the time does not depend on them), and times each op in thread CPU time
// (CLOCK_THREAD_CPUTIME_ID, so time spent descheduled on a loaded machine is not counted). The sum is checked against
// the real model's forward pass of the same shape, printed alongside. With --rowmajor the weights are deferred matrices
// that are never packed, so every Linear reads the row-major rows in place (Gemm.LinearRowMajor's path).
using System.Diagnostics;
using System.Runtime.InteropServices;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Kernels;

static partial class OpProfile
{
    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec { public long Sec, Nsec; }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec ts);

    /// <summary>CPU time of the calling thread in nanoseconds.</summary>
    private static long ThreadNs()
    {
        ClockGetTime(3 /* CLOCK_THREAD_CPUTIME_ID */, out var ts);
        return ts.Sec * 1_000_000_000 + ts.Nsec;
    }

    private static readonly string[] Ops =
    [
        "QKV GEMM (+bias)", "attention (Attention.Forward: Q·Kᵀ, softmax, P·V)",
        "out-proj GEMM (+bias +residual)", "LayerNorm (attention)", "FFN up GEMM (+bias +GELU epilogue)",
        "FFN down GEMM (+bias +residual)", "LayerNorm (FFN)",
    ];

    /// <summary>Runs <paramref name="passes"/> replayed passes of one shape; returns the mean ms per op.</summary>
    public static void Run(TransformerConfig c, int b, int t, int threads, int passes, double realForwardMs, double realCpuMs, double roof, bool rowMajor = false)
    {
        int h = c.HiddenSize, f = c.IntermediateSize, heads = c.NumAttentionHeads, d = c.HeadDim, layers = c.NumHiddenLayers;
        int tokens = b * t;
        var rng = new Random(7);
        float[] Rand(int n) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() - 0.5) * 0.1f; return a; }
        var qkv = new PackedMatrix[layers]; var outp = new PackedMatrix[layers]; var up = new PackedMatrix[layers]; var down = new PackedMatrix[layers];
        var keep = new List<float[]>();
        PackedMatrix Make(int rows, int cols)
        {
            if (!rowMajor) return PackedMatrix.FromRowMajor(Rand(rows * cols), rows, cols);
            // Pinned (never moves), kept alive in `keep`: the in-place source of a matrix that is never packed.
            var w = GC.AllocateArray<float>(rows * cols, pinned: true);
            Rand(rows * cols).CopyTo(w, 0);
            keep.Add(w);
            return PackedMatrix.Deferred(rows, cols, dst => w.CopyTo(dst), [(System.Runtime.CompilerServices.Unsafe.ByteOffset(ref System.Runtime.CompilerServices.Unsafe.NullRef<float>(), ref w[0]), rows)]);
        }
        for (int l = 0; l < layers; l++)
        {
            qkv[l] = Make(3 * h, h);
            outp[l] = Make(h, h);
            up[l] = Make(f, h);
            down[l] = Make(h, f);
        }
        float[] bq = Rand(3 * h), bh = Rand(h), bf = Rand(f), gamma = Rand(h), beta = Rand(h);
        float[] hidden = Rand(tokens * h), qkvBuf = new float[tokens * 3 * h], context = new float[tokens * h], next = new float[tokens * h];
        float[] inter = new float[tokens * f];
        using var pool = new KernelThreadPool(threads);
        float scale = 1f / MathF.Sqrt(d);
        var ticks = new long[Ops.Length];
        long Stamp(int op, long t0) { long now = ThreadNs(); ticks[op] += now - t0; return now; }

        void Pass()
        {
            for (int l = 0; l < layers; l++)
            {
                long t0 = ThreadNs();
                // As SelfAttentionBlock: on one thread, groups of whole sequences of at most GroupTokens tokens run
                // from Q | K | V to LayerNorm before the next group; with several threads the batch is one group.
                int perGroup = threads == 1 ? Math.Max(1, SelfAttentionBlock.GroupTokens / t) : b;
                for (int s0 = 0; s0 < b; s0 += perGroup)
                {
                    int seqs = Math.Min(perGroup, b - s0), rows = seqs * t, r0 = s0 * t;
                    Gemm.Linear(hidden.AsSpan(r0 * h, rows * h), rows, qkv[l], bq, qkvBuf, Activation.None, default, pool);
                    t0 = Stamp(0, t0);
                    int ld = 3 * h;
                    for (int s = 0; s < seqs; s++)
                        for (int hd = 0; hd < heads; hd++)
                        {
                            int q = s * t * ld + hd * d;
                            Attention.Forward(qkvBuf.AsSpan(q), ld, qkvBuf.AsSpan(q + h), ld, qkvBuf.AsSpan(q + 2 * h), ld,
                                context.AsSpan(s * t * h + hd * d), h, t, d, scale);
                        }
                    t0 = Stamp(1, t0);
                    Gemm.Linear(context.AsSpan(0, rows * h), rows, outp[l], bh, next.AsSpan(r0 * h, rows * h), Activation.None, hidden.AsSpan(r0 * h, rows * h), pool);
                    t0 = Stamp(2, t0);
                    Normalization.LayerNorm(next.AsSpan(r0 * h, rows * h), gamma, beta, c.LayerNormEps);
                    t0 = Stamp(3, t0);
                }
                Gemm.Linear(next, tokens, up[l], bf, inter, c.Activation, default, pool);
                t0 = Stamp(4, t0);
                Gemm.Linear(inter, tokens, down[l], bh, hidden, Activation.None, next, pool);
                t0 = Stamp(5, t0);
                Normalization.LayerNorm(hidden, gamma, beta, c.LayerNormEps);
                Stamp(6, t0);
            }
        }

        for (int i = 0; i < Math.Max(3, passes / 10); i++) Pass();
        Array.Clear(ticks);
        for (int i = 0; i < passes; i++) Pass();
        // The activation alone, for the share of the fused GELU epilogue.
        long a0 = ThreadNs();
        for (int i = 0; i < passes; i++)
            for (int l = 0; l < layers; l++) Activations.Apply(inter, c.Activation);
        double geluMs = (ThreadNs() - a0) / 1e6 / passes;

        double total = ticks.Sum() / 1e6 / passes;
        foreach (var m in qkv.Concat(outp).Concat(up).Concat(down))
            if (rowMajor && m.IsPacked) throw new InvalidOperationException("--rowmajor: a weight matrix was packed");
        GC.KeepAlive(keep);
        Console.WriteLine($"Per-op profile{(rowMajor ? " (weights read in place, row-major)" : "")}, {b} x {t} / {threads} thread(s), {layers} layers, hidden {h}, ffn {f}, heads {heads}; mean of {passes} replayed passes " +
            $"(thread CPU time; attention runs on the calling thread here, timed per group); real forward pass of the model: {realForwardMs:F2} ms wall, {realCpuMs:F2} ms process CPU");
        Console.WriteLine();
        // % of FMA roof: against threads x one core's measured roof (Clock.MeasureFmaRoof).
        Console.WriteLine("| op | ms per pass | share | GFLOP/s | % of FMA roof |");
        Console.WriteLine("|---|---|---|---|---|");
        double[] flops =
        [
            2.0 * tokens * 3 * h * h * layers, 4.0 * b * t * t * h * layers,
            2.0 * tokens * h * h * layers, 0, 2.0 * tokens * h * f * layers, 2.0 * tokens * h * f * layers, 0,
        ];
        for (int i = 0; i < Ops.Length; i++)
        {
            double ms = ticks[i] / 1e6 / passes;
            double g = flops[i] / (ms / 1000) / 1e9;
            string gf = flops[i] == 0 ? "" : $"{g:F0}", pct = flops[i] == 0 ? "" : $"{100 * g / (threads * roof):F0}%";
            Console.WriteLine($"| {Ops[i]} | {ms:F3} | {100 * ms / total:F1}% | {gf} | {pct} |");
        }
        Console.WriteLine($"| (of the FFN up GEMM: the {c.Activation} activation on its own, {tokens} x {f} per layer) | {geluMs:F3} | {100 * geluMs / total:F1}% | | |");
        double all = flops.Sum() / (total / 1000) / 1e9;
        Console.WriteLine($"| **total (replay)** | **{total:F3}** | 100% | {all:F0} | {100 * all / (threads * roof):F0}% |");
        Console.WriteLine();
    }
}
