#!/usr/bin/env bash
# One command per benchmark: builds the release server and load generator, starts the
# server on a fresh database pinned to CPU 0, runs one load-test scenario pinned to
# CPU 1 (with --server-pid, so it reports the server's CPU and memory), then stops the
# server and removes the database. Not a test: see docs/benchmarks.md.
#
#   scripts/bench.sh ingest      [--db sqlite|mysql] [loadtest ingest flags]
#   scripts/bench.sh fanout      [--db sqlite|mysql] [--nodes N [--redis-outage AT,FOR]]
#                                [loadtest fanout flags]
#   scripts/bench.sh connections [--db sqlite|mysql] [loadtest connections flags]
#   scripts/bench.sh uploads     [--db sqlite|mysql] [--storage disk|s3] [loadtest uploads flags]
#
# e.g. scripts/bench.sh fanout --members 100 --rate 200,1000,2000,4000 --seconds 30
#      scripts/bench.sh ingest --db mysql --senders 40 --rooms 8 --window 32
#      scripts/bench.sh connections --count 19000 --rate 2000 --procs 4
#      scripts/bench.sh fanout --db mysql --nodes 2 --rate 1000,4000 --seconds 30
#      scripts/bench.sh uploads --storage s3 --count 200 --size 1000000
#
# --storage s3 keeps the files in a private moto S3 server (PyPI's moto[server]) on
# loopback instead of the default uploads directory.
#
# --nodes N (fanout, MariaDB only) runs a cluster: N server processes, all pinned to
# the one server CPU, sharing the database and a private redis-server; members and
# senders are spread over the nodes. --redis-outage AT,FOR kills that redis-server AT
# seconds after the scenario starts and starts it again FOR seconds later.
# --server-cpu PERCENT caps the server processes to that share of their one CPU (a
# cgroup v1 CPU quota), so that one generator core can offer the server more than it
# can take: how the overload runs in docs/benchmarks.md are made.
# MariaDB/MySQL is reached at $BENCH_MYSQL (default mysql://root@127.0.0.1:3306).
# BENCH_SERVER=path measures that server binary instead of building this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/local-server.sh

scenario=${1:?usage: scripts/bench.sh ingest|fanout|connections|uploads [--db sqlite|mysql] [flags]}
shift
db=sqlite nodes=1 outage= server_cpu= storage=disk
while [[ "${1:-}" =~ ^--(db|nodes|redis-outage|server-cpu|storage)$ ]]; do
  case $1 in
    --storage) storage=${2:?--storage takes disk or s3} ;;
    --db) db=${2:?--db takes sqlite or mysql} ;;
    --nodes) nodes=${2:?--nodes takes a count} ;;
    --redis-outage) outage=${2:?--redis-outage takes AT,FOR seconds} ;;
    --server-cpu) server_cpu=${2:?--server-cpu takes a percentage} ;;
  esac
  shift 2
done
if ((nodes > 1)) && [[ $db != mysql || $scenario != fanout ]]; then
  echo "--nodes runs fanout on --db mysql (a cluster needs MySQL/MariaDB)" >&2
  exit 2
fi
if [[ -n $outage ]] && ((nodes < 2)); then
  echo "--redis-outage needs --nodes 2 or more" >&2
  exit 2
fi
target=${CARGO_TARGET_DIR:-target}
cores=$(nproc)

# Built separately so the server's features match `make release` and its cache is shared.
# BENCH_SERVER names another server binary to measure instead (a build of an earlier
# commit, for a before-and-after comparison with the same load generator).
server_bin=${BENCH_SERVER:-$target/release/server}
if [[ -z ${BENCH_SERVER:-} ]]; then
  RUSTFLAGS="${RUSTFLAGS:-} $BANTER_RELEASE_RUSTFLAGS" cargo build --release --quiet -p server
fi
RUSTFLAGS="${RUSTFLAGS:-} $BANTER_RELEASE_RUSTFLAGS" cargo build --release --quiet -p loadtest

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

