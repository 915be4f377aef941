#!/usr/bin/python3
"""Writes tests/fixtures/quant/quant.json: sentence-transformers' quantize_embeddings semantics and the
quantized-search-with-rescoring recipe on seeded data, computed with numpy only (an independent reference, written from
the published semantics of sentence_transformers/quantization.py, not from our C#):
  * int8 / uint8: ranges = [min, max] per dimension from `calibration_embeddings` (or given, or from the embeddings
    themselves); starts = ranges[0]; steps = (ranges[1] - ranges[0]) / 255, all float32; uint8 = ((x - starts) /
    steps).astype(uint8), int8 = ((x - starts) / steps - 128).astype(int8): truncation toward zero and numpy's cast
    (out-of-range values wrap modulo 256 on x86; no clipping);
  * binary = (packbits(x > 0) - 128).astype(int8) (uint8 wrap arithmetic), ubinary = packbits(x > 0), big-endian bits;
  * search: a first pass keeps k * multiplier candidates by (Hamming distance ascending | int8.int8 dot descending),
    ties to the lower id (stable sort); they are rescored with the float query against the float documents, or
    against int8 documents dequantized to bucket centres x^ = min + (code + 128.5) * step; the top k by score, ties
    to the lower id.
  /usr/bin/python3 tools/gen_quant_fixtures.py [--check]
"""
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "fixtures", "quant", "quant.json")


def quantize(emb, precision, ranges=None, calibration=None):
    emb = np.asarray(emb, dtype=np.float32)
    if precision in ("int8", "uint8"):
        if ranges is None:
            src = calibration if calibration is not None else emb
            ranges = np.vstack((src.min(axis=0), src.max(axis=0)))
        starts = ranges[0, :]
        steps = (ranges[1, :] - ranges[0, :]) / np.float32(255)
        t = (emb - starts) / steps
        if precision == "int8":
            return (t - np.float32(128)).astype(np.int8)
        return t.astype(np.uint8)
    bits = np.packbits(emb > 0).reshape(emb.shape[0], -1)
    if precision == "binary":
        return (bits - 128).astype(np.int8)
    return bits


def top(keys, k):
    # Best first by key descending, ties to the lower id: a stable sort of -keys.
    order = np.argsort(-keys, kind="stable")[:k]
    return order


def search(corpus, queries, k, mult, first, rescore):
    ranges = np.vstack((corpus.min(axis=0), corpus.max(axis=0))).astype(np.float32)
    steps = ((ranges[1] - ranges[0]) / np.float32(255)).astype(np.float64)
    int8_docs = quantize(corpus, "int8", ranges=ranges).astype(np.int64)
    ubin_docs = np.unpackbits(quantize(corpus, "ubinary"), axis=1).astype(np.int64)
    out = []
    for q in queries:
        if first == "binary":
            qb = (q > 0).astype(np.int64)
            keys = -np.abs(ubin_docs - qb).sum(axis=1).astype(np.float64)
        else:
            qi = quantize(q[None, :], "int8", ranges=ranges)[0].astype(np.int64)
            keys = (int8_docs @ qi).astype(np.float64)
        n_cand = k if rescore == "none" else k * mult
        cand = top(keys, min(n_cand, len(corpus)))
        if rescore == "none":
            ids, scores = cand[:k], keys[cand[:k]]
        else:
            if rescore == "float32":
                s = corpus[cand].astype(np.float64) @ q.astype(np.float64)
            else:
                xhat = ranges[0].astype(np.float64) + (int8_docs[cand] + 128.5) * steps
                s = xhat @ q.astype(np.float64)
            # Rank the candidates by score; equal scores keep the lower id.
            order = np.lexsort((cand, -s))[:k]
            ids, scores = cand[order], s[order]
        out.append({"ids": [int(i) for i in ids], "scores": [float(v) for v in scores]})
    return out


def floats(a):
    return [[float(v) for v in row] for row in np.asarray(a, dtype=np.float32)]


def build():
    rng = np.random.default_rng(15)
    dim = 24
    calib = rng.normal(0, 0.2, (64, dim)).astype(np.float32)
    emb = rng.normal(0, 0.2, (12, dim)).astype(np.float32)
    emb[0, :] = calib.max(axis=0)              # exactly the top of the range: bucket 255 / 127 (or 254 by rounding)
    emb[1, :] = calib.min(axis=0)              # exactly the bottom: 0 / -128
    emb[2, :] = calib.max(axis=0) + 0.05       # beyond the calibrated range: numpy wraps
    emb[3, :] = calib.min(axis=0) - 0.05
    emb[4, :6] = 0.0                           # the sign threshold: 0 is not > 0
    given = np.vstack((np.full(dim, -0.5, np.float32), np.full(dim, 0.5, np.float32)))
    cases = []
    for p in ("int8", "uint8", "binary", "ubinary"):
        cases.append({"precision": p, "ranges": "calibration", "codes": quantize(emb, p, calibration=calib).tolist()})
        if p in ("int8", "uint8"):
            cases.append({"precision": p, "ranges": "given", "codes": quantize(emb, p, ranges=given).tolist()})
            cases.append({"precision": p, "ranges": "self", "codes": quantize(emb, p).tolist()})
    # Search: unit vectors (cosine), clustered so the first pass matters.
    sdim, n = 64, 400
    centers = rng.normal(0, 1, (8, sdim))
    corpus = centers[rng.integers(0, 8, n)] + rng.normal(0, 0.7, (n, sdim))
    corpus = (corpus / np.linalg.norm(corpus, axis=1, keepdims=True)).astype(np.float32)
    queries = centers[rng.integers(0, 8, 6)] + rng.normal(0, 0.7, (6, sdim))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    searches = []
    for first in ("binary", "int8"):
        for rescore in ("int8", "float32", "none"):
            searches.append({"first": first, "rescore": rescore, "k": 5, "multiplier": 3,
                             "results": search(corpus, queries, 5, 3, first, rescore)})
    return {"quantize": {"dim": dim, "calibration": floats(calib), "embeddings": floats(emb), "given_ranges": floats(given),
                         "cases": cases},
            "search": {"dim": sdim, "corpus": floats(corpus), "queries": floats(queries), "searches": searches}}


def main():
    text = json.dumps(build(), separators=(",", ":")) + "\n"
    if "--check" in sys.argv:
        if open(OUT).read() != text:
            sys.exit(f"{OUT} differs from a fresh generation")
        return
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
