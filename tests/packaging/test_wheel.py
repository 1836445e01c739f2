"""The wheel carries the whole tool: the package, the built JupyterLab panel where JupyterLab looks for it, the
server extension switched on, one version for both, and the heavy libraries only behind extras."""

from __future__ import annotations

import email
import json
import os
import sys
import tarfile
import zipfile
from pathlib import Path

from conftest import ROOT, build

PANEL = "share/jupyter/labextensions/jupyter-exp"
SERVER_CONFIG = "etc/jupyter/jupyter_server_config.d/jupyter_exp.json"


def package_json_version() -> str:
    return json.loads((ROOT / "labextension" / "package.json").read_text())["version"]


def data_files(wheel: Path) -> dict[str, bytes]:
    """The files the wheel installs into the environment's prefix (``<name>.data/data/...``), by that path."""
    with zipfile.ZipFile(wheel) as zf:
        return {
            name.split("/data/", 1)[1]: zf.read(name)
            for name in zf.namelist()
            if name.split("/", 1)[0].endswith(".data")
        }


def metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(zf.read(name))


def test_the_panel_is_built_into_the_wheel_where_jupyterlab_finds_it(wheel: Path) -> None:
    files = data_files(wheel)
    panel = {name.removeprefix(PANEL + "/") for name in files if name.startswith(PANEL + "/")}
    assert {"package.json", "install.json", "static/style.js"} <= panel
    assert any(name.startswith("static/remoteEntry.") and name.endswith(".js") for name in panel)
    # Built JavaScript only: no TypeScript sources, no node_modules.
    assert not [n for n in panel if n.endswith(".ts") or "node_modules" in n]
    built = json.loads(files[f"{PANEL}/package.json"])
    assert built["name"] == "jupyter-exp"
    assert built["jupyterlab"]["_build"]["load"].startswith("static/remoteEntry.")
    assert json.loads(files[f"{PANEL}/install.json"])["packageName"] == "jupyter-exp"


def test_the_server_extension_is_enabled_by_the_wheel(wheel: Path) -> None:
    config = json.loads(data_files(wheel)[SERVER_CONFIG])
    assert config == {"ServerApp": {"jpserver_extensions": {"jupyter_exp.server": True}}}
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert {"jupyter_exp/server/__init__.py", "jupyter_exp/notebook/widgets/table.js"} <= names


def test_the_python_package_and_the_panel_share_one_version(wheel: Path) -> None:
    version = package_json_version()
    assert metadata(wheel)["Version"] == version
    assert json.loads(data_files(wheel)[f"{PANEL}/package.json"])["version"] == version
    assert wheel.name == f"jupyter_exp-{version}-py3-none-any.whl"


def test_the_base_install_pulls_no_framework_and_the_extras_are_opt_in(wheel: Path) -> None:
    meta = metadata(wheel)
    base = {req.split(">")[0].split("=")[0].split("<")[0].strip().lower()
            for req in meta.get_all("Requires-Dist") if "extra ==" not in req}
    assert {"dulwich", "ipywidgets", "anywidget", "jupyterlab", "fsspec"} <= base
    assert not base & {"torch", "keras", "lightning", "transformers", "xgboost", "dask", "numpy", "pandas"}
    assert {"examples", "frameworks", "dask", "test"} <= set(meta.get_all("Provides-Extra"))


def test_a_wheel_builds_from_the_sdist_without_node(sdist: Path, tmp_path: Path) -> None:
    """The sdist ships the built panel, so building from it needs no Node.js (only Python on PATH here)."""
    with tarfile.open(sdist) as tf:
        names = tf.getnames()
        tf.extractall(tmp_path / "src", filter="data")
    top = names[0].split("/")[0]
    assert f"{top}/jupyter_exp/labextension/static/style.js" in names
    assert f"{top}/labextension/src/index.ts" in names  # sources too: it is a source distribution
    assert not [n for n in names if "node_modules" in n or "/.venv/" in n]
    no_node = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    wheel = build("wheel", tmp_path / "src" / top, tmp_path / "dist", env=no_node)
    assert f"{PANEL}/static/style.js" in data_files(wheel)
