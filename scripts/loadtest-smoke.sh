#!/usr/bin/env bash
# A tiny run of each load-test scenario against a fresh server, so the load generator
# cannot rot. Not a benchmark: see docs/benchmarks.md for the real runs.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$target/debug/server" --addr "127.0.0.1:$port" --database-url "sqlite://$data/smoke.db" \
  --send-rate 100000 --send-burst 100000 >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$data/server.log" && break
  sleep 0.2 # the server has no readiness signal to wait on other than its log line
done
url="http://127.0.0.1:$port"
"$target/debug/loadtest" --url "$url" ingest --senders 2 --rooms 1 --window 4 --seconds 1 --server-pid "$server"
"$target/debug/loadtest" --url "$url" ingest --senders 2 --rooms 2 --rate 50 --seconds 1
"$target/debug/loadtest" --url "$url" fanout --members 3 --senders 2 --rate 20,40 --seconds 1 --server-pid "$server"
"$target/debug/loadtest" --url "$url" connections --count 20 --rate 200 --hold 1 --procs 2 --server-pid "$server"
