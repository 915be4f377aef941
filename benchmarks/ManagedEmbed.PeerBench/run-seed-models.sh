#!/usr/bin/env bash
# Peer benchmark of the seed-model shapes: synthesize all-mpnet-base-v2 (MPNet, 12 layers, 768) and
# msmarco-distilbert-base-v4 (DistilBERT, 6 layers, 768) from their published configs (tests/fixtures/encoder-configs)
# with seeded weights, export each with tools/reference/export_seed_onnx.py, then run ManagedEmbed and ONNX Runtime
# alternating in one process (PeerBench). Extra arguments go to PeerBench (e.g. --shapes 1x16/2,8x64/2 --seconds 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${MEMBED_SHARED:-$(cd .. && pwd)/shared}
OUT=${PEER_DIR:-artifacts/peer}
mkdir -p "$OUT"
dotnet build src/ManagedEmbed.Cli -c Release -v q --nologo >/dev/null
dotnet build benchmarks/ManagedEmbed.PeerBench -c Release -v q --nologo >/dev/null
membed="dotnet src/ManagedEmbed.Cli/bin/Release/net10.0/membed.dll"
vocab="$SHARED/models/all-MiniLM-L6-v2/vocab.txt"
if [ ! -f "$OUT/mpnet-vocab.txt" ]; then
  # all-mpnet-base-v2's vocab.txt layout around the BERT-uncased vocabulary (tests/fixtures/encoder-configs/README.md).
  { printf '<s>\n<pad>\n</s>\n<unk>\n'; cat "$vocab"; printf '<mask>\n'; } > "$OUT/mpnet-vocab.txt"
fi
for m in mpnet distilbert; do
  if [ "$m" = mpnet ]; then cfg=all-mpnet-base-v2; v="$OUT/mpnet-vocab.txt"; else cfg=msmarco-distilbert-base-v4; v="$vocab"; fi
  if [ ! -f "$OUT/$m/model.safetensors" ]; then
    $membed model synth --arch "$m" --config "tests/fixtures/encoder-configs/$cfg.config.json" --vocab "$v" --seed 1 --out "$OUT/$m"
  fi
  if [ ! -f "$OUT/$m.onnx" ]; then
    /usr/bin/python3 tools/reference/export_seed_onnx.py --model "$OUT/$m" --out "$OUT/$m.onnx"
  fi
  dotnet benchmarks/ManagedEmbed.PeerBench/bin/Release/net10.0/ManagedEmbed.PeerBench.dll --model "$OUT/$m" --onnx "$OUT/$m.onnx" "$@"
done
