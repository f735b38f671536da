#!/usr/bin/env bash
# Gives this machine everything Banter's build and tests need, using only the package
# registries (crates.io, npm, Debian). Safe to run again: it is quiet when all is present.
#
#   scripts/bootstrap.sh            tools for debug builds and the tests
#   scripts/bootstrap.sh --release  also wasm-opt, for `cargo leptos build --release`
#
# Tools go to $BANTER_TOOLS_DIR (default ~/.cache/banter/tools), outside the clone, so
# every clone and CI run on the machine reuses them.
set -euo pipefail

cd "$(dirname "$0")/.."
TOOLS_DIR=${BANTER_TOOLS_DIR:-$HOME/.cache/banter/tools}
CARGO_LEPTOS_VERSION=0.3.11
BINARYEN_VERSION=132
# The CLI must match the wasm-bindgen crate exactly; Cargo.toml pins it with "=".
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)"/\1/p' Cargo.toml)
WANT_RELEASE=0
[[ "${1:-}" == "--release" ]] && WANT_RELEASE=1

mkdir -p "$TOOLS_DIR/bin"
export PATH="$TOOLS_DIR/bin:$PATH"

say() { printf 'bootstrap: %s\n' "$*"; }
timed() { # timed "what" command...
  local what=$1 start=$SECONDS
  shift
  say "$what"
  "$@"
  say "  done in $((SECONDS - start)) s"
}

apt_updated=0
apt_install() {
  if [[ $apt_updated == 0 ]]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- the wasm32 standard library --------------------------------------------------
# Route 1: rustup already has it, or can add it. Route 2 (fully offline): Debian's
# rustc-web 1.96 with the std sources, compiling std for wasm32 with -Zbuild-std.
wasm_std_present() { rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; }
if [[ ! -f "$TOOLS_DIR/rust-web.env" ]] && ! wasm_std_present; then
  say "adding the wasm32-unknown-unknown standard library with rustup (bounded to 3 min)"
  if ! timeout 180 rustup target add wasm32-unknown-unknown || ! wasm_std_present; then
    timed "rustup could not; installing Debian's rustc-web with the std sources (~1-2 min)" \
      apt_install rustc-web cargo-web rust-web-src rust-web-llvm lld-22
    # rustup's ~/.cargo/bin would shadow /usr/bin: link Debian's tools into a directory
    # of their own and put it first.
    mkdir -p "$TOOLS_DIR/rust-web-bin"
    for tool in cargo rustc rustdoc; do ln -sf "/usr/bin/$tool" "$TOOLS_DIR/rust-web-bin/$tool"; done
    cat >"$TOOLS_DIR/rust-web.env" <<ENV
export PATH="$TOOLS_DIR/rust-web-bin:\$PATH"
export RUSTC_BOOTSTRAP=1
BANTER_LEPTOS_ARGS="--lib-cargo-args=-Zbuild-std=std,panic_abort"
ENV
    say "  the wasm build will compile std from source (first build ~13 min instead of ~8)"
  fi
fi
# shellcheck source=/dev/null
[[ -f "$TOOLS_DIR/rust-web.env" ]] && source "$TOOLS_DIR/rust-web.env"

# --- cargo-leptos ----------------------------------------------------------------
if [[ "$("$TOOLS_DIR/bin/cargo-leptos" --version 2>/dev/null)" != *"$CARGO_LEPTOS_VERSION"* ]]; then
  # cargo-leptos 0.3.11 needs rustc >= 1.96; rustup's stable may be older, nightly is not.
  toolchain=()
  if [[ "$(rustc --version)" =~ ^rustc\ 1\.([0-9]+) ]] && ((BASH_REMATCH[1] < 96)); then
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
      toolchain=(+nightly)
    else
      say "the default rustc is older than 1.96; trying rustup's nightly toolchain (bounded to 10 min)"
      if timeout 600 rustup toolchain install nightly --profile minimal; then
        toolchain=(+nightly)
      else
        say "no nightly; installing Debian's rustc/cargo 1.96 to build cargo-leptos"
        apt_install rustc-web cargo-web
        toolchain=()
        export PATH="/usr/lib/rust-web/bin:/usr/bin:$PATH"
      fi
    fi
  fi
  # No LTO and many codegen units: the tool runs for seconds, building it took 35 min.
  timed "installing cargo-leptos $CARGO_LEPTOS_VERSION (slow: ~15-35 min on 2 cores, once per machine)" \
    env CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo "${toolchain[@]}" install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked \
    --root "$TOOLS_DIR" --quiet
fi

# --- wasm-bindgen, matching the crate ----------------------------------------------
if [[ "$("$TOOLS_DIR/bin/wasm-bindgen" --version 2>/dev/null)" != *"$WASM_BINDGEN_VERSION"* ]]; then
  timed "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (~4 min)" \
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --root "$TOOLS_DIR" --quiet
fi

# --- wasm-opt for release builds (npm's binaryen; Debian's 108 breaks hydration) ----
if [[ $WANT_RELEASE == 1 ]] && [[ "$(wasm-opt --version 2>/dev/null)" != *"version $BINARYEN_VERSION"* ]]; then
  timed "installing wasm-opt (binaryen@$BINARYEN_VERSION from npm)" \
    npm install --prefix "$TOOLS_DIR/binaryen" --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION"
  ln -sf "$TOOLS_DIR/binaryen/node_modules/.bin/wasm-opt" "$TOOLS_DIR/bin/wasm-opt"
fi

# --- Playwright and Chromium for end2end ------------------------------------------
if [[ ! -d end2end/node_modules/@playwright/test ]] || [[ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]]; then
  # Never let Playwright download a browser: the machine has no internet, and we use Debian's.
  timed "installing end2end's npm packages" \
    env PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix end2end --no-audit --no-fund --silent
fi
if ! command -v chromium >/dev/null; then
  timed "installing Debian's chromium (~30 s)" apt_install chromium
fi

# --- redis-server, the MariaDB client and nginx for the cluster tests ---------------
# The tests start private redis-server instances (the machine's own Redis on 6379 is
# left alone) and make their MariaDB databases with the `mariadb` client.
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  timed "installing Debian's redis-server" apt_install redis-server redis-tools
fi
if ! command -v mariadb >/dev/null; then
  timed "installing Debian's MariaDB client" apt_install mariadb-client
fi
# nginx in front of a cluster, as docs/deploy.md configures it (the test runs its own).
if ! command -v nginx >/dev/null; then
  timed "installing Debian's nginx" apt_install nginx
fi
# moto's S3-compatible server: the file tests run the real S3 client against it.
if ! python3 -c 'import moto.server, flask' >/dev/null 2>&1; then
  timed "installing moto[server] from PyPI" python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi
# openssl makes the Playwright HTTPS test's certificate.
if ! command -v openssl >/dev/null; then
  timed "installing Debian's openssl" apt_install openssl
fi
