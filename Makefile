# placer: two commands on a fresh machine — `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-fast bench lint fmt typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/placer solve instances/demo-cluster.yaml --time-limit 10 -o plan.json

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -x -m 'not slow'

bench: $(STAMP)
	$(BIN)/python -m bench smoke -o bench-results/smoke

lint: $(STAMP)
	$(BIN)/ruff check engine solvers bench tests
	$(BIN)/ruff format --check engine solvers bench tests
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format engine solvers bench tests
	$(BIN)/ruff check --fix engine solvers bench tests

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info plan.json bench-results
