# Two commands do everything on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test bench report install dev clean-store help

help:
	@echo "make run     set up .venv, run specs/quickstart.yaml and print its summary"
	@echo "make test    set up .venv with dev extras and run the whole test suite"
	@echo "make bench   run the benchmarks (ratios against the textbook way)"
	@echo "make report  figures and tables from the stores under store/"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(DEVSTAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP) $@

install: $(STAMP)
dev: $(DEVSTAMP)

run: $(STAMP)
	$(VENV)/bin/redundancy run specs/quickstart.yaml

test: $(DEVSTAMP)
	bash tests/setup.sh
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

report: $(STAMP)
	$(VENV)/bin/redundancy report store --out report

clean-store:
	rm -rf store/*/
