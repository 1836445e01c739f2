"""IPython magics: ``%exp ...`` (the CLI's words), its shortcuts, and ``%%stage`` to build stages from cells.

Every line goes through :func:`jupyter_exp.commands.execute`, the table ``jupyter exp`` parses, so the two front
ends cannot drift apart. Lines are never variable-expanded (``@no_var_expand``): ``${lr}`` belongs to dvc.yaml
templating, not to IPython. User errors are raised as :class:`CellError`, which IPython shows as one red message
without a traceback while still failing the cell (so "Run all" stops there).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class, no_var_expand
from traitlets import Unicode

from jupyter_exp.commands import Context, UsageError, execute, named_command, parse, rich_progress, stage_spec
from jupyter_exp.errors import JupyterExpError
from jupyter_exp.fsutil import atomic_write_text, relpath
from jupyter_exp.notebook.background import (
    ACTIVE_RUNS,
    INTERRUPTED,
    CellError,
    LivePlots,
    OutputPane,
    RunHandle,
    describe_error,
)
from jupyter_exp.notebook.render import (
    RawBundle,
    as_text,
    diff_bundles,
    experiment_summary,
    show,
    table_bundle,
)

if TYPE_CHECKING:
    from jupyter_exp.repo import Repo

PROG = "%exp"

_BACKGROUND_FLAG = "--bg"


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the project's user errors into a :class:`CellError` (the message, nothing else)."""
    try:
        yield
    except JupyterExpError as err:
        raise CellError(describe_error(err)) from None


def _repo_if_any(ctx: Context) -> Repo | None:
    """The repo for widgets' buttons; None where there is none (help text, ``init`` errors)."""
    try:
        return ctx.repo()
    except JupyterExpError:
        return None


def _confirm(question: str) -> bool:
    """Ask in the notebook when the front end allows input; answer no when it cannot (nbclient, papermill)."""
    try:
        return input(f"{question} [y/N] ").strip().lower() in {"y", "yes"}
    except (EOFError, OSError, NotImplementedError):
        return False


_watching: list[bool] = []


def _watch_files_once() -> None:
    """A kernel is long-lived, as the daemon is: from its first command on, the big trees it hashes are kept
    under inotify watch, so a later status lists only the folders that changed (``data/watch.py``)."""
    if not _watching:
        from jupyter_exp.repo import watch_files

        _watching.append(watch_files() is not None)


def _write_output(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()




def _is_experiment(result: Any) -> bool:
    from jupyter_exp import types

    return isinstance(result, types.ExpResult)


def _baseline_diff(repo: Repo, result: Any) -> list[dict[str, str]]:
    """The experiment just run (now in the workspace) against its baseline: changed metrics and params."""
    diff = repo.experiments.diff(result.baseline)
    return diff_bundles(diff, f"{result.name} vs baseline {result.baseline[:7]}")


# ---------------------------------------------------------------------------------------------------------
# %%stage


def _yaml_stage(body: str) -> tuple[Any | None, str]:
    """(the body as a round-trip YAML mapping, comments kept, when it is a stage, else None; why not)."""
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="rt").load(body)
    except Exception as exc:
        return None, " ".join(str(exc).split())
    if isinstance(data, dict) and ("cmd" in data or {"foreach", "do"} <= set(data) or "matrix" in data):
        _indent_leading_comment(data)
        return data, ""
    return None, "a stage mapping needs cmd, foreach+do or matrix"


def _indent_leading_comment(stage: Any) -> None:
    """A comment above the cell's first key would land in column 0 inside ``stages:``; indent it with the keys."""
    leading = getattr(stage.ca, "comment", None)
    if not leading or not leading[1]:
        return
    lines = [
        line.strip()[1:].strip() for token in leading[1] for line in token.value.splitlines() if line.strip()
    ]
    stage.ca.comment = None
    stage.yaml_set_start_comment("\n".join(lines), indent=4)  # stages.<name>.<key>: 2 + 2 spaces


def _stage_definition(args: Any, cmd: str, extra_deps: Sequence[str] = ()) -> dict[str, Any]:
    """The dvc.yaml keys ``stage add``'s options describe (same parser, same builder as the CLI)."""
    return stage_spec(args, cmd, extra_deps).definition


