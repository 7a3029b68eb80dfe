# The commands the README shows. Everything installs from pyproject.toml into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SOURCES := genflow api activities workflows worker.py

.PHONY: up test lint browser bench install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

up: install
	$(BIN)/genflow up

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(SOURCES)

# Headless Chromium from Debian for the Web UI test (tests/test_web_ui.py); needs root.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update && apt-get install -y --no-install-recommends chromium; \
	fi

test: lint browser
	$(BIN)/pytest

bench: install-dev
	$(BIN)/python bench/api.py
	$(BIN)/python -m bench.pipeline

clean:
	rm -rf $(VENV) .genflow .pytest_cache .mypy_cache .ruff_cache
