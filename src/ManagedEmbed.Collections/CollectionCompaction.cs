namespace ManagedEmbed.Collections;

public sealed partial class Collection
{
    /// <summary>
    /// Rewrites the live records into a new immutable segment and starts an empty WAL. Caller holds the write gate
    /// (so no other write runs); readers keep reading the old state until the swap. Order, crash-safe at every step:
    /// 1. write seg-G.docs, seg-G.faiss and wal-G.log, each fsynced; fsync the directory;
    /// 2. write MANIFEST.tmp naming them, fsync, rename over MANIFEST, fsync the directory — the commit point;
    /// 3. swap in-memory state; delete the previous generation's files.
    /// A crash before step 2 leaves the old manifest, segment and WAL intact (new files are orphans, removed by the
    /// next writer); after it, the new generation is complete.
    /// </summary>
    public void Compact()
    {
        lock (_writeGate)
        {
            CheckWritable();
            var old = _manifest;
            ulong gen = old.Generation + 1;
            var live = new List<Rec>(_idToRow.Count);
            foreach (var r in _rows) if (r is not null) live.Add(r);
            string docs = $"seg-{gen:D10}.docs", idx = $"seg-{gen:D10}.faiss";
            string walName = Wal.FileName(gen);
            foreach (var f in new[] { docs, idx, walName }) File.Delete(Path.Combine(_dir, f)); // stale orphans
            var (docsBytes, docsCrc) = Segment.WriteDocs(Path.Combine(_dir, docs), _dim, live);
            var (kind, idxBytes, idxCrc, index) = SegmentIndex.Build(Path.Combine(_dir, idx), live, Space, _dim, _opts);
            Wal.Create(Path.Combine(_dir, walName), gen);
            FileSys.FsyncDirectory(_dir);
            var m = new Manifest
            {
                Name = old.Name, Space = old.Space, Model = old.Model, Dim = _dim,
                Generation = gen, WalGeneration = gen, NextSeq = _nextSeq,
                Segment = new SegmentInfo(docs, docsBytes, docsCrc, idx, kind, idxBytes, idxCrc, live.Count),
            };
            FileSys.AtomicWrite(Path.Combine(_dir, Manifest.FileName), m.Serialize());

            var rows = new List<Rec?>(live.Count + 1024);
            var map = new Dictionary<string, int>(live.Count, StringComparer.Ordinal);
            foreach (var r in live) { map[r.Id] = rows.Count; rows.Add(r); }
            var newWal = new WalWriter(Path.Combine(_dir, walName), Wal.HeaderSize);
            var oldWal = _wal;
            _rw.EnterWriteLock();
            try
            {
                _manifest = m;
                _rows = rows;
                _idToRow = map;
                _baseRows = live.Count;
                _deadBase = 0;
                _index = index;
                _segmentBytes = docsBytes + idxBytes;
                _wal = newWal;
            }
            finally { _rw.ExitWriteLock(); }
            oldWal?.Dispose();
            RemoveOrphans();
        }
    }
}
