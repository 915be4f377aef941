using System.Runtime.ExceptionServices;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Models;

/// <summary>
/// Data parallelism for large batches: the batch is cut into contiguous groups of sequences with about equal token
/// counts and each group runs the whole forward pass on one thread (its own workspace, no pool), so the threads never
/// wait on each other between kernels: a 6-layer pass split kernel by kernel has ~80 join points, and each waits for
/// the slower thread. Results are bit-identical: every row's arithmetic is the same whatever rows share its GEMM, and
/// attention never crosses sequences. Small batches keep the kernel-level split (each thread would otherwise stream
/// all the weights for a few rows).
/// </summary>
internal sealed class SequenceSplit : KernelWork
{
    /// <summary>
    /// Least tokens per group: below this a group's GEMMs stream the weights more than they compute on them (each
    /// thread reads all of them). Measured on 2 cores, real MiniLM, in-process A/B: 7-11% faster than the
    /// kernel-level split at 64 tokens per group, 12% at 512 and 4,096; 2-3% at 32.
    /// </summary>
    internal const int MinPartTokens = 64;

    private EncoderWorkspace[] _parts = [];
    private TokenBatch?[] _batches = [];
    private int[] _first = [], _count = [];
    private TokenBatch? _source;
    private EncoderModel? _model;
    private EncoderWorkspace? _ws;

    /// <summary>How many parts <paramref name="batch"/> is split into on <paramref name="pool"/> (1 = no split).</summary>
    internal static int Parts(TokenBatch batch, KernelThreadPool? pool)
    {
        if (pool is null || pool.Threads < 2) return 1;
        // One group per thread (measured: 3.5% faster than two per thread at 32 x 32 on 2 cores, level at 64 x 128);
        // a batch that cannot give every thread a group keeps the kernel-level split, which uses them all.
        int parts = Math.Min(Math.Min(batch.Count, pool.Threads), batch.TotalTokens / MinPartTokens);
        return parts < pool.Threads ? 1 : parts;
    }

    internal void Run(EncoderModel model, TokenBatch batch, EncoderWorkspace ws, KernelThreadPool pool, int parts)
    {
        if (!ReferenceEquals(batch, _source) || _batches.Length != parts) Cut(batch, parts);
        if (_parts.Length < parts)
        {
            var grown = new EncoderWorkspace[parts];
            _parts.CopyTo(grown, 0);
            for (int i = _parts.Length; i < parts; i++) grown[i] = new EncoderWorkspace();
            _parts = grown;
        }
        _model = model; _ws = ws;
        try { pool.Run(this, parts); }
        catch (AggregateException e) when (e.InnerException is { } inner)
        {
            // A group's error (e.g. a token id outside the vocabulary) surfaces as it does from an unsplit pass, where
            // the embeddings run on the calling thread: the caller's one-line ManagedEmbedException, not a wrapper.
            ExceptionDispatchInfo.Capture(inner).Throw();
        }
        finally { _model = null; _ws = null; }
    }

    // The cut is kept for the same batch object (a benchmark re-running one batch allocates nothing).
    private void Cut(TokenBatch batch, int parts)
    {
        _first = new int[parts]; _count = new int[parts]; _batches = new TokenBatch?[parts];
        Plan(batch.Lengths, parts, _first, _count);
        for (int p = 0; p < parts; p++) _batches[p] = batch.Range(_first[p], _count[p]);
        _source = batch;
    }

    /// <summary>
    /// Cuts sequences of <paramref name="lengths"/> into <paramref name="parts"/> (≤ lengths.Length) non-empty
    /// contiguous groups: group p is [first[p], first[p] + count[p]), cut where the running token count passes each
    /// multiple of total / parts (a sequence goes to the group holding more than half of it).
    /// </summary>
    internal static void Plan(ReadOnlySpan<int> lengths, int parts, Span<int> first, Span<int> count)
    {
        if (parts < 1 || parts > lengths.Length) throw new ArgumentOutOfRangeException(nameof(parts));
        long total = 0;
        foreach (int l in lengths) total += l;
        int s = 0;
        long seen = 0;
        for (int p = 0; p < parts; p++)
        {
            first[p] = s;
            long target = total * (p + 1) / parts;
            int left = parts - p - 1; // sequences the later groups need, at least one each
            if (p == parts - 1) s = lengths.Length;
            else
            {
                seen += lengths[s++]; // never empty
                while (s < lengths.Length - left && seen + lengths[s] / 2 < target) seen += lengths[s++];
            }
            count[p] = s - first[p];
        }
    }

    public override void Execute(int chunk)
    {
        var sub = _batches[chunk]!;
        var ws = _parts[chunk];
        var model = _model!;
        int hidden = model.Config.HiddenSize;
        ws.Ensure(sub.TotalTokens, hidden, model.Config.IntermediateSize);
        model.ForwardLayers(sub, ws, null);
        int row0 = _source!.Offsets[_first[chunk]];
        ws.Hidden.AsSpan(0, sub.TotalTokens * hidden).CopyTo(_ws!.Hidden.AsSpan(row0 * hidden));
    }
}
