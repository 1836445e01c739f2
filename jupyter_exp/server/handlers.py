"""REST handlers under ``/jupyter-exp/api/`` for the JupyterLab "Experiments" panel (``labextension/``).

Handlers are thin: parse the request, call :class:`~jupyter_exp.repo.Repo`, serialise. Repository work
blocks (Git, hashing, YAML), so it runs in a thread executor and the server keeps answering; running the
experiment queue can take hours, so ``POST run_all`` starts it in a background thread and returns at once.
``path`` is a folder relative to the server's root (the file browser's path); the repository is the one
holding it. Errors a user can act on come back as ``{"error": message}``: 404 when there is no repository,
400 for every other :class:`~jupyter_exp.errors.JupyterExpError` or a malformed request.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import tempfile
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from jupyter_exp import __version__
from jupyter_exp.errors import JupyterExpError, NotARepoError
from jupyter_exp.repo import Repo

API_PREFIX = "jupyter-exp/api"
QUEUE_RUNS_SETTING = "jupyter_exp_queue_runs"
T = TypeVar("T")


class BadRequest(Exception):
    """The request itself is malformed (missing or ill-typed field); answered with 400."""


class Conflict(Exception):
    """The request clashes with work in progress (the queue of that repo already runs); answered with 409."""


@dataclass
class QueueRun:
    """One ``run_all`` of a repository's queue, run by a background thread."""

    root: Path
    started: datetime
    finished: datetime | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "running": self.finished is None,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None,
            "results": self.results,
            "error": self.error,
            "messages": self.messages[-50:],
        }


class QueueRuns:
    """The background runs of a repository's queue (``run_all``, or a ``sweep`` of queued trials), one at
    most per repository root."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[Path, QueueRun] = {}

    def get(self, root: Path) -> QueueRun | None:
        with self._lock:
            return self._runs.get(root)

    def start(self, root: Path, work: Callable[[Repo], list[dict[str, Any]]]) -> QueueRun:
        """Run ``work`` on the repository at ``root`` in a thread; its result dicts become the run's results."""
        with self._lock:
            current = self._runs.get(root)
            if current is not None and current.finished is None:
                raise Conflict(
                    f"The experiment queue of '{root}' is already running (since {current.started:%X})"
                )
            run = QueueRun(root, datetime.now(timezone.utc))
            self._runs[root] = run
        threading.Thread(
            target=self._run, args=(run, work), name=f"jupyter-exp queue {root}", daemon=True
        ).start()
        return run

    @staticmethod
    def _run(run: QueueRun, work: Callable[[Repo], list[dict[str, Any]]]) -> None:
        try:
            run.results = work(Repo(run.root, log=run.messages.append))
        except JupyterExpError as err:
            run.error = str(err)
        except Exception as err:  # a bug: the panel shows it instead of a run that never finishes
            run.error = f"{type(err).__name__}: {err}"
        finally:
            run.finished = datetime.now(timezone.utc)


