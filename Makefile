# The two commands of the README: `make demo` (set up, then run the main job on the
# embedded store) and `make test` (set up, then lint and pass the tests). `make bench`
# runs the benchmarks and prints the figures recorded in docs/benchmarks.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/biztrace collect

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
