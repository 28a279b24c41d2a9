# The two commands a maintainer needs: `make repro` (the release pipeline) and `make test` (the test suite).
# Both create .venv and install the project on first use; later runs skip the install unless pyproject.toml changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: repro test bench

repro: $(INSTALLED)
	PATH="$(CURDIR)/$(BIN):$$PATH" dvc repro

test: $(INSTALLED)
	PATH="$(CURDIR)/$(BIN):$$PATH" python -m pytest $(PYTEST_ARGS)

bench: $(INSTALLED)
	PATH="$(CURDIR)/$(BIN):$$PATH" python bench/run.py $(BENCH_ARGS)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[test]'
	touch $@
