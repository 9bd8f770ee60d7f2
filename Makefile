# Quick start: `make demo` and `make test` on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_OUT ?= runs/example

.PHONY: demo test venv venv-test clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "screening needs Python 3.11+ (found %s)" % sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@ $(VENV)/.installed

venv: $(VENV)/.installed
venv-test: $(VENV)/.installed-test

demo: venv
	$(BIN)/screening validate configs/example.yaml
	$(BIN)/screening run configs/example.yaml --out $(DEMO_OUT)
	@echo "Results: $(DEMO_OUT)/ (fields.parquet, wells.parquet, scores.csv, ranking.csv, plate_qc.csv, report.html)"

test: venv-test
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs .pytest_cache
