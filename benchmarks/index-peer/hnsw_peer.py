"""membed HNSW vs FAISS IndexHNSWFlat (Debian python3-faiss 1.7.3) on the same data. Run through `PEER=hnsw_peer.py run.sh`.

Each side builds its own index (M 32, efConstruction 40, inner product, 2 threads) from the same base.fvecs; both are
then searched over an efSearch sweep, recall@10 measured against exact top-10 (FAISS IndexFlatIP). For each target
recall (0.90, 0.95, 0.99) each engine runs at the smallest efSearch that reaches it, and q/s is the median of --reps
alternating runs (membed's `index search` does one untimed warm-up pass first; FAISS gets one too).
Memory: FAISS, the RSS growth of this process over the build; membed, the peak RSS of its HNSW build minus that of a
flat build of the same input, plus the stored vectors; and each index file's size.
"""
import argparse, os, statistics, subprocess, sys, time
import numpy as np
import faiss
from peer import read_vecs, sh, field, recall  # the flat/IVF peer's helpers (same directory)

K = 10
EFS = [16, 32, 48, 64, 96, 128, 192, 256, 384]
TARGETS = [0.90, 0.95, 0.99]


def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--membed", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--single-nq", type=int, default=200)
    ap.add_argument("--m", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=40)
    a = ap.parse_args()
    faiss.omp_set_num_threads(2)
    load_start = os.getloadavg()
    M, W, R = a.membed, a.work, a.reps
    base, qf, q1f = f"{W}/hnsw_base_{a.n}.fvecs", f"{W}/hnsw_queries.fvecs", f"{W}/hnsw_queries_single.fvecs"
    if not os.path.exists(base):
        sh(f"{M} data synth --n {a.n} --dim {a.dim} --clusters 1000 --seed 1 --out {base}")
    sh(f"{M} data synth --n {a.nq} --dim {a.dim} --clusters 1000 --seed 2 --out {qf}")
    sh(f"{M} data synth --n {a.single_nq} --dim {a.dim} --clusters 1000 --seed 3 --out {q1f}")
    xb, xq, xq1 = read_vecs(base, np.float32), read_vecs(qf, np.float32), read_vecs(q1f, np.float32)
    flat = faiss.IndexFlatIP(a.dim)
    flat.add(xb)
    gt, gt1 = flat.search(xq, K)[1], flat.search(xq1, K)[1]
    del flat

    # ---- build: membed (its own process; peak RSS from wait4) and FAISS (here; VmHWM growth) ----
    ours = f"{W}/hnsw_membed.index"
    mb, mbc, mrss = [], [], []
    for _ in range(1):
        p = subprocess.Popen(f"exec {M} index build --vectors {base} --kind hnsw --m {a.m} --ef-construction {a.ef_construction} "
                             f"--metric ip --threads 2 --out {ours}", shell=True, stdout=subprocess.PIPE, text=True)
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        if status != 0:
            sys.exit("membed build failed")
        mb.append(field(out, "add_seconds")); mbc.append(field(out, "add_cpu_seconds")); mrss.append(ru.ru_maxrss)
    # membed's index memory: its HNSW build's peak RSS minus a flat build's (same input, runtime and storage copy),
    # plus the storage itself (n x d floats), i.e. what the graph and its vectors hold.
    p = subprocess.Popen(f"exec {M} index build --vectors {base} --kind flat --metric ip --out {W}/hnsw_flat_baseline.index",
                         shell=True, stdout=subprocess.PIPE, text=True)
    p.stdout.read()
    _, status, ru_flat = os.wait4(p.pid, 0)
    m_index_mb = (statistics.median(mrss) - ru_flat.ru_maxrss) / 1024 + xb.nbytes / 2**20
    before = rss_kb()
    fidx = faiss.IndexHNSWFlat(a.dim, a.m, faiss.METRIC_INNER_PRODUCT)
    fidx.hnsw.efConstruction = a.ef_construction
    t, c = time.perf_counter(), time.process_time()
    fidx.add(xb)
    fb, fbc = time.perf_counter() - t, time.process_time() - c
    f_index_mb = (rss_kb() - before) / 1024
    theirs = f"{W}/hnsw_faiss.index"
    faiss.write_index(fidx, theirs)

    def m_run(queries, batch, ef, out):
        o = sh(f"{M} index search --index {ours} --queries {queries} --k {K} --threads 2 --batch-size {batch} "
               f"--ef-search {ef} --out {W}/{out}")
        return field(o, "queries/s"), read_vecs(f"{W}/{out}", np.int32)

    def f_run(q, batch, ef):
        fidx.hnsw.efSearch = ef
        def run():
            return np.vstack([fidx.search(q[s:s + batch], K)[1] for s in range(0, len(q), batch)])
        run()  # warm-up
        t = time.perf_counter(); I = run(); el = time.perf_counter() - t
        return len(q) / el, I

    # ---- efSearch sweep: recall of each engine on its own graph ----
    sweep = []
    for ef in EFS:
        mq, mI = m_run(qf, a.nq, ef, "hnsw_sweep.ivecs")
        fq, fI = f_run(xq, a.nq, ef)
        sweep.append((ef, recall(mI, gt), recall(fI, gt), mq, fq))
        print(f"ef {ef:4d}: recall membed {sweep[-1][1]:.4f} faiss {sweep[-1][2]:.4f}   batch q/s membed {mq:.0f} faiss {fq:.0f}", flush=True)

    def pick(col, target):
        for row in sweep:
            if row[col] >= target:
                return row[0]
        return None

    rows = []
    for target in TARGETS:
        em, ef_ = pick(1, target), pick(2, target)
        if em is None or ef_ is None:
            rows.append((target, em, ef_, None, None, None, None))
            continue
        mb_, fb_, ms_, fs_ = [], [], [], []
        for _ in range(R):
            mb_.append(m_run(qf, a.nq, em, "hnsw_b.ivecs")[0]); fb_.append(f_run(xq, a.nq, ef_)[0])
            q1, I1 = m_run(q1f, 1, em, "hnsw_s.ivecs"); ms_.append(q1)
            f1, F1 = f_run(xq1, 1, ef_); fs_.append(f1)
        rows.append((target, em, ef_, statistics.median(mb_), statistics.median(fb_), statistics.median(ms_), statistics.median(fs_)))

    # ---- interop on the benchmark data: FAISS searches membed's file and agrees with membed ----
    theirs_view = faiss.read_index(ours)
    theirs_view.hnsw.efSearch = 64
    _, mI64 = m_run(qf, a.nq, 64, "hnsw_interop.ivecs")
    agree = recall(theirs_view.search(xq, K)[1], mI64)

    load_end = os.getloadavg()
    print()
    print(f"## HNSW: membed vs FAISS IndexHNSWFlat, {a.n} x {a.dim}, M {a.m}, efConstruction {a.ef_construction}, inner product, 2 threads")
    print(f"(faiss {faiss.__version__}; load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at end; q/s medians of {R} alternating runs)")
    print()
    print("| operation | membed | FAISS | membed / FAISS |")
    print("|---|---|---|---|")
    print(f"| build, wall (s) | {statistics.median(mb):.1f} | {fb:.1f} | {fb / statistics.median(mb):.2f}x faster |")
    print(f"| build, process CPU (s) | {statistics.median(mbc):.1f} | {fbc:.1f} | {fbc / statistics.median(mbc):.2f}x less CPU |")
    print(f"| index memory (MB) | {m_index_mb:.0f} | {f_index_mb:.0f} | {f_index_mb / max(m_index_mb, 1e-9):.2f}x less |")
    print(f"| index file (MB) | {os.path.getsize(ours) / 2**20:.1f} | {os.path.getsize(theirs) / 2**20:.1f} | |")
    for (target, em, ef_, mbq, fbq, msq, fsq) in rows:
        if mbq is None:
            print(f"| recall@10 ≥ {target:.2f} | {'ef ' + str(em) if em else 'not reached'} | {'ef ' + str(ef_) if ef_ else 'not reached'} | (up to efSearch {EFS[-1]}) |")
            continue
        print(f"| recall@10 ≥ {target:.2f}, batch of {a.nq} (q/s) | {mbq:.0f} (ef {em}) | {fbq:.0f} (ef {ef_}) | {mbq / fbq:.2f} |")
        print(f"| recall@10 ≥ {target:.2f}, one query at a time (q/s) | {msq:.0f} (ef {em}) | {fsq:.0f} (ef {ef_}) | {msq / fsq:.2f} |")
    print()
    print("efSearch sweep (recall@10 each on its own graph; batch q/s of the single sweep run):")
    print()
    print("| efSearch | recall membed | recall FAISS | q/s membed | q/s FAISS |")
    print("|---|---|---|---|---|")
    for ef, rm, rf, mq, fq in sweep:
        print(f"| {ef} | {rm:.4f} | {rf:.4f} | {mq:.0f} | {fq:.0f} |")
    print()
    print(f"FAISS searching membed's file at efSearch 64 returns {agree:.4f} of membed's top-10.")


if __name__ == "__main__":
    main()
