# guichet: two commands on a fresh machine, `make run` and `make test`.
.PHONY: run test models build lint e2e quality bench check clean-cache

CARGO ?= cargo
export GUICHET_MODELS ?= $(CURDIR)/models

models: models/READY

models/READY: scripts/fetch_models.sh scripts/models/convert_e5.py scripts/models/verify_e5.py scripts/models/requirements.txt
	bash scripts/fetch_models.sh

build:
	$(CARGO) build --release --locked

## Serve the demo corpus on http://127.0.0.1:8080 (fetches the model first if needed).
run: models build
	./target/release/guichet serve

check: build
	./target/release/guichet check

## All tests: Rust unit and integration tests (real model), then the browser tests.
test: models
	$(CARGO) test --locked --all-targets
	$(MAKE) e2e

e2e:
	@if [ -f e2e/run.sh ]; then bash e2e/run.sh; else echo "no browser tests yet"; fi

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

bench: models
	$(CARGO) bench --locked --bench ask
