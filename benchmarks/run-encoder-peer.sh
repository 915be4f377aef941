#!/usr/bin/env bash
# End-to-end peer benchmark: synthesize a MiniLM-shaped model (real all-MiniLM-L6-v2 config + vocab from ../shared,
# seeded synthetic weights), export it to ONNX with Debian's python3-torch, then run ManagedEmbed and ONNX Runtime
# alternating in one process for each shape. Extra arguments go to the peer runner (e.g. --seconds 5 --rounds 3).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${MEMBED_SHARED:-$(cd .. && pwd)/shared}
OUT=${PEER_DIR:-artifacts/peer}
mkdir -p "$OUT"
dotnet build src/ManagedEmbed.Cli -c Release -v q --nologo >/dev/null
dotnet build benchmarks/ManagedEmbed.PeerBench -c Release -v q --nologo >/dev/null
if [ ! -f "$OUT/minilm/model.safetensors" ]; then
  dotnet src/ManagedEmbed.Cli/bin/Release/net10.0/membed.dll model synth \
    --config "$SHARED/models/all-MiniLM-L6-v2/config.json" --vocab "$SHARED/models/all-MiniLM-L6-v2/vocab.txt" \
    --seed 1 --out "$OUT/minilm"
fi
if [ ! -f "$OUT/minilm.onnx" ]; then
  /usr/bin/python3 tools/export_onnx.py --model "$OUT/minilm" --out "$OUT/minilm.onnx"
fi
lscpu | grep -E "Model name|^CPU\(s\)|L2|L3" || true
dotnet benchmarks/ManagedEmbed.PeerBench/bin/Release/net10.0/ManagedEmbed.PeerBench.dll \
  --model "$OUT/minilm" --onnx "$OUT/minilm.onnx" "$@"
