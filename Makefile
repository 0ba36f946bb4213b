# The two commands: `make up` (serve locally) and `make test` (everything CI
# runs). The rest are their building blocks.

COMPONENTS := -p cp-fn-meta -p cp-fn-tenants -p cp-fn-policies -p cp-fn-catalog -p cp-fn-skills -p cp-fn-identity -p cp-fn-orgs -p cp-fn-gateway -p cp-fn-vault -p cp-fn-agents \
              -p cp-host-probe

.PHONY: up test fuzz bench components host openapi pg-stop clean

up:
	@scripts/up.sh

test:
	@scripts/test.sh

# The spec fuzzer's long run (tests/tests/fuzz.rs; `make test` runs a bounded one).
# CP_FUZZ_EXAMPLES=N and CP_FUZZ_SEED=N tune it.
fuzz: components host
	@scripts/fuzz-setup.sh >/dev/null
	@DATABASE_URL=$$(scripts/pg.sh start) CP_OCI_REGISTRY_URL=$$(scripts/registry.sh start) \
	  CP_OIDC_ISSUER=$$(scripts/oidc.sh start) \
	  CP_FUZZ_LONG=1 cargo test --release -p cp-tests --test fuzz -- --nocapture

bench: components host
	@DATABASE_URL=$$(scripts/pg.sh start) cargo run --release -q -p cp-tests --bin cp-bench
	@DATABASE_URL=$$(scripts/pg.sh start) cargo run --release -q -p cp-tests --bin usage_bench
	@DATABASE_URL=$$(scripts/pg.sh start) cargo run --release -q -p cp-tests --bin store_bench
	@DATABASE_URL=$$(scripts/pg.sh start) cargo run --release -q -p cp-tests --bin vault_bench

# The Wasm components (what `spin build` builds, see spin.toml).
components:
	cargo build --target wasm32-wasip2 --profile wasm $(COMPONENTS)

# The native programs: the Spin-compatible host, the Kubernetes and LiteLLM stand-ins, the migrator.
host:
	cargo build --release -p cp-host -p cp-kube-standin -p cp-litellm-standin -p cp-migrate

# Regenerate the committed openapi.json from the code.
openapi:
	UPDATE_OPENAPI=1 cargo test -q -p cp-openapi --lib

pg-stop:
	@scripts/pg.sh stop

clean:
	cargo clean
