namespace ManagedEmbed.Collections;

public sealed partial class Collection
{
    private Task? _compaction;                 // the running automatic compaction, if any
    private List<WalBatch>? _sinceSnapshot;    // batches committed while a compaction runs (guarded by _writeGate)
    private readonly SemaphoreSlim _compactOne = new(1, 1); // one compaction at a time (sync or background)

    private long _retryAtMs;                   // Environment.TickCount64 before which no automatic compaction starts
    private TimeSpan _retryDelay;              // the current backoff; zero after a success
    private long _compactionFailures;

    /// <summary>Raised (on the compacting thread) when an automatic background compaction fails; the argument is the error.
    /// The old generation stays authoritative and the compaction is retried by a later write after a growing delay
    /// (<see cref="CollectionOptions.CompactionRetryDelay"/>).</summary>
    public event Action<Collection, Exception>? CompactionFailed;

    /// <summary>How many automatic compactions of this collection have failed since it was opened.</summary>
    public long CompactionFailures => Interlocked.Read(ref _compactionFailures);

    /// <summary>Test seam: called with each file name a compaction is about to write; throwing simulates a failure there.</summary>
    internal Action<string>? CompactionFaultHook { get; set; }

    /// <summary>Diagnostics: batches committed during compactions and carried over into their new WAL.</summary>
    internal long CarriedOverBatches { get; private set; }

    private sealed record Snapshot(ulong Gen, ulong Seq, int Dim, Manifest Old, List<Rec> Live, RowVector Vector);

    private sealed record Built(Snapshot Snap, string Docs, long DocsBytes, uint DocsCrc, string Index, string Kind,
        long IndexBytes, uint IndexCrc, SegmentIndex? SegIndex, string WalName);

    /// <summary>
    /// Rewrites the live records into a new immutable segment and starts a new WAL, waiting for it to finish.
    /// Writes may continue meanwhile (see <see cref="CompactCore"/>).
    /// </summary>
    public void Compact()
    {
        _compactOne.Wait();
        try
        {
            Snapshot snap;
            lock (_writeGate)
            {
                CheckWritable();
                snap = TakeSnapshot();
            }
            CompactCore(snap);
        }
        finally { _compactOne.Release(); }
    }

    /// <summary>Blocks until a running automatic (background) compaction has finished.</summary>
    public void WaitForCompaction()
    {
        Task? t;
        lock (_writeGate) t = _compaction;
        try { t?.Wait(); }
        catch (AggregateException) { } // reported through LastCompactionError
    }

    /// <summary>Starts a background compaction unless one is running. Caller holds the write gate.</summary>
    private void StartBackgroundCompaction()
    {
        if (Environment.TickCount64 < Interlocked.Read(ref _retryAtMs)) return; // backing off after a failure
        if (!_compactOne.Wait(0)) return;
        Snapshot snap;
        try { snap = TakeSnapshot(); }
        catch { _compactOne.Release(); throw; }
        _compaction = Task.Run(() =>
        {
            try
            {
                CompactCore(snap);
                LastCompactionError = null;
                _retryDelay = TimeSpan.Zero;
            }
            catch (Exception e)
            {
                // Surfaced, not swallowed: the error, a counter and an event; then back off so a persistent failure
                // does not rebuild the segment on every write.
                LastCompactionError = e.Message;
                Interlocked.Increment(ref _compactionFailures);
                _retryDelay = _retryDelay == TimeSpan.Zero ? _opts.CompactionRetryDelay
                    : TimeSpan.FromTicks(Math.Min(_retryDelay.Ticks * 2, _opts.CompactionMaxRetryDelay.Ticks));
                Interlocked.Exchange(ref _retryAtMs, Environment.TickCount64 + (long)_retryDelay.TotalMilliseconds);
                try { CompactionFailed?.Invoke(this, e); }
                catch (Exception) { } // a faulty handler must not take the writer down
            }
            finally
            {
                lock (_writeGate) _compaction = null;
                _compactOne.Release();
            }
        });
    }

    /// <summary>Captures the live records at the current sequence number. Caller holds the write gate.</summary>
    private Snapshot TakeSnapshot()
    {
        var live = new List<Rec>(_idToRow.Count);
        var liveRows = new List<int>(_idToRow.Count);
        for (int row = 0; row < _rows.Count; row++)
            if (_rows[row] is { } r) { live.Add(r); liveRows.Add(row); }
        // A record's vector is its own array (WAL rows) or lives in the current segment index, which stays valid until
        // this compaction itself swaps it out; later writes never modify these Rec objects.
        var index = _index;
        RowVector vec = i => live[i].Vector ?? index!.Vector(liveRows[i]);
        _sinceSnapshot = new List<WalBatch>();
        return new Snapshot(_manifest.Generation + 1, _nextSeq, _dim, _manifest, live, vec);
    }

