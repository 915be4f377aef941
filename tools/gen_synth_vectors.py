#!/usr/bin/python3
"""Writes tests/fixtures/synth/: the first values of SplitMix64 and of its normal sampler, and small clustered data
sets, generated from the written specification below (not from the C# code), so the tests of
ManagedEmbed.Kernels.SplitMix64, ManagedEmbed.Index.SyntheticVectors and `membed data synth` compare against an
independent implementation.

Specification (README "Synthetic data", and the XML docs of SplitMix64 / SyntheticVectors):
  SplitMix64 (Steele, Lea, Flood 2014), state s (uint64):
      s += 0x9E3779B97F4A7C15; z = s
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB; return z ^ (z >> 31)
  NextBelow(b): limit = 2^64-1 - (2^64-1) % b; draw until v < limit; return v % b
  NextNormal(): u = Next(); a0..a3 = the four 16-bit chunks of u (low first);
      s2 = 2 * (a0 + a1 + a2 + a3) + 4; return (s2 - 4 * 65536) / 131072.0 * sqrt(3.0)     (double, IEEE)
      (Irwin-Hall with 4 terms: mean 0, variance 1; only correctly rounded operations, so every machine agrees)
  Normalize(v): s = 0.0; for x in v: s += x * x (double, in index order); r = sqrt(s);
      out[j] = float32(v[j] / r), or all zeros when s == 0
  Clustered(n, dim, clusters, seed, center_seed, spread):
      a seed is a signed 64-bit integer taken as its two's-complement uint64
      centres: g = SplitMix64(center_seed); for c in 0..clusters-1: centre[c] = Normalize([g.NextNormal() for j in 0..dim-1])
      sigma = spread / sqrt(dim) (double)
      rows: r = SplitMix64(seed); for i in 0..n-1: c = r.NextBelow(clusters);
            row[i] = Normalize([double(centre[c][j]) + sigma * r.NextNormal() for j in 0..dim-1])

  /usr/bin/python3 tools/gen_synth_vectors.py          # writes the fixtures
  /usr/bin/python3 tools/gen_synth_vectors.py --check  # regenerates in memory and compares with the committed files
"""
import json
import math
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "tests", "fixtures", "synth")
M64 = (1 << 64) - 1
SQRT3 = math.sqrt(3.0)


class SplitMix64:
    def __init__(self, seed):
        self.s = seed & M64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def next_below(self, bound):
        limit = M64 - M64 % bound
        while True:
            v = self.next()
            if v < limit:
                return v % bound

    def next_normal(self):
        u = self.next()
        s2 = 2 * ((u & 0xFFFF) + ((u >> 16) & 0xFFFF) + ((u >> 32) & 0xFFFF) + (u >> 48)) + 4
        return float(s2 - 4 * 65536) / 131072.0 * SQRT3


def normalize(v):
    s = 0.0
    for x in v:
        s += x * x
    if s == 0.0:
        return np.zeros(len(v), dtype=np.float32)
    r = math.sqrt(s)
    return np.array([x / r for x in v], dtype=np.float64).astype(np.float32)


def clustered(n, dim, clusters, seed, center_seed, spread):
    g = SplitMix64(center_seed)
    centres = [normalize([g.next_normal() for _ in range(dim)]) for _ in range(clusters)]
    sigma = spread / math.sqrt(dim)
    r = SplitMix64(seed)
    rows = np.zeros((n, dim), dtype=np.float32)
    for i in range(n):
        c = r.next_below(clusters)
        rows[i] = normalize([float(centres[c][j]) + sigma * r.next_normal() for j in range(dim)])
    return rows


def fvecs(rows):
    out = bytearray()
    for row in rows:
        out += struct.pack("<i", len(row)) + row.astype("<f4").tobytes()
    return bytes(out)


# (file name, n, dim, clusters, seed, center_seed, spread): `membed data synth` arguments of each data set.
DATASETS = [
    ("clustered-n40-d12-c3-s7.fvecs", 40, 12, 3, 7, 42, 2.0),
    ("clustered-n6-d5-c2-sneg3-cs9-spread0.5.fvecs", 6, 5, 2, -3, 9, 0.5),
]


def generate():
    files = {}
    seq = {}
    for seed in (0, 1, 42, -1):
        g = SplitMix64(seed)
        seq[str(seed)] = ["%016x" % g.next() for _ in range(8)]
    g = SplitMix64(123)
    normals = ["%016x" % struct.unpack("<Q", struct.pack("<d", g.next_normal()))[0] for _ in range(16)]
    g = SplitMix64(5)
    below = [g.next_below(7) for _ in range(16)]
    files["splitmix64.json"] = (json.dumps({
        "about": "tools/gen_synth_vectors.py: SplitMix64 outputs (hex) per seed, NextNormal() of seed 123 as IEEE double bits (hex), NextBelow(7) of seed 5",
        "next": seq,
        "normal_seed_123_bits": normals,
        "below7_seed_5": below,
    }, indent=1) + "\n").encode()
    for name, n, dim, clusters, seed, cseed, spread in DATASETS:
        files[name] = fvecs(clustered(n, dim, clusters, seed, cseed, spread))
    return files


def main():
    files = generate()
    if "--check" in sys.argv:
        bad = [k for k, v in files.items() if open(os.path.join(OUT, k), "rb").read() != v]
        print("differs: " + ", ".join(bad) if bad else "all %d fixtures equal a fresh generation" % len(files))
        sys.exit(1 if bad else 0)
    os.makedirs(OUT, exist_ok=True)
    for k, v in files.items():
        with open(os.path.join(OUT, k), "wb") as f:
            f.write(v)
        print("wrote", os.path.join(OUT, k), len(v), "bytes")


if __name__ == "__main__":
    main()
