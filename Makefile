# Two commands for a new machine: `make demo` and `make test`. Everything else here is what they use.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CLUSTER_ENV = eval "$$(hack/cluster env)"

.PHONY: demo test venv deps crds check-crds lint unit integration cluster-up cluster-down clean

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

deps: venv
	hack/install-deps

crds: venv
	$(BIN)/releaseguard crds crds/releaseguard.io_releasevalidations.yaml

lint: venv
	$(BIN)/ruff check operator tests hack
	$(BIN)/ruff format --check operator tests hack
	$(BIN)/mypy
	$(BIN)/mypy hack/demo hack/bench
	$(BIN)/lint-imports

unit: venv
	$(BIN)/pytest -q -m "not cluster" tests

cluster-up: deps
	hack/cluster up

cluster-down:
	hack/cluster down

integration: cluster-up
	$(CLUSTER_ENV) && $(BIN)/pytest -q -m cluster tests

test: lint unit integration

demo: cluster-up
	$(CLUSTER_ENV) && hack/demo/run

clean: cluster-down
	rm -rf $(VENV)
