# Two commands on a fresh machine: `make demo` and `make test`. Each sets up what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

REF_VENV := benchmarks/.ref-venv

.PHONY: demo test lint lab bench clean browser-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test,frameworks]'
	@# Bytecode up front: a CLI that starts in 0.15 s, even where PYTHONDONTWRITEBYTECODE is set.
	$(BIN)/python -m compileall -q jupyter_exp
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

lint: $(STAMP)
	$(BIN)/ruff check jupyter_exp tests benchmarks examples
	$(BIN)/lint-imports

# Chromium for the browser tests comes from Debian (Playwright drives it via executablePath).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "install Debian's chromium for the browser tests (apt-get install chromium)"; fi; }

# The real DVC 3 / DVCLive, in a venv of their own, for the interop tests and the benchmarks.
$(REF_VENV)/bin/dvc:
	$(PY) -m venv $(REF_VENV)
	$(REF_VENV)/bin/pip install -q dvc==3.67.1 dvclive==3.49.1

test: $(STAMP) browser-deps $(REF_VENV)/bin/dvc lint
	$(BIN)/python -m pytest -n 2 -q

lab: $(STAMP)
	$(BIN)/jupyter lab examples

bench: $(STAMP) $(REF_VENV)/bin/dvc
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(REF_VENV) build dist .pytest_cache
