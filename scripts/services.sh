#!/usr/bin/env bash
# Makes sure the services the integration tests talk to are up: MariaDB on 127.0.0.1:3306
# (user root, no password). Machines of this kind start it at boot; this only restarts
# one that has stopped.
set -euo pipefail

mariadb_up() { mariadb-admin --host=127.0.0.1 --port=3306 --user=root --silent ping >/dev/null 2>&1; }

if ! mariadb_up; then
  echo "services: MariaDB is not answering; starting it"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do
    mariadb_up && break
    sleep 0.5 # polling a daemon that has no readiness signal we can wait on
  done
  mariadb_up || { echo "services: MariaDB did not come up" >&2; exit 1; }
fi
