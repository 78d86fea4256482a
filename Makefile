# The few targets people type. `make demo` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# The peers the tracer benchmark measures live in an environment of their own.
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-stamp

.PHONY: install browsers demo test screenshots lint format bench soak clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[server,dev]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/agentflight up --demo

# The dashboard tests drive Debian's chromium through chromium-driver; nothing else is fetched.
browsers:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# Three workers on two cores: most tests wait on servers and subprocesses, not the CPU.
test: install lint browsers
	$(PY) -m pytest -n 3

# The README's and docs' screenshots, taken by the browser tests from the pages they check.
screenshots: install browsers
	AGENTFLIGHT_SCREENSHOTS=$(CURDIR)/docs/images $(PY) -m pytest -n 3 \
	  tests/dashboards/test_pages.py tests/dashboards/test_replay.py tests/test_demo.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

soak: install
	AGENTFLIGHT_SOAK=1 $(PY) -m pytest tests/reliability -q --timeout 3600

$(BENCH_STAMP): pyproject.toml benchmarks/peers.txt benchmarks/peers-no-deps.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -e . -r benchmarks/peers.txt
	$(BENCH_VENV)/bin/pip install --quiet --no-deps -r benchmarks/peers-no-deps.txt
	touch $(BENCH_STAMP)

# Every benchmark, one table each; the tracer's beside its peers (from .venv-bench).
# Each one's wall time follows its table, and the total (the goal: under 10 minutes) comes last.
bench: install $(BENCH_STAMP)
	set -e; all=$$(date +%s); for script in benchmarks/bench_*.py; do echo "== $$script"; \
	  start=$$(date +%s); \
	  if [ "$$script" = benchmarks/bench_tracer.py ]; then $(BENCH_VENV)/bin/python "$$script"; \
	  else $(PY) "$$script"; fi; echo "== $$script took $$(( $$(date +%s) - start )) s"; done; \
	echo "== every benchmark took $$(( $$(date +%s) - all )) s"

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .mypy_cache .ruff_cache .benchmarks
