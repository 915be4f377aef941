namespace ManagedEmbed.Kernels;

/// <summary>
/// A unit of parallel work: <see cref="Execute"/> is called once for every chunk index in [0, count), each index on
/// exactly one thread. Implementations are reusable objects, so a parallel call allocates nothing.
/// </summary>
public abstract class KernelWork
{
    /// <summary>Runs chunk <paramref name="chunk"/>.</summary>
    public abstract void Execute(int chunk);
}

/// <summary>
/// A fixed pool of worker threads for kernel-level parallelism (GEMM rows/columns, attention heads).
/// The calling thread takes part, so a pool of N threads starts N − 1 workers. Chunks are claimed dynamically, so a
/// late or descheduled worker never delays the call: the caller simply runs the remaining chunks itself.
/// Workers spin briefly after a job (back-to-back kernels are common) and then block. No allocation per call.
/// One job runs at a time; a caller that finds the pool busy (a concurrent caller) runs its chunks inline.
/// </summary>
public sealed class KernelThreadPool : IDisposable
{
    private static readonly Lazy<KernelThreadPool> s_shared = new(() => new KernelThreadPool(Environment.ProcessorCount));

    /// <summary>A process-wide pool with one thread per logical processor.</summary>
    public static KernelThreadPool Shared => s_shared.Value;

    /// <summary>The single-threaded pool: every call runs inline on the caller.</summary>
    public static KernelThreadPool Serial { get; } = new(1);

    // state = epoch (bits 40..63) | chunk count (bits 20..39) | next chunk (bits 0..19). Claiming a chunk is one CAS
    // on the whole word, so a worker that woke late can never claim a chunk of a later job with stale data.
    private const int IndexBits = 20;
    private const long IndexMask = (1L << IndexBits) - 1;
    private const int MaxChunks = (1 << IndexBits) - 1;

    private long _state;
    private KernelWork? _work;
    private int _done;
    private int _busy;
    private Exception? _error;
    private volatile bool _disposed;
    private readonly Worker[] _workers;

    /// <summary>Total threads taking part in a call (workers + the caller).</summary>
    public int Threads { get; }

    /// <summary>Creates a pool for <paramref name="threads"/> threads (the caller counts as one).</summary>
    public KernelThreadPool(int threads)
    {
        if (threads < 1 || threads > 256) throw new ArgumentOutOfRangeException(nameof(threads), "threads must be in 1..256.");
        Threads = threads;
        _workers = new Worker[threads - 1];
        for (int i = 0; i < _workers.Length; i++)
        {
            var w = new Worker(this);
            _workers[i] = w;
            var t = new Thread(w.Loop) { IsBackground = true, Name = $"membed-kernel-{i + 1}" };
            t.Start();
        }
    }

    /// <summary>Runs <paramref name="work"/> for chunks 0..count−1 on the pool and returns when all have finished.</summary>
    public void Run(KernelWork work, int count)
    {
        ArgumentNullException.ThrowIfNull(work);
        if (count <= 0) return;
        if (count > MaxChunks) throw new ArgumentOutOfRangeException(nameof(count));
        if (count == 1 || _workers.Length == 0 || _disposed || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            for (int i = 0; i < count; i++) work.Execute(i);
            return;
        }
        try
        {
            _error = null;
            Volatile.Write(ref _done, 0);
            Volatile.Write(ref _work, work);
            long epoch = (Volatile.Read(ref _state) >> (2 * IndexBits)) + 1;
            // Full fence: publishes _work before the new state, and orders it before reading the sleep flags.
            Interlocked.Exchange(ref _state, (epoch << (2 * IndexBits)) | ((long)count << IndexBits));
            foreach (var w in _workers)
                if (Volatile.Read(ref w.Sleeping) != 0) w.Wake.Set();

            RunChunks();
            var spin = new SpinWait();
            while (Volatile.Read(ref _done) < count) spin.SpinOnce(sleep1Threshold: -1);
            Volatile.Write(ref _work, null);
            if (_error is { } e) throw new AggregateException("A parallel kernel chunk failed.", e);
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>Claims and runs chunks of the current job until none are left.</summary>
    private void RunChunks()
    {
        while (true)
        {
            long s = Volatile.Read(ref _state);
            long next = s & IndexMask, count = (s >> IndexBits) & IndexMask;
            if (next >= count) return;
            if (Interlocked.CompareExchange(ref _state, s + 1, s) != s) continue;
            // The job cannot change while one of its chunks is claimed but not done, so _work is this job's.
            try { Volatile.Read(ref _work)!.Execute((int)next); }
            catch (Exception e) { Interlocked.CompareExchange(ref _error, e, null); }
            Interlocked.Increment(ref _done);
        }
    }

    /// <summary>Stops the workers.</summary>
    public void Dispose()
    {
        _disposed = true;
        foreach (var w in _workers) w.Wake.Set();
    }

    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 20_000; // 50 µs

    private sealed class Worker(KernelThreadPool pool)
    {
        public int Sleeping;
        public readonly ManualResetEventSlim Wake = new(false, 0);

        public void Loop()
        {
            long seenEpoch = Volatile.Read(ref pool._state) >> (2 * IndexBits);
            while (!pool._disposed)
            {
                // Spin ~50 µs looking for a new job, then sleep until the caller wakes us.
                bool found = false;
                long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
                while (true)
                {
                    if ((Volatile.Read(ref pool._state) >> (2 * IndexBits)) != seenEpoch) { found = true; break; }
                    if (System.Diagnostics.Stopwatch.GetTimestamp() > deadline) break;
                    Thread.SpinWait(8);
                }
                if (!found)
                {
                    Interlocked.Exchange(ref Sleeping, 1);
                    if ((Volatile.Read(ref pool._state) >> (2 * IndexBits)) == seenEpoch && !pool._disposed)
                    {
                        Wake.Wait();
                        Wake.Reset();
                    }
                    Volatile.Write(ref Sleeping, 0);
                    continue;
                }
                seenEpoch = Volatile.Read(ref pool._state) >> (2 * IndexBits);
                pool.RunChunks();
            }
        }
    }
}
