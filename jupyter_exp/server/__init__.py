"""Jupyter server extension: the REST API (``/jupyter-exp/api/``) the JupyterLab "Experiments" panel calls.

Enabled by ``jupyter-config/jupyter_server_config.d/jupyter_exp.json``, which the wheel installs to
``etc/jupyter``. The panel itself is the labextension built from ``labextension/`` into ``jupyter_exp/labextension/``.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "jupyter_exp.server"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    from jupyter_exp.server.handlers import API_PREFIX, setup_handlers

    setup_handlers(server_app.web_app)
    server_app.log.info("jupyter_exp: experiments API at %s%s/", server_app.base_url, API_PREFIX)
