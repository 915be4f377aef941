using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Tests;

/// <summary>
/// The forward pass allocates nothing once its workspace is sized: packed weights, workspace buffers, attention and
/// GEMM scratch (per thread) and the pool's job objects are all reused. Counted on the pool's threads; the class
/// still runs in a collection that xUnit does not run in parallel with other tests.
/// </summary>
[Collection(AllocationCollection.Name)]
public class SteadyStateAllocationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ForwardPassAllocatesNothingInSteadyState(int threads)
    {
        string dir = TestModels.Tiny();
        var config = SentenceModelConfig.Load(dir).Transformer;
        using var model = EncoderRegistry.LoadModel(Path.Combine(dir, "model.safetensors"), config);
        using var pool = new KernelThreadPool(threads);
        var batch = new TokenBatch(TestModels.RandomIds(9, 3, 30, seed: 5));
        var ws = new EncoderWorkspace();
        for (int i = 0; i < 5; i++) model.Forward(batch, ws, pool); // size the workspace and per-thread scratch

        // Counted on the pool's own threads (the caller and every worker), not process-wide: the runtime's and the
        // test host's threads allocate now and then (timers, thread-pool hill climbing, result messages), which made
        // a process-wide count fail on a loaded machine. A worker thread that happened to take no chunk during the
        // warm-up sizes its scratch on first use, once, so: windows of 20 passes until one allocates nothing
        // (counted, not timed), failing after 10 windows; a pass that allocates does so in every window.
        var probe = new PerThreadAllocations(pool.Threads);
        long allocated = -1;
        for (int window = 0; window < 10 && allocated != 0; window++)
        {
            probe.Sample(pool, before: true);
            for (int i = 0; i < 20; i++) model.Forward(batch, ws, pool);
            probe.Sample(pool, before: false);
            allocated = probe.Delta();
        }
        Assert.True(allocated == 0, $"{allocated} bytes allocated on the pool's threads by 20 steady-state forward passes, in every window");
    }

    /// <summary>
    /// Reads GC.GetAllocatedBytesForCurrentThread on each of the pool's threads: one chunk per thread, each chunk
    /// spinning until all are claimed, so every thread (the caller included) runs exactly one. Allocates nothing
    /// itself once constructed.
    /// </summary>
    private sealed class PerThreadAllocations(int threads) : KernelWork
    {
        private readonly int[] _thread = new int[threads], _threadBefore = new int[threads];
        private readonly long[] _bytes = new long[threads], _bytesBefore = new long[threads];
        private int _started;
        private bool _before;

        public void Sample(KernelThreadPool pool, bool before)
        {
            _before = before;
            Volatile.Write(ref _started, 0);
            pool.Run(this, threads);
        }

        public override void Execute(int chunk)
        {
            Interlocked.Increment(ref _started);
            var spin = new SpinWait();
            while (Volatile.Read(ref _started) < threads) spin.SpinOnce(sleep1Threshold: -1);
            (_before ? _threadBefore : _thread)[chunk] = Environment.CurrentManagedThreadId;
            (_before ? _bytesBefore : _bytes)[chunk] = GC.GetAllocatedBytesForCurrentThread();
        }

        /// <summary>Bytes allocated per thread between the two samples, summed (threads matched by id).</summary>
        public long Delta()
        {
            long sum = 0;
            for (int i = 0; i < threads; i++)
            {
                int j = Array.IndexOf(_threadBefore, _thread[i]);
                Assert.True(j >= 0, "the pool's threads changed between samples");
                sum += _bytes[i] - _bytesBefore[j];
            }
            return sum;
        }
    }
}

/// <summary>Tests that count process-wide allocations: run alone, never in parallel with other test classes.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public class AllocationCollection
{
    /// <summary>Collection name.</summary>
    public const string Name = "process-wide allocation counting";
}
