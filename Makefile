# The daily loop: make run | make test | make lint | make bench
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
# Test processes (pytest-xdist; one module stays in one process). 0: a single process.
TEST_WORKERS ?= 2
PYTEST_ARGS := -n $(TEST_WORKERS) --dist loadfile --durations=10

.PHONY: setup run test test-postgres lint bench vendor clean

setup: $(VENV)/.installed vendor

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

vendor: $(VENV)/.installed
	$(BIN)/python scripts/setup_vendor.py

run: setup
	$(BIN)/trellis demo --if-empty
	$(BIN)/trellis serve --port $(PORT) --with-worker

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: setup
	TRELLIS_TEST_POSTGRES_URL=$${TRELLIS_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test} $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) node_modules runtime/static/vendor instance
