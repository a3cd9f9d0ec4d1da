# Everything a newcomer runs goes through here; .ci/run calls `make test` too.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help dev demo test lint typecheck unit unit-pythons integration e2e stack bench clean

help:
	@echo "make demo   - start the stack, run the example services with alert rules, print where to look"
	@echo "make test   - lint, type-check and run every test (unit, integration, end-to-end)"
	@echo "make stack  - download (or build) and cache the collector, Jaeger, VictoriaLogs, Alertmanager (+ apt Prometheus)"
	@echo "make bench  - run the benchmarks in bench/ (prints ratios)"

# The venv is rebuilt only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e ".[dev,examples]"
	$(PY) -m pip check
	@touch $(STAMP)

dev: $(STAMP)

stack:
	bash .ci/build-stack.sh

demo: $(STAMP) stack
	$(VENV)/bin/otelbundle demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src harness tests bench examples
	$(VENV)/bin/ruff format --check src harness tests bench examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy src

unit: $(STAMP)
	$(VENV)/bin/pytest tests/unit

# The unit tests on Python 3.10 and 3.13 too, where this machine has them (CI runs it).
unit-pythons:
	bash .ci/unit-pythons.sh

integration: $(STAMP)
	$(VENV)/bin/pytest tests/integration

e2e: $(STAMP) stack
	$(VENV)/bin/pytest tests/e2e

# The one test command (README, CI). pytest exits 5 when it collects nothing,
# which fails this target as it should.
test: lint typecheck $(STAMP) stack
	$(VENV)/bin/pytest tests

# A separate venv: the upstream distro it compares against must not be
# installed next to ours in the test venv (two distros make the wrapper pick
# by entry-point order).
BENCH_VENV := .venv-bench
# The benchmarks that start a stack on its fixed ports are not run here: each is run on
# its own, in a network namespace of its own (docs/performance.md shows how). A failing
# benchmark fails the target.
STACK_BENCHES := bench/bench_alert_latency.py bench/bench_gateway.py bench/bench_jaeger_storage.py \
	bench/bench_metrics_freshness.py
bench:
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q -e ".[examples,bench]"
	PATH=$(CURDIR)/$(BENCH_VENV)/bin:$$PATH $(BENCH_VENV)/bin/python bench/bench_distro.py
	@for b in $(filter-out bench/bench_distro.py $(STACK_BENCHES),$(sort $(wildcard bench/bench_*.py))); do \
		echo "== $$b"; PATH=$(CURDIR)/$(BENCH_VENV)/bin:$$PATH $(BENCH_VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .mypy_cache .ruff_cache

# README screenshots (docs/screenshots/*.png) from a running demo: `make demo` first,
# `otelbundle demo --stop` after. Drives Debian's chromium through Playwright.
.PHONY: screenshots
screenshots: $(STAMP)
	$(PY) docs/screenshots/take.py

# Time to alert and to resolve, in-process rules vs span metrics -> Prometheus rules, on the
# native stack (#13). It starts its own stack on the fixed ports: run it
# where they are free (a network namespace of its own). RUNS=N failures per row (default 2,
# about 13 minutes; RUNS=3 took 17).
.PHONY: bench-alert-latency
bench-alert-latency: $(STAMP) stack
	$(PY) bench/bench_alert_latency.py $(if $(RUNS),--runs $(RUNS))