def _finite(value: Any) -> Any:
    """NaN/inf as text: ``JSON.parse`` in the browser rejects Python's ``NaN`` literal."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _api(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """An endpoint: login and authorisation first (``auth_resource``: GET reads, POST writes), then user
    errors as JSON answers: no repo -> 404, other user errors and bad requests -> 400, a queue already
    running -> 409."""

    @functools.wraps(method)
    async def wrapper(self: ExpHandler, *args: Any) -> None:
        try:
            await method(self, *args)
        except NotARepoError as err:
            self.fail(404, err)
        except (JupyterExpError, BadRequest) as err:
            self.fail(400, err)
        except Conflict as err:
            self.fail(409, err)

    return web.authenticated(authorized(wrapper))


class ExpHandler(APIHandler):
    """Shared parsing and the thread executor; ``auth_resource`` makes GET a read and POST a write."""

    auth_resource = "contents"

    @property
    def queue_runs(self) -> QueueRuns:
        return self.settings[QUEUE_RUNS_SETTING]

    def fail(self, status: int, err: Exception) -> None:
        """``{"error": message, "type": class name}``: the panel offers ``force`` for a DirtyWorkspaceError."""
        self.set_status(status)
        self.finish({"error": str(err), "type": type(err).__name__})

    def reply(self, data: Any) -> None:
        self.finish(json.dumps(_finite(data)))

    @property
    def server_root(self) -> Path:
        """The folder the server serves, symlinks resolved: nothing above it is ever opened."""
        return Path(self.settings["server_root_dir"]).expanduser().resolve()

    def folder(self, path: str) -> Path:
        """``path`` (relative to the server root) as an absolute folder that stays inside the root."""
        root = self.server_root
        target = (root / path.strip("/")).resolve()
        if not target.is_relative_to(root):
            raise BadRequest(f"'{path}' is outside the folder the server serves")
        if not target.is_dir():
            raise NotARepoError(f"'{path}' is not a folder on the server")
        return target

    def body(self, *fields: str) -> dict[str, Any]:
        """The JSON object sent; a key the endpoint does not take is an error, as an unknown CLI option is."""
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError as err:
            raise BadRequest(f"the request body is not JSON: {err}") from err
        if not isinstance(data, dict):
            raise BadRequest("the request body must be a JSON object")
        unknown = sorted(str(key) for key in data if key not in fields)
        if unknown:
            raise BadRequest(f"unknown field(s) {', '.join(map(repr, unknown))}: this endpoint takes {', '.join(fields)}")
        return data

    @staticmethod
    def field(data: dict[str, Any], name: str, kind: type[T], default: Any = ...) -> T:
        value = data.get(name, default)
        if value is ...:
            raise BadRequest(f"'{name}' is required")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BadRequest(f"'{name}' must be a {kind.__name__}, got {json.dumps(value)}")
        return value

    async def in_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args, **kwargs))

    def open_repo(self, path: str, messages: list[str] | None = None) -> Repo:
        """The repository holding ``path``, only when it lies at or below the server root: a server
        started in ``repo/sub/`` does not expose ``repo/``."""
        log = messages.append if messages is not None else None
        repo = Repo(self.folder(path), log=log)
        if not repo.root.is_relative_to(self.server_root):
            raise NotARepoError(
                f"'{path or '.'}' is inside the repository '{repo.root.name}', which encloses the folder the "
                "server serves: start the server at the repository's root (or above) to use it"
            )
        return repo

    async def on_repo(self, path: str, work: Callable[[Repo], T]) -> tuple[T, list[str]]:
        """``work`` on the repository holding ``path``, in the thread executor; returns its result and the
        messages it logged."""
        messages: list[str] = []
        result = await self.in_thread(lambda: work(self.open_repo(path, messages)))
        return result, messages

    def root_label(self, repo: Repo) -> str:
        """The repository root as the file browser names it (relative to the server root)."""
        return repo.root.relative_to(self.server_root).as_posix()


class ExperimentsHandler(ExpHandler):
    """``GET experiments?path=[&sort=COLUMN&desc=1&filter=TEXT&collapsed=TIP,...]``: the ``exp show`` rows in
    ``ExpTable.to_json()`` shape, the repo root, and the core's view of them (``TableView``): the columns,
    the best value per metric and ``order``, the revs in drawing order for that sort, filter and collapse."""

    @_api
    async def get(self) -> None:
        sort = self.get_query_argument("sort", "")
        desc = self.get_query_argument("desc", "") in ("1", "true")
        filter_text = self.get_query_argument("filter", "")
        collapsed = [tip for tip in self.get_query_argument("collapsed", "").split(",") if tip]

        def show(repo: Repo) -> dict[str, Any]:
            table = repo.experiments.show()
            view = table.view()
            if sort and sort not in {c["id"] for c in view.columns}:
                raise JupyterExpError(f"sort: no column '{sort}' (ids look like metrics:metrics.json:loss)")
            shown = view.visible_rows(sort_by=sort, sort_desc=desc, filter_text=filter_text, collapsed=collapsed)
            return {
                "root": self.root_label(repo),
                "rows": json.loads(table.to_json()),
                "columns": view.columns,
                "best": view.best(),
                "order": [rec["rev"] for rec in shown],
            }

        table, _ = await self.on_repo(self.get_query_argument("path", ""), show)
        self.reply(table)


class RunningHandler(ExpHandler):
    """``GET running?path=``: the ``experiments`` rows of the entries a worker runs now, with the metrics
    logged so far; the panel polls it every second while the queue runs, the whole table less often."""

    @_api
    async def get(self) -> None:
        table, _ = await self.on_repo(
            self.get_query_argument("path", ""), lambda repo: repo.experiments.show_running()
        )
        self.reply({"rows": json.loads(table.to_json())})


class StatusHandler(ExpHandler):
    """``GET status?path=``: the repo root, its queue (queued/failed counts, the names of the entries a
    worker runs now) and the background run, if any."""

    @_api
    async def get(self) -> None:
        def status(repo: Repo) -> dict[str, Any]:
            queue = repo.experiments.queued()
            run = self.queue_runs.get(repo.root)
            return {
                "version": __version__,
                "root": self.root_label(repo),
                "queued": sum(not e.failed for e in queue),
                "failed": sum(e.failed for e in queue),
                "running": [e.label for e in repo.experiments.running()],
                "run": run.to_dict() if run else None,
            }

        state, _ = await self.on_repo(self.get_query_argument("path", ""), status)
        self.reply(state)


class ApplyHandler(ExpHandler):
    """``POST apply {path, rev, force}``: bring an experiment into the workspace."""

    @_api
    async def post(self) -> None:
        data = self.body("path", "rev", "force")
        path, rev = self.field(data, "path", str, ""), self.field(data, "rev", str)
        force = self.field(data, "force", bool, False)
        sha, messages = await self.on_repo(path, lambda repo: repo.experiments.apply(rev, force=force))
        self.reply({"rev": sha, "messages": messages})


class BranchHandler(ExpHandler):
    """``POST branch {path, rev, branch}``: a Git branch from an experiment."""

    @_api
    async def post(self) -> None:
        data = self.body("path", "rev", "branch")
        path, rev = self.field(data, "path", str, ""), self.field(data, "rev", str)
        branch = self.field(data, "branch", str)
        message, _ = await self.on_repo(path, lambda repo: repo.experiments.branch(rev, branch))
        self.reply({"branch": branch, "messages": [message]})


class RemoveHandler(ExpHandler):
    """``POST remove {path, names}``: remove experiments or queued entries by name or sha."""

    @_api
    async def post(self) -> None:
        data = self.body("path", "names")
        path, names = self.field(data, "path", str, ""), self.field(data, "names", list)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise BadRequest("'names' must be a non-empty list of experiment names")
        removed, messages = await self.on_repo(path, lambda repo: repo.experiments.remove(names))
        self.reply({"removed": removed, "messages": messages})


class RunHandler(ExpHandler):
    """``POST run {path, params: ["k=v"], name?, queue: true}``: queue an experiment (nothing runs here)."""

    @_api
    async def post(self) -> None:
        data = self.body("path", "params", "name", "queue")
        path, params = self.field(data, "path", str, ""), self.field(data, "params", list, [])
        name = self.field(data, "name", str, "") or None
        if not all(isinstance(p, str) for p in params):
            raise BadRequest("'params' must be a list of 'key=value' strings")
        if data.get("queue") is not True:
            raise BadRequest(
                "only queued runs are accepted here ('queue': true); start the queue with POST run_all"
            )
        result, messages = await self.on_repo(
            path, lambda repo: repo.experiments.run(params, name=name, queue=True)
        )
        self.reply({"name": result.name, "rev": result.rev, "queued": True, "messages": messages})


class RunAllHandler(ExpHandler):
    """``POST run_all {path, jobs?}``: start the queue in a background thread; answers 202 at once."""

    @_api
    async def post(self) -> None:
        data = self.body("path", "jobs")
        path, jobs = self.field(data, "path", str, ""), self.field(data, "jobs", int, 1)
        if jobs < 1:
            raise BadRequest("'jobs' must be at least 1")
        repo = await self.in_thread(self.open_repo, path)

        def run_all(repo: Repo) -> list[dict[str, Any]]:
            results = repo.experiments.run_all(jobs=jobs)
            return [{"name": r.name, "rev": r.rev, "error": r.error} for r in results]

        run = self.queue_runs.start(repo.root, run_all)
        self.set_status(202)
        self.reply(run.to_dict())


class SweepHandler(ExpHandler):
    """``POST sweep {path, params, trials, objective, direction?, jobs?, study?}``: an Optuna sweep (each trial
    a queued experiment) in a background thread; answers 202 at once, ``status`` follows it."""

    @_api
    async def post(self) -> None:
        data = self.body("path", "params", "trials", "objective", "direction", "jobs", "study")
        path, params = self.field(data, "path", str, ""), self.field(data, "params", list)
        trials, jobs = self.field(data, "trials", int), self.field(data, "jobs", int, 1)
        objective = self.field(data, "objective", str)
        direction = self.field(data, "direction", str, "minimize")
        study = self.field(data, "study", str, "") or None
        if not all(isinstance(p, str) for p in params):
            raise BadRequest("'params' must be a list of 'key=space' strings")
        if trials < 1 or jobs < 1:
            raise BadRequest("'trials' and 'jobs' must be at least 1")
        repo = await self.in_thread(self.open_repo, path)
        # The space and direction are checked now, so a mistake is a 400 rather than a failed background run.
        await self.in_thread(repo.experiments.check_sweep, params, objective=objective, direction=direction)

        def sweep(repo: Repo) -> list[dict[str, Any]]:
            result = repo.experiments.sweep(
                params, trials, objective=objective, direction=direction, jobs=jobs, study=study
            )
            best = result.best.number if result.best else None
            return [
                {
                    "name": t.name,
                    "rev": t.rev,
                    "error": t.error,
                    "trial": t.number,
                    "state": t.state,
                    "value": _finite(t.value),
                    "best": t.number == best,
                }
                for t in result.trials
            ]

        run = self.queue_runs.start(repo.root, sweep)
        self.set_status(202)
        self.reply(run.to_dict())


class DiffHandler(ExpHandler):
    """``GET diff?path=&a=REV&b=REV[&all=1]``: ``exp diff a b`` as data (``diff``: per file and key, old,
    new and the change) and as the two tables ``exp diff`` prints (``tables``: header and cell text per
    kind), so the panel shows the core's formatting (metrics rounded, params as written)."""

    @_api
    async def get(self) -> None:
        path = self.get_query_argument("path", "")
        a, b = self.get_query_argument("a", ""), self.get_query_argument("b", "")
        if not a or not b:
            raise BadRequest("'a' and 'b' must name the two revisions to compare")
        include_all = self.get_query_argument("all", "") in ("1", "true")

        def diff(repo: Repo) -> dict[str, Any]:
            result = repo.experiments.diff(a, b, include_all=include_all)
            tables = {}
            for kind in ("metrics", "params"):
                header, rows = result.rows(kind)
                tables[kind] = {"header": header, "rows": rows}
            return {"a": a, "b": b, "diff": result.to_dict(), "tables": tables}

        data, _ = await self.on_repo(path, diff)
        self.reply(data)


