# `make demo` and `make test` each build .venv on first use (Python 3.11, pinned torch), then run.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ccbench demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# the suite without its end-to-end tier (tests marked e2e), for the edit-test loop
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not e2e"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/extract.py
	$(BIN)/python bench/heads.py
	$(BIN)/python bench/dense.py
	$(BIN)/python bench/battery.py

clean:
	rm -rf $(VENV) *.egg-info
