#!/usr/bin/env bash
# Peak RSS while embedding 1,000 sentences with the MiniLM-shaped synthetic model (see run-encoder-peer.sh for the
# model). Two inputs: "random" draws words uniformly from the whole vocabulary (touches nearly every row of the
# memory-mapped word-embedding table: the worst case), "common" draws from ~4,300 frequent words (closer to text).
# Usage: benchmarks/run-encoder-rss.sh [membed command...]   (default: the AOT binary in publish/)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${PEER_DIR:-artifacts/peer}
MODEL="$OUT/minilm"
[ -f "$MODEL/model.safetensors" ] || { echo "run benchmarks/run-encoder-peer.sh first (it synthesizes $MODEL)" >&2; exit 2; }
/usr/bin/python3 - "$MODEL/vocab.txt" "$OUT" <<'PY'
import random, sys
vocab = [w.strip() for w in open(sys.argv[1], encoding="utf-8")]
words = [w for w in vocab if w.isalpha() and not w.startswith("[")]
common = [w for w in vocab[1996:7000] if w.isalpha()]
for name, pool, hi, seed in (("random", words, 60, 7), ("common", common, 40, 11)):
    r = random.Random(seed)
    with open(f"{sys.argv[2]}/rss-{name}.txt", "w", encoding="utf-8") as f:
        for _ in range(1000):
            f.write(" ".join(r.choice(pool) for _ in range(r.randint(4, hi))).capitalize() + ".\n")
PY
if [ $# -gt 0 ]; then CMD=("$@"); else
  dotnet publish src/ManagedEmbed.Cli -c Release -r linux-x64 -o publish -v q --nologo >/dev/null
  CMD=(publish/membed)
fi
echo "weights: $(stat -c %s "$MODEL/model.safetensors") bytes; limit = weights + 64 MiB = $(( $(stat -c %s "$MODEL/model.safetensors") / 1024 + 65536 )) KiB"
for name in random common; do
  rss=$(/usr/bin/time -v "${CMD[@]}" embed --model "$MODEL" --input "$OUT/rss-$name.txt" --output "$OUT/rss-$name.jsonl" 2>&1 \
        | awk '/Maximum resident/ {print $6}')
  echo "$name: peak RSS $rss KiB ($(wc -l < "$OUT/rss-$name.jsonl") embeddings)"
done
