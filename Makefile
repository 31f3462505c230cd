# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
SWIFT ?= swift

# Debian packages: what building and serving need, and what the tests add.
RUN_PACKAGES  := libxgboost-dev zlib1g-dev
TEST_PACKAGES := $(RUN_PACKAGES) postgresql openssl

.PHONY: run test build release deps deps-test fixtures clean-data

## make run: install what is missing, build a release binary, serve the embedded default (./mlruns + SQLite under ./data/).
run: deps release
	mkdir -p data
	./.build/release/inference-api serve

## make test: install what is missing, start a throwaway PostgreSQL on a loopback port, run every test, stop it.
test: deps-test
	./scripts/with-postgres.sh $(SWIFT) test

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product inference-api

deps:
	@./scripts/install-deps.sh $(RUN_PACKAGES)

deps-test:
	@./scripts/install-deps.sh $(TEST_PACKAGES)

## make fixtures: regenerate mlruns/, fixtures/stores/ and fixtures/vectors/ with real MLflow (Python virtualenvs).
fixtures:
	bash fixtures/make_all.sh

clean-data:
	rm -rf data
