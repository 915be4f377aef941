#!/usr/bin/python3
"""End-to-end check of the `membed` CLI against the encoder fixtures (the "membed embed reproduces the reference
outputs" criterion of issue 2). For each fixture: `membed model synth` with the fixture's arguments (SHA-256 must
match), then `membed tokenize` and `membed embed --format jsonl` (default batch size, --batch-size 1 and 7) on the fixture texts
that fit on one line, and compare ids (exact) and embeddings (max |Δ| ≤ 1e-5 when normalized, 1e-4 otherwise).

  /usr/bin/python3 tools/check_cli_parity.py --membed PATH [--shared ../shared] [--work DIR] [FIXTURE.json ...]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gen_fixtures  # noqa: E402

import numpy as np  # noqa: E402


def run(cmd, stdin_text):
    p = subprocess.run(cmd, input=stdin_text.encode("utf-8"), capture_output=True)
    if p.returncode != 0:
        raise SystemExit(f"check_cli_parity: {' '.join(cmd[1:3])} failed ({p.returncode}): "
                         f"{p.stderr.decode('utf-8', 'replace').strip()}")
    return p.stdout.decode("utf-8")


def check(membed, shared, work, path, real_dir=None):
    with open(path, encoding="utf-8") as f:
        fx = json.load(f)
    m = fx["model"]
    spec = dict(m, texts=None)
    if m.get("seed") is None:  # a real-model fixture: the model directory is given, its digest checked below
        if not real_dir:
            print(f"FAIL {m['name']}: a real-model fixture needs --real-minilm DIR")
            return False
        model_dir = real_dir
    else:
        model_dir = os.path.join(work, m["name"])
        gen_fixtures.synth(membed, spec, shared, model_dir)
    digest = gen_fixtures.sha256(os.path.join(model_dir, "model.safetensors"))
    if digest != m["safetensors_sha256"]:
        print(f"FAIL {m['name']}: synthesized model.safetensors sha256 {digest} != fixture {m['safetensors_sha256']}")
        return False
    cases = [c for c in fx["cases"] if "\n" not in c["text"] and "\r" not in c["text"]]
    stdin_text = "".join(c["text"] + "\n" for c in cases)
    tok_lines = run([membed, "tokenize", "--model", model_dir], stdin_text).splitlines()
    if len(tok_lines) != len(cases):
        print(f"FAIL {m['name']}: {len(cases)} texts in, {len(tok_lines)} tokenize lines out")
        return False
    bad_ids = [c["text"][:40] for c, line in zip(cases, tok_lines) if [int(x) for x in line.split()] != c["ids"]]
    want = np.array([c["embedding"] for c in cases], np.float32)
    tol = 1e-5 if m["normalize"] else 1e-4
    ok = not bad_ids
    # Default batching, one text at a time, and an odd batch size: padding must never leak.
    for extra in ([], ["--batch-size", "1"], ["--batch-size", "7"]):
        lines = run([membed, "embed", "--model", model_dir, "--format", "jsonl"] + extra, stdin_text).splitlines()
        got = np.array([json.loads(line)["embedding"] for line in lines], np.float32)
        d = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
        ok &= d <= tol
        print(f"{'ok  ' if d <= tol and not bad_ids else 'FAIL'} {m['name']} {' '.join(extra) or '(default batch)'}: "
              f"{len(cases)} one-line texts, ids differ on {len(bad_ids)} {bad_ids[:3] if bad_ids else ''}; "
              f"embedding max|d| = {d:.3g} (tolerance {tol})")
    return ok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--membed", required=True)
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"))
    ap.add_argument("--work")
    ap.add_argument("--real-minilm", help="the real all-MiniLM-L6-v2 directory, for tests/fixtures/real/minilm-real.json")
    ap.add_argument("fixtures", nargs="*")
    a = ap.parse_args(argv)
    paths = a.fixtures or sorted(glob.glob(os.path.join(REPO, "tests", "fixtures", "encoder", "*.json")))
    with tempfile.TemporaryDirectory() as tmp:
        results = [check(a.membed, a.shared, a.work or tmp, p, a.real_minilm) for p in paths]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
