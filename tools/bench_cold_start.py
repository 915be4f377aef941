#!/usr/bin/env python3
"""Cold start of the membed binary: process start -> first embedding of one short text (issue 6).

Runs each command N times (after 2 untimed warm-ups that fill the page cache), reports the median and min wall time,
CPU time (user+sys) and peak RSS of the child (rusage). Usage:
  tools/bench_cold_start.py BINARY MODEL_DIR [--runs N]
MODEL_DIR is a MiniLM-shaped synthetic model: membed model synth --config ../shared/models/all-MiniLM-L6-v2/config.json
--vocab ../shared/models/all-MiniLM-L6-v2/vocab.txt --seed 1 --out MODEL_DIR
"""
import argparse, os, statistics, subprocess, time

def timed(cmd, stdin, runs):
    """Wall ms, CPU (user+sys) ms and peak RSS KiB of each run (os.wait4 rusage of the child)."""
    out = []
    for i in range(runs + 2):
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        if stdin:
            p.stdin.write(stdin)
        p.stdin.close()
        _, status, ru = os.wait4(p.pid, 0)
        wall = (time.perf_counter() - t) * 1000
        if status != 0:
            raise SystemExit(f"{cmd} failed with status {status}")
        if i >= 2:
            out.append((wall, (ru.ru_utime + ru.ru_stime) * 1000, ru.ru_maxrss))
    return out

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("model")
    ap.add_argument("--runs", type=int, default=30)
    a = ap.parse_args()
    text = b"The cat sat on the mat.\n"
    cases = [
        ("process only (membed --version)", [a.binary, "--version"], None),
        ("tokenize one text (tokenizer only since the lazy-packing change)", [a.binary, "tokenize", "--model", a.model], text),
        ("embed one text, 1 thread", [a.binary, "embed", "--model", a.model, "--threads", "1"], text),
        ("embed one text (default threads)", [a.binary, "embed", "--model", a.model], text),
    ]
    print(f"binary: {a.binary} ({os.path.getsize(a.binary):,} bytes); model: {a.model}; runs: {a.runs}")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"{'case':45} {'wall median ms':>14} {'wall min ms':>11} {'CPU median ms':>13} {'peak RSS MiB':>12}")
    for name, cmd, stdin in cases:
        r = timed(cmd, stdin, a.runs)
        print(f"{name:45} {statistics.median(x[0] for x in r):14.1f} {min(x[0] for x in r):11.1f} "
              f"{statistics.median(x[1] for x in r):13.1f} {max(x[2] for x in r) / 1024:12.1f}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")

if __name__ == "__main__":
    main()
