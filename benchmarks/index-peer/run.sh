#!/usr/bin/env bash
# Peer benchmark: membed vs FAISS (Debian python3-faiss, 2 threads) on the same .fvecs and the same index files.
# usage: benchmarks/index-peer/run.sh [WORKDIR]   (env: MEMBED=path to a membed binary, REPS=3, N=100000, DIM=384,
#        PEER=peer.py for flat/IVF or hnsw_peer.py for HNSW)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="${1:-/tmp/membed-index-peer}"
mkdir -p "$WORK"
if [[ -z "${MEMBED:-}" ]]; then
  dotnet build "$ROOT/src/ManagedEmbed.Cli" -c Release -v q -nologo >/dev/null
  MEMBED="dotnet $ROOT/src/ManagedEmbed.Cli/bin/Release/net10.0/membed.dll"
fi
exec /usr/bin/python3 "$ROOT/benchmarks/index-peer/${PEER:-peer.py}" --membed "$MEMBED" --work "$WORK" --reps "${REPS:-3}" --n "${N:-100000}" --dim "${DIM:-384}"
