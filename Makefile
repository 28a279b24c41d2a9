# The two commands a maintainer needs: `make repro` (the release pipeline) and `make test` (lint, format check and
# the test suite).
# Both create .venv and install the project on first use; later runs skip the install unless pyproject.toml changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: repro test bench bytecode

repro: $(INSTALLED) bytecode
	PATH="$(CURDIR)/$(BIN):$$PATH" dvc repro

test: $(INSTALLED) bytecode
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PATH="$(CURDIR)/$(BIN):$$PATH" python -m pytest $(PYTEST_ARGS)

bench: $(INSTALLED) bytecode
	PATH="$(CURDIR)/$(BIN):$$PATH" python bench/run.py $(BENCH_ARGS)

# Every stage is a new Python process; where PYTHONDONTWRITEBYTECODE is set, each would compile the project's modules
# again (a quarter of a second per stage). compileall writes them once, and skips the files already up to date.
bytecode: $(INSTALLED)
	$(BIN)/python -m compileall -q pipeline schema localhub bench

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	touch $@
