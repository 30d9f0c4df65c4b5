# Daylight developer entry points. Everything installs what it needs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench dashboards manifests e2e-kind cluster-build cluster-up cluster-down clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## demo: the embedded simulated cluster + exporter (what a newcomer runs first)
demo: $(STAMP)
	$(BIN)/daylight demo

lint: $(STAMP)
	$(BIN)/ruff check exporter kubesim tests tools
	$(BIN)/ruff format --check exporter kubesim tests tools

typecheck: $(STAMP)
	$(BIN)/mypy --strict exporter kubesim tools tests
	$(BIN)/lint-imports

## test: the whole suite — lint, types, unit, fake-API, real Prometheus, real control plane
test: $(STAMP)
	bash tests/run-all.sh

## bench: the benchmarks (not part of the test suite); figures in tests/bench/results/
## e2e-kind: optional, needs a Docker engine (none on this project's machines): never part of `make test`
e2e-kind:
	bash tests/kind/e2e.sh

## manifests: copy dashboards/ and alerts/ into the chart and re-render deploy/daylight.yaml
manifests: $(STAMP)
	$(BIN)/python -m tests.helm.sync

## dashboards: regenerate dashboards/*.json from tools/dashboards/generate.py
dashboards: $(STAMP)
	$(BIN)/python -m tools.dashboards.generate

bench: $(STAMP)
	$(BIN)/python -m tests.bench.ingest
	$(BIN)/python -m tests.bench.history
	$(BIN)/python -m tests.bench.otlp

cluster-build:
	bash tests/cluster/build

cluster-up: $(STAMP)
	$(BIN)/python -m tests.cluster.controlplane up

cluster-down: $(STAMP)
	$(BIN)/python -m tests.cluster.controlplane down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
