# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
SWIFT ?= swift

# Debian packages: what building and serving need, and what the tests add.
RUN_PACKAGES  := libxgboost-dev zlib1g-dev
# What the built binary loads at run time (the Dockerfile's runtime stage).
SERVE_PACKAGES := libxgboost0 zlib1g
TEST_PACKAGES := $(RUN_PACKAGES) postgresql openssl chromium chromium-driver python3-venv curl nginx wrk
BENCH_PACKAGES := $(RUN_PACKAGES) wrk nginx postgresql curl nghttp2-client

.PHONY: run test check-deploy check-cli check-hot-path bench bench-compare bench-forest build release deps deps-test fixtures check-api clean-data fuzz

## make run: install what is missing, build a release binary, serve the embedded default (./mlruns + SQLite under ./data/).
run: deps release
	mkdir -p data
	./.build/release/inference-api serve

## make test: install what is missing (Debian packages, the browser check's, Triton's client's, MLflow's and the
## manifest validator's virtualenvs), validate the deployment files offline (scripts/check-deploy.sh), start a throwaway
## PostgreSQL and real MLflow 3.17.2 tracking servers on loopback ports, run every test (a headless Chromium and
## the three-replica fleet behind nginx among them), stop them. Our own modules are rebuilt whole each time
## (scripts/clean-own-modules.sh): an incremental build once kept an object with a struct's old layout.
test: deps-test
	./scripts/clean-own-modules.sh
	./scripts/browser-venv.sh
	./scripts/pinned-venv.sh Tests/OIPClients/.venv Tests/OIPClients/requirements.txt > /dev/null
	./scripts/check-deploy.sh
	$(MAKE) --no-print-directory check-cli
	$(MAKE) --no-print-directory check-hot-path
	QUERY_FUZZ_INPUTS=$(QUERY_FUZZ_INPUTS) ALONE_TESTS='$(ALONE_TESTS)' ./scripts/with-postgres.sh ./scripts/with-mlflow.sh ./scripts/test-suites.sh

## Hostile cursors and query values per backend in QueryFuzzLiveTests. The issue's 100,000 take 4 to 5 minutes per
## backend on a debug build (client and server in one unoptimized process), too long for make test's 35-minute
## budget: make test sends 20,000 per backend; `QUERY_FUZZ_INPUTS=100000 make test` sends the full count.
QUERY_FUZZ_INPUTS ?= 20000

## Suites that run many processes under load of their own (three replicas and nginx; three replicas sharing an
## experiment; 500 assets; hostile
## clients and the alias follower, the model-source outages answered within MLFLOW_HTTP_REQUEST_TIMEOUT + 1 s and the
## hostile tracking server's download deadlines, a SIGTERM with a gRPC watch open; Triton's and KServe's Python clients,
## whose time bounds need a quiet machine): run after the others, one
## after another (scripts/test-suites.sh), so neither starves the other on a small machine.
ALONE_TESTS := InferenceAPITests\.(TritonClientTests|KServeClientTests|GRPCShutdownTests|FleetTests|ChallengerFleetTests|AssetModelMemoryTests|HostileClientTests|ModelSourceRouteTests|ModelSourceOutageTests|ShutdownUnderStallTests)|ModelSourcesTests\.(UnreachableSourceTests|HostileTrackingServerTests)

## Renders deploy/kubernetes with `kubectl kustomize` and validates it against Kubernetes' schemas, offline.
check-deploy:
	./scripts/check-deploy.sh

