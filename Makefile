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

# PostgreSQL-backed queue tests run when scripts/postgres.sh can start a local server.
test: lint
	eval "$$(bash scripts/postgres.sh 2>/dev/null)"; $(PY) -m pytest -n 2 -q

demo: setup
	$(BIN)/tenantctl plan --all

plan: setup
	$(BIN)/tenantctl plan --all

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .hypothesis
