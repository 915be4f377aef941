using System.Diagnostics;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Benchmarks;

/// <summary>
/// `attention-ab [threads]`: one layer's attention (every (sequence, head) of a batch) through the GEMM path the encoder
/// used before <see cref="Attention"/> (Gemm.MatMulTransB, Normalization.Softmax, Gemm.MatMul) and through
/// <see cref="Attention.Forward"/>, alternated in one process (interleaved rounds, order flipped each round, medians),
/// so a neighbour's load on a shared machine hits both alike. Also checks the two give bit-identical context. Both
/// paths use the current softmax (Normalization.Softmax), so at lengths off the vector width the old figures already
/// include its vector tail.
/// </summary>
public static class AttentionAB
{
    public static void Run(string[] args)
    {
        int threads = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 1;
        using var pool = new KernelThreadPool(threads);
        Console.WriteLine($"{KernelInfo.Describe()} threads={threads}");
        Console.WriteLine("shape (batch x len, heads x d)    old ms/layer   new ms/layer   old/new   bit-identical");
        foreach (var (batch, len, heads, d) in new[] { (32, 32, 12, 32), (64, 128, 12, 32), (32, 32, 12, 64), (64, 128, 12, 64), (32, 9, 12, 32), (32, 20, 12, 32), (32, 31, 12, 32) })
        {
            var work = new Layer(batch, len, heads, d);
            work.New = false; pool.Run(work, batch * heads); float[] old = (float[])work.Context.Clone();
            work.New = true; pool.Run(work, batch * heads);
            bool same = old.AsSpan().SequenceEqual(work.Context);
            // Warm-up (tiered JIT) of both paths, then enough layers per sample for ~10 ms.
            for (int o = 0; o < 2; o++) { work.New = o == 1; var w0 = Stopwatch.StartNew(); while (w0.ElapsedMilliseconds < 300) pool.Run(work, batch * heads); }
            var sw = Stopwatch.StartNew(); int reps = 0;
            while (sw.ElapsedMilliseconds < 10) { pool.Run(work, batch * heads); reps++; }
            const int rounds = 21;
            var tOld = new double[rounds]; var tNew = new double[rounds];
            for (int r = 0; r < rounds; r++)
            {
                for (int o = 0; o < 2; o++)
                {
                    bool useNew = (r + o) % 2 == 1;
                    work.New = useNew;
                    long t0 = Stopwatch.GetTimestamp();
                    for (int i = 0; i < reps; i++) pool.Run(work, batch * heads);
                    double ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds / reps;
                    (useNew ? tNew : tOld)[r] = ms;
                }
            }
            Array.Sort(tOld); Array.Sort(tNew);
            double mo = tOld[rounds / 2], mn = tNew[rounds / 2];
            Console.WriteLine($"{batch,3} x {len,-3}, {heads} x {d,-3}              {mo,10:F4}     {mn,10:F4}     {mo / mn,5:F2}x   {same}");
        }
    }

    private sealed class Layer : KernelWork
    {
        private readonly int _len, _heads, _d, _h;
        private readonly float[] _qkv;
        private readonly float _scale;
        public readonly float[] Context;
        public bool New;
        [ThreadStatic] private static float[]? t_scores;

        public Layer(int batch, int len, int heads, int d)
        {
            _len = len; _heads = heads; _d = d; _h = heads * d;
            var rng = new Random(42);
            _qkv = new float[batch * len * 3 * _h];
            for (int i = 0; i < _qkv.Length; i++) _qkv[i] = (float)(rng.NextDouble() * 4 - 2);
            Context = new float[batch * len * _h];
            _scale = 1f / MathF.Sqrt(d);
        }

        public override void Execute(int chunk)
        {
            int s = chunk / _heads, head = chunk % _heads, len = _len, d = _d, h = _h, ld = 3 * h, offset = s * len;
            int q = offset * ld + head * d, k = q + h, v = q + 2 * h;
            if (New)
            {
                Attention.Forward(_qkv.AsSpan(q), ld, _qkv.AsSpan(k), ld, _qkv.AsSpan(v), ld, Context.AsSpan(offset * h + head * d), h, len, d, _scale);
                return;
            }
            // The encoder's attention before Attention existed (AttentionWork.Execute, no bias).
            var buf = t_scores ??= new float[512 * 512];
            Span<float> scores = buf.AsSpan(0, len * len);
            Gemm.MatMulTransB(_qkv.AsSpan(q), ld, _qkv.AsSpan(k), ld, scores, len, len, len, d);
            for (int i = 0; i < len; i++) Normalization.Softmax(scores.Slice(i * len, len), _scale);
            Gemm.MatMul(scores, len, _qkv.AsSpan(v), ld, Context.AsSpan(offset * h + head * d), h, len, d, len);
        }
    }
}
