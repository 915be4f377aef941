using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>Records every durable file operation the store performs (through its one seam, <see cref="IFileOps"/>).</summary>
internal sealed class RecordingFileOps : IFileOps
{
    public sealed record Op(string Kind, string Path, string? To = null)
    {
        /// <summary>File content as of an fsync (what survives a crash), resolved lazily for files opened exclusively.</summary>
        public byte[]? Durable;
        /// <summary>For writes: where and what (so a crash can keep part of an unsynced write).</summary>
        public long Pos;
        public byte[]? Data;
        public override string ToString() => To is null ? $"{Kind} {System.IO.Path.GetFileName(Path)}" : $"{Kind} {System.IO.Path.GetFileName(Path)} -> {System.IO.Path.GetFileName(To)}";
    }

    private readonly List<Op> _ops = new();
    private readonly List<Op> _unresolved = new();
    public bool Enabled = true;

    public List<Op> Ops { get { lock (_ops) { Resolve(); return _ops.ToList(); } } }

    private void Add(Op op)
    {
        lock (_ops)
        {
            Resolve();
            if (Enabled) _ops.Add(op);
        }
    }

    /// <summary>A marker in the log (e.g. "ack" when a write call returned).</summary>
    public void Mark(string kind) => Add(new Op(kind, ""));

    // A file opened with FileShare.None cannot be read while open; its content is final at fsync, read it later.
    private void Resolve()
    {
        for (int i = _unresolved.Count - 1; i >= 0; i--)
        {
            try { _unresolved[i].Durable = File.ReadAllBytes(_unresolved[i].Path); _unresolved.RemoveAt(i); }
            catch (IOException) { }
        }
    }

    public void Write(FileStream fs, ReadOnlySpan<byte> data)
    {
        long pos = fs.Position;
        RealFileOps.Instance.Write(fs, data);
        Add(new Op("write", fs.Name) { Pos = pos, Data = data.ToArray() });
    }

    public void Fsync(FileStream fs)
    {
        RealFileOps.Instance.Fsync(fs);
        var op = new Op("fsync", fs.Name);
        lock (_ops)
        {
            try { op.Durable = File.ReadAllBytes(fs.Name); }
            catch (IOException) { _unresolved.Add(op); }
            Add(op);
        }
    }

    public void SetLength(FileStream fs, long length) { RealFileOps.Instance.SetLength(fs, length); Add(new Op("truncate", fs.Name)); }
    public void Rename(string from, string to)
    {
        lock (_ops) Resolve(); // the renamed file was closed after its fsync: read it under its old name
        RealFileOps.Instance.Rename(from, to);
        Add(new Op("rename", from, to));
    }
    public void FsyncDirectory(string dir) { RealFileOps.Instance.FsyncDirectory(dir); Add(new Op("fsyncdir", Path.GetFullPath(dir))); }
}

