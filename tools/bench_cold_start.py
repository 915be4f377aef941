#!/usr/bin/env python3
"""Cold start of the membed binary: process start -> first embedding of one short text (issue 6, issue 16 item 3).

Runs every case N times, interleaved (run i of every case, then run i+1, so a change in the machine's load hits all
cases alike), after 2 untimed warm-up rounds that fill the page cache; reports the median and min wall time, CPU time
(user+sys) and peak RSS of each child (os.wait4 rusage). Usage:
  tools/bench_cold_start.py BINARY MODEL_DIR [--runs N] [--baseline BINARY2] [--ort ONNX_FILE --peerbench PEERBENCH]
MODEL_DIR is a MiniLM-shaped synthetic model: membed model synth --config ../shared/models/all-MiniLM-L6-v2/config.json
--vocab ../shared/models/all-MiniLM-L6-v2/vocab.txt --seed 1 --out MODEL_DIR
With --ort, ONNX Runtime's cold start on the same model's ONNX export (tools/export_onnx.py --model MODEL_DIR --out
ONNX_FILE) runs as one more case: PEERBENCH (benchmarks/ManagedEmbed.PeerBench's built executable) --ort-cold-start
reads the same text, tokenizes it, creates the session, runs it and pools, in a fresh process per run; the ratios
membed / ORT of the medians (wall, CPU) and of peak RSS are printed, and ORT's in-process split (session creation,
first run) from its stderr. --baseline adds the embed cases of a second binary (e.g. the previous commit's), interleaved
with the others.
"""
import argparse, os, re, statistics, subprocess, time

def run_once(cmd, stdin):
    """Wall ms, CPU (user+sys) ms, peak RSS KiB and stderr of one run."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if stdin:
        p.stdin.write(stdin)
    p.stdin.close()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = (time.perf_counter() - t) * 1000
    if status != 0:
        raise SystemExit(f"{cmd} failed with status {status}: {err.decode(errors='replace')}")
    return wall, (ru.ru_utime + ru.ru_stime) * 1000, ru.ru_maxrss, err.decode(errors="replace")

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("model")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--ort", help="ONNX export of MODEL_DIR: add ONNX Runtime's cold start as a case")
    ap.add_argument("--peerbench", help="the ManagedEmbed.PeerBench executable (with --ort)")
    ap.add_argument("--baseline", help="a second membed binary whose embed cases run interleaved with these")
    a = ap.parse_args()
    if a.ort and not a.peerbench:
        raise SystemExit("--ort needs --peerbench PEERBENCH")
    text = b"The cat sat on the mat.\n"
    cases = [
        ("process only (membed --version)", [a.binary, "--version"], None),
        ("tokenize one text (tokenizer only)", [a.binary, "tokenize", "--model", a.model], text),
        ("embed one text, 1 thread", [a.binary, "embed", "--model", a.model, "--threads", "1"], text),
        ("embed one text (default threads)", [a.binary, "embed", "--model", a.model], text),
    ]
    if a.baseline:
        cases += [
            ("baseline: embed one text, 1 thread", [a.baseline, "embed", "--model", a.model, "--threads", "1"], text),
            ("baseline: embed one text (default threads)", [a.baseline, "embed", "--model", a.model], text),
        ]
    if a.ort:
        cases.append(("ORT: session + first embedding, 1 thread", [a.peerbench, "--ort-cold-start", a.model, a.ort], text))
    print(f"binary: {a.binary} ({os.path.getsize(a.binary):,} bytes); model: {a.model}; runs: {a.runs} (interleaved)")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    results = {name: [] for name, _, _ in cases}
    ort_split = []
    for i in range(a.runs + 2):
        for name, cmd, stdin in cases:
            r = run_once(cmd, stdin)
            if i >= 2:
                results[name].append(r)
                m = re.search(r"session_ms=([\d.]+) first_run_ms=([\d.]+)", r[3])
                if m:
                    ort_split.append((float(m.group(1)), float(m.group(2))))
    if a.baseline:
        print(f"baseline: {a.baseline} ({os.path.getsize(a.baseline):,} bytes)")
    print(f"{'case':45} {'wall median ms':>14} {'wall min ms':>11} {'CPU median ms':>13} {'peak RSS MiB':>12}")
    for name, _, _ in cases:
        r = results[name]
        print(f"{name:45} {statistics.median(x[0] for x in r):14.1f} {min(x[0] for x in r):11.1f} "
              f"{statistics.median(x[1] for x in r):13.1f} {max(x[2] for x in r) / 1024:12.1f}")
    if a.ort:
        ort = results[cases[-1][0]]
        for name in (cases[2][0], cases[3][0]):
            ours = results[name]
            print(f"membed / ORT, {name}: wall median {statistics.median(x[0] for x in ours) / statistics.median(x[0] for x in ort):.2f}, "
                  f"CPU median {statistics.median(x[1] for x in ours) / statistics.median(x[1] for x in ort):.2f}, "
                  f"peak RSS {max(x[2] for x in ours) / max(x[2] for x in ort):.2f}")
        if ort_split:
            print(f"ORT in process (medians): session creation {statistics.median(s for s, _ in ort_split):.1f} ms, "
                  f"first run {statistics.median(f for _, f in ort_split):.1f} ms")
    print(f"load average after: {os.getloadavg()[0]:.1f}")

if __name__ == "__main__":
    main()
