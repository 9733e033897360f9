# journeylens — one entry point for set-up, running, tests and benchmarks.
VENV ?= .venv
PEERS ?= .venv-peers
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
WORKSPACE ?= demo-workspace
DEMO_EVENTS ?= 200000
# A download cut short is retried and resumed (pip older than 25.1 ignores the resume setting).
export PIP_RETRIES ?= 10
export PIP_RESUME_RETRIES ?= 10
export PIP_DEFAULT_TIMEOUT ?= 60

.PHONY: install peers system-deps run test lint bench bench-scale clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PIP) install --upgrade pip wheel setuptools

install: $(VENV)/bin/python
	$(PIP) install -e ".[spark,test]"

# Peer libraries used as oracles (pm4py, ChannelAttribution, retentioneering, polars) live in their own
# virtualenv so their pins never touch journeylens's.
$(PEERS)/bin/python:
	python3 -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --upgrade pip wheel setuptools

peers: $(PEERS)/bin/python
	$(PEERS)/bin/python -m pip install -r bench/peers-requirements.txt

system-deps:
	@bash scripts/system-deps.sh

run: install
	$(VENV)/bin/journeylens init $(WORKSPACE) --template four_stage_delight --force
	$(VENV)/bin/journeylens demo --workspace $(WORKSPACE) --events $(DEMO_EVENTS) --seed 7
	$(VENV)/bin/journeylens summary --workspace $(WORKSPACE)

# The suite runs on TEST_WORKERS processes (one per core of the 2-core machine it is sized for),
# the Spark tests all on one of them (see tests/conftest.py).
TEST_WORKERS ?= 2

# The set-up's parts are independent (two virtualenvs, the Debian packages): run side by side,
# their downloads overlap (95 s in a row, 47 s side by side, on a warm cache).
test:
	@$(MAKE) --no-print-directory -j3 --output-sync=target install peers system-deps
	JOURNEYLENS_PEERS_VENV=$(CURDIR)/$(PEERS) $(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src

bench: install peers
	JOURNEYLENS_PEERS_VENV=$(CURDIR)/$(PEERS) $(PY) bench/import.py
	$(PY) bench/import.py --rows 1000000 10000000 --append 1000 100000
	$(PY) bench/journeys.py --events 1000000 --events 10000000 --peers $(CURDIR)/$(PEERS)
	JOURNEYLENS_PEERS_VENV=$(CURDIR)/$(PEERS) $(PY) bench/attribution.py

# 100M events (the 10M demo stored ten times over): ~10 GB of disk, the better part of an hour.
bench-scale: install
	$(PY) bench/scale.py --copies 10

clean:
	rm -rf $(VENV) $(PEERS) $(WORKSPACE) .pytest_cache
