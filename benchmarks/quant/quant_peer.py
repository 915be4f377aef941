#!/usr/bin/python3
"""Quantized embeddings with rescoring: membed (QuantizedIndex, via the ManagedEmbed.Benchmarks `quant` harness) vs
FAISS (Debian python3-faiss: IndexFlatIP, IndexBinaryFlat, IndexScalarQuantizer QT_8bit) on the same vectors.
recall@10 is against float32 exact inner-product search (FAISS IndexFlatIP). Both sides use 2 threads; q/s is the
median of --reps batch searches of all queries after a warm-up.

  /usr/bin/python3 benchmarks/quant/quant_peer.py --vectors all.fvecs --nq 1000 --work /tmp/quant-bench \
      --bench "dotnet benchmarks/ManagedEmbed.Benchmarks/bin/Release/net10.0/ManagedEmbed.Benchmarks.dll"
The last --nq vectors are the queries, the rest the corpus. FAISS's binary row rescoring follows
sentence-transformers' semantic_search_faiss recipe (Hamming top k*multiplier, then float query . int8 documents).
"""
import argparse, os, statistics, subprocess, sys, time
import numpy as np
import faiss

K = 10


def read_fvecs(path):
    a = np.fromfile(path, dtype=np.int32)
    d = a[0]
    return a.reshape(-1, d + 1)[:, 1:].copy().view(np.float32)


def write_vecs(path, x):
    x = np.ascontiguousarray(x)
    np.hstack([np.full((x.shape[0], 1), x.shape[1], np.int32), x.view(np.int32)]).tofile(path)


def recall(I, gt):
    return float(np.mean([len(set(a[:K]) & set(b[:K])) / K for a, b in zip(I, gt)]))


def timed(fn, reps):
    out = fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return out, statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vectors", required=True)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--work", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--multiplier", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    faiss.omp_set_num_threads(2)
    os.makedirs(a.work, exist_ok=True)
    x = read_fvecs(a.vectors)
    xb, xq = np.ascontiguousarray(x[:-a.nq]), np.ascontiguousarray(x[-a.nq:])
    n, d = xb.shape
    load0 = os.getloadavg()[0]
    flat = faiss.IndexFlatIP(d); flat.add(xb)
    (_, gt), t_flat = timed(lambda: flat.search(xq, K), a.reps)
    base, qf, gtf = f"{a.work}/base.fvecs", f"{a.work}/queries.fvecs", f"{a.work}/gt.ivecs"
    write_vecs(base, xb); write_vecs(qf, xq); write_vecs(gtf, gt.astype(np.int32))

    rows = [("float32 exact", "FAISS IndexFlatIP", 1.0, len(xq) / t_flat, d * 4)]
    # Binary: Hamming over packbits(x > 0).
    ub = np.packbits(xb > 0, axis=1); uq = np.packbits(xq > 0, axis=1)
    bin_ix = faiss.IndexBinaryFlat(d); bin_ix.add(ub)
    (_, I), t = timed(lambda: bin_ix.search(uq, K), a.reps)
    rows.append(("binary, no rescoring", "FAISS IndexBinaryFlat", recall(I, gt), len(xq) / t, d // 8))
    # Binary + int8 rescoring, the sentence-transformers recipe (int8 ranges calibrated on the corpus).
    lo, hi = xb.min(axis=0), xb.max(axis=0)
    steps = (hi - lo) / np.float32(255)
    i8 = ((xb - lo) / steps - np.float32(128)).astype(np.int8)
    centre = lo + np.float32(128.5) * steps
    def bin_rescore():
        _, cand = bin_ix.search(uq, K * a.multiplier)
        w = xq * steps                                     # q . x^ = q . centre + (q * step) . code
        s = np.einsum("qd,qkd->qk", w, i8[cand].astype(np.float32)) + (xq @ centre)[:, None]
        order = np.argsort(-s, axis=1, kind="stable")[:, :K]
        return np.take_along_axis(cand, order, axis=1)
    I, t = timed(bin_rescore, a.reps)
    rows.append((f"binary + int8 rescore x{a.multiplier}", "FAISS IndexBinaryFlat + numpy rescore", recall(I, gt), len(xq) / t, d // 8 + d))
    # int8: FAISS's 8-bit scalar quantizer (per-dimension min/max ranges, asymmetric float query . decoded codes).
    sq = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    sq.train(xb); sq.add(xb)
    (_, I), t = timed(lambda: sq.search(xq, K), a.reps)
    rows.append(("int8 (scalar quantizer)", "FAISS IndexScalarQuantizer QT_8bit", recall(I, gt), len(xq) / t, sq.code_size))

    r = subprocess.run(f"{a.bench} quant {base} {qf} {gtf} {K} {a.multiplier} {a.reps} 2", shell=True, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"membed harness failed:\n{r.stderr}{r.stdout}")
    membed = [l.split("|") for l in r.stdout.splitlines() if l.count("|") == 3]
    load1 = os.getloadavg()[0]
    print(f"corpus {n} x {d}, {len(xq)} queries, k={K}, rescore multiplier {a.multiplier}, 2 threads; load average {load0:.1f} -> {load1:.1f}")
    print()
    print("| engine | configuration | recall@10 | q/s | bytes/vector |")
    print("|---|---|---:|---:|---:|")
    for name, rec, qps, by in membed:
        print(f"| membed | {name} | {float(rec):.3f} | {float(qps):,.0f} | {by} |")
    for name, eng, rec, qps, by in rows:
        print(f"| {eng} | {name} | {rec:.3f} | {qps:,.0f} | {by} |")


if __name__ == "__main__":
    main()
