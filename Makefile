# journeylens — one entry point for set-up, running, tests and benchmarks.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
WORKSPACE ?= demo-workspace
DEMO_EVENTS ?= 200000

.PHONY: install install-test system-deps run test lint bench clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PIP) install --upgrade pip wheel setuptools

install: $(VENV)/bin/python
	$(PIP) install -e ".[spark,test]"

system-deps:
	@bash scripts/system-deps.sh

run: install
	$(VENV)/bin/journeylens init $(WORKSPACE) --template four_stage_delight --force
	$(VENV)/bin/journeylens demo --workspace $(WORKSPACE) --events $(DEMO_EVENTS) --seed 7
	$(VENV)/bin/journeylens summary --workspace $(WORKSPACE)

test: install system-deps
	$(VENV)/bin/python -m pytest

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src

bench: install
	$(PY) bench/import.py

clean:
	rm -rf $(VENV) $(WORKSPACE) .pytest_cache
