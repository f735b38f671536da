# Sourced by scripts that start a server of their own (bench.sh, loadtest-smoke.sh).
# shellcheck shell=bash

# A TCP port that was free a moment ago.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# await_server URL PID LOG: waits (up to 30 s) until the server answers /healthz; if the
# process dies first, prints its log and fails.
await_server() {
  local url=$1 pid=$2 log=$3
  for _ in $(seq 1 150); do
    curl -fs "$url/healthz" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$log"; return 1; }
    sleep 0.2 # polling: the server signals readiness only by answering
  done
  echo "the server at $url did not become ready in 30 s" >&2
  cat "$log"
  return 1
}

# The load generator plays thousands of people from one address, sending far faster
# than people do and opening many sockets per account: the per-user and per-address
# limits that protect a real server are lifted for it (each has its own test).
# shellcheck disable=SC2034 # used by the scripts that source this file
load_generator_flags=(
  --send-rate 1000000 --send-burst 1000000
  --max-connections-per-user 1000000 --max-connections-per-address 1000000
  --registrations-per-address 1000000 --registrations 1000000
  --uploads-per-minute 1000000 --upload-quota-mb 1000000 --concurrent-uploads 1024
)
