# Sourced by the other scripts: puts the tools that bootstrap.sh installed on PATH.
# shellcheck shell=bash
BANTER_TOOLS_DIR=${BANTER_TOOLS_DIR:-$HOME/.cache/banter/tools}
export BANTER_TOOLS_DIR
export PATH="$BANTER_TOOLS_DIR/bin:$PATH"
# Written by bootstrap.sh when the wasm std comes from Debian's rustc-web (no rustup target).
if [[ -f "$BANTER_TOOLS_DIR/rust-web.env" ]]; then
  # shellcheck source=/dev/null
  source "$BANTER_TOOLS_DIR/rust-web.env"
fi
# Extra cargo-leptos flags for that route (e.g. --lib-cargo-args=-Zbuild-std=std,panic_abort).
BANTER_LEPTOS_ARGS=${BANTER_LEPTOS_ARGS:-}
