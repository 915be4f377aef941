namespace ManagedEmbed.Kernels.Tests;

public class PoolTests
{
    private sealed class CountingWork(int n) : KernelWork
    {
        public readonly int[] Hits = new int[n];
        public int ThrowAt = -1;
        public override void Execute(int chunk)
        {
            Interlocked.Increment(ref Hits[chunk]);
            if (chunk == ThrowAt) throw new InvalidOperationException("boom");
        }
    }

    [Fact]
    public void EveryChunkRunsExactlyOnceAcrossManyCalls()
    {
        using var pool = new KernelThreadPool(3);
        var work = new CountingWork(37);
        for (int call = 1; call <= 2000; call++)
        {
            pool.Run(work, 37);
            foreach (int h in work.Hits) Assert.Equal(call, h);
        }
    }

    [Fact]
    public void ConcurrentCallersAllComplete()
    {
        using var pool = new KernelThreadPool(2);
        var works = Enumerable.Range(0, 4).Select(_ => new CountingWork(16)).ToArray();
        Parallel.For(0, 4, i => { for (int c = 0; c < 300; c++) pool.Run(works[i], 16); });
        foreach (var w in works) Assert.All(w.Hits, h => Assert.Equal(300, h));
    }

    [Fact]
    public void ChunkExceptionReachesCallerAndPoolStaysUsable()
    {
        using var pool = new KernelThreadPool(2);
        var bad = new CountingWork(8) { ThrowAt = 5 };
        var ex = Assert.Throws<AggregateException>(() => pool.Run(bad, 8));
        Assert.IsType<InvalidOperationException>(ex.InnerException);
        var good = new CountingWork(8);
        pool.Run(good, 8);
        Assert.All(good.Hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void InvalidThreadCountIsRejected() => Assert.Throws<ArgumentOutOfRangeException>(() => new KernelThreadPool(0));
}

public class KernelInfoTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void ActivePathIsConsistentWithTheHardware()
    {
        output.WriteLine(KernelInfo.Describe()); // shows which path a DOTNET_Enable*=0 run exercised
        string expected = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? "Vector512"
            : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "Vector256"
            : System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated ? "Vector128" : "scalar";
        Assert.Equal(expected, KernelInfo.GemmPath);
        // The ISA-matrix script names the path each run must exercise, so an ignored DOTNET_Enable* switch fails.
        if (Environment.GetEnvironmentVariable("MEMBED_EXPECT_GEMM_PATH") is { Length: > 0 } want) Assert.Equal(want, KernelInfo.GemmPath);
    }
}
