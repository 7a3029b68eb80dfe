# The commands the README shows. Everything installs from pyproject.toml into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SOURCES := genflow api activities workflows worker

.PHONY: up test durations lint browser sandbox bench chaos install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Bytecode is compiled at install: the sandbox mounts the environment read-only, so a
# review could not cache it and would compile its imports on every run.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

up: install sandbox
	$(BIN)/genflow up

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(SOURCES)
	$(BIN)/lint-imports

# Headless Chromium from Debian for the Web UI test (tests/test_cli.py); needs root.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update && apt-get install -y --no-install-recommends chromium; \
	fi

# bubblewrap from Debian: the OS sandbox generated code runs in (genflow/pipeline/sandbox/).
# Without it (or without root to install it) genflow runs but does not run generated code.
sandbox:
	@if [ ! -x /usr/bin/bwrap ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get update && apt-get install -y --no-install-recommends bubblewrap; \
		else \
			echo "bubblewrap is not installed: run 'sudo apt-get install bubblewrap'," \
				"or generated code will not be run (fail closed)"; \
		fi; \
	fi

# Three workers on this 2-core machine, a test module each at a time, longest first by
# tests/durations.json: most tests wait on Temporal, processes and the database rather
# than on a CPU (two workers left half the CPU idle). Each worker starts its own dev
# server; the tests that time a cancel or a delivery leave room for a busy machine.
PYTEST_RUN = $(BIN)/pytest -n 3 --dist loadfile --no-loadscope-reorder --durations=10

test: lint browser sandbox
	$(PYTEST_RUN)

# The same run, writing each module's measured seconds to tests/durations.json (commit it
# after adding or moving tests, so the longest still start first).
durations: lint browser sandbox
	$(PYTEST_RUN) --record-durations

bench: install-dev
	$(BIN)/python bench/api.py
	$(BIN)/python -m bench.pipeline
	$(BIN)/python -m bench.review_cpu
	$(BIN)/python -m bench.sandbox_cost
	$(BIN)/python -m bench.burst
	$(BIN)/python -m bench.temporal_starts
	$(BIN)/python -m bench.language
	$(BIN)/python -m bench.fairness
	$(BIN)/python -m bench.owner

# Crash scenarios against genflow up on PostgreSQL (about 15 minutes; not in make test).
chaos: install-dev
	$(BIN)/python -m bench.chaos

clean:
	rm -rf $(VENV) .genflow .pytest_cache .mypy_cache .ruff_cache
