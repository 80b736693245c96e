# orderbell: `make run` starts the embedded default, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
DATA ?= var
export ORDERBELL_DATABASE_URL ?= sqlite+aiosqlite:///$(abspath $(DATA))/orderbell.db

.PHONY: run test lint typecheck check bench install install-dev browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The lock files pin every package, so a fresh install gets what CI tested.
$(VENV)/.installed: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	@mkdir -p $(DATA)
	$(BIN)/orderbell db upgrade
	$(BIN)/orderbell demo
	$(BIN)/orderbell serve --host $(HOST) --port $(PORT)

# Debian's chromium drives the console tests (Playwright's own download is
# not used), with a Chinese font for the screenshots; installed when missing
# and we may install packages.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: sudo apt-get install -y chromium" >&2; exit 1; fi; }
	@# A Chinese font, so that the console's screenshots show text rather than boxes.
	@fc-list :lang=zh 2>/dev/null | grep -q . || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null; \
	  else echo "no Chinese font: sudo apt-get install -y fonts-wqy-microhei" >&2; fi; }

test: install-dev browser
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: install-dev
	$(BIN)/mypy

check: lint typecheck test

# Benchmarks (docs/performance.md): orderbell against reference servers, in minutes.
# make bench BENCH_ARGS="--quick"   or   BENCH_ARGS="--scenario fanout --sizes 1000"
$(VENV)/.installed-bench: requirements-bench.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-bench.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache .mypy_cache .ruff_cache
