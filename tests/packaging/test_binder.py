"""The Binder environment: ``binder/postBuild`` in a fresh venv (the package's own `examples` extra, no second
list) gives the panel and the server extension, and every notebook in ``examples/`` runs there headless.

The venv installs the wheel this session built (``JUPYTER_EXP_PACKAGE``) instead of building the checkout a
second time, and uses the pip cache; the notebooks run with ``jupyter nbconvert --execute`` of that venv."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.notebook

ANSI = re.compile(r"\x1b\[[0-9;]*m")
NOTEBOOKS = sorted(p.name for p in (ROOT / "examples").glob("*.ipynb"))


@pytest.fixture(scope="module")
def binder(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> dict[str, str]:
    """A venv built by binder/postBuild; returns the environment to run its programs with."""
    scratch = tmp_path_factory.mktemp("binder")
    venv = scratch / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER"))}
    configured = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.extra-index-url"], capture_output=True, text=True
    ).stdout.strip()
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
        VIRTUAL_ENV=str(venv),
        JUPYTER_EXP_PACKAGE=str(wheel),
        # postBuild's default is PyTorch's CPU index; this machine's pip configuration says where wheels are.
        PIP_EXTRA_INDEX_URL=configured,
        GIT_CONFIG_GLOBAL=str(scratch / "gitconfig"),  # postBuild sets a global Git identity
        JUPYTER_CONFIG_DIR=str(scratch / "jupyter-config"),
        JUPYTER_DATA_DIR=str(scratch / "jupyter-data"),
        TMPDIR=str(scratch),
    )
    run = subprocess.run(["bash", str(ROOT / "binder" / "postBuild")], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return env


def jupyter(env: dict[str, str], *words: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["jupyter", *words], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return ANSI.sub("", done.stdout + done.stderr)


def test_postbuild_installs_the_package_with_panel_and_server_extension(binder: dict[str, str]) -> None:
    version = json.loads((ROOT / "labextension" / "package.json").read_text())["version"]
    assert re.search(rf"jupyter-exp v{re.escape(version)} enabled\s+OK \(python, jupyter-exp\)",
                     jupyter(binder, "labextension", "list"))
    assert re.search(r"jupyter_exp\.server enabled", jupyter(binder, "server", "extension", "list"))
    with open(Path(binder["GIT_CONFIG_GLOBAL"])) as config:
        assert "Binder user" in config.read()


def test_the_venv_has_the_examples_extra_and_no_test_or_framework_extra(binder: dict[str, str]) -> None:
    python = Path(binder["VIRTUAL_ENV"]) / "bin" / "python"
    probe = ("import importlib.util as u; print(*(m for m in ('torch', 'sklearn', 'numpy', 'jupyter_exp', "
             "'pytest', 'keras', 'dask') if u.find_spec(m)))")
    found = subprocess.run([python, "-c", probe], env=binder, capture_output=True, text=True, check=True)
    assert found.stdout.split() == ["torch", "sklearn", "numpy", "jupyter_exp"]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_example_notebook_runs_headless(binder: dict[str, str], notebook: str, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    jupyter(binder, "nbconvert", "--to", "notebook", "--execute", "--output", "executed.ipynb",
            "--ExecutePreprocessor.timeout=600", notebook, cwd=tmp_path / "examples")
    executed = json.loads((tmp_path / "examples" / "executed.ipynb").read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors
    assert all(c.get("execution_count") for c in executed["cells"] if c["cell_type"] == "code")
