#!/usr/bin/env bash
# Scale-out, tried (issue 13): two `membed serve` replicas on loopback behind nginx (Debian's package), a bounded
# request loop through the balancer, and each replica's /metrics showing that both answered. Then one replica is
# stopped with SIGTERM and a second bounded loop shows the balancer routing every request to the survivor.
# Everything binds 127.0.0.1 on free ports and stops by itself (trap). Needs nginx (apt-get install nginx) and curl.
# Usage: tools/scaleout_demo.sh [REQUESTS]    (env MEMBED = a membed binary, default: a Release JIT build;
#                                              MEMBED_SHARED = ../shared)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
shared=${MEMBED_SHARED:-$(cd .. && pwd)/shared}
requests=${1:-40}
fail() { echo "scaleout_demo: FAIL: $*" >&2; exit 1; }
command -v nginx >/dev/null || fail "nginx is not installed (apt-get install nginx)"
command -v curl >/dev/null || fail "curl is not installed"

if [ -z "${MEMBED:-}" ]; then
  dotnet build src/ManagedEmbed.Cli -c Release -v q -nologo >/dev/null || fail "build failed"
  MEMBED="$repo/src/ManagedEmbed.Cli/bin/Release/net10.0/membed"
fi
[ -x "$MEMBED" ] || fail "no membed binary at $MEMBED"

work=$(mktemp -d)
chmod 755 "$work"   # nginx workers (not root) write their temp files here
pids=()
cleanup() {
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# One small model for both replicas (a synthetic MiniLM-shaped model: the demo is about routing, not quality).
"$MEMBED" model synth --config "$shared/models/all-MiniLM-L6-v2/config.json" --vocab "$shared/models/all-MiniLM-L6-v2/vocab.txt" \
  --seed 1 --out "$work/model" >/dev/null

# Start a replica on a free port (--port 0) and read the bound address from its one stdout line into $addr
# (not a command substitution: the replica must be a child of this shell, to be waited for).
start_replica() {
  local n=$1 out="$work/replica$1.out"
  "$MEMBED" serve --model "$work/model" --host 127.0.0.1 --port 0 --threads 1 >"$out" 2>"$work/replica$n.err" &
  pids+=($!)
  for _ in $(seq 300); do
    grep -q "on http://" "$out" 2>/dev/null && break
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$work/replica$n.err" >&2; fail "replica $n exited"; }
    sleep 0.1
  done
  addr=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$out") || fail "replica $n did not report its address"
}
start_replica 1; r1=$addr; r1pid=${pids[-1]}
start_replica 2; r2=$addr
echo "scaleout_demo: replicas at $r1 and $r2"

lb_port=$(free_port)
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 256; }
http {
    access_log $work/nginx-access.log;
    client_body_temp_path $work/body;
    proxy_temp_path $work/proxy;
    fastcgi_temp_path $work/fastcgi;
    uwsgi_temp_path $work/uwsgi;
    scgi_temp_path $work/scgi;
    upstream membed {
        # Stateless replicas: plain round robin; a replica that refuses or stops is skipped for 10 s.
        server ${r1#http://} max_fails=1 fail_timeout=10s;
        server ${r2#http://} max_fails=1 fail_timeout=10s;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$lb_port;
        client_max_body_size 8m;
        location / {
            proxy_pass http://membed;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # A replica that is draining (503 after SIGTERM) or gone: try the other one. Embedding requests are
            # idempotent, so POSTs may be retried too (non_idempotent).
            proxy_next_upstream error timeout http_503 non_idempotent;
            proxy_next_upstream_tries 2;
            proxy_connect_timeout 2s;
            proxy_read_timeout 30s;
        }
    }
}
CONF
nginx -t -q -c "$work/nginx.conf" -p "$work" || fail "nginx rejected the configuration"
nginx -c "$work/nginx.conf" -p "$work"
lb="http://127.0.0.1:$lb_port"
for _ in $(seq 50); do curl -s -o /dev/null "$lb/health" && break; sleep 0.1; done
echo "scaleout_demo: nginx at $lb"

embed() { curl -s -m 30 -w '\n%{http_code}\n' "$lb/v1/embeddings" -H 'content-type: application/json' \
  -d '{"model":"model","input":["scale out"]}'; }
count() { # 200 answers of /v1/embeddings on one replica, from its Prometheus text
  curl -s -m 10 "$1/metrics" | awk '/^membed_requests_total\{path="\/v1\/embeddings",status="200"\}/ {print $2}' | grep . || echo 0
}

# Round 1: a bounded loop through the balancer. Every answer must be 200 and carry the same vector.
first=""
for i in $(seq "$requests"); do
  resp=$(embed)
  code=$(tail -n 1 <<<"$resp"); body=$(head -n 1 <<<"$resp")
  [ "$code" = 200 ] || fail "request $i through nginx answered $code: $body"
  vec=$(grep -o '"embedding":\[[^]]*\]' <<<"$body")
  [ -n "$first" ] || first=$vec
  [ "$vec" = "$first" ] || fail "request $i got a different embedding (replicas disagree)"
done
c1=$(count "$r1"); c2=$(count "$r2")
echo "scaleout_demo: $requests requests through nginx: replica 1 answered $c1, replica 2 answered $c2"
[ "$c1" -gt 0 ] && [ "$c2" -gt 0 ] || fail "one replica answered nothing"
[ $((c1 + c2)) = "$requests" ] || fail "replicas answered $((c1 + c2)) requests, sent $requests"

# Round 2: replica 1 stops (SIGTERM: drains, then exits 0); every request must still succeed, on replica 2.
kill -TERM "$r1pid"
wait "$r1pid" || fail "replica 1 did not exit 0 after SIGTERM"
more=$(( requests / 4 > 0 ? requests / 4 : 1 ))
for i in $(seq "$more"); do
  resp=$(embed)
  [ "$(tail -n 1 <<<"$resp")" = 200 ] || fail "request $i after stopping replica 1 answered $(tail -n 1 <<<"$resp")"
done
c2b=$(count "$r2")
echo "scaleout_demo: replica 1 stopped; $more more requests all answered by replica 2 ($c2 -> $c2b)"
[ $((c2b - c2)) = "$more" ] || fail "replica 2 answered $((c2b - c2)) of $more requests"
echo "scaleout_demo: OK"
