"""Stages as plain dataclasses, built from resolved ``dvc.yaml`` definitions or ``.dvc`` files.

Paths are kept twice: ``def_path`` exactly as written (relative to the stage's ``wdir``; this is what
``dvc.lock`` records) and ``path`` relative to the repository root (what the DAG and the cache use).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from jupyter_exp.errors import YAMLFileError
from jupyter_exp.pipeline.paths import repo_path, stage_wdir

DEFAULT_PARAMS_FILE = "params.yaml"


@dataclass(frozen=True)
class Output:
    """One entry of ``outs``, ``metrics`` or ``plots`` (all are outputs of the stage)."""

    def_path: str
    path: str
    cache: bool = True
    persist: bool = False
    checkpoint: bool = False
    remote: str | None = None
    kind: str = "outs"  # "outs" | "metrics" | "plots"
    options: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Dependency:
    def_path: str
    path: str


@dataclass(frozen=True)
class ParamsDependency:
    """Params read from one file; ``keys`` empty means the whole file."""

    def_path: str
    path: str
    keys: tuple[str, ...] = ()


@dataclass
class Stage:
    """A resolved stage, ready for the DAG, status and repro."""

    name: str  # "train", "build@us"; ".dvc" file stages use their file name
    dvcfile: str  # "dvc.yaml", "sub/dvc.yaml", "data.csv.dvc" (relative to the repo root)
    wdir: str  # relative to the repo root, "." for the root
    cmd: list[str] = field(default_factory=list)
    deps: list[Dependency] = field(default_factory=list)
    params: list[ParamsDependency] = field(default_factory=list)
    outs: list[Output] = field(default_factory=list)
    frozen: bool = False
    always_changed: bool = False
    desc: str | None = None
    live: dict[str, dict[str, Any]] = field(default_factory=dict)
    definition: dict[str, Any] = field(default_factory=dict)

    @property
    def is_data_source(self) -> bool:
        """A ``.dvc`` file written by ``add``: outputs with no command."""
        return self.dvcfile.endswith(".dvc")

    @property
    def import_source(self) -> dict[str, Any] | None:
        """The ``deps`` entry of an import ``.dvc`` file: ``{path, repo: {url, rev_lock}}`` for ``import``,
        ``{path: URL, md5 | etag, size}`` for ``import-url``; None for data tracked with ``add``."""
        deps = self.definition.get("deps") if self.is_data_source else None
        return deps[0] if isinstance(deps, list) and deps and isinstance(deps[0], dict) else None

    @property
    def lockfile(self) -> str:
        return posixpath.join(posixpath.dirname(self.dvcfile), "dvc.lock")

    @property
    def addressing(self) -> str:
        """The name users type: ``train`` for the root dvc.yaml, ``sub/dvc.yaml:train`` elsewhere."""
        if self.is_data_source or self.dvcfile == "dvc.yaml":
            return self.name if not self.is_data_source else self.dvcfile
        return f"{self.dvcfile}:{self.name}"

    @property
    def checkpoint_outs(self) -> list[Output]:
        return [out for out in self.outs if out.checkpoint]

    def __str__(self) -> str:
        return f"'{self.addressing}'"


def _flag(value: Any, where: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise YAMLFileError(f"{where}: '{key}' must be true or false, got {value!r}")
    return value


def _outputs(entries: Any, kind: str, wdir: str, where: str) -> list[Output]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise YAMLFileError(f"{where}: '{kind}' must be a list")
    outs = []
    for entry in entries:
        options: dict[str, Any] = {}
        if isinstance(entry, dict):
            if len(entry) != 1:
                raise YAMLFileError(f"{where}: each '{kind}' entry maps one path to its options")
            ((def_path, options),) = entry.items()
            options = dict(options or {})
        elif isinstance(entry, str):
            def_path = entry
        else:
            raise YAMLFileError(f"{where}: bad '{kind}' entry {entry!r}")
        outs.append(
            Output(
                def_path=def_path,
                path=repo_path(wdir, def_path, kind, where, output=True),
                cache=_flag(options.pop("cache", True), where, f"{kind}.{def_path}.cache"),
                persist=_flag(options.pop("persist", False), where, f"{kind}.{def_path}.persist"),
                checkpoint=_flag(options.pop("checkpoint", False), where, f"{kind}.{def_path}.checkpoint"),
                remote=options.pop("remote", None),
                kind=kind,
                options=options,
            )
        )
    return outs


def _params(entries: Any, wdir: str, where: str) -> list[ParamsDependency]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise YAMLFileError(f"{where}: 'params' must be a list")
    by_file: dict[str, list[str]] = {}
    whole: set[str] = set()
    for entry in entries:
        if isinstance(entry, str):
            by_file.setdefault(DEFAULT_PARAMS_FILE, []).append(entry)
        elif isinstance(entry, dict):
            for file, keys in entry.items():
                if keys is None or keys == []:
                    whole.add(file)
                    by_file.setdefault(file, [])
                elif isinstance(keys, list) and all(isinstance(k, str) for k in keys):
                    by_file.setdefault(file, []).extend(keys)
                else:
                    raise YAMLFileError(f"{where}: params of '{file}' must be a list of keys")
        else:
            raise YAMLFileError(f"{where}: bad 'params' entry {entry!r}")
    return [
        ParamsDependency(
            def_path=file,
            path=repo_path(wdir, file, "params", where),
            keys=() if file in whole else tuple(dict.fromkeys(keys)),
        )
        for file, keys in by_file.items()
    ]


def _live_outputs(live: dict[str, Any], wdir: str, where: str) -> list[Output]:
    """DVC 2.0's ``live:`` section: the logs folder is plots, ``<dir>.json`` a metric, ``<dir>.html`` a report."""
    outs = []
    for directory, options in live.items():
        options = options or {}
        cache = _flag(options.get("cache", True), where, f"live.{directory}.cache")
        outs.append(Output(directory, repo_path(wdir, directory, "live", where, output=True), cache=cache, kind="plots"))
        if options.get("summary", True):
            summary = f"{directory}.json"
            outs.append(Output(summary, repo_path(wdir, summary, "live", where, output=True), cache=False, kind="metrics"))
    return outs


