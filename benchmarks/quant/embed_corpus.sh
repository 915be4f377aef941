#!/usr/bin/env bash
# Embeds the quantization benchmark's corpus with all-MiniLM-L6-v2 in two single-threaded membed processes (two halves;
# on a loaded machine two independent processes lose less to scheduling than one two-thread process waiting on its
# slower thread at every layer), then joins the halves into one .fvecs.
#   benchmarks/quant/embed_corpus.sh MEMBED MODEL_DIR CORPUS.txt OUT.fvecs
set -euo pipefail
membed="$1" model="$2" corpus="$3" out="$4"
n=$(wc -l < "$corpus"); half=$(( (n + 1) / 2 ))
head -n "$half" "$corpus" > "$out.a.txt"; tail -n +"$((half + 1))" "$corpus" > "$out.b.txt"
"$membed" embed --model "$model" --input "$out.a.txt" --format fvecs --threads 1 --batch-size 64 --output "$out.a" &
pa=$!
"$membed" embed --model "$model" --input "$out.b.txt" --format fvecs --threads 1 --batch-size 64 --output "$out.b" &
pb=$!
wait $pa; wait $pb
cat "$out.a" "$out.b" > "$out"
rm -f "$out.a" "$out.b" "$out.a.txt" "$out.b.txt"
echo "embedded $n sentences into $out"
