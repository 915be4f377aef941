using System.Diagnostics;
using System.Threading.Channels;
using ManagedEmbed.Encoder;

namespace ManagedEmbed.Server;

/// <summary>
/// Merges the token sequences of concurrent requests into forward passes of at most <c>maxBatchTokens</c> tokens
/// (a request larger than the budget spans several passes), on one worker. Admission is bounded: at most
/// <c>maxRequests</c> requests are queued or running at once.
/// </summary>
internal sealed class DynamicBatcher
{
    private sealed class Job(int[][] ids, int promptSkip)
    {
        public readonly int[][] Ids = ids;
        public readonly int PromptSkip = promptSkip;
        public readonly float[][] Output = new float[ids.Length][];
        public readonly TaskCompletionSource<float[][]> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly long Enqueued = Stopwatch.GetTimestamp();
        public int Next, Completed;
        public bool Failed;
    }

    private readonly SentenceEncoder _encoder;
    private readonly ServerMetrics _metrics;
    private readonly int _maxTokens, _maxRequests;
    private readonly Channel<Job> _queue = Channel.CreateUnbounded<Job>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _worker;
    private int _admitted;

    private readonly bool _merge;

    public DynamicBatcher(SentenceEncoder encoder, ServerMetrics metrics, int maxTokens, int maxRequests, bool merge = true)
    {
        _encoder = encoder; _metrics = metrics; _maxTokens = maxTokens; _maxRequests = maxRequests; _merge = merge;
        _worker = Task.Factory.StartNew(Run, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    /// <summary>Requests queued or in a forward pass.</summary>
    public int Admitted => Volatile.Read(ref _admitted);

    /// <summary>
    /// Queues <paramref name="ids"/> (non-empty, each sequence valid for the model); the task yields their pooled,
    /// unnormalized embeddings in order, the first <paramref name="promptSkip"/> tokens of each left out of its pool
    /// (a prompt the model's pooling excludes). False when the queue is full.
    /// </summary>
    public bool TryEnqueue(int[][] ids, out Task<float[][]> result, int promptSkip = 0)
    {
        if (Interlocked.Increment(ref _admitted) > _maxRequests)
        {
            Interlocked.Decrement(ref _admitted);
            result = Task.FromResult<float[][]>([]);
            return false;
        }
        var job = new Job(ids, promptSkip);
        if (!_queue.Writer.TryWrite(job))
        {
            Interlocked.Decrement(ref _admitted);
            result = Task.FromResult<float[][]>([]);
            return false;
        }
        result = job.Done.Task;
        return true;
    }

    /// <summary>Stops taking work; the returned task ends when every queued request is answered.</summary>
    public Task DrainAsync()
    {
        _queue.Writer.TryComplete();
        return _worker;
    }

    private async Task Run()
    {
        var reader = _queue.Reader;
        Job? current = null;
        var seqs = new List<int[]>();
        var skips = new List<int>();
        var owners = new List<(Job Job, int Index)>();
        while (true)
        {
            if (current is null)
            {
                if (!await reader.WaitToReadAsync().ConfigureAwait(false)) return;
                if (!reader.TryRead(out current)) continue;
            }
            seqs.Clear(); skips.Clear(); owners.Clear();
            int tokens = 0;
            // Fill one pass: the rest of the current request, then whole or partial later ones, up to the budget.
            while (current is not null)
            {
                if (current.Next == 0) _metrics.QueueSeconds.Observe(Stopwatch.GetElapsedTime(current.Enqueued).TotalSeconds);
                bool full = false;
                while (current.Next < current.Ids.Length)
                {
                    int len = current.Ids[current.Next].Length;
                    if (seqs.Count > 0 && tokens + len > _maxTokens) { full = true; break; }
                    seqs.Add(current.Ids[current.Next]); skips.Add(current.PromptSkip); owners.Add((current, current.Next));
                    current.Next++; tokens += len;
                }
                if (full) break;
                if (!_merge) { current = null; break; }
                current = reader.TryRead(out var next) ? next : null;
            }
            RunPass(seqs, skips, owners, tokens);
        }
    }

    private void RunPass(List<int[]> seqs, List<int> skips, List<(Job Job, int Index)> owners, int tokens)
    {
        EmbeddingMatrix m;
        long t0 = Stopwatch.GetTimestamp();
        try
        {
            m = _encoder.EncodeIds(seqs, skips, seqs.Count, normalize: false);
        }
        catch (Exception e)
        {
            foreach (var (job, _) in owners)
                if (!job.Failed) { job.Failed = true; job.Done.TrySetException(e); Interlocked.Decrement(ref _admitted); }
            return;
        }
        _metrics.InferenceSeconds.Observe(Stopwatch.GetElapsedTime(t0).TotalSeconds);
        _metrics.BatchSize.Observe(seqs.Count);
        _metrics.BatchTokens.Observe(tokens);
        _metrics.Forward();
        for (int i = 0; i < owners.Count; i++)
        {
            var (job, index) = owners[i];
            if (job.Failed) continue;
            job.Output[index] = m.RowArray(i);
            if (++job.Completed == job.Ids.Length)
            {
                Interlocked.Decrement(ref _admitted);
                job.Done.TrySetResult(job.Output);
            }
        }
    }
}
