# The two commands of the README: `make demo` (set up, then run the main job on the
# embedded store) and `make test` (set up, then lint and pass the tests). `make bench`
# runs the benchmarks and prints the figures recorded in docs/benchmarks.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test lint bench clean

$(BIN)/.installed: pyproject.toml tracing/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ./tracing -e ".[dev]"
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/biztrace up --demo

# The browser test drives Debian's Chromium (Playwright's own browser download is not used).
$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
		|| ($(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Two workers (pytest-xdist), one test file each at a time: module fixtures stay in one process, and
# the many tests that wait on a browser, a subprocess or a timer overlap with the others.
test: lint $(CHROMIUM)
	$(BIN)/pytest -n 2 --dist loadfile

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache test-artifacts
