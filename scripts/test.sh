#!/usr/bin/env bash
# Runs every check Banter has, in the order that fails fastest: formatting, import
# circles between source files, the build, lints, unit and integration tests (MariaDB
# and SQLite), the browser tests, and a one-second run of each load-test scenario.
# `make test` bootstraps first and then calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

timings=()
phase() { # phase "name" command...
  local name=$1 start=$SECONDS
  shift
  printf '\n==> %s\n' "$name"
  "$@"
  timings+=("$(printf '%-28s %5d s' "$name" $((SECONDS - start)))")
}

# cargo-leptos builds debug code with `--cfg erase_components` (it adds the flag to
# RUSTFLAGS itself). Plain cargo gets the same flags, so that the tests reuse the
# dependencies cargo-leptos compiled instead of building them a second time.
as_leptos() { env RUSTFLAGS="${RUSTFLAGS:-} --cfg erase_components" "$@"; }

phase "format" cargo fmt --all --check
phase "import circles" scripts/import-circles.py app/src server/src loadtest/src
# shellcheck disable=SC2086 # BANTER_LEPTOS_ARGS is a list of flags
phase "build (server + wasm)" cargo leptos build $BANTER_LEPTOS_ARGS
phase "clippy (server)" as_leptos cargo clippy -p server -p app -p loadtest --all-targets --features app/ssr -- -D warnings
phase "clippy (wasm)" as_leptos cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
phase "services" scripts/services.sh
phase "unit + integration tests" as_leptos cargo test -p app -p server -p loadtest --features app/ssr --tests
phase "browser tests" env --chdir=end2end npx playwright test
phase "load generator build" as_leptos cargo build -p loadtest
phase "load generator smoke run" scripts/loadtest-smoke.sh

printf '\n==> timings\n'
printf '%s\n' "${timings[@]}"
