# `make demo` and `make test` each build .venv on first use (Python 3.11, pinned torch), then run.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint faults bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ccbench demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# the suite without its end-to-end and fault-injection tiers (marked e2e, reliability), for the edit-test loop
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not e2e and not reliability"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The fault-injection suite alone; rewrites the fault table in README.md from its counts.
faults: $(STAMP)
	CCBENCH_FAULT_TABLE=README.md $(BIN)/python -m pytest -q -m reliability tests/reliability

bench: $(STAMP)
	$(BIN)/python bench/extract.py
	$(BIN)/python bench/heads.py
	$(BIN)/python bench/dense.py
	$(BIN)/python bench/battery.py

clean:
	rm -rf $(VENV) *.egg-info