def build_stage(name: str, definition: dict[str, Any], dvcfile: str) -> Stage:
    """Turn one resolved definition (the dict templating returns) into a :class:`Stage`."""
    where = f"'{dvcfile}' stage '{name}'"
    base = posixpath.dirname(dvcfile) or "."
    wdir = stage_wdir(base, definition.get("wdir", "."), where)
    cmd = definition.get("cmd")
    if cmd is None:
        raise YAMLFileError(f"{where}: 'cmd' is required")
    cmds = [cmd] if isinstance(cmd, str) else cmd
    if not isinstance(cmds, list) or not all(isinstance(c, str) for c in cmds):
        raise YAMLFileError(f"{where}: 'cmd' must be a string or a list of strings")
    deps_raw = definition.get("deps") or []
    if not isinstance(deps_raw, list) or not all(isinstance(d, str) for d in deps_raw):
        raise YAMLFileError(f"{where}: 'deps' must be a list of paths")
    live = definition.get("live") or {}
    if not isinstance(live, dict):
        raise YAMLFileError(f"{where}: 'live' must map a logs folder to its options")
    outs = (
        _outputs(definition.get("outs"), "outs", wdir, where)
        + _outputs(definition.get("metrics"), "metrics", wdir, where)
        + _outputs(definition.get("plots"), "plots", wdir, where)
        + _live_outputs(live, wdir, where)
    )
    return Stage(
        name=name,
        dvcfile=dvcfile,
        wdir=wdir,
        cmd=cmds,
        deps=[Dependency(d, repo_path(wdir, d, "deps", where)) for d in deps_raw],
        params=_params(definition.get("params"), wdir, where),
        outs=outs,
        frozen=bool(definition.get("frozen", False)),
        always_changed=bool(definition.get("always_changed", False)),
        desc=definition.get("desc"),
        live=live,
        definition=definition,
    )


def build_data_stage(dvcfile: str, data: dict[str, Any]) -> Stage:
    """A ``.dvc`` file from ``add`` or an import: its ``outs`` are the tracked data, no command. An
    import's ``frozen`` and ``deps`` (where the data came from) stay in ``definition``, untouched."""
    where = f"'{dvcfile}'"
    deps = data.get("deps")
    if deps is not None and (
        not isinstance(deps, list) or not all(isinstance(d, dict) and "path" in d for d in deps)
    ):
        raise YAMLFileError(f"{where}: 'deps' must be a list of entries with a 'path'")
    outs_raw = data.get("outs")
    if not isinstance(outs_raw, list) or not outs_raw:
        raise YAMLFileError(f"{where}: 'outs' must be a non-empty list")
    base = posixpath.dirname(dvcfile) or "."
    wdir = stage_wdir(base, data.get("wdir", "."), where)
    outs = []
    for entry in outs_raw:
        if not isinstance(entry, dict) or "path" not in entry:
            raise YAMLFileError(f"{where}: each 'outs' entry needs a 'path'")
        outs.append(
            Output(
                entry["path"],
                repo_path(wdir, entry["path"], "outs", where, output=True),
                cache=entry.get("cache", True),
                options={k: v for k, v in entry.items() if k != "path"},
            )
        )
    return Stage(
        name=posixpath.basename(dvcfile),
        dvcfile=dvcfile,
        wdir=wdir,
        outs=outs,
        frozen=_flag(data.get("frozen", False), where, "frozen"),
        definition=data,
    )
