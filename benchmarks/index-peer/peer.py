"""membed vs FAISS on the same files. Run through run.sh (Debian's /usr/bin/python3 with python3-faiss).

Every timing is the median of --reps runs; each run does one untimed warm-up pass first (membed's `index search`
does the same internally). FAISS uses 2 OpenMP threads, membed --threads 2.
"""
import argparse, os, platform, shlex, statistics, subprocess, sys, time
import numpy as np
import faiss

K = 10


def read_vecs(path, dtype):
    a = np.fromfile(path, dtype=np.int32)
    d = a[0]
    return a.reshape(-1, d + 1)[:, 1:].copy().view(dtype)


def write_ivecs(path, I):
    I = np.asarray(I, dtype=np.int32)
    np.hstack([np.full((I.shape[0], 1), I.shape[1], np.int32), I]).tofile(path)


def sh(cmd):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"command failed: {cmd}\n{r.stderr}")
    return r.stdout


def field(out, name):
    for line in out.splitlines():
        if line.startswith(name + ":"):
            return float(line.split(":", 1)[1])
    sys.exit(f"no '{name}' in output:\n{out}")


def recall(I, gt):
    return float(np.mean([len(set(a[:K]) & set(b[:K])) / K for a, b in zip(I, gt)]))


def faiss_qps(index, q, batch, reps, nprobe=None):
    if nprobe is not None:
        faiss.extract_index_ivf(index).nprobe = nprobe
    def run():
        out = []
        for s in range(0, len(q), batch):
            out.append(index.search(q[s:s + batch], K)[1])
        return np.vstack(out)
    times = []
    for _ in range(reps):
        run()  # warm-up
        t = time.perf_counter(); I = run(); times.append(time.perf_counter() - t)
    return len(q) / statistics.median(times), I


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--membed", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--single-nq", type=int, default=200)
    a = ap.parse_args()
    faiss.omp_set_num_threads(2)
    load_start = os.getloadavg()
    M, W, R = a.membed, a.work, a.reps
    base, qf, q1f = f"{W}/base.fvecs", f"{W}/queries.fvecs", f"{W}/queries_single.fvecs"
    nlist = int(4 * np.sqrt(a.n))
    if not os.path.exists(base):
        sh(f"{M} data synth --n {a.n} --dim {a.dim} --clusters 1000 --seed 1 --out {base}")
    sh(f"{M} data synth --n {a.nq} --dim {a.dim} --clusters 1000 --seed 2 --out {qf}")
    sh(f"{M} data synth --n {a.single_nq} --dim {a.dim} --clusters 1000 --seed 3 --out {q1f}")
    xb, xq, xq1 = read_vecs(base, np.float32), read_vecs(qf, np.float32), read_vecs(q1f, np.float32)

    rows = []  # (operation, membed, faiss, unit, ratio "membed is N x faster")

    cpu_est = {}  # operation key -> membed queries per (process CPU seconds / 2): its speed on 2 otherwise idle cores

    def m_once(index, queries, batch, nprobe=None, out="ids.ivecs"):
        extra = f" --nprobe {nprobe}" if nprobe else ""
        o = sh(f"{M} index search --index {index} --queries {queries} --k {K} --threads 2 "
               f"--batch-size {batch}{extra} --out {W}/{out}")
        n_q = len(read_vecs(f"{W}/{out}", np.int32))
        cpu_est.setdefault(out, []).append(n_q / max(field(o, "cpu_seconds") / 2, 1e-9))
        return field(o, "queries/s")

    def pair(index, fidx, queries, xqs, batch, nprobe=None, out="ids.ivecs"):
        """membed and FAISS alternately, R times each (both see the same machine load); medians and last ids."""
        ms, fs = [], []
        for _ in range(R):
            ms.append(m_once(index, queries, batch, nprobe, out))
            f, I_f = faiss_qps(fidx, xqs, batch, 1, nprobe)
            fs.append(f)
        return statistics.median(ms), read_vecs(f"{W}/{out}", np.int32), statistics.median(fs), I_f

    def m_search(index, queries, batch, nprobe=None, out="ids.ivecs"):
        return m_once(index, queries, batch, nprobe, out), read_vecs(f"{W}/{out}", np.int32)

    # ---- flat (both sides search membed's file) ----
    flat = f"{W}/flat.index"
    sh(f"{M} index build --vectors {base} --kind flat --metric ip --out {flat}")
    fflat = faiss.read_index(flat)
    m_b, m_gt, f_b, f_gt = pair(flat, fflat, qf, xq, a.nq, out="flat_batch.ivecs")
    agree = recall(m_gt, f_gt)
    m_1, _, f_1, _ = pair(flat, fflat, q1f, xq1, 1, out="flat_single.ivecs")
    rows.append(("flat, one query at a time (ms/query)", 1000 / m_1, 1000 / f_1, m_1 / f_1, None))
    rows.append((f"flat, batch of {a.nq} (q/s)", m_b, f_b, m_b / f_b, "flat_batch.ivecs"))
    gt = f_gt  # exact top-10 (FAISS flat); membed flat agrees at `agree`

    # ---- IVF train + add: each side trains its own index on the same base.fvecs ----
    ivf = f"{W}/ivf.index"
    tr, ad, trc, adc = [], [], [], []
    ftr, fad, ftrc = [], [], []
    for _ in range(R):
        out = sh(f"{M} index build --vectors {base} --kind ivf --nlist {nlist} --metric ip --seed 1234 --threads 2 --out {ivf}")
        tr.append(field(out, "train_seconds")); ad.append(field(out, "add_seconds"))
        trc.append(field(out, "train_cpu_seconds")); adc.append(field(out, "add_cpu_seconds"))
        quant = faiss.IndexFlatIP(a.dim)
        fivf = faiss.IndexIVFFlat(quant, a.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        t, c = time.perf_counter(), time.process_time(); fivf.train(xb)
        ftr.append(time.perf_counter() - t); ftrc.append(time.process_time() - c)
        t = time.perf_counter(); fivf.add(xb); fad.append(time.perf_counter() - t)
    fivf_path = f"{W}/ivf_faiss.index"
    faiss.write_index(fivf, fivf_path)
    mt, ma, ft, fa = map(statistics.median, (tr, ad, ftr, fad))
    rows.append((f"IVF nlist = {nlist}: train (s)", mt, ft, ft / mt, "train"))
    rows.append((f"IVF nlist = {nlist}: add (s)", ma, fa, fa / ma, "add"))
    cpu_est["train"] = [statistics.median(trc) / 2]
    cpu_est["add"] = [statistics.median(adc) / 2]

    # ---- IVF search on membed's index file, both sides ----
    fivf_ours = faiss.read_index(ivf)
    m_ib, m_I, f_ib, f_I = pair(ivf, fivf_ours, qf, xq, a.nq, nprobe=8, out="ivf_batch.ivecs")
    rows.append(("IVF search, nprobe = 8, batch (q/s)", m_ib, f_ib, m_ib / f_ib, "ivf_batch.ivecs"))
    m_is, _, f_is, _ = pair(ivf, fivf_ours, qf, xq, 1, nprobe=8, out="ivf_single.ivecs")
    rows.append(("IVF search, nprobe = 8, single (q/s)", m_is, f_is, m_is / f_is, "ivf_single.ivecs"))

    # ---- recall@10 vs nprobe: each side on its own trained index, and both on membed's file ----
    curve = []
    for nprobe in [1, 2, 4, 8, 16, 32, 64]:
        _, I_m = m_search(ivf, qf, a.nq, nprobe=nprobe, out="curve.ivecs")
        fivf.nprobe = nprobe
        I_f = fivf.search(xq, K)[1]
        fivf_ours.nprobe = nprobe
        I_fo = fivf_ours.search(xq, K)[1]
        curve.append((nprobe, recall(I_m, gt), recall(I_f, gt), recall(I_fo, gt)))

    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip(); break
    print(f"machine: {cpu}, {os.cpu_count()} cores; FAISS {faiss.__version__} (2 OpenMP threads); membed --threads 2")
    print(f"data: {a.n} x {a.dim} clustered unit vectors, {a.nq} queries ({a.single_nq} for single-query flat), k = {K}, "
          f"metric IP, medians of {R} runs")
    print(f"load average (1/5/15 min) at start {load_start[0]:.1f}/{load_start[1]:.1f}/{load_start[2]:.1f}, "
          f"at end {os.getloadavg()[0]:.1f}/{os.getloadavg()[1]:.1f}/{os.getloadavg()[2]:.1f}")
    print(f"membed flat vs FAISS flat top-10 agreement: {agree:.4f}")
    floor_ms = a.n * a.dim * 4 / 17.8e9 * 1000
    print()
    print("| operation | membed | FAISS | membed speed-up | membed from CPU time (2 idle cores) |")
    print("|---|---:|---:|---:|---:|")
    for name, m, f, r, key in rows:
        est = f"{statistics.median(cpu_est[key]):,.2f}" if key in cpu_est else "–"
        print(f"| {name} | {m:,.2f} | {f:,.2f} | {r:.2f}x | {est} |")
    print()
    print(f"process CPU seconds (median): membed train {statistics.median(trc):.2f}, add {statistics.median(adc):.2f}; "
          f"FAISS train {statistics.median(ftrc):.2f} (FAISS's includes OpenMP spin-waiting)")
    print(f"flat single query: {1000 / m_1:.2f} ms vs bandwidth floor {floor_ms:.2f} ms (17.8 GB/s) = {1000 / m_1 / floor_ms:.2f}x the floor")
    print()
    print("| nprobe | recall@10 membed (own index) | recall@10 FAISS (own index) | recall@10 FAISS on membed's file |")
    print("|---:|---:|---:|---:|")
    for nprobe, rm, rf, rfo in curve:
        print(f"| {nprobe} | {rm:.4f} | {rf:.4f} | {rfo:.4f} |")


if __name__ == "__main__":
    main()
