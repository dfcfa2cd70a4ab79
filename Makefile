# Two commands do everything on a fresh clone: `make run` and `make test`.
#
# Both install exactly what requirements/ locks (every package, its version and its hashes, for
# Linux x86-64 with CPython 3.11): runtime.lock for running, dev.lock for running and testing.
# `make lock` refreshes the locks from pyproject.toml; `pip install .` still takes whatever
# versions pyproject.toml allows, for people who want their own.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
LOCK    := requirements/runtime.lock
DEVLOCK := requirements/dev.lock
LOCKENV := .venv-lock
# pip shows what it collects and installs; --no-deps because the lock already names every package
PIP_LOCKED := -m pip install --require-hashes --no-deps --progress-bar on
COMPILE := --generate-hashes --allow-unsafe --strip-extras --no-emit-find-links --no-emit-index-url --no-emit-trusted-host
# `make lock` keeps every pin it can and adds or drops what pyproject.toml changed; `make lock UPGRADE=1` takes the newest releases
COMPILE += $(if $(UPGRADE),--upgrade,)

.PHONY: run test bench report docs install dev lock clean-store help

help:
	@echo "make run     set up .venv from the lock, run specs/quickstart.yaml and print its summary"
	@echo "make test    set up .venv from the dev lock and run the whole test suite"
	@echo "make bench   run the benchmarks (ratios against the textbook way)"
	@echo "make report  figures and tables from the stores under store/"
	@echo "make docs    build the documentation site into site/ (strict: a broken link fails)"
	@echo "make lock    refresh requirements/*.lock from pyproject.toml, keeping pins (UPGRADE=1: newest releases)"

$(PY): requirements/pip.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) $(PIP_LOCKED) -r requirements/pip.lock
	@touch $(PY)

$(STAMP): $(LOCK) pyproject.toml | $(PY)
	@echo "installing the locked runtime set ($(LOCK)): about 6 GB, most of it the CUDA libraries torch's wheels bring"
	$(PY) $(PIP_LOCKED) -r $(LOCK)
	$(PY) -m pip install --no-deps --no-build-isolation -q -e .
	touch $@

$(DEVSTAMP): $(DEVLOCK) pyproject.toml | $(PY)
	@echo "installing the locked runtime and development set ($(DEVLOCK)): about 6 GB, most of it the CUDA libraries torch's wheels bring"
	$(PY) $(PIP_LOCKED) -r $(DEVLOCK)
	$(PY) -m pip install --no-deps --no-build-isolation -q -e .
	touch $(STAMP) $@

install: $(STAMP)
dev: $(DEVSTAMP)

run: $(STAMP)
	$(VENV)/bin/redundancy run specs/quickstart.yaml

test: $(DEVSTAMP)
	bash tests/setup.sh
	REDUNDANCY_LOCK=$(DEVLOCK) $(PY) -m pytest -q -p no:cacheprovider tests

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

report: $(STAMP)
	$(VENV)/bin/redundancy report store --out report

# The reference pages are generated from the code while the site builds; figures come from docs/figures/.
docs: $(DEVSTAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

# The lock tool lives in its own environment, so .venv holds exactly the locked set.
$(LOCKENV)/bin/pip-compile: requirements/tools.lock
	@test -x $(LOCKENV)/bin/python || $(PYTHON) -m venv $(LOCKENV)
	$(LOCKENV)/bin/python $(PIP_LOCKED) -r requirements/tools.lock
	@touch $@

lock: $(LOCKENV)/bin/pip-compile
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCKENV)/bin/pip-compile $(COMPILE) -c requirements/pins.txt -o $(LOCK) pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCKENV)/bin/pip-compile $(COMPILE) -c requirements/pins.txt -c $(LOCK) --extra dev -o $(DEVLOCK) pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCKENV)/bin/pip-compile $(COMPILE) -o requirements/pip.lock requirements/pip.in
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCKENV)/bin/pip-compile $(COMPILE) -o requirements/tools.lock requirements/tools.in

clean-store:
	rm -rf store/*/
