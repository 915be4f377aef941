using System.Diagnostics;
using System.Globalization;
using System.Text;
using ManagedEmbed.Testing;
using Xunit.Abstractions;

namespace ManagedEmbed.Collections.Tests;

/// <summary>
/// Durability under kill -9: a writer process (`membed collection add|upsert --batch-size N`, which prints one
/// "committed" line after each fsynced batch) is SIGKILLed at random moments; after each kill the store is reopened and
/// must hold exactly the acknowledged batches, plus possibly the one in flight, whole.
/// </summary>
[Collection(TimingSensitiveCollection.Name)]
public sealed class FaultInjectionTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-kill");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private const int Dim = 16;

    private sealed record Row(string Doc, long It, long Batch, float[] Vec);

    private static string Fmt(Row r) =>
        $"{r.Doc}|b=Integer:{r.Batch};it=Integer:{r.It}|{string.Join(",", r.Vec)}";

    [Fact]
    public async Task KilledWritersLoseNothingAcknowledgedAndNeverHalfABatch()
    {
        using (var s = CollectionStore.Open(_dir)) s.CreateCollection("f", DistanceSpace.L2);
        var model = new Dictionary<string, Row>(StringComparer.Ordinal);
        var rng = new Random(2024);
        var env = new Dictionary<string, string> { ["MEMBED_COMPACT_MIN_WAL_BYTES"] = "60000" };
        int delayMs = 400, midRunKills = 0, inFlightApplied = 0, total = 0;
        // Events by count: iterate until 10 iterations ran and 3 kills landed mid-run; only a hard deadline fails.
        var sw = Stopwatch.StartNew();
        for (int it = 0; total < 10 || midRunKills < 3; it++)
        {
            if (sw.Elapsed > TimeSpan.FromMinutes(4) || it > 200)
                Assert.Fail($"deadline: {total} iterations, {midRunKills} mid-run kills after {sw.Elapsed.TotalSeconds:F0} s");
            bool upsert = it > 0 && rng.Next(3) == 0 && model.Count >= 40;
            const int batchSize = 20, batches = 150;
            // Plan the batches: new ids for add, existing ids (with new content) for upsert.
            var existing = model.Keys.ToList();
            var planned = new List<List<(string Id, Row Row)>>();
            var sb = new StringBuilder();
            for (int b = 0; b < batches; b++)
            {
                var batch = new List<(string, Row)>();
                for (int i = 0; i < batchSize; i++)
                {
                    string id = upsert ? existing[(b * batchSize + i) % existing.Count] : $"i{it}-{b}-{i}";
                    if (batch.Any(x => x.Item1 == id)) continue;
                    var vec = H.RandVec(rng, Dim);
                    var row = new Row($"doc {id} it{it}", it, b, vec);
                    batch.Add((id, row));
                    sb.Append("{\"id\":\"").Append(id).Append("\",\"document\":\"").Append(row.Doc)
                      .Append("\",\"metadata\":{\"it\":").Append(it).Append(",\"b\":").Append(b).Append("},\"embedding\":[")
                      .Append(string.Join(",", vec.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))).Append("]}\n");
                }
                planned.Add(batch);
            }
            // Batches are cut every batchSize lines; duplicates were skipped above, so cut by planned sizes instead.
            if (planned.Any(p => p.Count != batchSize)) { it--; continue; }
            string input = Path.Combine(_dir, $"in{it}.jsonl");
            File.WriteAllText(input, sb.ToString());

            var psi = H.Psi(["collection", upsert ? "upsert" : "add", "--path", _dir, "--name", "f", "--input", input, "--batch-size", batchSize.ToString(CultureInfo.InvariantCulture)], env);
            using var p = Process.Start(psi)!;
            var lines = new List<string>();
            // Most kills come after a chosen number of acknowledgements (a count, not a delay), so they land mid-run
            // however fast or slow the machine is.
            int killAfterAcks = rng.Next(1, batches - 1), acks = 0;
            using var enoughAcks = new ManualResetEventSlim(false);
            var reader = Task.Run(() =>
            {
                string? l;
                while ((l = p.StandardOutput.ReadLine()) is not null)
                {
                    lock (lines) lines.Add(l);
                    if (l.StartsWith("committed ", StringComparison.Ordinal) && ++acks >= killAfterAcks) enoughAcks.Set();
                }
                enoughAcks.Set(); // exited (or failed) before that many acknowledgements
            });
            var errTask = p.StandardError.ReadToEndAsync();
            int wait;
            if (it % 4 == 3)
            {
                // A purely random moment (may land before the first commit, or after the last).
                wait = rng.Next(delayMs / 4, delayMs);
            }
            else
            {
                // Right after the chosen acknowledgement (a few ms later: often mid-batch). The wait is a hard
                // deadline for a hung writer, not a timing assumption.
                if (!enoughAcks.Wait(TimeSpan.FromSeconds(60))) Assert.Fail($"writer acknowledged {acks} of {killAfterAcks} batches in 60 s");
                wait = rng.Next(0, 5);
            }
            bool exited = p.WaitForExit(wait);
            if (!exited) p.Kill(); // SIGKILL on Unix
            p.WaitForExit();
            await reader;
            int acked;
            lock (lines) acked = lines.Count(l => l.StartsWith("committed ", StringComparison.Ordinal));
            if (exited) Assert.True(p.ExitCode == 0, "writer failed: " + await errTask);
            if (!exited && acked > 0 && acked < batches) midRunKills++;
            // Adapt the kill delay so that most kills land mid-run.
            if (exited || acked == batches) delayMs = Math.Max(100, delayMs * 3 / 4);
            else if (acked == 0) delayMs = Math.Min(4000, delayMs * 3 / 2);

            var afterAcked = new Dictionary<string, Row>(model, StringComparer.Ordinal);
            for (int b = 0; b < acked; b++) foreach (var (id, row) in planned[b]) afterAcked[id] = row;
            Dictionary<string, Row>? withInFlight = null;
            if (acked < batches)
            {
                withInFlight = new Dictionary<string, Row>(afterAcked, StringComparer.Ordinal);
                foreach (var (id, row) in planned[acked]) withInFlight[id] = row;
            }

            using (var s = CollectionStore.Open(_dir, readOnly: true))
            {
                var c = s.GetCollection("f");
                var snap = H.Snapshot(c);
                var want = new SortedDictionary<string, string>(afterAcked.ToDictionary(kv => kv.Key, kv => Fmt(kv.Value)), StringComparer.Ordinal);
                if (snap.SequenceEqual(want)) model = afterAcked;
                else
                {
                    Assert.NotNull(withInFlight);
                    var want2 = new SortedDictionary<string, string>(withInFlight!.ToDictionary(kv => kv.Key, kv => Fmt(kv.Value)), StringComparer.Ordinal);
                    Assert.Equal(want2, snap); // the in-flight batch, whole
                    model = withInFlight;
                    inFlightApplied++;
                }
                Assert.Equal(model.Count, c.Count());
                var ids = model.Keys.ToList();
                Assert.Equal(ids.Count, c.Get(ids: ids, include: Include.None).Ids.Count);
                // A query finds an acknowledged record by its own vector.
                if (model.Count == 0) { total++; continue; }
                var any = model.First();
                Assert.Equal(any.Key, c.Query(queryEmbeddings: [any.Value.Vec], nResults: 1, include: Include.None).Ids[0][0]);
            }
            total++;
            log.WriteLine($"iteration {it}: {(upsert ? "upsert" : "add")}, killed={!exited} after {wait} ms, acked {acked}/{batches}, records {model.Count}");
        }
        log.WriteLine($"{total} iterations, {midRunKills} mid-run kills, {inFlightApplied} in-flight batches found applied, {sw.Elapsed.TotalSeconds:F1} s");
        // The store is still writable after all that.
        using var w = CollectionStore.Open(_dir);
        w.GetCollection("f").Add(["final"], embeddings: [new float[Dim]]);
    }
}