pids=() urls=() redis_port= outage_pid= moto_pid=
start_redis() {
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >>"$work/redis.log" 2>&1 &
  echo $! >"$work/redis.pid"
  until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done
}
quota_group=/sys/fs/cgroup/cpu/banter-bench-$$
cleanup() {
  [[ -n $outage_pid ]] && kill "$outage_pid" 2>/dev/null
  [[ -n $moto_pid ]] && kill "$moto_pid" 2>/dev/null
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  [[ -f $work/redis.pid ]] && kill -9 "$(cat "$work/redis.pid")" 2>/dev/null
  [[ $db == mysql ]] && mysql -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $database"
  [[ -d $quota_group ]] && rmdir "$quota_group" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
files=(--uploads-dir "$work/uploads")
if [[ $storage == s3 ]]; then
  moto_port=$(free_port)
  python3 -m moto.server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
  moto_pid=$!
  for _ in $(seq 1 300); do curl -fs -X PUT "http://127.0.0.1:$moto_port/bench" >/dev/null 2>&1 && break; sleep 0.1; done
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
  files=(--s3-bucket bench --s3-endpoint "http://127.0.0.1:$moto_port")
fi

# Idle connections need a file descriptor each; take all the hard limit allows.
ulimit -n "$(ulimit -Hn)"
pin_server=() pin_load=()
if ((cores >= 2)) && command -v taskset >/dev/null; then
  pin_server=(taskset -c 0) pin_load=(taskset -c 1)
fi
cluster=()
if ((nodes > 1)); then
  redis_port=$(free_port)
  start_redis
  cluster=(--redis-url "redis://127.0.0.1:$redis_port")
fi
for ((n = 0; n < nodes; n++)); do
  port=$(free_port)
  name=()
  ((nodes > 1)) && name=(--node-name "bench-$n")
  "${pin_server[@]}" "$server_bin" --addr "127.0.0.1:$port" --database-url "$database_url" \
    "${load_generator_flags[@]}" "${files[@]}" --log warn "${cluster[@]}" "${name[@]}" >"$work/server$n.log" 2>&1 &
  pids+=($!)
  urls+=("http://127.0.0.1:$port")
  await_server "http://127.0.0.1:$port" "${pids[-1]}" "$work/server$n.log"
done
server_pid=${pids[0]}
if [[ -n $server_cpu ]]; then
  mkdir -p "$quota_group"
  echo 100000 >"$quota_group/cpu.cfs_period_us"
  echo $((server_cpu * 1000)) >"$quota_group/cpu.cfs_quota_us"
  for pid in "${pids[@]}"; do
    for task in /proc/"$pid"/task/*; do echo "${task##*/}" >"$quota_group/tasks"; done
  done
fi

echo "bench: $(date -u +%FT%TZ), $cores cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $db, files on $storage," \
  "$nodes server process(es) pinned to ${pin_server[*]:-nothing}${server_cpu:+ capped at $server_cpu % of it}," \
  "generator to ${pin_load[*]:-nothing}"
if [[ -n $outage ]]; then
  (
    sleep "${outage%,*}"
    kill -9 "$(cat "$work/redis.pid")"
    echo "bench: redis-server killed at $(date -u +%T.%3N)"
    sleep "${outage#*,}"
    start_redis
    echo "bench: redis-server back at $(date -u +%T.%3N)"
  ) &
  outage_pid=$!
fi
status=0
spread=()
if [[ $scenario == fanout ]]; then
  spread=(--urls "$(IFS=,; echo "${urls[*]}")" --server-pid "$(IFS=,; echo "${pids[*]}")")
else
  spread=(--server-pid "$server_pid")
fi
"${pin_load[@]}" "$target/release/loadtest" --url "${urls[0]}" "$scenario" "${spread[@]}" "$@" || status=$?
for pid in "${pids[@]}"; do
  echo "bench: server $pid peak RSS $(sed -n 's/^VmHWM:\s*//p' "/proc/$pid/status")"
done
if grep -qi "error\|panic" "$work"/server*.log; then
  echo "bench: the server logged errors:" >&2
  grep -i "error\|panic" "$work"/server*.log | head -20 >&2
fi
exit $status
