#!/usr/bin/env bash
# HNSW peer benchmark: membed vs FAISS IndexHNSWFlat (Debian python3-faiss, 2 threads), each building from the same .fvecs.
# usage: benchmarks/index-peer/hnsw_run.sh [WORKDIR]   (env: MEMBED=path to a membed binary, REPS=3, N=100000, DIM=384)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="${1:-/tmp/membed-index-peer}"
mkdir -p "$WORK"
if [[ -z "${MEMBED:-}" ]]; then
  dotnet build "$ROOT/src/ManagedEmbed.Cli" -c Release -v q -nologo >/dev/null
  MEMBED="dotnet $ROOT/src/ManagedEmbed.Cli/bin/Release/net10.0/membed.dll"
fi
exec /usr/bin/python3 "$ROOT/benchmarks/index-peer/hnsw_peer.py" --membed "$MEMBED" --work "$WORK" --reps "${REPS:-3}" --n "${N:-100000}" --dim "${DIM:-384}"