/// <summary>
/// Issue item B: the order of durable operations. Every acknowledgement of Add/Upsert/Update/Delete comes after the
/// fsync of its WAL write; manifest publication is write → fsync → rename → fsync(directory); and a simulated crash
/// at every point of a recorded workload (keeping only what was fsynced, and only the names made durable by a
/// directory fsync) loses no acknowledged write.
/// </summary>
public sealed class DurabilityOrderTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-durable");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static bool IsWal(string p) => Path.GetFileName(p).StartsWith("wal-", StringComparison.Ordinal) && p.EndsWith(".log", StringComparison.Ordinal);

    /// <summary>A workload of every write kind with a compaction in the middle; returns the snapshot after each ack.</summary>
    private static List<SortedDictionary<string, string>> Workload(Collection c, RecordingFileOps rec)
    {
        var snaps = new List<SortedDictionary<string, string>> { H.Snapshot(c) };
        var r = new Random(4);
        void Ack() { rec.Mark("ack"); snaps.Add(H.Snapshot(c)); }
        for (int b = 0; b < 4; b++)
        {
            var ids = Enumerable.Range(0, 3).Select(i => $"a{b}-{i}").ToList();
            c.Add(ids, ids.Select(i => (string?)i).ToList(), embeddings: ids.Select(_ => H.RandVec(r, 4)).ToList());
            Ack();
        }
        c.Upsert(["a0-0", "u1"], embeddings: [H.RandVec(r, 4), H.RandVec(r, 4)]); Ack();
        c.Compact();
        c.Update(["a1-1"], documents: ["changed"]); Ack();
        c.Delete(["a2-2", "a0-1"]); Ack();
        c.Add(["late"], embeddings: [H.RandVec(r, 4)]); Ack();
        c.Compact();
        c.Delete(whereDocument: WhereDocumentFilter.Parse("""{"$contains":"a3"}""")); Ack();
        c.Add(["last"], embeddings: [H.RandVec(r, 4)]); Ack();
        return snaps;
    }

    [Fact]
    public void EveryAcknowledgementFollowsTheFsyncOfItsWalWrite()
    {
        var rec = new RecordingFileOps();
        var opts = new CollectionOptions { FileOps = rec };
        using var store = CollectionStore.Open(_dir, options: opts);
        var c = store.CreateCollection("c", DistanceSpace.L2);
        rec.Mark("ack"); // creation returned
        Workload(c, rec);
        var ops = rec.Ops;
        int acks = 0, prevAck = -1;
        for (int i = 0; i < ops.Count; i++)
        {
            if (ops[i].Kind != "ack") continue;
            acks++;
            if (prevAck >= 0)
            {
                int w = ops.FindLastIndex(i, i - prevAck, o => o.Kind == "write" && IsWal(o.Path));
                Assert.True(w > prevAck, $"ack #{acks} at {i} has no WAL write of its own");
                int f = ops.FindIndex(w, i - w, o => o.Kind == "fsync" && o.Path == ops[w].Path);
                Assert.True(f > w, $"ack #{acks} at {i}: WAL write at {w} is not fsynced before the call returned");
            }
            prevAck = i;
        }
        Assert.Equal(11, acks); // creation + 10 writes
    }

    [Fact]
    public void ManifestPublicationIsWriteFsyncRenameFsyncDirectory_AfterItsFilesAreDurable()
    {
        var rec = new RecordingFileOps();
        using var store = CollectionStore.Open(_dir, options: new CollectionOptions { FileOps = rec });
        var c = store.CreateCollection("c", DistanceSpace.L2);
        Workload(c, rec);
        var ops = rec.Ops;
        var renames = Enumerable.Range(0, ops.Count).Where(i => ops[i].Kind == "rename" && Path.GetFileName(ops[i].To!) == "MANIFEST").ToList();
        Assert.Equal(3, renames.Count); // creation + two compactions
        foreach (int i in renames)
        {
            string tmp = ops[i].Path, dir = Path.GetDirectoryName(ops[i].To!)!;
            Assert.Equal("MANIFEST.tmp", Path.GetFileName(tmp));
            int f = ops.FindLastIndex(i, o => o.Path == tmp && o.Kind == "fsync");
            int w = ops.FindLastIndex(i, o => o.Path == tmp && o.Kind == "write");
            Assert.True(w >= 0 && w < f, $"MANIFEST.tmp: write {w}, fsync {f}, rename {i}");
            Assert.Equal(("fsyncdir", dir), (ops[i + 1].Kind, ops[i + 1].Path));
        }
        // A compaction's manifest names files that were fsynced, and their names made durable, before the rename.
        foreach (int i in renames.Skip(1))
        {
            string dir = Path.GetDirectoryName(ops[i].To!)!;
            int dirSync = ops.FindLastIndex(i, o => o.Kind == "fsyncdir" && o.Path == dir);
            foreach (var ext in new[] { ".docs", ".faiss", ".log" })
            {
                int fs = ops.FindLastIndex(i, o => o.Kind == "fsync" && o.Path.EndsWith(ext, StringComparison.Ordinal));
                Assert.True(fs >= 0 && fs < dirSync, $"{ext}: fsync at {fs}, directory fsync at {dirSync}, manifest rename at {i}");
            }
        }
    }

    [Fact]
    public void SimulatedCrashAtEveryOperationKeepsEveryAcknowledgedWrite()
    {
        var rec = new RecordingFileOps { Enabled = false };
        var opts = new CollectionOptions { FileOps = rec };
        string live = Path.Combine(_dir, "live");
        List<SortedDictionary<string, string>> snaps;
        Dictionary<string, byte[]> initial;
        string collDir;
        using (var store = CollectionStore.Open(live, options: opts))
        {
            var c = store.CreateCollection("c", DistanceSpace.L2);
            collDir = Path.Combine(live, "c");
            // Everything up to here is durable (creation fsyncs it all); record from now on.
            initial = Directory.GetFiles(collDir).Where(f => Path.GetFileName(f) != "LOCK").ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);
            rec.Enabled = true;
            snaps = Workload(c, rec);
        }
        var ops = rec.Ops;
        int crashes = 0, tornSeen = 0;
        // "lost": unsynced writes vanish; "half": the first unsynced append to a log reached the disk halfway (a torn
        // write); "zeros": the file grew by that append but its data never arrived (zero-filled, as XFS can show).
        foreach (string variant in new[] { "lost", "half", "zeros" })
        for (int k = 0; k <= ops.Count; k++)
        {
            // Durable state after ops[0..k): a file's content as of its last fsync; a name as of the last directory fsync.
            var durable = new Dictionary<string, object>(StringComparer.Ordinal);  // name -> inode
            var names = new Dictionary<string, object>(StringComparer.Ordinal);    // live namespace: name -> inode
            var content = new Dictionary<object, byte[]>();
            var pending = new Dictionary<object, RecordingFileOps.Op>();                             // first write since the last fsync
            foreach (var (n, b) in initial) { var ino = new object(); durable[n] = names[n] = ino; content[ino] = b; }
            int acked = 0;
            for (int i = 0; i < k; i++)
            {
                var o = ops[i];
                if (o.Kind == "ack") { acked++; continue; }
                if (o.Kind == "fsyncdir") { if (o.Path == collDir) { durable = new(names, StringComparer.Ordinal); } continue; }
                if (Path.GetDirectoryName(o.Path) != collDir) continue;
                string name = Path.GetFileName(o.Path);
                if (!names.TryGetValue(name, out var node)) names[name] = node = new object();
                if (o.Kind == "fsync") { content[node] = o.Durable ?? throw new InvalidOperationException($"unresolved fsync of {name}"); pending.Remove(node); }
                else if (o.Kind == "write") pending.TryAdd(node, o);
                else if (o.Kind == "rename") { names.Remove(name); names[Path.GetFileName(o.To!)] = node; }
            }
            string crash = Path.Combine(_dir, $"crash-{variant}-{k}");
            Directory.CreateDirectory(Path.Combine(crash, "c"));
            File.Copy(Path.Combine(live, "membed-store"), Path.Combine(crash, "membed-store"));
            bool torn = false;
            foreach (var (n, node) in durable)
            {
                var b = content.TryGetValue(node, out var d) ? d : []; // never fsynced: empty
                if (variant != "lost" && IsWal(n) && pending.TryGetValue(node, out var w) && w.Pos == b.Length && b.Length > 0)
                {
                    b = variant == "half" ? [.. b, .. w.Data![..(w.Data!.Length / 2)]] : [.. b, .. new byte[w.Data!.Length]];
                    torn = true;
                }
                File.WriteAllBytes(Path.Combine(crash, "c", n), b);
            }
            using (var s = CollectionStore.Open(crash, readOnly: true))
            {
                var c = s.GetCollection("c");
                var snap = H.Snapshot(c);
                // Everything acknowledged before the crash survives; the call in flight is there entirely or not at all.
                Assert.True(snap.SequenceEqual(snaps[acked]) || (acked + 1 < snaps.Count && snap.SequenceEqual(snaps[acked + 1])),
                    $"{variant} crash after op {k} ({(k > 0 ? ops[k - 1] : "start")}): {acked} acks, state matches neither");
                // A partly written record is always recognized as torn (never as possible damage to acknowledged data).
                if (!torn) Assert.True(c.RecoveryReport.IsClean, c.RecoveryReport.Findings.FirstOrDefault()?.ToString());
                else if (c.RecoveryReport.Findings.Count > 0)
                {
                    Assert.Equal(RecoveryFindingKind.TornTail, Assert.Single(c.RecoveryReport.Findings).Kind);
                    tornSeen++;
                }
            }
            using (var s = CollectionStore.Open(crash)) s.GetCollection("c").Add([$"post{k}"], embeddings: [new float[4]]);
            using (var s = CollectionStore.Open(crash, readOnly: true)) Assert.True(s.GetCollection("c").RecoveryReport.IsClean);
            Directory.Delete(crash, true);
            crashes++;
        }
        Assert.True(tornSeen >= 10, $"only {tornSeen} crash states had a torn log tail");
        Assert.True(crashes > 150, $"only {crashes} crash points");
    }
}
