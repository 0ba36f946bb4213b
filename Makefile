# The two commands: `make up` (serve locally) and `make test` (everything CI
# runs). The rest are their building blocks.

COMPONENTS := -p cp-fn-meta -p cp-fn-tenants -p cp-host-probe

.PHONY: up test bench components host openapi pg-stop clean

up:
	@scripts/up.sh

test:
	@scripts/test.sh

bench: components host
	@DATABASE_URL=$$(scripts/pg.sh start) cargo run --release -q -p cp-tests --bin cp-bench

# The Wasm components (what `spin build` builds, see spin.toml).
components:
	cargo build --target wasm32-wasip2 --profile wasm $(COMPONENTS)

# The native programs: the Spin-compatible host, the Kubernetes stand-in, the migrator.
host:
	cargo build --release -p cp-host -p cp-kube-standin -p cp-migrate

# Regenerate the committed openapi.json from the code.
openapi:
	UPDATE_OPENAPI=1 cargo test -q -p cp-meta --lib openapi

pg-stop:
	@scripts/pg.sh stop

clean:
	cargo clean
