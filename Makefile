# safetrain — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## run: build the venv, migrate the SQLite database, load demo data once, start the server with the simulated demo hall
run: $(STAMP)
	$(BIN)/safetrain db upgrade
	$(BIN)/safetrain demo load --if-empty
	$(BIN)/safetrain demo run

## test: lint, type-check and run every test (PostgreSQL tests too when PostgreSQL is installed)
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## bench: the benchmarks in bench/, each printing a table (figures go to docs/benchmarks.md)
bench: $(STAMP)
	# -P: the bench folder is not put first on sys.path, where bench/devices.py would hide devices/
	for b in bench/*.py; do $(BIN)/python -P $$b || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
