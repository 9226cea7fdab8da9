# Everything a fresh machine needs: `make demo` runs the product, `make test` checks it.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup lint test demo plan check clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The PostgreSQL variants of the registry and queue tests need a local server: CI must
# have one; elsewhere they skip, saying why, when scripts/postgres.sh cannot start it.
test: lint
	@bash scripts/system-packages.sh
	@# axe-core for the portal's browser tests, at the version package-lock.json pins.
	@if command -v npm >/dev/null 2>&1; then npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; \
	else echo "npm unavailable: the portal's browser tests will be skipped" >&2; fi
	@pg_env="$$(bash scripts/postgres.sh)" || { \
		if [ -n "$$CI" ]; then echo "CI needs PostgreSQL for the queue tests" >&2; exit 1; fi; \
		echo "PostgreSQL unavailable: its test variants will be skipped" >&2; }; \
	eval "$$pg_env"; $(PY) -m pytest -n 2 -q

demo: setup
	$(BIN)/tenantctl demo

plan: setup
	$(BIN)/tenantctl plan --all

check: setup
	$(BIN)/tenantctl check --all

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .hypothesis node_modules test-output
