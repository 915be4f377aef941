#!/usr/bin/python3
"""Builds the quantization benchmark's sentence corpus from the machine's own text files (licenses, man pages,
package docs): unique sentences of 6 to --max-words words, shuffled with a fixed seed, one per line.
  /usr/bin/python3 benchmarks/quant/make_corpus.py --n 101000 --max-words 12 --out /tmp/quant-corpus.txt"""
import argparse, gzip, os, random, re, subprocess

ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--max-words", type=int, default=40)
args = ap.parse_args()

def texts():
    for root in ["/usr/share/common-licenses", "/usr/share/doc"]:
        for d, _, fs in sorted(os.walk(root)):
            for f in sorted(fs):
                p = os.path.join(d, f)
                try:
                    if f.endswith(".gz"):
                        with gzip.open(p, "rt", errors="ignore") as h: yield h.read(1 << 20)
                    elif "." not in f or f.endswith((".txt", ".md")):
                        with open(p, errors="ignore") as h: yield h.read(1 << 20)
                except OSError:
                    pass
    for d, _, fs in sorted(os.walk("/usr/share/man/man1")) :
        for f in sorted(fs):
            try:
                with gzip.open(os.path.join(d, f), "rt", errors="ignore") as h:
                    # roff: drop request lines and font escapes; good enough for natural sentences
                    yield "\n".join(l for l in h.read(1 << 20).splitlines() if not l.startswith((".", "'")))
            except (OSError, EOFError):
                pass

seen, out = set(), []
for t in texts():
    t = re.sub(r"\\f\[[A-Z]*\]|\\f[BIRP]|\\-|\\\(..|\\&|\\e", "", t)
    t = re.sub(r"\s+", " ", t)
    for s in re.split(r"(?<=[.!?])\s+", t):
        w = s.split()
        if 6 <= len(w) <= args.max_words and sum(c.isalpha() for c in s) > 0.6 * len(s):
            s = " ".join(w)
            if s not in seen:
                seen.add(s); out.append(s)
random.Random(15).shuffle(out)
if len(out) < args.n:
    raise SystemExit(f"only {len(out)} sentences found")
with open(args.out, "w") as h:
    h.write("\n".join(out[:args.n]) + "\n")
print(f"{len(seen)} unique sentences, wrote {args.n}")
