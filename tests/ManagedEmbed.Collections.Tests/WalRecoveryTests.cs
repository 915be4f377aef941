using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>
/// The WAL recovery rule through the library: a torn tail (never acknowledged) is moved to a quarantine file and
/// reported; a complete record failing its checksum at the tail (possibly acknowledged) refuses writable opens until
/// <see cref="CollectionStore.RepairCollection"/>; nothing is ever dropped without a <see cref="RecoveryReport"/>.
/// </summary>
public sealed class WalRecoveryTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-walrec");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string CollDir => Path.Combine(_dir, "c");
    private string WalPath => Path.Combine(CollDir, "wal-0000000000.log");
    private string[] Quarantined => Directory.GetFiles(CollDir, "*.quarantine-*");

    /// <summary>20 acknowledged batches of 10 records; returns the snapshot before the last batch and after it.</summary>
    private (SortedDictionary<string, string> Before, SortedDictionary<string, string> After) Build()
    {
        using var store = CollectionStore.Open(_dir);
        var c = store.CreateCollection("c", DistanceSpace.L2);
        var r = new Random(9);
        SortedDictionary<string, string>? before = null;
        for (int b = 0; b < 20; b++)
        {
            if (b == 19) before = H.Snapshot(c);
            var ids = Enumerable.Range(0, 10).Select(i => $"r{b * 10 + i:D3}").ToList();
            c.Add(ids, ids.Select(i => (string?)$"doc {i} abcdefgh").ToList(), embeddings: ids.Select(_ => H.RandVec(r, 16)).ToList());
        }
        return (before!, H.Snapshot(c));
    }

    private static (SortedDictionary<string, string> Snap, RecoveryReport Report) OpenRead(string dir)
    {
        using var s = CollectionStore.Open(dir, readOnly: true);
        var c = s.GetCollection("c");
        return (H.Snapshot(c), c.RecoveryReport);
    }

    [Fact]
    public void FlippedByteInLastRecord_ReadOnlyReports_WritableRefuses_RepairQuarantines()
    {
        var (before, after) = Build();
        byte[] good = File.ReadAllBytes(WalPath);
        long last = WalTrustCliTests.RecordStarts(good)[^1];
        byte[] bad = good;
        foreach (int at in new[] { (int)last + 20, (int)last + 8, good.Length - 1, (int)last + 13 })
        {
            bad = (byte[])good.Clone();
            bad[at] ^= 0x10;
            File.WriteAllBytes(WalPath, bad);

            var (snap, rep) = OpenRead(_dir);
            Assert.Equal(before, snap);
            var f = Assert.Single(rep.Findings);
            Assert.Equal((RecoveryFindingKind.CorruptTail, last, good.Length - last, (int?)1, (string?)null, WalPath),
                (f.Kind, f.Offset, f.Length, f.Records, f.QuarantineFile, f.File));
            LibraryWording.AssertNoCliWords(f.ToString()); // the CLI appends the repair command to its warning

            using (var s = CollectionStore.Open(_dir))
            {
                var e = Assert.Throws<CollectionDamagedException>(() => s.GetCollection("c"));
                Assert.Contains("repair", e.Message);
                Assert.Equal(("c", _dir), (e.Name, e.StoreRoot));
                LibraryWording.AssertNoCliWords(e.Message); // the CLI adds the command (WalTrustCliTests)
            }
            Assert.Equal(bad, File.ReadAllBytes(WalPath));
            Assert.Empty(Quarantined);
        }

        using (var s = CollectionStore.Open(_dir))
        {
            var f = Assert.Single(s.RepairCollection("c").Findings);
            Assert.Equal((RecoveryFindingKind.CorruptTail, last, good.Length - last), (f.Kind, f.Offset, f.Length));
            Assert.Equal(Assert.Single(Quarantined), f.QuarantineFile);
            Assert.Equal(bad[(int)last..], File.ReadAllBytes(f.QuarantineFile!)); // exactly the dropped bytes
            Assert.Equal(good[..(int)last], File.ReadAllBytes(WalPath));
            Assert.True(s.RepairCollection("c").IsClean); // idempotent
            var c = s.GetCollection("c");
            Assert.True(c.RecoveryReport.IsClean);
            Assert.Equal(before, H.Snapshot(c));
            c.Add(["again"], embeddings: [new float[16]]);
        }
        Assert.Equal(before.Count + 1, OpenRead(_dir).Snap.Count);
        Assert.NotEqual(after, before);
    }

    [Fact]
    public void MissingManifest_IsATypedDamageWithoutCliWords()
    {
        using (var store = CollectionStore.Open(_dir)) store.CreateCollection("c", DistanceSpace.L2);
        File.Delete(Path.Combine(CollDir, "MANIFEST"));
        using var s = CollectionStore.Open(_dir);
        foreach (var e in new[] { Assert.Throws<CollectionDamagedException>(() => s.GetCollection("c")),
                                  Assert.Throws<CollectionDamagedException>(() => s.CreateCollection("c")) })
        {
            Assert.Equal(("c", _dir), (e.Name, e.StoreRoot));
            Assert.Contains("damaged", e.Message);
            LibraryWording.AssertNoCliWords(e.Message);
        }
    }

    [Fact]
    public void FlippedLengthField_IsNotMistakenForATornWrite()
    {
        // With v1's framing, a length flipped past the end of the file looked exactly like a torn write and the
        // acknowledged record was dropped silently; v2's header checksum tells them apart.
        var (before, _) = Build();
        byte[] good = File.ReadAllBytes(WalPath);
        long last = WalTrustCliTests.RecordStarts(good)[^1];
        byte[] bad = (byte[])good.Clone();
        bad[last + 6] ^= 0x01; // length += 65536: runs past the end of the file
        File.WriteAllBytes(WalPath, bad);
        var (snap, rep) = OpenRead(_dir);
        Assert.Equal(before, snap);
        Assert.Equal(RecoveryFindingKind.CorruptTail, Assert.Single(rep.Findings).Kind);
        using var s = CollectionStore.Open(_dir);
        Assert.Throws<CollectionDamagedException>(() => s.GetCollection("c"));
        Assert.Equal(bad, File.ReadAllBytes(WalPath));
    }

    [Fact]
    public void TornTail_AtEveryCut_IsQuarantinedWithExactlyTheDroppedBytes()
    {
        var (before, _) = Build();
        byte[] good = File.ReadAllBytes(WalPath);
        long last = WalTrustCliTests.RecordStarts(good)[^1];
        foreach (int cut in new[] { (int)last + 1, (int)last + 15, (int)last + 16, (int)last + 17, (int)last + 500, good.Length - 1 })
        {
            foreach (var q in Quarantined) File.Delete(q);
            File.WriteAllBytes(WalPath, good[..cut]);
            var (snap, rep) = OpenRead(_dir);
            Assert.Equal(before, snap);
            var f = Assert.Single(rep.Findings);
            Assert.Equal((RecoveryFindingKind.TornTail, last, cut - last, (string?)null), (f.Kind, f.Offset, f.Length, f.QuarantineFile));
            Assert.Equal(cut, new FileInfo(WalPath).Length);

            using (var s = CollectionStore.Open(_dir))
            {
                var c = s.GetCollection("c");
                f = Assert.Single(c.RecoveryReport.Findings);
                Assert.Equal((RecoveryFindingKind.TornTail, last, cut - last), (f.Kind, f.Offset, f.Length));
                Assert.Equal(Assert.Single(Quarantined), f.QuarantineFile);
                Assert.Equal(good[(int)last..cut], File.ReadAllBytes(f.QuarantineFile!));
                Assert.Equal(last, new FileInfo(WalPath).Length);
                Assert.Equal(before, H.Snapshot(c));
                Assert.Contains("torn", f.ToString());
            }
            Assert.True(OpenRead(_dir).Report.IsClean);
            File.WriteAllBytes(WalPath, good);
        }
    }

    [Fact]
    public void ZeroFilledTail_IsATornWrite()
    {
        var (_, after) = Build();
        using (var fs = new FileStream(WalPath, FileMode.Append)) fs.Write(new byte[4096]);
        var f = Assert.Single(OpenRead(_dir).Report.Findings);
        Assert.Equal(RecoveryFindingKind.TornTail, f.Kind);
        using var s = CollectionStore.Open(_dir);
        Assert.Equal(after, H.Snapshot(s.GetCollection("c")));
        Assert.Single(Quarantined);
    }

    [Fact]
    public void Check_ReportsEveryKindAndChangesNothing()
    {
        var (_, _) = Build();
        byte[] good = File.ReadAllBytes(WalPath);
        long last = WalTrustCliTests.RecordStarts(good)[^1];
        long first = WalTrustCliTests.RecordStarts(good)[0];
        var cases = new (string Name, byte[] Bytes, RecoveryFindingKind? Kind)[]
        {
            ("healthy", good, null),
            ("torn", good[..((int)last + 30)], RecoveryFindingKind.TornTail),
            ("corrupt tail", Flip(good, (int)last + 40), RecoveryFindingKind.CorruptTail),
            ("corrupt middle", Flip(good, (int)first + 40), RecoveryFindingKind.Unreadable),
        };
        foreach (var (name, bytes, kind) in cases)
        {
            File.WriteAllBytes(WalPath, bytes);
            string h0 = WalTrustCliTests.HashDir(_dir);
            foreach (bool ro in new[] { true, false })
            {
                using var s = CollectionStore.Open(_dir, readOnly: ro);
                var rep = s.CheckCollection("c");
                if (kind is null) Assert.True(rep.IsClean, name);
                else Assert.Equal(kind, Assert.Single(rep.Findings).Kind);
            }
            Assert.Equal(h0, WalTrustCliTests.HashDir(_dir));
        }
        File.WriteAllBytes(WalPath, Flip(good, (int)first + 40));
        using var st = CollectionStore.Open(_dir);
        Assert.Contains("refusing to open", Assert.Throws<ManagedEmbedException>(() => st.RepairCollection("c")).Message);
        Assert.Empty(Quarantined);
    }

    private static byte[] Flip(byte[] b, int at)
    {
        var c = (byte[])b.Clone();
        c[at] ^= 0x10;
        return c;
    }

    [Fact]
    public void QuarantineFilesSurviveCompaction()
    {
        Build();
        byte[] good = File.ReadAllBytes(WalPath);
        File.WriteAllBytes(WalPath, good[..(good.Length - 3)]);
        using var s = CollectionStore.Open(_dir);
        var c = s.GetCollection("c");
        string q = c.RecoveryReport.Findings.Single().QuarantineFile!;
        c.Compact();
        Assert.True(File.Exists(q));
        Assert.False(File.Exists(WalPath)); // the old generation's log is gone, its quarantined tail is not
    }

    [Fact]
    public void LegacyV1Log_IsReadAndAppendedInV1_UntilCompactionWritesV2()
    {
        using (var s0 = CollectionStore.Open(_dir)) s0.CreateCollection("c", DistanceSpace.L2);
        // Replace the fresh (v2) log with a v1 log holding two records, as an older build wrote it.
        var enc = new ByteWriter();
        using (var fs = new FileStream(WalPath, FileMode.Create))
        {
            fs.Write(Wal.Header(0, Wal.LegacyFormatVersion));
            for (ulong seq = 0; seq < 2; seq++)
            {
                var b = new WalBatch { Seq = seq, Dim = 2 };
                b.Puts.Add(new Rec { Id = $"old{seq}", Document = "d", Vector = [seq, 1f] });
                Wal.Encode(b, enc, Wal.LegacyFormatVersion);
                fs.Write(enc.Span);
            }
        }
        byte[] v1 = File.ReadAllBytes(WalPath);
        Assert.Equal(1u, BitConverter.ToUInt32(v1, 8));
        using (var s = CollectionStore.Open(_dir))
        {
            var c = s.GetCollection("c");
            Assert.Equal(2, c.Count());
            c.Add(["new"], embeddings: [[5f, 5f]]);
        }
        byte[] appended = File.ReadAllBytes(WalPath);
        Assert.Equal(v1, appended[..v1.Length]);
        Assert.Equal(0x314C5752u, BitConverter.ToUInt32(appended, v1.Length)); // "RWL1": one format per file
        // A torn v1 tail is still recognized and quarantined.
        File.WriteAllBytes(WalPath, appended[..(appended.Length - 5)]);
        Assert.Equal(RecoveryFindingKind.TornTail, OpenRead(_dir).Report.Findings.Single().Kind);
        File.WriteAllBytes(WalPath, appended);
        using (var s = CollectionStore.Open(_dir))
        {
            var c = s.GetCollection("c");
            Assert.Equal(3, c.Count());
            c.Compact();
            c.Add(["after"], embeddings: [[1f, 0f]]);
        }
        string wal1 = Path.Combine(CollDir, "wal-0000000001.log");
        Assert.Equal(2u, BitConverter.ToUInt32(File.ReadAllBytes(wal1), 8));
        Assert.Equal(4, OpenRead(_dir).Snap.Count);
    }

    [Fact]
    public void Repair_NeedsTheWriterLock_AndRefusesACollectionOpenInTheSameStore()
    {
        Build();
        byte[] good = File.ReadAllBytes(WalPath);
        File.WriteAllBytes(WalPath, good[..(good.Length - 1)]);
        using (var w = CollectionStore.Open(_dir))
        {
            var c = w.GetCollection("c"); // quarantines the torn tail, holds the lock
            Assert.Single(c.RecoveryReport.Findings);
            Assert.Contains("is open in this store", Assert.Throws<ManagedEmbedException>(() => w.RepairCollection("c")).Message);
            using var w2 = CollectionStore.Open(_dir);
            Assert.Contains("locked by another process", Assert.Throws<ManagedEmbedException>(() => w2.RepairCollection("c")).Message);
            using var ro = CollectionStore.Open(_dir, readOnly: true);
            Assert.Contains("read-only", Assert.Throws<ManagedEmbedException>(() => ro.RepairCollection("c")).Message);
            Assert.True(ro.CheckCollection("c").IsClean); // check needs no lock
        }
        Assert.Single(Quarantined);
    }

    [Fact]
    public void UnknownWalVersion_RefusesClearly()
    {
        Build();
        byte[] b = File.ReadAllBytes(WalPath);
        b[8] = 3;
        File.WriteAllBytes(WalPath, b);
        var e = Assert.Throws<ManagedEmbedException>(() => OpenRead(_dir));
        Assert.Contains("format version 3", e.Message);
    }
}
