# Tresor: `make demo` and `make test` work on a fresh machine (they create .venv themselves).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_PORT ?= 8900
API_PORT ?= 8000
PIP_FLAGS := --quiet --disable-pip-version-check

.PHONY: setup browser demo test lint typecheck contracts unit contract bench format clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

## browser: Debian's chromium for the browser tests (Playwright cannot download one here)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

## demo: the simulator with a funded demo account, and the API with a demo user, client and
## connection to it; Ctrl+C stops both
demo: setup
	$(BIN)/tresor demo --sim-port $(DEMO_PORT) --api-port $(API_PORT)

## test: lint, types, layer contracts, then the whole test suite
test: lint typecheck contracts browser
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: setup
	$(BIN)/mypy

contracts: setup
	$(BIN)/lint-imports

unit: setup
	$(BIN)/python -m pytest tests/unit

contract: setup
	$(BIN)/python -m pytest tests/contract

## bench: the benchmarks recorded in docs/benchmarks.md
bench: setup
	$(BIN)/python bench/sim_throughput.py

format: setup
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
