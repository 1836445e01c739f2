# Two commands on a fresh machine: `make demo` and `make test`. Each sets up what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LABEXT := jupyter_exp/labextension/package.json
LABEXT_MODULES := labextension/node_modules/.package-lock.json

REF_VENV := benchmarks/.ref-venv

.PHONY: demo test lint lab bench clean browser-deps labextension

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(STAMP): $(BIN)/python pyproject.toml $(LABEXT)
	$(BIN)/pip install -q -e '.[test,frameworks,dask]'
	@# Bytecode up front: a CLI that starts in 0.15 s, even where PYTHONDONTWRITEBYTECODE is set.
	$(BIN)/python -m compileall -q jupyter_exp
	touch $(STAMP)

# The JupyterLab panel: npm packages from package-lock.json, then tsc + webpack into jupyter_exp/labextension,
# which `pip install -e` copies to share/jupyter/labextensions/jupyter-exp (pyproject's shared-data).
labextension: $(LABEXT)
$(LABEXT_MODULES): labextension/package.json labextension/package-lock.json
	cd labextension && npm ci --no-audit --no-fund --loglevel=error
$(LABEXT): $(BIN)/python $(LABEXT_MODULES) labextension/tsconfig.json $(wildcard labextension/src/*.ts labextension/style/*)
	$(BIN)/pip install -q 'jupyterlab>=4'
	cd labextension && PATH="$(CURDIR)/$(BIN):$$PATH" npm run build:prod --silent

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

# The real DVC 3 / DVCLive, in a venv of their own, for the interop tests and the benchmarks (papermill and a
# kernel too: `dvc repro` runs notebook stages).
$(REF_VENV)/bin/dvc:
	$(PY) -m venv $(REF_VENV)
	$(REF_VENV)/bin/pip install -q dvc==3.67.1 dvclive==3.49.1
$(REF_VENV)/bin/papermill: $(REF_VENV)/bin/dvc
	$(REF_VENV)/bin/pip install -q papermill ipykernel

test: $(STAMP) browser-deps $(REF_VENV)/bin/dvc $(REF_VENV)/bin/papermill lint
	cd labextension && npm test --silent
	$(BIN)/python -m pytest -n 2 -q

lab: $(STAMP)
	$(BIN)/jupyter lab examples

bench: $(STAMP) $(REF_VENV)/bin/dvc
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(REF_VENV) build dist .pytest_cache jupyter_exp/labextension labextension/node_modules labextension/lib
