# Two commands on a fresh machine: `make demo` and `make test`. Each sets up what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps in one .venv, so `make demo` and `make test` work from a fresh clone in either order: the base
# install (what a user gets from `pip install jupyter-exp`) and, on top of it, everything the tests exercise.
BASE_STAMP := $(VENV)/.installed-base
TEST_STAMP := $(VENV)/.installed-test
TEST_EXTRAS := test,examples,frameworks,dask
# The editable install leaves the panel to the `labextension` target (the demo does not need it).
PIP_EDITABLE := HATCH_JUPYTER_BUILDER_SKIP_NPM=1 $(BIN)/pip install -q -e
LABEXT := jupyter_exp/labextension/package.json
LABEXT_MODULES := labextension/node_modules/.yarn-state.yml
# jupyterlab's tools call each other by name (jlpm -> jupyter labextension -> jupyter-builder): the venv first.
IN_VENV := PATH="$(CURDIR)/$(BIN):$$PATH"
JLPM := $(IN_VENV) $(CURDIR)/$(BIN)/jlpm

REF_VENV := benchmarks/.ref-venv

.PHONY: demo test lint lab bench clean browser-deps labextension
.DELETE_ON_ERROR:

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(BASE_STAMP): $(BIN)/python pyproject.toml
	$(PIP_EDITABLE) .
	@# Bytecode up front: a CLI that starts in 0.15 s, even where PYTHONDONTWRITEBYTECODE is set.
	$(BIN)/python -m compileall -q jupyter_exp
	touch $@

$(TEST_STAMP): $(BASE_STAMP)
	$(PIP_EDITABLE) '.[$(TEST_EXTRAS)]'
	touch $@

# The JupyterLab panel: npm packages from yarn.lock (jlpm is jupyterlab's yarn), then tsc + webpack into
# jupyter_exp/labextension, linked into the venv's share/jupyter/labextensions/jupyter-exp for the checkout.
labextension: $(LABEXT)
$(LABEXT_MODULES): $(BASE_STAMP) labextension/package.json labextension/yarn.lock
	$(BIN)/pip install -q 'hatch-jupyter-builder>=0.9'  # the wheel build's builder (`jupyter labextension build`)
	cd labextension && $(JLPM) install --immutable >/dev/null
$(LABEXT): $(LABEXT_MODULES) labextension/tsconfig.json $(wildcard labextension/src/*.ts labextension/style/*)
	cd labextension && $(JLPM) run build:prod >/dev/null
	$(IN_VENV) $(BIN)/jupyter labextension develop --overwrite . >/dev/null

demo: $(BASE_STAMP)
	$(BIN)/python examples/demo.py

lint: $(TEST_STAMP)
	$(BIN)/ruff check jupyter_exp tests benchmarks examples
	$(BIN)/lint-imports

# Chromium for the browser tests comes from Debian (Playwright drives it via executablePath).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "install Debian's chromium for the browser tests (apt-get install chromium)"; fi; }

# The real DVC 3 / DVCLive, in a venv of their own, for the interop tests and the benchmarks (papermill and a
# kernel too: `dvc repro` runs notebook stages; dvc-s3 for the S3 remote tests and benchmarks against moto).
$(REF_VENV)/bin/dvc:
	$(PY) -m venv $(REF_VENV)
	$(REF_VENV)/bin/pip install -q dvc==3.67.1 dvclive==3.49.1
$(REF_VENV)/bin/papermill: $(REF_VENV)/bin/dvc
	$(REF_VENV)/bin/pip install -q papermill ipykernel
$(REF_VENV)/.installed-s3: $(REF_VENV)/bin/dvc
	$(REF_VENV)/bin/pip install -q dvc-s3==3.3.0
	touch $@

test: $(TEST_STAMP) $(LABEXT) browser-deps $(REF_VENV)/bin/dvc $(REF_VENV)/bin/papermill $(REF_VENV)/.installed-s3 lint
	cd labextension && $(JLPM) test --silent
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

lab: $(BASE_STAMP) $(LABEXT)
	$(BIN)/jupyter lab examples

bench: $(TEST_STAMP) $(REF_VENV)/bin/dvc $(REF_VENV)/.installed-s3
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(REF_VENV) build dist .pytest_cache jupyter_exp/labextension labextension/node_modules labextension/lib labextension/.yarn
