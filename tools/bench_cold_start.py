#!/usr/bin/env python3
"""Cold start of the membed binary: process start -> first embedding of one short text (issue 6).

Runs each command N times (after 2 untimed warm-ups that fill the page cache), reports the median and min wall time,
and the peak RSS from /usr/bin/time. Usage:
  tools/bench_cold_start.py BINARY MODEL_DIR [--runs N]
MODEL_DIR is a MiniLM-shaped synthetic model: membed model synth --config ../shared/models/all-MiniLM-L6-v2/config.json
--vocab ../shared/models/all-MiniLM-L6-v2/vocab.txt --seed 1 --out MODEL_DIR
"""
import argparse, os, statistics, subprocess, time

def timed(cmd, stdin, runs):
    out = []
    for i in range(runs + 2):
        t = time.perf_counter()
        subprocess.run(cmd, input=stdin, stdout=subprocess.DEVNULL, check=True)
        if i >= 2:
            out.append((time.perf_counter() - t) * 1000)
    return out

def peak_rss_kb(cmd, stdin):
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    return int(r.stderr.decode().strip().splitlines()[-1])

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("model")
    ap.add_argument("--runs", type=int, default=30)
    a = ap.parse_args()
    text = b"The cat sat on the mat.\n"
    cases = [
        ("process only (membed --version)", [a.binary, "--version"], None),
        ("tokenize one text (config + vocab load)", [a.binary, "tokenize", "--model", a.model], text),
        ("embed one text, 1 thread", [a.binary, "embed", "--model", a.model, "--threads", "1"], text),
        ("embed one text (default threads)", [a.binary, "embed", "--model", a.model], text),
    ]
    print(f"binary: {a.binary} ({os.path.getsize(a.binary):,} bytes); model: {a.model}; runs: {a.runs}")
    print(f"{'case':45} {'median ms':>10} {'min ms':>8} {'peak RSS MiB':>13}")
    for name, cmd, stdin in cases:
        ts = timed(cmd, stdin, a.runs)
        rss = max(peak_rss_kb(cmd, stdin) for _ in range(3)) / 1024
        print(f"{name:45} {statistics.median(ts):10.1f} {min(ts):8.1f} {rss:13.1f}")

if __name__ == "__main__":
    main()
