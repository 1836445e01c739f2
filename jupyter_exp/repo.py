"""``Repo``: the one Python API every front end (CLI, magics, widgets, server) stands on."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_exp.errors import NotARepoError
from jupyter_exp.fsutil import TreeReader, WorkspaceTree, atomic_write_text
from jupyter_exp.pipeline.rwlock import write_lock

if TYPE_CHECKING:
    from jupyter_exp.data.remote import TransferResult
    from jupyter_exp.data.watch import Watcher
    from jupyter_exp.experiments import Experiments
    from jupyter_exp.pipeline import Pipeline
    from jupyter_exp.scm.git import Git

DVC_DIR = ".dvc"
WORKSPACE = "workspace"
_DVC_GITIGNORE = "/config.local\n/tmp\n/cache\n"


def _find_upwards(start: Path, name: str) -> Path | None:
    for directory in (start, *start.parents):
        if (directory / name).exists():
            return directory
    return None


def _log_nothing(_: str) -> None:
    pass


def watch_files() -> Watcher | None:
    """Make this long-lived process (the daemon) keep inotify watches on the big trees its commands hash,
    so the commands it forks list only the folders that changed. None where inotify is not available."""
    from jupyter_exp.data import watch

    return watch.start()


class Repo:
    """A Git repository with a ``.dvc/`` directory: pipelines, cache, experiments, metrics and plots.

    ``Repo(path)`` finds the root by walking up from ``path``; ``Repo.init(path)`` creates ``.dvc/``.
    Sub-APIs are created lazily, so opening a repo costs nothing until it is used. ``log`` receives the
    progress messages a front end shows (the core itself never prints).
    """

    def __init__(self, path: str | os.PathLike[str] = ".", *, log: Any = None, progress: Any = None) -> None:
        start = Path(path).resolve()
        root = _find_upwards(start, DVC_DIR)
        if root is None:
            git_root = _find_upwards(start, ".git")
            if git_root is None:
                raise NotARepoError(
                    f"'{start}' is not inside a Git repository: run `git init` and then `jupyter exp init`"
                )
            raise NotARepoError(f"'{git_root}' has no '.dvc/' directory: run `jupyter exp init` there first")
        if _find_upwards(root, ".git") is None:  # a copied or unpacked project: nothing would be recorded
            raise NotARepoError(
                f"'{root}' has a '.dvc/' directory but is not inside a Git repository: run `git init` there "
                "(dvc.lock and experiments are kept with Git)"
            )
        self.root = root
        self.log = log or _log_nothing
        self.progress = progress  # (what) -> (done, total) callback: progress bars of long hashing/copying

    @classmethod
    def init(cls, path: str | os.PathLike[str] = ".", *, log: Any = None) -> Repo:
        """Create ``.dvc/`` (config, ``.gitignore``) in the Git repository at ``path``; harmless if present."""
        root = Path(path).resolve()
        if not (root / ".git").exists():
            raise NotARepoError(
                f"'{root}' is not the top of a Git repository: run `git init` there first "
                "(experiments are stored as Git commits)"
            )
        dvc_dir = root / DVC_DIR
        dvc_dir.mkdir(exist_ok=True)
        if not (dvc_dir / "config").exists():
            atomic_write_text(dvc_dir / "config", "")
        if not (dvc_dir / ".gitignore").exists():
            atomic_write_text(dvc_dir / ".gitignore", _DVC_GITIGNORE)
        if not (root / ".dvcignore").exists():
            atomic_write_text(
                root / ".dvcignore",
                "# Add patterns of files dvc should ignore, which could improve\n"
                "# the performance. Learn more at\n"
                "# https://dvc.org/doc/user-guide/dvcignore\n",
            )
        return cls(root, log=log)

    @classmethod
    def find_or_init(
        cls, path: str | os.PathLike[str] = ".", *, log: Any = None, progress: Any = None
    ) -> tuple[Repo, bool]:
        """The repo holding ``path``; initialise ``.dvc/`` at the Git root when missing. Returns (repo, created)."""
        start = Path(path).resolve()
        if _find_upwards(start, DVC_DIR) is not None:
            return cls(start, log=log, progress=progress), False
        git_root = _find_upwards(start, ".git")
        if git_root is None:
            raise NotARepoError(
                f"'{start}' is not inside a Git repository: run `git init` (or `!git init` in a cell) first"
            )
        repo = cls.init(git_root, log=log)
        repo.progress = progress
        return repo, True

    @cached_property
    def pipeline(self) -> Pipeline:
        from jupyter_exp.pipeline import Pipeline

        return Pipeline(self.root, log=self.log, progress=self.progress)

    @cached_property
    def scm(self) -> Git:
        from jupyter_exp.scm.git import Git

        return Git(self.root)

    @cached_property
    def experiments(self) -> Experiments:
        from jupyter_exp.experiments import Experiments

        return Experiments(lambda: self.pipeline, self.scm, log=self.log)

    def tree(self, rev: str | None) -> TreeReader:
        """Files at ``rev``: ``None``/``"workspace"`` is the workspace; else a commit, branch, tag, ``HEAD^``
        or an experiment name."""
        if rev is None or rev == WORKSPACE:
            return WorkspaceTree(self.root)
        from jupyter_exp.experiments import refs
        from jupyter_exp.pipeline.outputs_tree import revision_tree

        found = refs.find(self.scm, rev)
        return revision_tree(self.scm.tree(found[1] if found else rev), self.pipeline.cache)

    def trees(self, revs: Iterable[str]) -> dict[str, TreeReader]:
        return {rev: self.tree(rev) for rev in revs}

    @cached_property
    def metrics(self) -> Metrics:
        return Metrics(self)

    @cached_property
    def params(self) -> Params:
        return Params(self)

    @cached_property
    def plots(self) -> Plots:
        return Plots(self)

    @cached_property
    def remotes(self) -> Remotes:
        return Remotes(self)

    def dag(self, targets: Iterable[str] = (), *, dot: bool = False, mermaid: bool = False) -> str:
        """The stage graph (of ``targets``' stages and what they depend on) as text, DOT or Mermaid."""
        from jupyter_exp.pipeline.dagview import render_ascii, render_dot, render_mermaid

        render = render_dot if dot else render_mermaid if mermaid else render_ascii
        return render(self.pipeline.graph(), list(targets))

    @staticmethod
    def notebook_stage(
        notebook: str, params: list[str], outs: list[str], *, directory: Path
    ) -> tuple[str, list[str]]:
        """The command (papermill's, params injected) and outputs (``outs`` plus the executed copy) of a
        stage that runs ``notebook``; ``directory`` holds the dvc.yaml, the notebook and params.yaml."""
        from jupyter_exp.pipeline import notebook as notebooks

        return notebooks.stage_command(directory, notebook, params), notebooks.default_outputs(notebook, outs)

    def add_stage(
        self, name: str, definition: dict[str, Any], *, dvcfile: str = "dvc.yaml", force: bool = False
    ) -> bool:
        """Write stage ``name`` into ``dvcfile`` (relative to the root); True when it replaced one.

        The pipeline is loaded again before this returns, so a bad path, template or output clash is
        an error and dvc.yaml is left as it was.
        """
        from jupyter_exp.pipeline.dvcfile import add_stage

        return add_stage(
            self.root, self.root / dvcfile, name, definition, force=force, check=self.pipeline.graph
        )

    def gc(self, *, workspace: bool = True) -> int:
        """Remove cache objects the workspace does not reference (``gc -w``); returns how many went."""
        with write_lock(self.root, "gc", log=self.log):
            keep = self.pipeline.used_objects()
            if not workspace:
                keep |= self.experiments.used_objects()
            return self.pipeline.cache.gc(keep)

    # -- imports (frozen ``.dvc`` files recording where the data came from) ------------------------------------

    def import_from_repo(
        self, url: str, path: str, *, out: str | None = None, rev: str | None = None, force: bool = False
    ) -> str:
        """``import``: copy ``path`` at ``rev`` of the Git repository ``url`` (a path or ``file://``) from its
        Git tree or DVC cache/remote; returns the ``.dvc`` file written."""
        from jupyter_exp.pipeline import imports

        return imports.import_from_repo(
            self.pipeline, url, path, out=out, rev=rev, cwd=Path.cwd(), force=force
        )

    def import_url(self, url: str, out: str | None = None, *, force: bool = False) -> str:
        """``import-url``: copy what an fsspec URL or local path holds; returns the ``.dvc`` file written."""
        from jupyter_exp.pipeline import imports

        return imports.import_url(self.pipeline, url, out=out, cwd=Path.cwd(), force=force)

    def update(self, target: str, *, rev: str | None = None, force: bool = False) -> bool:
        """``update``: import ``target`` (an import's ``.dvc`` file) again; False when its source is unchanged."""
        from jupyter_exp.pipeline import imports

        return imports.update(self.pipeline, target, rev=rev, cwd=Path.cwd(), force=force)

    # -- data remotes (``push``/``fetch``/``pull``, DVC 3 remote layout) -------------------------------------

    def _target_stages(self, targets: Iterable[str]) -> list[str]:
        """Stage names for targets naming stages (``train``, ``data.dvc``) or cached outputs (``model.pt``)."""
        from jupyter_exp.errors import StageNotFoundError

        graph = self.pipeline.graph()
        chosen: list[str] = []
        for target in targets:
            try:
                found = self.pipeline.select(graph, [target])
            except StageNotFoundError as exc:
                rel = Path(os.path.relpath(Path(target).resolve(), self.root)).as_posix()
                found = [n for n, s in graph.stages.items() if any(out.path == rel for out in s.outs)]
                if not found:
                    raise StageNotFoundError(f"'{target}' is neither a stage nor an output: {exc}") from None
            chosen += [name for name in found if name not in chosen]
        return chosen

    def _data_objects(
        self, targets: Iterable[str] | None, *, all_branches: bool, all_commits: bool
    ) -> dict[str, str]:
        """md5 -> output path of the cached outputs of the workspace (the ``targets``' stages) and, with the
        flags, of every branch tip or every commit."""
        from jupyter_exp.experiments.manage import commit_outputs, recorded_outputs

        stages = self._target_stages(targets) if targets else None
        objects = recorded_outputs(WorkspaceTree(self.root), self.pipeline.dvcfiles(), stages=stages)
        revs: set[str] = set()
        if all_branches:
            revs.update(self.scm.branches().values())
        if all_commits:
            revs.update(self.scm.all_commits())
        for sha in sorted(revs):
            for md5, path in commit_outputs(self.scm, sha).items():
                objects.setdefault(md5, path)
        return objects

    def push(
        self,
        targets: Iterable[str] | None = None,
        *,
        remote: str | None = None,
        jobs: int | None = None,
        all_branches: bool = False,
        all_commits: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> TransferResult:
        """Upload the cached outputs the data remote (default: ``core.remote``) lacks."""
        from jupyter_exp.data.remote_config import get_remote

        objects = self._data_objects(targets, all_branches=all_branches, all_commits=all_commits)
        for md5 in self._repo_import_objects(targets):  # their source has them: DVC does not push imports
            objects.pop(md5, None)
        return get_remote(self.root, remote).push(self.pipeline.cache, objects, jobs=jobs, progress=progress)

    def fetch(
        self,
        targets: Iterable[str] | None = None,
        *,
        remote: str | None = None,
        jobs: int | None = None,
        all_branches: bool = False,
        all_commits: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> TransferResult:
        """Download into the cache the outputs' objects it lacks: from the data remote, and the workspace's
        repository imports from their source repositories (as DVC)."""
        from jupyter_exp.data.remote import TransferResult
        from jupyter_exp.data.remote_config import get_remote
        from jupyter_exp.pipeline import imports

        objects = self._data_objects(targets, all_branches=all_branches, all_commits=all_commits)
        stages = imports.repo_imports(self.pipeline, self._target_stages(targets) if targets else None)
        fetched = imports.fetch_repo_imports(self.pipeline, stages)
        for md5 in self._repo_import_objects(targets):
            objects.pop(md5, None)
        if not objects and stages:  # nothing the data remote is needed for
            return TransferResult(transferred=fetched)
        result = get_remote(self.root, remote).fetch(
            self.pipeline.cache, objects, jobs=jobs, progress=progress
        )
        result.transferred += fetched
        return result

    def _repo_import_objects(self, targets: Iterable[str] | None) -> set[str]:
        """Objects (with a folder's files) of the workspace's repository imports."""
        from jupyter_exp.pipeline import imports

        stages = imports.repo_imports(self.pipeline, self._target_stages(targets) if targets else None)
        found: set[str] = set()
        for stage in stages:
            md5 = stage.outs[0].options.get("md5")
            if isinstance(md5, str):
                found.add(md5)
                if md5.endswith(".dir") and self.pipeline.cache.object_path(md5).is_file():
                    found.update(e.md5 for e in self.pipeline.cache.load_dir_manifest(md5))
        return found

    def pull(
        self,
        targets: Iterable[str] | None = None,
        *,
        remote: str | None = None,
        jobs: int | None = None,
        all_branches: bool = False,
        all_commits: bool = False,
        force: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[TransferResult, list[str]]:
        """``fetch``, then check the workspace's outputs out; returns (what was fetched, paths restored)."""
        stages = self._target_stages(targets) if targets else None
        fetched = self.fetch(
            stages,
            remote=remote,
            jobs=jobs,
            all_branches=all_branches,
            all_commits=all_commits,
            progress=progress,
        )
        return fetched, self.pipeline.checkout(stages, force=force)

    def __repr__(self) -> str:
        return f"Repo({str(self.root)!r})"


class Metrics:
    """``Repo.metrics``: metrics files of any revisions (``workspace``, commits, branches, experiments)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    def show(
        self, revs: Iterable[str] = (WORKSPACE,), targets: list[str] | None = None, *, flat: bool = True
    ) -> dict:
        from jupyter_exp.metrics import show_metrics

        return show_metrics(self.repo.trees(revs), targets, flat=flat)

    def diff(
        self, a: str = "HEAD", b: str = WORKSPACE, targets: list[str] | None = None, *, all: bool = False
    ) -> list:
        from jupyter_exp.metrics import diff_metrics

        return diff_metrics(self.repo.tree(a), self.repo.tree(b), targets, all=all)

    @staticmethod
    def render_show(shown: dict, *, markdown: bool = False, precision: int | None = None) -> str:
        """``show``'s result as ``dvc metrics show`` prints it (a table, or Markdown)."""
        from jupyter_exp.metrics import render_metrics_show

        return render_metrics_show(shown, markdown=markdown, precision=precision)

    @staticmethod
    def render_diff(rows: list, revs: tuple[str, str], **options: Any) -> str:
        """``diff``'s rows as ``dvc metrics diff`` prints them (``markdown``, ``no_path``, ``precision``)."""
        from jupyter_exp.metrics import render_metrics_diff

        return render_metrics_diff(rows, revs=revs, **options)


class Params:
    """``Repo.params``: params of any revisions, as ``params diff`` compares them."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    def show(self, revs: Iterable[str] = (WORKSPACE,), targets: list[str] | None = None) -> dict:
        from jupyter_exp.params import show_params

        return show_params(self.repo.trees(revs), targets)

    def diff(
        self, a: str = "HEAD", b: str = WORKSPACE, targets: list[str] | None = None, *, all: bool = False
    ) -> list:
        from jupyter_exp.params import diff_params

        return diff_params(self.repo.tree(a), self.repo.tree(b), targets, all=all)

    @staticmethod
    def render_diff(rows: list, revs: tuple[str, str], **options: Any) -> str:
        """``diff``'s rows as ``dvc params diff`` prints them (``markdown``, ``no_path``)."""
        from jupyter_exp.params import render_params_diff

        return render_params_diff(rows, revs=revs, **options)

    @staticmethod
    def diff_json(rows: list) -> dict[str, dict[str, dict[str, Any]]]:
        """Diff rows (of params or metrics) in ``--json`` layout: ``{file: {key: {old, new[, diff]}}}``."""
        from jupyter_exp.params import diff_json

        return diff_json(rows)


class Plots:
    """``Repo.plots``: one offline HTML page (or the data) overlaying revisions' plots."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    def _out(self, out_dir: str | os.PathLike[str]) -> Path:
        return Path(out_dir) if Path(out_dir).is_absolute() else self.repo.root / out_dir

    def diff(
        self,
        revs: Iterable[str] = ("HEAD", WORKSPACE),
        targets: list[str] | None = None,
        *,
        out_dir: str | os.PathLike[str] = "dvc_plots",
        props: dict[str, Any] | None = None,
    ) -> Path:
        """Write ``<out_dir>/index.html`` with one series per revision; returns its path."""
        from jupyter_exp.plots import plots_diff

        return plots_diff(self.repo.trees(revs), targets, out_dir=self._out(out_dir), props=props)

    def show(self, targets: list[str] | None = None, **options: Any) -> Path:
        return self.diff([WORKSPACE], targets, **options)

    def data(
        self,
        revs: Iterable[str] = ("HEAD", WORKSPACE),
        targets: list[str] | None = None,
        props: dict[str, Any] | None = None,
        *,
        out_dir: str | os.PathLike[str] = "dvc_plots",
    ) -> dict[str, Any]:
        """``--json``: the data of every plot per revision (image plots' files written to ``out_dir``)."""
        from jupyter_exp.plots import plots_json

        return plots_json(self.repo.trees(revs), targets, props=props, out_dir=self._out(out_dir))


class Remotes:
    """``Repo.remotes``: the data remotes of ``.dvc/config`` (and ``config.local``)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    def add(self, name: str, url: str, *, cwd: str | os.PathLike[str] | None = None, **options: bool) -> str:
        """Add remote ``name`` (``default``, ``force``, ``local``); returns the URL as written (a relative
        local path is made relative to the config file, from ``cwd``)."""
        from jupyter_exp.data.remote_config import add_remote

        return add_remote(self.repo.root, name, url, cwd=cwd, **options)

    def list(self) -> dict[str, str]:
        """Remote name -> URL."""
        from jupyter_exp.data.remote_config import list_remotes

        return list_remotes(self.repo.root)

    def remove(self, name: str) -> None:
        from jupyter_exp.data.remote_config import remove_remote

        remove_remote(self.repo.root, name)

    def default(self) -> str | None:
        from jupyter_exp.data.remote_config import default_remote

        return default_remote(self.repo.root)

    def modify(self, name: str, option: str, value: str | None, *, local: bool = False) -> None:
        """Set one option of remote ``name`` (``endpointurl``, ``access_key_id``, ...; ``value=None`` removes it)."""
        from jupyter_exp.data.remote_config import modify_remote

        modify_remote(self.repo.root, name, option, value, local=local)

    def set_default(self, name: str | None, *, local: bool = False) -> None:
        """Make ``name`` the default remote (``None``: no default)."""
        from jupyter_exp.data.remote_config import set_default_remote

        set_default_remote(self.repo.root, name, local=local)