    /// <summary>
    /// Compaction, crash-safe at every step, without blocking writers or readers while the segment is built:
    /// 1. (no lock) write seg-G.docs, seg-G.faiss (index built here) and an empty wal-G.log, each fsynced;
    /// 2. (write gate) append the batches committed since the snapshot to wal-G.log and fsync it, fsync the directory;
    ///    write MANIFEST.tmp (segment G, WAL G, next sequence = the snapshot's), fsync, rename over MANIFEST, fsync the
    ///    directory — the commit point; swap the in-memory state (readers briefly wait); delete the old files.
    /// A crash before the rename leaves the old manifest, segment and WAL (which holds every acknowledged write)
    /// intact — the new files are orphans, removed by the next writer; after it, the new generation is complete.
    /// </summary>
    private void CompactCore(Snapshot snap)
    {
        Built? b = null;
        try
        {
            b = BuildGeneration(snap);
            lock (_writeGate)
            {
                CheckWritable();
                Publish(b);
            }
        }
        catch
        {
            lock (_writeGate) _sinceSnapshot = null;
            if (b is not null && _failed is null)
                foreach (var f in new[] { b.Docs, b.Index, b.WalName })
                    try { File.Delete(Path.Combine(_dir, f)); } catch (IOException) { }
            throw;
        }
    }

    private Built BuildGeneration(Snapshot s)
    {
        string docs = $"seg-{s.Gen:D10}.docs", idx = $"seg-{s.Gen:D10}.faiss", walName = Wal.FileName(s.Gen);
        foreach (var f in new[] { docs, idx, walName }) File.Delete(Path.Combine(_dir, f)); // stale orphans
        try
        {
            CompactionFaultHook?.Invoke(docs);
            var (docsBytes, docsCrc) = Segment.WriteDocs(_opts.FileOps, Path.Combine(_dir, docs), s.Dim, s.Live);
            CompactionFaultHook?.Invoke(idx);
            var (kind, idxBytes, idxCrc, index) = SegmentIndex.Build(Path.Combine(_dir, idx), s.Live.Count, s.Vector, Space, s.Dim, _opts, _manifest.Hnsw);
            CompactionFaultHook?.Invoke(walName);
            Wal.Create(_opts.FileOps, Path.Combine(_dir, walName), s.Gen);
            return new Built(s, docs, docsBytes, docsCrc, idx, kind, idxBytes, idxCrc, index, walName);
        }
        catch
        {
            // A half-built generation must not linger until the next writer happens to sweep it (a failed build used
            // to leave seg-G.docs behind with MANIFEST unchanged).
            foreach (var f in new[] { docs, idx, walName })
                try { File.Delete(Path.Combine(_dir, f)); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Second half of a compaction. Caller holds the write gate.</summary>
    private void Publish(Built b)
    {
        var s = b.Snap;
        var pending = _sinceSnapshot ?? throw new InvalidOperationException("no snapshot");
        var newWal = new WalWriter(_opts.FileOps, Path.Combine(_dir, b.WalName), Wal.HeaderSize, Wal.FormatVersion);
        try
        {
            var enc = new ByteWriter(1 << 16);
            foreach (var batch in pending)
            {
                Wal.Encode(batch, enc);
                newWal.AppendNoSync(enc.Span);
            }
            CarriedOverBatches += pending.Count;
            newWal.Sync();
            _opts.FileOps.FsyncDirectory(_dir);
        }
        catch
        {
            newWal.Dispose();
            throw;
        }
        var m = s.Old.Derive();
        m.Dim = s.Dim;
        m.Generation = s.Gen;
        m.WalGeneration = s.Gen;
        m.NextSeq = s.Seq;
        m.Segment = new SegmentInfo(b.Docs, b.DocsBytes, b.DocsCrc, b.Index, b.Kind, b.IndexBytes, b.IndexCrc, s.Live.Count);
        try { FileSys.AtomicWrite(_opts.FileOps, Path.Combine(_dir, Manifest.FileName), m.Serialize()); }
        catch (Exception e)
        {
            // The rename may or may not have happened: memory and disk could disagree about the live WAL.
            newWal.Dispose();
            _failed = $"compaction could not publish its manifest ({e.Message})";
            throw;
        }

        var rows = new List<Rec?>(s.Live.Count + 1024);
        var map = new Dictionary<string, int>(s.Live.Count, StringComparer.Ordinal);
        var cols = new MetaColumns();
        foreach (var r in s.Live) { map[r.Id] = rows.Count; cols.Set(rows.Count, r.Metadata); rows.Add(r); }
        var oldWal = _wal;
        _rw.EnterWriteLock();
        try
        {
            _manifest = m;
            _rows = rows;
            _idToRow = map;
            _cols = cols;
            _baseRows = s.Live.Count;
            _deadBase = 0;
            _index = b.SegIndex;
            _segmentBytes = b.DocsBytes + b.IndexBytes;
            _wal = newWal;
            // The vectors now live in the new index; drop the per-record copies (no reader sees the old state now).
            if (b.SegIndex is not null) foreach (var r in s.Live) r.Vector = null;
            // Re-apply what was committed while the segment was being built.
            foreach (var batch in pending) ApplyBatch(batch);
        }
        finally { _rw.ExitWriteLock(); }
        _sinceSnapshot = null;
        oldWal?.Dispose();
        try { RemoveOrphans(); }
        catch (IOException) { } // leftovers are harmless: the next writer removes them
        catch (UnauthorizedAccessException) { }
    }
}
