# Two commands on a fresh machine: `make demo` and `make test`; each sets up what it needs.
SHELL := /bin/bash
UV_VERSION := 0.13.8
# uv from PATH, else the one pip installs for this Python (python3 -m uv).
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
# Prefect's home in the project; its other settings for local mode come from flows/settings.py
# (PREFECT_DEFAULTS), applied by the CLI, the tests and the benchmark.
export PREFECT_HOME ?= $(CURDIR)/.prefect

.PHONY: setup uv demo test test-fast test-server lint bench bench-quick warehouse-db reference clean

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		python3 -m pip install --quiet "uv==$(UV_VERSION)"

# --compile-bytecode: Python here runs with PYTHONDONTWRITEBYTECODE=1, so without .pyc files written at
# install time every process (each Prefect server, each test subprocess) compiled Prefect, GE and
# pandas from source again: ~7 s of a new process's start.
.venv/.synced: pyproject.toml uv.lock Makefile
	$(MAKE) --no-print-directory uv
	$(UV) sync --frozen --all-extras --compile-bytecode
	touch $@

setup: .venv/.synced

demo: setup
	$(UV) run --frozen pekppp demo

test: setup
	$(UV) run --frozen ruff check .
	$(UV) run --frozen lint-imports
	$(UV) run --frozen pytest

# The quick lane (under 3 minutes here): no real flow runs, SIGKILL loops, servers or browser.
test-fast: setup
	$(UV) run --frozen ruff check .
	$(UV) run --frozen lint-imports
	$(UV) run --frozen pytest -m "not slow and not server"

test-server: setup
	$(UV) run --frozen pytest -m server

lint: setup
	$(UV) run --frozen ruff check .
	$(UV) run --frozen lint-imports

bench: setup
	$(UV) run --frozen python -m tests.benchmarks.run

bench-quick: setup
	$(UV) run --frozen python -m tests.benchmarks.run --quick

# (Re)load data/warehouse.duckdb: one DuckDB view per output table over the Parquet warehouse.
warehouse-db: setup
	$(UV) run --frozen python -c "from pathlib import Path; from flows.warehouse_db import load_duckdb; print(load_duckdb(Path('data/warehouse'), Path('data/warehouse.duckdb')))"

# Rebuild data/reference/ from the npm package idn-area-data 4.0.1 (see data/reference/NOTICE.md).
reference:
	d=$$(mktemp -d) && cd $$d && npm pack idn-area-data@4.0.1 && tar xzf idn-area-data-4.0.1.tgz && cd - && python3 data/reference/build_reference.py $$d/package && rm -rf $$d

clean:
	rm -rf data/landing data/warehouse data/warehouse.duckdb .prefect