## The CLI scores every fixture vector (file stores and MLflow's SQLite backend stores) with the server's code and
## must equal Python's answers (1e-6).
check-cli:
	$(SWIFT) build --product inference-api
	@for vector in fixtures/vectors/*.json fixtures/backend-vectors/*sqlite*.json; do \
	  ./.build/debug/inference-api predict "$$vector" --check > /dev/null || exit 1; \
	done

## The hot path's guard (scripts/check-hot-path.sh): the release binary under load, /predict with module_id against
## the same readings without it and against the bare route, ratios within one run; prints each goal met or missed
## and fails below its gates (the script says which gate differs from its goal, and why).
check-hot-path:
	$(SWIFT) build -c release --product inference-api
	./scripts/check-hot-path.sh

build: deps
	$(SWIFT) build

## SWIFT_BUILD_FLAGS: extra flags (the Dockerfile links the Swift runtime in: --static-swift-stdlib).
SWIFT_BUILD_FLAGS ?=
release: deps
	$(SWIFT) build -c release --product inference-api $(SWIFT_BUILD_FLAGS)

deps:
	@./scripts/install-deps.sh $(RUN_PACKAGES)

deps-test:
	@./scripts/install-deps.sh $(TEST_PACKAGES)

## make fixtures: regenerate mlruns/, fixtures/stores/ and fixtures/vectors/ with real MLflow (Python virtualenvs).
fixtures:
	bash fixtures/make_all.sh

## make check-api: schemathesis against a live server, from the server's own OpenAPI document.
check-api: release
	./scripts/check-api.sh

## make bench: the release server side by side with the Python reference (bench/reference/), nginx and
## the in-process C-API limit; prints one table (BENCHMARKS.md). Installs wrk, nginx, PostgreSQL and
## the reference's pinned virtualenv when missing. BUILD_DIR=<scratch path> benches another build folder.
BUILD_DIR ?= .build
bench:
	@./scripts/install-deps.sh $(BENCH_PACKAGES)
	$(SWIFT) build -c release --product inference-api $(if $(filter-out .build,$(BUILD_DIR)),--scratch-path $(BUILD_DIR))
	BUILD_DIR=$(BUILD_DIR) ./scripts/bench.sh

## make bench-compare A=<commit> B=<commit>: both commits' release binaries measured interleaved
## (in-process limits and POST /predict under wrk), each figure's B / A ratio per repetition.
bench-compare:
	@./scripts/install-deps.sh $(BENCH_PACKAGES)
	./scripts/bench-compare.sh $(A) $(B)

## make bench-forest: Isolation Forest fit/score, Swift (release) against scikit-learn, same data and parameters.
bench-forest: release
	@test -x fixtures/.venv-mlflow3-xgb3/bin/python || (python3 -m venv fixtures/.venv-mlflow3-xgb3 && fixtures/.venv-mlflow3-xgb3/bin/pip install -q -r fixtures/requirements-mlflow3-xgb3.txt)
	@for set in fixtures/anomaly/*.json; do \
	  ./.build/release/inference-api forest-timing "$$set"; \
	  fixtures/.venv-mlflow3-xgb3/bin/python bench/forest_sklearn.py "$$set"; \
	done

## make eval-anomaly: per anomaly kind (spike, level shift, stuck), recall at ANOMALY_THRESHOLD's default, median
## detection delay and ROC AUC, with the false-positive rate on normal samples, on seeded labelled series of 5 assets
## (10,080 training + 10,080 scored samples each) from two generators (standard, hard), for the asset trained and
## untrained, beside today's detector and scikit-learn's IsolationForest; then the episodes EMS Core would get, a
## threshold sweep and issue 26's goals, each met or missed. ~1 minute (most of it scikit-learn).
.PHONY: eval-anomaly
EVAL_PYTHON := fixtures/.venv-mlflow3-xgb3/bin/python
eval-anomaly: release $(EVAL_PYTHON)
	./.build/release/inference-api eval-anomaly --python $(EVAL_PYTHON)

$(EVAL_PYTHON):
	python3 -m venv fixtures/.venv-mlflow3-xgb3 && fixtures/.venv-mlflow3-xgb3/bin/pip install -q -r fixtures/requirements-mlflow3-xgb3.txt

## make eval-forecast: the forecaster (/anomaly/forecast) against Prophet and statsforecast's MSTL (AutoETS trend)
## and the weekly seasonal naive, on 12 generated five-minute series (4 weeks of history, 1 held out: daily and
## weekly cycles, growth, level changes, spikes, gaps): MASE at 1 and 7 days, 90 % coverage, time per series, the
## crossing check, issue 28's goals. Prophet and MSTL run from the pinned bench/forecast/requirements.txt. ~5 minutes.
.PHONY: eval-forecast
FORECAST_PYTHON := bench/forecast/.venv/bin/python
eval-forecast: release $(FORECAST_PYTHON)
	@mkdir -p data/eval-forecast
	$(FORECAST_PYTHON) bench/forecast/generate.py --out data/eval-forecast/series.json
	$(FORECAST_PYTHON) bench/forecast/peers.py data/eval-forecast/series.json >data/eval-forecast/peers.json
	./.build/release/inference-api eval-forecast --series data/eval-forecast/series.json --peers data/eval-forecast/peers.json

$(FORECAST_PYTHON): bench/forecast/requirements.txt
	./scripts/pinned-venv.sh bench/forecast/.venv bench/forecast/requirements.txt

## make fuzz: the /predict, /anomaly/detect and Open Inference infer body parsers on FUZZ_INPUTS mutated bodies (release build): no
## crash, every refusal a 4xx JSON envelope, the fast and the slow detect parser agreeing. Inputs that break
## the contract land in fuzz-failures/. FUZZ_SEED repeats a run.
FUZZ_INPUTS ?= 1000000
fuzz: release
	./.build/release/inference-api fuzz-parsers --inputs $(FUZZ_INPUTS) $(if $(FUZZ_SEED),--seed $(FUZZ_SEED))

clean-data:
	rm -rf data
