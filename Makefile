# Quick start: `make demo` and `make test` on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_OUT ?= runs/example

# Without a display, the napari screenshot runs under a virtual one (apt-get install xvfb).
XVFB := $(if $(DISPLAY),,xvfb-run -a)

.PHONY: demo test docs venv venv-test clean

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

# One worker per core (at most 4: each worker holds a napari viewer and Dask runs in memory).
test: venv-test
	$(BIN)/python -m pytest -n auto --maxprocesses 4

# Every generated part of the docs, from the current code: the config reference, a fresh demo run
# (--force: no field reused from older code), its report and plugin screenshots, and the demo
# numbers in README.md. Needs Chromium and, without a display, Xvfb.
docs: venv-test
	$(BIN)/python -m screening.config.reference docs/config.md
	$(BIN)/screening run configs/example.yaml --out $(DEMO_OUT) --force
	$(BIN)/python docs/make_report_screenshot.py --run $(DEMO_OUT)
	$(XVFB) $(BIN)/python docs/make_plugin_screenshot.py --run $(DEMO_OUT)
	$(BIN)/python docs/make_demo_numbers.py --run $(DEMO_OUT)

clean:
	rm -rf $(VENV) runs .pytest_cache
