#!/usr/bin/env bash
# A tiny run of each load-test scenario against a fresh server, so the load generator
# cannot rot. Not a benchmark: see docs/benchmarks.md for the real runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/local-server.sh
target=${CARGO_TARGET_DIR:-target}
data=$(mktemp -d)
port=$(free_port)
"$target/debug/server" --addr "127.0.0.1:$port" --database-url "sqlite://$data/smoke.db" \
  "${load_generator_flags[@]}" >"$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
url="http://127.0.0.1:$port"
await_server "$url" "$server" "$data/server.log"
"$target/debug/loadtest" --url "$url" ingest --senders 2 --rooms 1 --window 4 --seconds 1 --server-pid "$server"
"$target/debug/loadtest" --url "$url" ingest --senders 2 --rooms 2 --rate 50 --seconds 1
"$target/debug/loadtest" --url "$url" fanout --members 3 --senders 2 --rate 20,40 --seconds 1 --server-pid "$server"
"$target/debug/loadtest" --url "$url" connections --count 20 --rate 200 --hold 1 --procs 2 --server-pid "$server"
curl -fs -o /dev/null -d username=searcher -d 'password=load test password' "$url/api/register"
LOADTEST_PASSWORD='load test password' "$target/debug/loadtest" --url "$url" search --username searcher \
  --rounds 2 --query load --query "from:@searcher"
