#!/usr/bin/env bash
# One command per benchmark: builds the release server and load generator, starts the
# server on a fresh database pinned to CPU 0, runs one load-test scenario pinned to
# CPU 1 (with --server-pid, so it reports the server's CPU and memory), then stops the
# server and removes the database. Not a test: see docs/benchmarks.md.
#
#   scripts/bench.sh ingest      [--db sqlite|mysql] [loadtest ingest flags]
#   scripts/bench.sh fanout      [--db sqlite|mysql] [loadtest fanout flags]
#   scripts/bench.sh connections [--db sqlite|mysql] [loadtest connections flags]
#
# e.g. scripts/bench.sh fanout --members 100 --rate 200,1000,2000,4000 --seconds 30
#      scripts/bench.sh ingest --db mysql --senders 40 --rooms 8 --window 32
#      scripts/bench.sh connections --count 19000 --rate 2000 --procs 4
# MariaDB/MySQL is reached at $BENCH_MYSQL (default mysql://root@127.0.0.1:3306).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/local-server.sh

scenario=${1:?usage: scripts/bench.sh ingest|fanout|connections [--db sqlite|mysql] [flags]}
shift
db=sqlite
if [[ "${1:-}" == "--db" ]]; then
  db=${2:?--db takes sqlite or mysql}
  shift 2
fi
target=${CARGO_TARGET_DIR:-target}
cores=$(nproc)

# Built separately so the server's features match `make release` and its cache is shared.
cargo build --release --quiet -p server
cargo build --release --quiet -p loadtest

work=$(mktemp -d)
mysql_url=${BENCH_MYSQL:-mysql://root@127.0.0.1:3306}
database="bench_$$"
case $db in
  sqlite) database_url="sqlite://$work/bench.db" ;;
  mysql)
    mysql -h 127.0.0.1 -u root -e "CREATE DATABASE $database"
    database_url="$mysql_url/$database"
    ;;
  *) echo "--db is sqlite or mysql" >&2; exit 2 ;;
esac
port=$(free_port)

server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  [[ $db == mysql ]] && mysql -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $database"
  rm -rf "$work"
}
trap cleanup EXIT

# Idle connections need a file descriptor each; take all the hard limit allows.
ulimit -n "$(ulimit -Hn)"
pin_server=() pin_load=()
if ((cores >= 2)) && command -v taskset >/dev/null; then
  pin_server=(taskset -c 0) pin_load=(taskset -c 1)
fi
"${pin_server[@]}" "$target/release/server" --addr "127.0.0.1:$port" --database-url "$database_url" \
  --send-rate 1000000 --send-burst 1000000 --log warn >"$work/server.log" 2>&1 &
server_pid=$!
await_server "http://127.0.0.1:$port" "$server_pid" "$work/server.log"

echo "bench: $(date -u +%FT%TZ), $cores cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $db," \
  "server pinned to ${pin_server[*]:-nothing}, generator to ${pin_load[*]:-nothing}"
status=0
"${pin_load[@]}" "$target/release/loadtest" --url "http://127.0.0.1:$port" "$scenario" \
  --server-pid "$server_pid" "$@" || status=$?
echo "bench: server peak RSS $(sed -n 's/^VmHWM:\s*//p' "/proc/$server_pid/status")"
if grep -qi "error\|panic" "$work/server.log"; then
  echo "bench: the server logged errors:" >&2
  grep -i "error\|panic" "$work/server.log" | head -20 >&2
fi
exit $status
