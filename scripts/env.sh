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
# Release builds erase the views' types (Leptos's `erase_components`): a fifth less wasm
# (docs/benchmarks.md, "The first load"). Server and wasm must be built alike, or pages
# do not hydrate, so every release build (make release, scripts/bench.sh) takes these.
BANTER_RELEASE_RUSTFLAGS="--cfg erase_components"
export BANTER_RELEASE_RUSTFLAGS
# Extra cargo-leptos flags for that route (e.g. --lib-cargo-args=-Zbuild-std=std,panic_abort).
BANTER_LEPTOS_ARGS=${BANTER_LEPTOS_ARGS:-}
