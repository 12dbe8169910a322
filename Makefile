PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-all fuzz bench docs lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet 'torch==2.13.0' || true
	$(PY) -m pip install --quiet -e '.[dev,onnx,train]' 2>/dev/null || $(PY) -m pip install -e '.[dev,onnx]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sosrelax demo

test: $(STAMP)
	$(PY) -m pytest -q

test-all: $(STAMP)
	$(PY) -m pytest -q -m ''

fuzz: $(STAMP)
	SOSRELAX_FUZZ_EXAMPLES=$${SOSRELAX_FUZZ_EXAMPLES:-2000} $(PY) -m pytest -q -m fuzz

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

docs: $(STAMP)
	$(PY) -m pip install --quiet -e '.[docs]' 2>/dev/null || $(PY) -m pip install -e '.[docs]'
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

lint: $(STAMP)
	$(VENV)/bin/ruff check sosrelax tests benchmarks
	$(VENV)/bin/mypy sosrelax

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
