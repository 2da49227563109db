# placer: two commands on a fresh machine — `make run` and `make test`.
#   make run      runtime dependencies only, then solves the demo cluster
#   make test     adds what the tests import (serve, bench, ray extras) and runs the suite
#                 without the tests marked slow, on every core (CI runs this: .ci/run)
#   make test-all the whole suite, slow tests included, on every core
#   make install  everything a developer needs (test + dev extras: ruff, mypy)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install --quiet --disable-pip-version-check
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
STAMP      := $(VENV)/.installed

.PHONY: install run test test-all test-fast bench lint fmt typecheck clean bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[test]'
	touch $@ $(STAMP_RUN)

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[test,dev]'
	touch $@ $(STAMP_TEST) $(STAMP_RUN)

install: $(STAMP) bytecode

run: $(STAMP_RUN) bytecode
	$(BIN)/placer solve instances/demo-cluster.yaml --time-limit 10 -o plan.json
	@echo
	@echo "placer is installed in $(VENV). Run it as $(BIN)/placer (e.g. $(BIN)/placer --help),"
	@echo "or put it on your PATH for this shell with: source $(BIN)/activate"

# pytest-xdist: one worker per core and one more — a third of the fast set's time is spent
# waiting (subprocesses starting, servers, timeouts, time limits of one thread), and the extra
# worker's tests run in those waits; each test file on one worker (--dist loadfile): a module's
# shared fixtures — the real control plane of the live tests — start once
WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider -n $(WORKERS) --dist loadfile

# the fast set: no slow tests, each property a quarter of its examples (tests/profiles.py)
test: $(STAMP_TEST) bytecode
	$(PYTEST) -m 'not slow' --hypothesis-profile=placer-fast

test-all: $(STAMP_TEST) bytecode
	$(PYTEST)

test-fast: test  # its former name

bench: $(STAMP_TEST) bytecode
	$(BIN)/python -m bench smoke -o bench-results/smoke

lint: $(STAMP)
	$(BIN)/ruff check engine solvers bench tests placer_cli.py
	$(BIN)/ruff format --check engine solvers bench tests placer_cli.py README.md
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format engine solvers bench tests placer_cli.py README.md
	$(BIN)/ruff check --fix engine solvers bench tests placer_cli.py

typecheck: $(STAMP)
	$(BIN)/mypy

# placer's own sources compiled once (only the changed ones again): where PYTHONDONTWRITEBYTECODE
# is set, every process compiled them anew, 0.25 s of CPU a placer solve on an idle core and
# seconds of a time limit at a fifth of one; an import still reads a changed source, never a stale
# compiled copy
bytecode: | $(BIN)/python
	$(BIN)/python -m compileall -q engine solvers bench placer_cli.py

clean:
	find engine solvers bench tests -name __pycache__ -prune -exec rm -rf {} +
	rm -rf __pycache__
	rm -rf $(VENV) build *.egg-info plan.json bench-results
