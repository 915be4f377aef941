#!/usr/bin/env bash
# Accuracy of int8 weights on the real all-MiniLM-L6-v2: quantize it, embed a 12k-sentence corpus with the float32
# and the int8 model, compare (benchmarks/int8/accuracy.py), and run `membed eval pairs` on samples/pairs.tsv.
#   benchmarks/int8/run_accuracy.sh MEMBED FLOAT_MODEL_DIR WORK_DIR
set -euo pipefail
membed="$1" model="$2" work="$3"
here="$(cd "$(dirname "$0")" && pwd)"; repo="$(cd "$here/../.." && pwd)"
mkdir -p "$work"
rm -rf "$work/int8-model"
"$membed" model quantize --model "$model" --out "$work/int8-model"
/usr/bin/python3 "$repo/benchmarks/quant/make_corpus.py" --n 12000 --max-words 12 --out "$work/corpus.txt"
bash "$repo/benchmarks/quant/embed_corpus.sh" "$membed" "$model" "$work/corpus.txt" "$work/float.fvecs"
bash "$repo/benchmarks/quant/embed_corpus.sh" "$membed" "$work/int8-model" "$work/corpus.txt" "$work/int8.fvecs"
/usr/bin/python3 "$here/accuracy.py" --float "$work/float.fvecs" --int8 "$work/int8.fvecs" --db 10000 --k 10
"$membed" eval pairs --model "$model" --model "$work/int8-model" -i "$repo/samples/pairs.tsv" --threads 1
