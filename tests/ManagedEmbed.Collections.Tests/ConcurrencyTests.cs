using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>Tests that race threads or processes against each other: run alone, so other tests do not starve them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitiveCollection
{
    /// <summary>Collection name.</summary>
    public const string Name = "timing-sensitive (not parallel)";
}

[Collection(TimingSensitiveCollection.Name)]
public sealed class ConcurrencyTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-conc");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    /// <summary>
    /// One writer adds batches of B records (all tagged with their batch number) and replaces whole batches, while
    /// readers query concurrently: every read must see each batch entirely or not at all, and counts are multiples of B.
    /// Compaction runs often (tiny thresholds) so the state swap is exercised too.
    /// </summary>
    [Fact]
    public async Task ReadersNeverSeeTornWrites()
    {
        const int B = 7;
        var opts = new CollectionOptions { CompactionMinWalBytes = 4000, CompactionRatio = 0.5, IvfThreshold = 200 };
        var store = CollectionStore.Open(_dir, options: opts);
        var c = store.CreateCollection("c", DistanceSpace.L2);
        using var stop = new CancellationTokenSource();
        var errors = new System.Collections.Concurrent.ConcurrentQueue<string>();
        int reads = 0;
        var readers = Enumerable.Range(0, 3).Select(t => Task.Factory.StartNew(() =>
        {
            var r = new Random(t);
            while (!stop.IsCancellationRequested)
            {
                int n = c.Count();
                if (n % B != 0) errors.Enqueue($"count {n} not a multiple of {B}");
                var g = c.Get(include: Include.Metadatas);
                if (g.Ids.Count % B != 0) errors.Enqueue($"get returned {g.Ids.Count}");
                foreach (var grp in g.Metadatas!.GroupBy(m => m!["batch"].AsInteger))
                {
                    if (grp.Count() != B) errors.Enqueue($"batch {grp.Key} seen with {grp.Count()} records");
                    if (grp.Select(m => m!["ver"].AsInteger).Distinct().Count() != 1) errors.Enqueue($"batch {grp.Key} mixes versions");
                }
                var q = c.Query(queryEmbeddings: [[(float)r.NextDouble(), 1f]], nResults: 3 * B, where: WhereFilter.Parse("{\"batch\":{\"$lt\":1000}}"), include: Include.Metadatas);
                Interlocked.Increment(ref reads);
            }
        }, TaskCreationOptions.LongRunning)).ToList();
        // A reader that re-opens the store from disk again and again (as another process would): every open must see
        // a consistent prefix of the writes while the writer appends and compacts in the background.
        int diskOpens = 0;
        readers.Add(Task.Factory.StartNew(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var rs = CollectionStore.Open(_dir, readOnly: true);
                var rc = rs.GetCollection("c");
                var g = rc.Get(include: Include.Metadatas);
                if (g.Ids.Count % B != 0) errors.Enqueue($"disk reader saw {g.Ids.Count} records");
                foreach (var grp in g.Metadatas!.GroupBy(m => m!["batch"].AsInteger))
                    if (grp.Count() != B) errors.Enqueue($"disk reader saw batch {grp.Key} with {grp.Count()} records");
                Interlocked.Increment(ref diskOpens);
            }
        }, TaskCreationOptions.LongRunning));
        // Events by count, not by time: the writer goes on (past the 150 planned batches if need be) until the readers
        // have done their rounds and a write has landed during a background compaction; only a hard deadline fails.
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        void Check(string waitingFor)
        {
            if (readers.FirstOrDefault(r => r.IsFaulted) is { } f) throw new InvalidOperationException("reader failed", f.Exception);
            // Generous: a hung writer or reader, not a slow machine (3 spinning readers starve the writer on 2 cores).
            if (deadline.Elapsed > TimeSpan.FromMinutes(10))
                Assert.Fail($"deadline: still waiting for {waitingFor} ({reads} reads, {diskOpens} disk opens, {c.CarriedOverBatches} carried-over batches)");
        }
        try
        {
            while (Volatile.Read(ref reads) == 0) { Check("the first read"); Thread.Sleep(1); }
            for (int b = 0; b < 150 || Volatile.Read(ref reads) <= 10 || Volatile.Read(ref diskOpens) <= 3 || c.CarriedOverBatches == 0; b++)
            {
                Check("reads, disk opens and a carried-over batch");
                var ids = Enumerable.Range(0, B).Select(i => $"{b}-{i}").ToList();
                var metas = ids.Select(_ => (IReadOnlyDictionary<string, MetadataValue>?)H.Meta(("batch", (long)b), ("ver", 0L))).ToList();
                c.Add(ids, metadatas: metas, embeddings: ids.Select((_, i) => new float[] { b, i }).ToList());
                if (b % 5 == 4)
                {
                    var old = Enumerable.Range(0, B).Select(i => $"{b - 2}-{i}").ToList();
                    c.Upsert(old, metadatas: old.Select(_ => (IReadOnlyDictionary<string, MetadataValue>?)H.Meta(("batch", (long)(b - 2)), ("ver", (long)b))).ToList());
                }
                if (b % 9 == 8) c.Delete(where: WhereFilter.Parse($"{{\"batch\":{b - 4}}}"));
                Thread.Yield();
            }
        }
        finally { stop.Cancel(); } // also on a failed deadline, so the reader threads end
        await Task.WhenAll(readers);
        Assert.Empty(errors);
        // Writes committed while background compactions were building their segments were carried over: a fresh
        // open sees exactly the in-memory state.
        c.WaitForCompaction();
        Assert.Null(c.LastCompactionError);
        var expected = H.Snapshot(c);
        store.Dispose();
        using var again = CollectionStore.Open(_dir, readOnly: true);
        Assert.Equal(expected, H.Snapshot(again.GetCollection("c")));
    }
}
