# The two commands a newcomer needs are `make run` and `make test`; see README.md.
.PHONY: run test bootstrap build release watch fmt

run: bootstrap
	. scripts/env.sh && cargo leptos serve $$BANTER_LEPTOS_ARGS

test: bootstrap
	scripts/test.sh

bootstrap:
	scripts/bootstrap.sh

build: bootstrap
	. scripts/env.sh && cargo leptos build $$BANTER_LEPTOS_ARGS

release:
	scripts/bootstrap.sh --release
	. scripts/env.sh && RUSTFLAGS="$${RUSTFLAGS:-} $$BANTER_RELEASE_RUSTFLAGS" cargo leptos build --release $$BANTER_LEPTOS_ARGS
	scripts/wasm-size.sh

watch: bootstrap
	. scripts/env.sh && cargo leptos watch $$BANTER_LEPTOS_ARGS

fmt:
	cargo fmt --all
