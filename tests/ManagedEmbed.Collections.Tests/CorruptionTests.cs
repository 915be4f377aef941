using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>Damaged files are detected: the acknowledged prefix is recovered or the store refuses to open, clearly.</summary>
public sealed class CorruptionTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-corrupt");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private const int WalHeaderSize = 24; // documented WAL header size
    private string CollDir => Path.Combine(_dir, "c");
    private string WalPath => Directory.GetFiles(CollDir, "wal-*.log").Single();

    /// <summary>Writes operations one by one; returns the contents snapshot and WAL length after each acknowledged one.</summary>
    private List<(SortedDictionary<string, string> Snap, long WalLen)> Build(int batches, CollectionOptions? opts = null)
    {
        var states = new List<(SortedDictionary<string, string>, long)>();
        using var store = CollectionStore.Open(_dir, options: opts);
        var c = store.CreateCollection("c", DistanceSpace.L2);
        var r = new Random(7);
        states.Add((H.Snapshot(c), WalLen(opts)));
        for (int b = 0; b < batches; b++)
        {
            var ids = Enumerable.Range(0, 3).Select(i => $"b{b}-{i}").ToList();
            c.Add(ids, ids.Select(i => (string?)("doc " + i)).ToList(), ids.Select(_ => (IReadOnlyDictionary<string, MetadataValue>?)H.Meta(("b", (long)b))).ToList(),
                ids.Select(_ => H.RandVec(r, 4)).ToList());
            states.Add((H.Snapshot(c), WalLen(opts)));
            if (b % 2 == 0) continue;
            c.Delete([$"b{b - 1}-0"]);
            states.Add((H.Snapshot(c), WalLen(opts)));
        }
        return states;
    }

    // With compaction on, WAL files come and go in the background; lengths are only tracked without it.
    private long WalLen(CollectionOptions? opts) => opts is null ? new FileInfo(WalPath).Length : 0;

    private SortedDictionary<string, string> Reopen(bool readOnly = true)
    {
        using var store = CollectionStore.Open(_dir, readOnly: readOnly);
        return H.Snapshot(store.GetCollection("c"));
    }

    [Fact]
    public void TruncatedWalTailRecoversTheAcknowledgedPrefixAtEveryCut()
    {
        var states = Build(6);
        byte[] full = File.ReadAllBytes(WalPath);
        long lastStart = states[^2].WalLen;
        // Every truncation point inside the last record, plus cuts inside earlier records.
        var cuts = Enumerable.Range((int)lastStart, (int)(full.Length - lastStart)).Concat([(int)states[2].WalLen + 5, WalHeaderSize + 1]).ToList();
        foreach (int cut in cuts)
        {
            File.WriteAllBytes(WalPath, full[..cut]);
            int acked = states.FindLastIndex(s => s.WalLen <= cut);
            Assert.Equal(states[acked].Snap, Reopen());
        }
        // The writer truncates the torn tail on open and appends after the valid prefix.
        File.WriteAllBytes(WalPath, full[..(int)(lastStart + 7)]);
        using (var store = CollectionStore.Open(_dir))
        {
            var c = store.GetCollection("c");
            Assert.Equal(lastStart, new FileInfo(WalPath).Length);
            c.Add(["later"], embeddings: [[1f, 2f, 3f, 4f]]);
        }
        var after = Reopen();
        Assert.True(after.ContainsKey("later"));
        Assert.Equal(states[^2].Snap.Count + 1, after.Count);
    }

    [Fact]
    public void FlippedByteInLastRecordShowsThePrefixWithAFindingButInAnEarlierRecordRefusesToOpen()
    {
        var states = Build(5);
        byte[] full = File.ReadAllBytes(WalPath);
        var r = new Random(3);
        for (int t = 0; t < 30; t++)
        {
            int pos = (int)states[^2].WalLen + r.Next((int)(full.Length - states[^2].WalLen));
            var b = (byte[])full.Clone();
            b[pos] ^= (byte)(1 << r.Next(8));
            File.WriteAllBytes(WalPath, b);
            Assert.Equal(states[^2].Snap, Reopen());
            using (var ro = CollectionStore.Open(_dir, readOnly: true))
            {
                var f = Assert.Single(ro.GetCollection("c").RecoveryReport.Findings);
                Assert.Equal(states[^2].WalLen, f.Offset);
            }
        }
        for (int t = 0; t < 30; t++)
        {
            int pos = WalHeaderSize + r.Next((int)states[^2].WalLen - WalHeaderSize);
            var b = (byte[])full.Clone();
            b[pos] ^= (byte)(1 << r.Next(8));
            File.WriteAllBytes(WalPath, b);
            var e = Assert.Throws<ManagedEmbedException>(() => Reopen());
            Assert.Contains("refusing to open", e.Message);
        }
        File.WriteAllBytes(WalPath, full);
        Assert.Equal(states[^1].Snap, Reopen());
    }

    [Fact]
    public void DamagedWalHeaderRefusesToOpen()
    {
        Build(2);
        byte[] full = File.ReadAllBytes(WalPath);
        for (int pos = 0; pos < WalHeaderSize; pos++)
        {
            if (pos is >= 12 and < 16) continue; // reserved field
            var b = (byte[])full.Clone();
            b[pos] ^= 0x40;
            File.WriteAllBytes(WalPath, b);
            Assert.Contains("refusing to open", Assert.Throws<ManagedEmbedException>(() => Reopen()).Message);
        }
        File.WriteAllBytes(WalPath, full[..10]);
        Assert.Contains("truncated", Assert.Throws<ManagedEmbedException>(() => Reopen()).Message);
    }

    [Theory]
    [InlineData(".docs")]
    [InlineData(".faiss")]
    [InlineData("MANIFEST")]
    public void DamagedSegmentOrManifestRefusesToOpen(string which)
    {
        var opts = new CollectionOptions { CompactionMinWalBytes = 0, CompactionRatio = 0 };
        var states = Build(4, opts);
        string file = which == "MANIFEST" ? Path.Combine(CollDir, "MANIFEST") : Directory.GetFiles(CollDir, "seg-*" + which).Single();
        byte[] full = File.ReadAllBytes(file);
        var r = new Random(11);
        for (int t = 0; t < 25; t++)
        {
            var b = (byte[])full.Clone();
            b[r.Next(b.Length)] ^= (byte)(1 << r.Next(8));
            File.WriteAllBytes(file, b);
            var e = Assert.Throws<ManagedEmbedException>(() => Reopen());
            Assert.Matches("refusing to open|damaged", e.Message);
        }
        foreach (int cut in new[] { 0, 1, full.Length / 2, full.Length - 1 })
        {
            File.WriteAllBytes(file, full[..cut]);
            Assert.Throws<ManagedEmbedException>(() => Reopen());
        }
        File.Delete(file);
        Assert.ThrowsAny<ManagedEmbedException>(() => Reopen()); // a missing MANIFEST is a CollectionDamagedException
        File.WriteAllBytes(file, full);
        Assert.Equal(states[^1].Snap, Reopen());
    }
}
