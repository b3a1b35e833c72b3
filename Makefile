# chengyun — the two commands a newcomer needs are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.stamp-run
STAMP_DEV := $(VENV)/.stamp-dev
SCALE ?= small
SEED ?= 7

.PHONY: demo test test-all bench bench-quality lint venv clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[postgres]'
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,postgres,spark,mqtt]'
	touch $@ $(STAMP_RUN)

venv: $(STAMP_RUN)

## demo: build the demo city, evaluate every pack for each quarter, write reports, serve on 127.0.0.1:8000
demo: $(STAMP_RUN)
	$(BIN)/chengyun demo --scale $(SCALE) --seed $(SEED)

## test: the fast default suite (slow tests: make test-all)
test: $(STAMP_DEV)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: $(STAMP_DEV)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: evaluate all packs on the medium demo against hand-written DuckDB SQL and pandas
bench: $(STAMP_DEV)
	$(BIN)/python bench/evaluate.py --scale $(or $(BENCH_SCALE),medium)

## bench-quality: quality rules on 10 M rows against hand-written DuckDB SQL and Great Expectations (own venv), 100 M for memory
bench-quality: $(STAMP_DEV)
	$(BIN)/python bench/quality.py $(BENCH_QUALITY_ARGS)

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) chengyun-demo chengyun-data .pytest_cache
