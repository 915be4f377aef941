using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>A failing automatic compaction is surfaced (event, counter, error), leaves no orphan files, and is retried.</summary>
public sealed class CompactionFailureTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-compact-fail");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string Store => Path.Combine(_dir, "db");

    [Fact]
    public void Failed_background_compaction_is_reported_cleaned_up_and_retried()
    {
        var opts = new CollectionOptions { CompactionMinWalBytes = 0, CompactionRatio = 0, CompactionRetryDelay = TimeSpan.Zero };
        using var store = CollectionStore.Open(Store, options: opts);
        var c = store.CreateCollection("f", DistanceSpace.Cosine);
        var seen = new List<Exception>();
        c.CompactionFailed += (_, e) => { lock (seen) seen.Add(e); };
        int calls = 0;
        // Fail while the segment's index is about to be written: the docs file already exists at that point.
        c.CompactionFaultHook = f => { if (f.EndsWith(".faiss", StringComparison.Ordinal) && Interlocked.Increment(ref calls) == 1) throw new IOException("injected: disk full"); };
        c.Add(["a"], embeddings: [[1f, 0f]]);
        c.WaitForCompaction();
        Assert.Equal(1, c.CompactionFailures);
        Assert.Single(seen);
        Assert.Contains("injected", c.LastCompactionError);
        // No half-built generation is left behind, and the manifest still names the old one.
        string dir = Path.Combine(Store, "f");
        Assert.Empty(Directory.GetFiles(dir, "seg-*"));

        // The next write retries (the delay is zero here) and succeeds.
        c.Add(["b"], embeddings: [[0f, 1f]]);
        c.WaitForCompaction();
        Assert.Null(c.LastCompactionError);
        Assert.Equal(1, c.CompactionFailures);
        Assert.NotEmpty(Directory.GetFiles(dir, "seg-*"));
        Assert.Equal(2, c.Count());
    }
}