class PlotsHandler(ExpHandler):
    """``GET plots?path=&revs=a,b``: the offline plots page overlaying those revisions, as ``text/html``.

    The page is rendered into a temporary folder so a GET never writes into the user's repository.
    """

    @_api
    async def get(self) -> None:
        path = self.get_query_argument("path", "")
        revs = [r for r in self.get_query_argument("revs", "").split(",") if r]
        if not revs:
            raise BadRequest("'revs' must name at least one revision (comma separated)")

        def page(repo: Repo) -> str:
            with tempfile.TemporaryDirectory(prefix="jupyter-exp-plots-") as out:
                return repo.plots.diff(revs, out_dir=out).read_text(encoding="utf-8")

        html, _ = await self.on_repo(path, page)
        self.finish(html, set_content_type="text/html; charset=utf-8")


ROUTES: list[tuple[str, type[ExpHandler]]] = [
    ("experiments", ExperimentsHandler),
    ("status", StatusHandler),
    ("running", RunningHandler),
    ("apply", ApplyHandler),
    ("branch", BranchHandler),
    ("remove", RemoveHandler),
    ("run", RunHandler),
    ("run_all", RunAllHandler),
    ("sweep", SweepHandler),
    ("diff", DiffHandler),
    ("plots", PlotsHandler),
]


def setup_handlers(web_app: web.Application) -> None:
    """Register the API under the server's base URL; one :class:`QueueRuns` per server."""
    web_app.settings.setdefault(QUEUE_RUNS_SETTING, QueueRuns())
    base_url = web_app.settings.get("base_url", "/")
    web_app.add_handlers(
        ".*$", [(url_path_join(base_url, API_PREFIX, name), handler) for name, handler in ROUTES]
    )