def _merge_options(stage: Any, options: dict[str, Any]) -> None:
    """Add the magic line's options to a YAML stage (into ``do:`` for foreach); list entries are not repeated."""
    target = stage["do"] if "foreach" in stage else stage
    for key, value in options.items():
        if key == "cmd":
            continue
        if isinstance(value, list) and isinstance(target.get(key), list):
            target[key].extend(v for v in value if v not in target[key])
        else:
            target[key] = value


def _describe_status(entries: list[Any]) -> str:
    if not entries:
        return "up to date"
    parts = []
    for entry in entries:
        if isinstance(entry, str):
            parts.append(entry)
            continue
        for title, changed in entry.items():
            items = ", ".join(
                f"{path} ({', '.join(how) if isinstance(how, dict) else how})"
                for path, how in changed.items()
            )
            parts.append(f"{title}: {items}")
    return "; ".join(parts)


def _paths(entries: Sequence[Any]) -> str:
    return ", ".join(str(next(iter(e))) if isinstance(e, dict) else str(e) for e in entries)


# ---------------------------------------------------------------------------------------------------------
# the magics


@magics_class
class ExpMagics(Magics):
    """``%exp``, its shortcuts and ``%%stage``. Configure with ``%config ExpMagics.stages_dir = "src"``."""

    stages_dir = Unicode(
        "stages", help="Folder (relative to the notebook's directory) where %%stage saves Python cell bodies"
    ).tag(config=True)

    # -- plumbing --------------------------------------------------------------------------------------

    def context(
        self,
        *,
        writes: bool,
        log: Callable[[str], None] = print,
        on_output: Callable[[str], None] | None = None,
    ) -> Context:
        cwd = Path.cwd()
        if writes:
            self._refuse_during_background_run(cwd)
        _watch_files_once()
        return Context(
            cwd=cwd,
            log=log,
            on_output=on_output,
            confirm=_confirm,
            init_if_missing=writes,
            progress=rich_progress,
        )

    @staticmethod
    def _refuse_during_background_run(cwd: Path) -> None:
        here = cwd.resolve()
        for root, handle in list(ACTIVE_RUNS.items()):
            if here == root or here.is_relative_to(root):
                raise CellError(
                    f"ERROR: '{handle.command}' is still running in the background in '{root}': "
                    "wait for it (`handle.wait()`) or stop it (`handle.interrupt()`) first"
                )

    def run_words(self, words: list[str]) -> Any:
        """Run one command line; returns a :class:`RunHandle` for ``--bg`` runs, else None (results are shown)."""
        spec = named_command(words[1:] if words[:1] == ["exp"] else words)
        runs_stages = spec is not None and spec.runs_stages
        background = _BACKGROUND_FLAG in words
        if background:
            words = [w for w in words if w != _BACKGROUND_FLAG]
            if not runs_stages:
                raise CellError(f"ERROR: {_BACKGROUND_FLAG} works with `%exp run` and `%exp repro` only")
        with user_errors():
            if runs_stages:
                return self._run_stages(words, background)
            ctx = self.context(writes=spec is not None and spec.writes)
            show(execute(words, ctx, PROG), repo=_repo_if_any(ctx))
        return None

    def _run_stages(self, words: list[str], background: bool) -> RunHandle | None:
        _, args, _ = parse(words, PROG)
        if background:
            return self._run_in_background(words, args)
        ctx = self.context(writes=True, on_output=_write_output)
        repo = ctx.repo()
        plots = LivePlots(repo.pipeline.live_directories(getattr(args, "targets", None)), repo.root)
        try:
            result = execute(words, ctx, PROG)
        except KeyboardInterrupt:
            raise CellError(INTERRUPTED) from None
        finally:
            plots.finish()
        if _is_experiment(result) and result.interrupted:  # checkpoints: the runner kept what was done
            raise CellError(experiment_summary(result))
        show(result, repo)
        if _is_experiment(result):
            for bundle in _baseline_diff(repo, result):
                show(RawBundle(bundle))
        return None

    def _run_in_background(self, words: list[str], args: Any) -> RunHandle:
        ctx = self.context(writes=True)
        repo = ctx.repo()
        handle = RunHandle(words, repo.root)
        plots = LivePlots(repo.pipeline.live_directories(getattr(args, "targets", None)), repo.root)
        pane = handle.pane = OutputPane()

        run_ctx = Context(
            cwd=ctx.cwd, log=pane.line, on_output=pane.write, confirm=_confirm, stop=handle.stop
        )

        def work() -> None:
            try:
                handle.result = execute(words, run_ctx, PROG)
                handle.interrupted = _is_experiment(handle.result) and handle.result.interrupted
                pane.line(as_text(handle.result))
                if _is_experiment(handle.result):
                    pane.line("\n\n".join(b["text/plain"] for b in _baseline_diff(repo, handle.result)))
            except BaseException as err:  # reported in the cell and by wait(); a thread has nowhere to raise
                # A command that died of our SIGINT was interrupted, it did not fail.
                handle.interrupted = handle.stopping or isinstance(err, KeyboardInterrupt)
                handle.error = KeyboardInterrupt() if handle.interrupted else err
                pane.line(describe_error(handle.error))
            finally:
                plots.finish()
                pane.flush()
                handle.finish()

        ACTIVE_RUNS[repo.root] = handle
        handle.start(work)
        return handle

    def _save_script(self, name: str, body: str, cwd: Path) -> str:
        script = f"{self.stages_dir.strip('/')}/{name}.py"
        atomic_write_text(cwd / script, body if body.endswith("\n") else body + "\n")
        return script

    def _show_stage(self, ctx: Context, key: str) -> None:
        """The resolved stage (or its foreach/matrix children) with its status, as one table."""
        resolved = execute(["stage", "list", "--json"], ctx, PROG).data
        names = [n for n in resolved if n == key or n.startswith(key + "@")]
        status = execute(["status", "--json", *names], ctx, PROG).data if names else {}
        rows = []
        for stage_name in names:
            definition = resolved[stage_name]
            cmd = definition.get("cmd")
            outs = [*definition.get("outs", []), *definition.get("metrics", []), *definition.get("plots", [])]
            rows.append(
                [
                    stage_name,
                    "\n".join(cmd) if isinstance(cmd, list) else cmd,
                    _paths(definition.get("deps", [])),
                    _paths(outs),
                    _describe_status(status.get(stage_name, [])),
                ]
            )
        show(RawBundle(table_bundle(["Stage", "Command", "Deps", "Outs", "Status"], rows)))

    # -- %exp and shortcuts ----------------------------------------------------------------------------

    @line_magic
    @no_var_expand
    def exp(self, line: str) -> Any:
        """Run `jupyter exp` words: `%exp run -S lr=0.1`, `%exp show`, `%exp --help`. `--bg` runs in the background."""
        return self.run_words(shlex.split(line))

    def _shortcut(self, command: str, line: str) -> Any:
        return self.run_words([*command.split(), *shlex.split(line)])

    @line_magic
    @no_var_expand
    def exp_run(self, line: str) -> Any:
        """`%exp run ...`: run an experiment (`-S key=value`, `--bg` for the background)."""
        return self._shortcut("run", line)

    @line_magic
    @no_var_expand
    def exp_show(self, line: str) -> Any:
        """`%exp show ...`: the experiments table."""
        return self._shortcut("show", line)

    @line_magic
    @no_var_expand
    def exp_diff(self, line: str) -> Any:
        """`%exp diff ...`: params and metrics of two experiments or revisions."""
        return self._shortcut("diff", line)

    @line_magic
    @no_var_expand
    def exp_apply(self, line: str) -> Any:
        """`%exp apply EXP`: bring an experiment's results into the workspace."""
        return self._shortcut("apply", line)

    @line_magic
    @no_var_expand
    def exp_branch(self, line: str) -> Any:
        """`%exp branch EXP BRANCH`: make a Git branch of an experiment."""
        return self._shortcut("branch", line)

    @line_magic
    @no_var_expand
    def exp_gc(self, line: str) -> Any:
        """`%exp gc ...`: remove experiments."""
        return self._shortcut("gc", line)

    @line_magic
    @no_var_expand
    def exp_sweep(self, line: str) -> Any:
        """`%exp sweep ...`: an Optuna search, each trial an experiment (`--optuna N -S 'lr=loguniform(1e-4,1e-1)'`)."""
        return self._shortcut("sweep", line)

    @line_magic
    @no_var_expand
    def repro(self, line: str) -> Any:
        """`%exp repro ...`: run the stages that changed (`--bg` for the background)."""
        return self._shortcut("repro", line)

    @line_magic
    @no_var_expand
    def status(self, line: str) -> Any:
        """`%exp status ...`: which stages changed and why."""
        return self._shortcut("status", line)

    @line_magic
    @no_var_expand
    def metrics_diff(self, line: str) -> Any:
        """`%exp metrics diff ...`."""
        return self._shortcut("metrics diff", line)

    @line_magic
    @no_var_expand
    def params_diff(self, line: str) -> Any:
        """`%exp params diff ...`."""
        return self._shortcut("params diff", line)

    @line_magic
    @no_var_expand
    def plots_diff(self, line: str) -> Any:
        """`%exp plots diff ...`: plots of revisions, rendered inline."""
        return self._shortcut("plots diff", line)

    # -- %%stage ---------------------------------------------------------------------------------------

    @line_cell_magic
    @no_var_expand
    def stage(self, line: str, cell: str | None = None) -> None:
        """`%%stage NAME [stage add options]`: the cell is the stage, as YAML (cmd, foreach+do, matrix) or Python.

        YAML is written as that stage of dvc.yaml, templates and comments kept. Python is saved to
        `stages/NAME.py` and run by the stage (`python stages/NAME.py`, the script a dep). With
        `--notebook train.ipynb` the stage runs that notebook with papermill (the cell holds at most
        comments; `%stage NAME --notebook train.ipynb` is the same as a line).
        Re-running the cell replaces the stage; an invalid stage leaves dvc.yaml as it was.
        """
        words = shlex.split(line)
        if not words or words[0].startswith("-"):
            raise CellError(
                "ERROR: usage: %%stage NAME [-d DEP] [-o OUT] [-p PARAMS] [-m METRICS] ... (the cell is the stage)"
            )
        name, options = words[0], words[1:]
        with user_errors():
            _, args, _ = parse(["stage", "add", "-n", name, *options], "%%stage")
            if args.cmd:
                raise UsageError(
                    f"%%stage {name}: unexpected {shlex.join(args.cmd)!r}: the cell body is the command"
                )
            ctx = self.context(writes=True)
            repo = ctx.repo()
            if args.notebook:
                if any(ln.strip() and not ln.lstrip().startswith("#") for ln in (cell or "").splitlines()):
                    raise UsageError(
                        f"%%stage {name} --notebook {args.notebook}: the notebook is the stage; "
                        "the cell may hold comments only"
                    )
                self._write_stage(ctx, repo, name, stage_spec(args, "", directory=ctx.cwd.resolve()).definition)
                return
            if cell is None:
                raise UsageError(f"%stage {name}: as a line it takes --notebook NOTEBOOK; use %%stage for a cell")
            stage, yaml_problem = _yaml_stage(cell)
            if stage is not None:
                _merge_options(stage, _stage_definition(args, cmd=""))
            else:
                _check_python(name, cell, yaml_problem)
                script = self._save_script(name, cell, ctx.cwd)
                stage = _stage_definition(args, cmd=f"python {script}", extra_deps=[script])
            self._write_stage(ctx, repo, name, stage)

    def _write_stage(self, ctx: Context, repo: Repo, name: str, stage: Any) -> None:
        where = relpath(ctx.cwd.resolve() / "dvc.yaml", repo.root)
        replaced = repo.add_stage(name, stage, dvcfile=where, force=True)
        print(f"{'Replaced' if replaced else 'Added'} stage '{name}' in '{where}'")
        self._show_stage(ctx, name if where == "dvc.yaml" else f"{where}:{name}")


def _check_python(name: str, body: str, yaml_problem: str) -> None:
    try:
        compile(body, f"stages/{name}.py", "exec")
    except SyntaxError as err:
        raise UsageError(
            f"%%stage {name}: the cell is neither a YAML stage ({yaml_problem}) "
            f"nor valid Python (line {err.lineno}: {err.msg})"
        ) from None


def register(ipython: Any) -> ExpMagics:
    """Register the magics on ``ipython`` (and make ``%config ExpMagics`` work); nothing else happens."""
    magics = ExpMagics(shell=ipython)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)
    return magics
