#!/usr/bin/python3
"""Accuracy of int8 weights against float32 on the same corpus (benchmarks/int8/run_accuracy.sh writes the inputs).

  accuracy.py --float FLOAT.fvecs --int8 INT8.fvecs [--db 10000] [--k 10]

Prints, for every sentence, the cosine of its int8 embedding to its float32 embedding (min, 1st percentile, mean);
then semantic search: the first --db sentences are the corpus, the remaining ones the queries; the top-k of each
query is computed by exact inner product (embeddings are L2-normalized) on the float32 vectors and on the int8
ones, and the overlap |top_k(float) ∩ top_k(int8)| / k is averaged (and its minimum shown).
"""
import argparse

import numpy as np


def fvecs(path):
    a = np.fromfile(path, dtype=np.int32)
    d = int(a[0])
    return a.reshape(-1, d + 1)[:, 1:].view(np.float32).copy()


def topk(db, q, k):
    s = q @ db.T
    idx = np.argpartition(-s, k, axis=1)[:, :k]
    return [set(r) for r in idx]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--float", required=True)
    ap.add_argument("--int8", required=True)
    ap.add_argument("--db", type=int, default=10000)
    ap.add_argument("--k", type=int, default=10)
    a = ap.parse_args()
    f, q = fvecs(a.float), fvecs(a.int8)
    if f.shape != q.shape:
        raise SystemExit(f"shapes differ: {f.shape} vs {q.shape}")
    n = len(f)
    cos = (f * q).sum(1) / np.linalg.norm(f, axis=1) / np.linalg.norm(q, axis=1)
    print(f"sentences: {n}, dimension {f.shape[1]}")
    print(f"cosine int8 vs float32: min {cos.min():.4f}, p1 {np.percentile(cos, 1):.4f}, mean {cos.mean():.4f}")
    if n <= a.db:
        raise SystemExit(f"need more than --db {a.db} sentences for queries")
    tf = topk(f[:a.db], f[a.db:], a.k)
    tq = topk(q[:a.db], q[a.db:], a.k)
    ov = np.array([len(x & y) / a.k for x, y in zip(tf, tq)])
    print(f"top-{a.k} overlap over {a.db} sentences, {n - a.db} queries: mean {ov.mean():.4f}, min {ov.min():.2f}, "
          f"identical sets {np.mean(ov == 1.0):.1%}")


if __name__ == "__main__":
    main()
